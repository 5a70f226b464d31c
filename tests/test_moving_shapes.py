"""Moving shapes (chapter 15): seeded, balanced, each class's motion as stated, and no class visible in one frame."""
import numpy as np
import pytest

from mmcourse.data.moving_shapes import CLASSES, make_moving_shapes


def test_moving_shapes_have_stated_shapes_range_and_balanced_labels():
    data = make_moving_shapes(60, n_frames=7, size=20)
    assert data.videos.shape == (60, 7, 20, 20) and data.videos.dtype == np.float32
    assert data.videos.min() >= 0.0 and data.videos.max() <= 1.0
    assert np.bincount(data.labels, minlength=len(CLASSES)).tolist() == [10] * len(CLASSES)
    assert data.middle_frames().shape == (60, 1, 20, 20)
    np.testing.assert_array_equal(data.middle_frames()[:, 0], data.videos[:, 3])


def test_moving_shapes_are_seeded():
    a, b, c = make_moving_shapes(12, seed=3), make_moving_shapes(12, seed=3), make_moving_shapes(12, seed=4)
    np.testing.assert_array_equal(a.videos, b.videos)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert not np.array_equal(a.videos, c.videos)


def _centroids_and_areas(videos: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per clip and frame: centre of mass x, y and area of a noise-free clip (N, T, H, W)."""
    grid = np.arange(videos.shape[-1])
    area = videos.sum(axis=(2, 3))  # (N, T)
    x = (videos.sum(axis=2) * grid).sum(axis=2) / area
    y = (videos.sum(axis=3) * grid).sum(axis=2) / area
    return x, y, area


def test_each_class_moves_or_changes_size_as_its_name_says():
    data = make_moving_shapes(120, noise=0.0)
    x, y, area = _centroids_and_areas(data.videos)
    dx, dy, darea = np.diff(x, axis=1).mean(1), np.diff(y, axis=1).mean(1), np.diff(area, axis=1).mean(1)
    expected = {"left": (dx, -1.0), "right": (dx, 1.0), "up": (dy, -1.0), "down": (dy, 1.0)}
    for name, (delta, step) in expected.items():
        np.testing.assert_allclose(delta[data.labels == CLASSES.index(name)], step, atol=0.05)
    assert (darea[data.labels == CLASSES.index("grow")] > 0).all()
    assert (darea[data.labels == CLASSES.index("shrink")] < 0).all()
    moving = data.labels < 4
    np.testing.assert_allclose(darea[moving], 0.0, atol=1e-6)  # a moving shape keeps its size


def test_the_middle_frame_looks_the_same_for_every_class():
    data = make_moving_shapes(3000, noise=0.0)
    x, y, area = _centroids_and_areas(data.middle_frames())
    for values in (x[:, 0], y[:, 0], area[:, 0]):
        per_class = [values[data.labels == c].mean() for c in range(len(CLASSES))]
        assert max(per_class) - min(per_class) < 0.12 * values.std() + 1e-6


@pytest.mark.parametrize("kwargs, message", [
    ({"n_frames": 6}, "odd"), ({"n_frames": 1}, "n_frames"), ({"size": 12}, "size"), ({"noise": 2.0}, "noise"),
    ({"noise": True}, "noise"), ({"size": 20.0}, "size")])
def test_bad_arguments_are_refused_by_name(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_moving_shapes(6, **kwargs)


def test_bad_count_is_refused():
    with pytest.raises(ValueError, match="n must be"):
        make_moving_shapes(0)
