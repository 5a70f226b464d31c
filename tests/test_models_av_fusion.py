"""The AV fusion twins: torch AVFusionNet and Keras build_av_fusion_model agree in shape, size and output."""
import inspect

import numpy as np
import pytest
import torch

from mmcourse.keras_models.av_fusion import build_av_fusion_model, copy_weights_from_torch, logits_model
from mmcourse.torch_models.av_fusion import AVFusionNet

RNG = np.random.default_rng(0)
IMAGES = RNG.normal(size=(6, 28, 28)).astype(np.float32)
AUDIO = RNG.normal(size=(6, 4, 13)).astype(np.float32)


def _torch_logits(net: AVFusionNet, images: np.ndarray, audio: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return net.eval()(torch.from_numpy(images)[:, None], torch.from_numpy(audio)).numpy()


def test_twins_take_the_same_arguments_with_the_same_defaults():
    torch_params = inspect.signature(AVFusionNet.__init__).parameters
    keras_params = inspect.signature(build_av_fusion_model).parameters
    assert [(p.name, p.default) for p in list(torch_params.values())[1:]] == \
        [(p.name, p.default) for p in keras_params.values()]


@pytest.mark.parametrize("kwargs", [{}, {"n_classes": 3, "audio_shape": (6, 13), "conv_channels": (4, 6),
                                         "image_units": 10, "audio_units": 7}])
def test_twins_output_shapes_and_parameter_counts_match(kwargs):
    net, model = AVFusionNet(**kwargs), build_av_fusion_model(**kwargs)
    n_classes, (frames, coefficients) = kwargs.get("n_classes", 10), kwargs.get("audio_shape", (4, 13))
    audio = RNG.normal(size=(5, frames, coefficients)).astype(np.float32)
    logits = _torch_logits(net, IMAGES[:5], audio)
    probs = model.predict([IMAGES[:5, ..., None], audio], verbose=0)
    assert logits.shape == probs.shape == (5, n_classes)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert sum(p.numel() for p in net.parameters()) == model.count_params()


def test_default_model_has_28714_parameters():
    assert sum(p.numel() for p in AVFusionNet().parameters()) == 28714


def test_copied_weights_give_the_same_logits_and_probabilities():
    torch.manual_seed(0)
    net, model = AVFusionNet(), build_av_fusion_model()
    copy_weights_from_torch(model, net)
    expected = _torch_logits(net, IMAGES, AUDIO)
    logits = logits_model(model)([IMAGES[..., None], AUDIO]).numpy()
    np.testing.assert_allclose(logits, expected, atol=1e-5)
    np.testing.assert_allclose(model([IMAGES[..., None], AUDIO]).numpy(),
                               torch.softmax(torch.from_numpy(expected), dim=1).numpy(), atol=1e-6)


def test_copying_without_reordering_the_flatten_rows_would_change_the_logits():
    torch.manual_seed(0)
    net, model = AVFusionNet(), build_av_fusion_model()
    copy_weights_from_torch(model, net)
    naive = net.image_dense.weight.detach().numpy().T  # rows in (C, H, W) order, Keras reads (H, W, C)
    model.get_layer("image_dense").set_weights([naive, net.image_dense.bias.detach().numpy()])
    logits = logits_model(model)([IMAGES[..., None], AUDIO]).numpy()
    assert np.abs(logits - _torch_logits(net, IMAGES, AUDIO)).max() > 1e-2


def test_copy_rejects_a_twin_built_with_other_sizes():
    with pytest.raises(ValueError, match="same arguments"):
        copy_weights_from_torch(build_av_fusion_model(), AVFusionNet(conv_channels=(8, 4)))
    with pytest.raises(ValueError, match="AVFusionNet"):
        copy_weights_from_torch(build_av_fusion_model(), torch.nn.Linear(2, 2))


def test_torch_forward_rejects_images_without_a_channel_axis():
    with pytest.raises(ValueError, match=r"images must have shape \(B, 1, 28, 28\)"):
        AVFusionNet()(torch.zeros(2, 28, 28), torch.zeros(2, 4, 13))
    with pytest.raises(ValueError, match="audio must have shape"):
        AVFusionNet()(torch.zeros(2, 1, 28, 28), torch.zeros(2, 13, 4))


def test_a_failed_copy_leaves_the_keras_model_unchanged():
    model = build_av_fusion_model()
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(ValueError, match="'head'"):
        copy_weights_from_torch(model, AVFusionNet(n_classes=3))
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
