"""mmcourse.image: OpenCV grey, resize, normalise, augment and layout helpers."""
import subprocess
import sys

import numpy as np
import pytest

from mmcourse.image import augment, normalise, resize, to_chw, to_grey, to_hwc


def _digit_like(height: int = 12, width: int = 10) -> np.ndarray:
    """A uint8 (H, W) image with an off-centre bar, so shifts, turns and flips all change it."""
    img = np.zeros((height, width), dtype=np.uint8)
    img[2:9, 2:4] = 255
    img[2:4, 2:7] = 200
    return img


def test_to_grey_uses_rgb_weights_so_pure_red_is_76():
    red, blue = np.zeros((1, 2, 3), np.uint8), np.zeros((1, 2, 3), np.uint8)
    red[..., 0] = 255
    blue[..., 2] = 255
    assert to_grey(red)[0, 0] == round(0.299 * 255) == 76
    assert to_grey(blue)[0, 0] == round(0.114 * 255) == 29


def test_to_grey_keeps_float_dtype_and_value():
    img = np.zeros((2, 3, 3), np.float64)
    img[..., 1] = 1.0
    grey = to_grey(img)
    assert grey.shape == (2, 3) and grey.dtype == np.float64
    np.testing.assert_allclose(grey, 0.587, rtol=1e-6)


def test_to_grey_passes_grey_images_through_as_2d():
    img = _digit_like()
    np.testing.assert_array_equal(to_grey(img), img)
    np.testing.assert_array_equal(to_grey(img[..., None]), img)


@pytest.mark.parametrize(("img", "match"), [
    (np.zeros((2, 2, 3), np.int64), "dtype int64"),
    (np.zeros((2, 2, 2, 3), np.uint8), r"shape \(H, W\)"),
    (np.zeros((2, 2, 2), np.uint8), "1 or 3 channels"),
])
def test_to_grey_rejects_bad_images(img, match):
    with pytest.raises(ValueError, match=match):
        to_grey(img)


@pytest.mark.parametrize("interpolation", ["area", "linear", "nearest"])
def test_resize_takes_height_then_width_and_keeps_channels(interpolation):
    img = np.zeros((28, 20, 3), np.uint8)
    assert resize(img, (14, 10), interpolation).shape == (14, 10, 3)
    assert resize(img[..., :1], (7, 5), interpolation).shape == (7, 5, 1)
    assert resize(img[..., 0], 32, interpolation).shape == (32, 32)


def test_resize_area_averages_blocks():
    img = np.array([[0, 2, 4, 6], [2, 4, 6, 8]], np.float32)
    np.testing.assert_allclose(resize(img, (1, 2), "area"), [[2.0, 6.0]])


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"size": (0, 3)}, "size"),
    ({"size": (3, 3), "interpolation": "cubic"}, "interpolation"),
])
def test_resize_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        resize(np.zeros((4, 4), np.uint8), **kwargs)


def test_normalise_gives_zero_mean_unit_std_per_channel():
    imgs = np.random.default_rng(0).integers(0, 256, size=(6, 8, 8, 3)).astype(np.uint8)
    imgs[..., 2] //= 4  # a darker channel, so the channel stats differ
    out, mean, std = normalise(imgs)
    assert out.dtype == np.float32 and mean.shape == std.shape == (3,)
    np.testing.assert_allclose(out.mean(axis=(0, 1, 2)), 0.0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=(0, 1, 2)), 1.0, atol=1e-5)
    np.testing.assert_allclose(mean, imgs.reshape(-1, 3).mean(axis=0), rtol=1e-6)


def test_normalise_reuses_training_stats_on_test_images():
    train = np.full((2, 2, 2), 10.0)
    train[0] = 30.0  # grey batch: mean 20, std 10
    out, mean, std = normalise(np.full((1, 2, 2), 40.0), *normalise(train)[1:])
    assert mean.shape == () and (float(mean), float(std)) == (20.0, 10.0)
    np.testing.assert_allclose(out, 2.0)


def test_normalise_divides_constant_channels_by_one():
    out, _, std = normalise(np.full((2, 3, 3, 1), 7, np.uint8))
    np.testing.assert_array_equal(std, [1.0])
    np.testing.assert_array_equal(out, 0.0)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"imgs": np.zeros((4, 4))}, "imgs must be a batch"),
    ({"imgs": np.zeros((2, 4, 4, 3)), "mean": np.zeros(2)}, r"mean must have shape \(3,\)"),
    ({"imgs": np.zeros((2, 4, 4)), "std": np.float64(0.0)}, "std must be positive"),
])
def test_normalise_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        normalise(**kwargs)


def test_augment_repeats_with_the_same_seed_and_differs_with_another():
    img = _digit_like()
    first = augment(img, np.random.default_rng(7))
    np.testing.assert_array_equal(first, augment(img, np.random.default_rng(7)))
    assert not np.array_equal(first, augment(img, np.random.default_rng(8)))
    assert first.shape == img.shape and first.dtype == np.uint8


def test_augment_without_shift_or_rotation_is_the_identity():
    img = np.random.default_rng(0).random((9, 7, 3)).astype(np.float32)
    np.testing.assert_array_equal(augment(img, np.random.default_rng(0), max_shift=0, max_rotation=0), img)


def test_augment_flip_mirrors_left_right_about_half_the_time():
    img = _digit_like()
    outs = [augment(img, np.random.default_rng(seed), max_shift=0, max_rotation=0, flip=True) for seed in range(20)]
    flipped = sum(np.array_equal(out, img[:, ::-1]) for out in outs)
    unchanged = sum(np.array_equal(out, img) for out in outs)
    assert flipped + unchanged == 20 and 4 <= flipped <= 16


def test_augment_pure_shift_moves_content_by_whole_pixels():
    img = _digit_like()
    rng = np.random.default_rng(3)
    dx, dy = np.random.default_rng(3).uniform(-2, 2, size=2)
    out = augment(img, rng, max_shift=2, max_rotation=0).astype(float)
    ys, xs = np.nonzero(img)
    weights = img[ys, xs].astype(float)
    ys_out, xs_out = np.nonzero(out)
    weights_out = out[ys_out, xs_out]
    assert np.average(xs_out, weights=weights_out) == pytest.approx(np.average(xs, weights=weights) + dx, abs=0.05)
    assert np.average(ys_out, weights=weights_out) == pytest.approx(np.average(ys, weights=weights) + dy, abs=0.05)


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"rng": 0}, TypeError, "rng must be a numpy.random.Generator"),
    ({"rng": np.random.default_rng(0), "max_shift": -1}, ValueError, "max_shift"),
    ({"rng": np.random.default_rng(0), "max_rotation": np.inf}, ValueError, "max_rotation"),
])
def test_augment_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        augment(_digit_like(), **kwargs)


def test_to_chw_and_to_hwc_are_inverse_layout_changes():
    batch = np.arange(2 * 4 * 5 * 3).reshape(2, 4, 5, 3)
    chw = to_chw(batch)
    assert chw.shape == (2, 3, 4, 5) and chw.flags.c_contiguous
    assert chw[1, 2, 3, 4] == batch[1, 3, 4, 2]
    np.testing.assert_array_equal(to_hwc(chw), batch)
    assert to_chw(batch[0]).shape == (3, 4, 5)
    with pytest.raises(ValueError, match=r"img\[\.\.\., None\]"):
        to_chw(np.zeros((4, 5)))


def test_importing_image_does_not_import_torch_or_tensorflow():
    code = "import sys, mmcourse.image; print(sorted({'torch', 'tensorflow'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
