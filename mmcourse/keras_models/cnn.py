"""A small digit CNN in Keras, f(x) = σ(W ∗ x + b) twice, then a linear head (chapter 04).

Twin of ``mmcourse.torch_models.cnn`` (same layer names, same arguments and
defaults, same number of parameters). The image is channels last here (NHWC)
and ReLU is an ``activation=`` argument; the model returns logits, so train
it with ``SparseCategoricalCrossentropy(from_logits=True)``.

    image (B, 28, 28, 1) -> conv1 3x3 "same" + ReLU -> pool1 2x2 -> (B, 14, 14, c1)
                         -> conv2 3x3 "same" + ReLU -> pool2 2x2 -> (B, 7, 7, c2)
                         -> flatten in (H, W, C) order -> (B, 7 * 7 * c2)
                         -> head: logits = x W + b -> (B, n_classes)
"""
from __future__ import annotations

import numpy as np

from mmcourse.env import import_tensorflow
from mmcourse.keras_models._weights import conv_and_dense_weights, require_layers, set_weights_checked

import_tensorflow()  # silences TensorFlow's start-up log lines before keras loads it
import keras  # noqa: E402
from keras import layers  # noqa: E402

IMAGE_SIZE = 28
FEATURE_LAYERS = ("conv1", "conv2")


def build_digit_cnn(n_classes: int = 10, conv_channels: tuple[int, int] = (8, 16), kernel_size: int = 3) -> keras.Model:
    """Two conv-ReLU-pool blocks and a linear head: images (B, 28, 28, 1) -> logits (B, n_classes)."""
    if isinstance(kernel_size, bool) or not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be a positive odd int (for 'same' padding), got {kernel_size!r}")
    c1, c2 = conv_channels
    images = keras.Input(shape=(IMAGE_SIZE, IMAGE_SIZE, 1), name="images")
    x = layers.Conv2D(c1, kernel_size, padding="same", activation="relu", name="conv1")(images)  # (B, 28, 28, c1)
    x = layers.MaxPooling2D(2, name="pool1")(x)  # (B, 14, 14, c1)
    x = layers.Conv2D(c2, kernel_size, padding="same", activation="relu", name="conv2")(x)  # (B, 14, 14, c2)
    x = layers.MaxPooling2D(2, name="pool2")(x)  # (B, 7, 7, c2)
    x = layers.Flatten(name="flatten")(x)  # (B, 7 * 7 * c2), (H, W, C) order
    logits = layers.Dense(n_classes, name="head")(x)  # (B, n_classes)
    return keras.Model(inputs=images, outputs=logits, name="digit_cnn")


def feature_maps(model: keras.Model, images: np.ndarray, layer: str = "conv1") -> np.ndarray:
    """ReLU output of ``layer`` ("conv1" or "conv2") for images (N, 28, 28): (N, H, W, C) NumPy, channels last."""
    if layer not in FEATURE_LAYERS:
        raise ValueError(f"layer must be one of {FEATURE_LAYERS}, got {layer!r}")
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 3:
        raise ValueError(f"images must have shape (N, 28, 28), got {images.shape}")
    probe = keras.Model(inputs=model.input, outputs=model.get_layer(layer).output)  # one input, not a list
    return np.asarray(probe(images[..., None], training=False))


def copy_weights_from_torch(model: keras.Model, torch_model) -> None:
    """Load the weights of a torch ``DigitCNN`` into its Keras twin ``model``, in place.

    Conv2D kernels go from (F, C, kh, kw) to (kh, kw, C, F); the head from
    (out, in) to (in, out). No rows need reordering because the torch twin
    flattens in (H, W, C) order too. Every shape is checked before any weight
    is set, so a mismatch leaves ``model`` as it was.
    """
    require_layers(torch_model, ("conv1", "conv2", "head"), "a DigitCNN")
    set_weights_checked(model, conv_and_dense_weights(torch_model, ("conv1", "conv2"), ("head",)))
