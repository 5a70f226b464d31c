"""The digit CNN twins: torch DigitCNN and Keras build_digit_cnn agree in shape, size, output and training step."""
import inspect

import numpy as np
import pytest
import torch

from mmcourse.keras_models import cnn as keras_cnn
from mmcourse.numpy_nn import conv2d_forward, conv2d_weights_from_torch, linear_weights_from_torch, max_pool2d_forward
from mmcourse.torch_models import cnn as torch_cnn

import keras  # noqa: E402  (after mmcourse.keras_models, which imports TensorFlow quietly)

RNG = np.random.default_rng(0)
IMAGES = RNG.random((6, 28, 28)).astype(np.float32)
LABELS = np.array([0, 3, 9, 3, 1, 7])


def _twins(**kwargs) -> tuple[torch_cnn.DigitCNN, keras.Model]:
    """A torch DigitCNN and its Keras twin holding the same weights."""
    torch.manual_seed(0)
    net, model = torch_cnn.DigitCNN(**kwargs), keras_cnn.build_digit_cnn(**kwargs)
    keras_cnn.copy_weights_from_torch(model, net)
    return net, model


def _torch_logits(net: torch_cnn.DigitCNN, images: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return net.eval()(torch.from_numpy(images)[:, None]).numpy()


def test_twins_take_the_same_arguments_with_the_same_defaults():
    torch_params = list(inspect.signature(torch_cnn.DigitCNN.__init__).parameters.values())[1:]
    keras_params = inspect.signature(keras_cnn.build_digit_cnn).parameters.values()
    assert [(p.name, p.default) for p in torch_params] == [(p.name, p.default) for p in keras_params]


def test_twins_have_the_same_layer_names():
    net, model = torch_cnn.DigitCNN(), keras_cnn.build_digit_cnn()
    keras_names = [layer.name for layer in model.layers[1:] if layer.name != "flatten"]  # torch flattens in forward
    assert [name for name, _ in net.named_children()] == keras_names


@pytest.mark.parametrize("kwargs", [{}, {"n_classes": 3, "conv_channels": (4, 6), "kernel_size": 5}])
def test_twins_output_shapes_and_parameter_counts_match(kwargs):
    net, model = torch_cnn.DigitCNN(**kwargs), keras_cnn.build_digit_cnn(**kwargs)
    n_classes = kwargs.get("n_classes", 10)
    assert _torch_logits(net, IMAGES).shape == (6, n_classes)
    assert model.predict(IMAGES[..., None], verbose=0).shape == (6, n_classes)
    assert sum(p.numel() for p in net.parameters()) == model.count_params()


def test_default_model_has_9098_parameters():
    # conv1 8*(1*9)+8 = 80, conv2 16*(8*9)+16 = 1168, head (7*7*16)*10+10 = 7850
    assert sum(p.numel() for p in torch_cnn.DigitCNN().parameters()) == 80 + 1168 + 7850 == 9098


def test_feature_maps_have_the_documented_layouts():
    net, model = _twins()
    assert torch_cnn.feature_maps(net, IMAGES, "conv1").shape == (6, 8, 28, 28)
    assert torch_cnn.feature_maps(net, IMAGES, "conv2").shape == (6, 16, 14, 14)
    assert keras_cnn.feature_maps(model, IMAGES, "conv1").shape == (6, 28, 28, 8)
    assert keras_cnn.feature_maps(model, IMAGES, "conv2").shape == (6, 14, 14, 16)


@pytest.mark.parametrize("kwargs", [{}, {"n_classes": 3, "conv_channels": (4, 6), "kernel_size": 5}])
def test_copied_weights_give_the_same_logits(kwargs):
    net, model = _twins(**kwargs)
    expected = _torch_logits(net, IMAGES)
    assert np.abs(expected).max() > 1e-2  # not trivially zero
    np.testing.assert_allclose(np.asarray(model(IMAGES[..., None], training=False)), expected, atol=1e-5)


@pytest.mark.parametrize("layer", ["conv1", "conv2"])
def test_copied_weights_give_the_same_feature_maps(layer):
    net, model = _twins()
    maps_torch = torch_cnn.feature_maps(net, IMAGES, layer)  # (N, C, H, W)
    maps_keras = keras_cnn.feature_maps(model, IMAGES, layer)  # (N, H, W, C)
    np.testing.assert_allclose(maps_keras.transpose(0, 3, 1, 2), maps_torch, atol=1e-5)


def test_numpy_layers_reproduce_the_torch_logits_with_a_height_width_channel_flatten():
    net, _ = _twins()
    x = IMAGES.astype(np.float64)[:, None]  # (N, 1, 28, 28)
    for conv in (net.conv1, net.conv2):
        w, b = conv2d_weights_from_torch(conv)
        x, _ = conv2d_forward(x, w.astype(np.float64), b.astype(np.float64), padding=1)
        x, _ = max_pool2d_forward(np.maximum(x, 0), kernel=2)
    w, b = linear_weights_from_torch(net.head)
    expected = _torch_logits(net, IMAGES)
    hwc = x.transpose(0, 2, 3, 1).reshape(len(x), -1) @ w + b
    chw = x.reshape(len(x), -1) @ w + b  # PyTorch's usual nn.Flatten order: not what the twin does
    np.testing.assert_allclose(hwc, expected, atol=1e-5)
    assert np.abs(chw - expected).max() > 1e-2


def test_one_sgd_step_gives_the_same_weights_in_both_frameworks():
    net, model = _twins()
    images, labels = torch.from_numpy(IMAGES)[:, None], torch.from_numpy(LABELS)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.5)
    net.train()
    loss = torch.nn.functional.cross_entropy(net(images), labels)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.5),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    keras_loss = model.train_on_batch(IMAGES[..., None], LABELS)
    assert float(keras_loss) == pytest.approx(loss.item(), abs=1e-5)
    updated = keras.models.clone_model(model)
    keras_cnn.copy_weights_from_torch(updated, net)
    for name in ("conv1", "conv2", "head"):
        for after_keras, after_torch in zip(model.get_layer(name).get_weights(), updated.get_layer(name).get_weights()):
            np.testing.assert_allclose(after_keras, after_torch, atol=1e-5)


def test_copy_rejects_a_twin_built_with_other_sizes():
    with pytest.raises(ValueError, match="same arguments"):
        keras_cnn.copy_weights_from_torch(keras_cnn.build_digit_cnn(), torch_cnn.DigitCNN(conv_channels=(8, 4)))
    with pytest.raises(ValueError, match="DigitCNN"):
        keras_cnn.copy_weights_from_torch(keras_cnn.build_digit_cnn(), torch.nn.Linear(2, 2))


def test_a_failed_copy_leaves_the_keras_model_unchanged():
    model = keras_cnn.build_digit_cnn()
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(ValueError):
        keras_cnn.copy_weights_from_torch(model, torch_cnn.DigitCNN(n_classes=5))  # conv layers fit, the head does not
    for old, new in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, new)


def test_torch_forward_rejects_images_without_a_channel_axis_or_channels_last():
    with pytest.raises(ValueError, match=r"images must have shape \(B, 1, 28, 28\)"):
        torch_cnn.DigitCNN()(torch.zeros(2, 28, 28))
    with pytest.raises(ValueError, match="channels first"):
        torch_cnn.DigitCNN()(torch.zeros(2, 28, 28, 1))


@pytest.mark.parametrize("module", [torch_cnn, keras_cnn])
def test_feature_maps_reject_an_unknown_layer_and_a_batch_without_its_axis(module):
    net = torch_cnn.DigitCNN() if module is torch_cnn else keras_cnn.build_digit_cnn()
    with pytest.raises(ValueError, match="layer must be one of"):
        module.feature_maps(net, IMAGES, "head")
    with pytest.raises(ValueError, match=r"images must have shape \(N, 28, 28\)"):
        module.feature_maps(net, IMAGES[0], "conv1")


@pytest.mark.parametrize("kernel_size", [2, 0, 3.0, True])
def test_both_twins_want_a_positive_odd_kernel_size(kernel_size):
    with pytest.raises(ValueError, match="kernel_size must be a positive odd int"):
        torch_cnn.DigitCNN(kernel_size=kernel_size)
    with pytest.raises(ValueError, match="kernel_size must be a positive odd int"):
        keras_cnn.build_digit_cnn(kernel_size=kernel_size)
