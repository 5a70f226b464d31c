"""The video classifier twins (chapter 15): the same outputs after a weight copy, and what each temporal model sees."""
import numpy as np
import pytest
import torch

from mmcourse.keras_models import video as keras_video
from mmcourse.torch_models import video as torch_video


def _twins(temporal: str, **kwargs):
    torch.manual_seed(0)
    t = torch_video.VideoClassifier(temporal=temporal, **kwargs)
    k = keras_video.VideoClassifier(temporal=temporal, **kwargs)
    keras_video.copy_weights_from_torch(k, t)
    return t.eval(), k


@pytest.mark.parametrize("temporal", ["gru", "mean"])
def test_keras_twin_gives_torch_outputs_after_weight_copy(temporal):
    t, k = _twins(temporal)
    videos = np.random.default_rng(0).random((3, 5, 20, 20)).astype(np.float32)
    with torch.no_grad():
        expected = t(torch.from_numpy(videos)).numpy()
    assert expected.shape == (3, 6)
    np.testing.assert_allclose(np.asarray(k(videos)), expected, atol=1e-5)
    assert sum(p.numel() for p in t.parameters()) == k.count_params()


def test_twins_agree_on_one_frame_and_other_sizes():
    t, k = _twins("gru", frame_size=24, channels=(4, 8), embed_dim=16, n_classes=3)
    videos = np.random.default_rng(1).random((2, 1, 24, 24)).astype(np.float32)
    with torch.no_grad():
        np.testing.assert_allclose(np.asarray(k(videos)), t(torch.from_numpy(videos)).numpy(), atol=1e-5)


def test_averaging_forgets_the_order_of_frames_and_the_gru_does_not():
    videos = torch.rand(2, 7, 20, 20)
    reversed_videos = videos.flip(1)
    with torch.no_grad():
        mean, gru = _twins("mean")[0], _twins("gru")[0]
        torch.testing.assert_close(mean(videos), mean(reversed_videos), atol=1e-6, rtol=0)
        assert (gru(videos) - gru(reversed_videos)).abs().max() > 1e-4


@pytest.mark.parametrize("kwargs, message", [
    ({"frame_size": 18}, "frame_size"), ({"temporal": "lstm"}, "temporal"), ({"embed_dim": 0}, "embed_dim"),
    ({"channels": (8,)}, "channels"), ({"channels": (8, 0)}, r"channels\[1\]")])
def test_both_twins_refuse_the_same_bad_arguments(kwargs, message):
    for module in (torch_video, keras_video):
        with pytest.raises(ValueError, match=message):
            module.VideoClassifier(**kwargs)


def test_both_twins_refuse_videos_of_the_wrong_shape():
    t, k = _twins("mean")
    for bad in (np.zeros((2, 20, 20), np.float32), np.zeros((2, 3, 16, 16), np.float32)):
        with pytest.raises(ValueError, match="videos must have shape"):
            t(torch.from_numpy(bad))
        with pytest.raises(ValueError, match="videos must have shape"):
            k(bad)


def test_copy_between_different_temporal_models_is_refused():
    torch.manual_seed(0)
    with pytest.raises(ValueError, match="temporal"):
        keras_video.copy_weights_from_torch(keras_video.VideoClassifier(temporal="gru"),
                                            torch_video.VideoClassifier(temporal="mean"))
