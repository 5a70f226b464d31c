"""AV digits classifier in Keras: a small CNN on the image, an MLP on the audio, concatenated.

Twin of ``mmcourse.torch_models.av_fusion`` (same layer names, same
arguments and defaults, same number of parameters). The image is channels
last here (NHWC), and the model ends in a softmax, so ``predict`` returns
probabilities; the layer named ``head`` holds the logits.

    image (B, 28, 28, 1) -> conv 3x3 + ReLU -> max-pool 2 -> conv 3x3 + ReLU -> max-pool 2
                         -> flatten (B, 7 * 7 * c2) -> dense + ReLU -> I (B, image_units)
    audio (B, T, D)      -> flatten (B, T * D) -> dense + ReLU      -> A (B, audio_units)
    F = [I; A] (B, image_units + audio_units) -> head: y = softmax(F W + b) (B, n_classes)

The image is flattened to a vector *before* the concatenation: joining a
4-D conv map (B, H, W, C) with a 2-D vector (B, units), as the source
text's example does, fails with a shape error.
"""
from __future__ import annotations

import numpy as np

from mmcourse.env import import_tensorflow
from mmcourse.keras_models._weights import conv_and_dense_weights, require_layers, set_weights_checked

import_tensorflow()  # silences TensorFlow's start-up log lines before keras loads it
import keras  # noqa: E402
from keras import layers  # noqa: E402

IMAGE_SIZE = 28


def build_av_fusion_model(n_classes: int = 10, audio_shape: tuple[int, int] = (4, 13),
                          conv_channels: tuple[int, int] = (8, 16), image_units: int = 32,
                          audio_units: int = 32) -> keras.Model:
    """Two-input functional model: inputs images (B, 28, 28, 1) and audio (B, T, D) -> probabilities (B, n_classes)."""
    c1, c2 = conv_channels
    images = keras.Input(shape=(IMAGE_SIZE, IMAGE_SIZE, 1), name="images")
    audio = keras.Input(shape=tuple(audio_shape), name="audio")
    x = layers.Conv2D(c1, 3, padding="same", activation="relu", name="image_conv1")(images)
    x = layers.MaxPooling2D(2, name="image_pool1")(x)  # (B, 14, 14, c1)
    x = layers.Conv2D(c2, 3, padding="same", activation="relu", name="image_conv2")(x)
    x = layers.MaxPooling2D(2, name="image_pool2")(x)  # (B, 7, 7, c2)
    x = layers.Flatten(name="image_flatten")(x)  # flattens in (H, W, C) order: (B, 7 * 7 * c2)
    x = layers.Dense(image_units, activation="relu", name="image_dense")(x)  # (B, image_units)
    a = layers.Flatten(name="audio_flatten")(audio)  # (B, T * D)
    a = layers.Dense(audio_units, activation="relu", name="audio_dense")(a)  # (B, audio_units)
    fused = layers.Concatenate(name="fusion")([x, a])  # F = [I; A]: (B, image_units + audio_units)
    logits = layers.Dense(n_classes, name="head")(fused)  # (B, n_classes)
    probs = layers.Softmax(name="softmax")(logits)
    return keras.Model(inputs=[images, audio], outputs=probs, name="av_fusion")


def logits_model(model: keras.Model) -> keras.Model:
    """A model sharing ``model``'s layers that stops at ``head``: inputs -> logits (B, n_classes)."""
    return keras.Model(inputs=model.inputs, outputs=model.get_layer("head").output)


def copy_weights_from_torch(model: keras.Model, torch_model) -> None:
    """Load the weights of a torch ``AVFusionNet`` into its Keras twin ``model``, in place.

    - Conv2D: torch (F, C, kh, kw) -> Keras (kh, kw, C, F).
    - Dense: torch (out, in) computes x W^T; Keras (in, out) computes x W: transpose.
    - ``image_dense`` also needs its input rows reordered: torch flattens the
      conv map (C, H, W) in C, H, W order, Keras flattens (H, W, C) in H, W, C
      order, so the same row index means a different pixel-channel.

    Every shape is checked before any weight is set, so a mismatch leaves
    ``model`` as it was.
    """
    require_layers(torch_model, ("image_conv1", "image_conv2", "image_dense", "audio_dense", "head"), "an AVFusionNet")
    weights = conv_and_dense_weights(torch_model, ("image_conv1", "image_conv2"), ("audio_dense", "head"))
    _, height, width, channels = model.get_layer("image_pool2").output.shape
    dense = torch_model.image_dense.weight.detach().cpu().numpy()  # (units, C*H*W), each row in C, H, W order
    if dense.shape[1] != channels * height * width:
        raise ValueError(f"torch_model.image_dense takes {dense.shape[1]} inputs but the Keras model's conv map "
                         f"has {height} x {width} x {channels}; build both with the same arguments")
    units = dense.shape[0]
    kernel = dense.reshape(units, channels, height, width).transpose(2, 3, 1, 0).reshape(-1, units)  # (H*W*C, units)
    weights["image_dense"] = [kernel, torch_model.image_dense.bias.detach().cpu().numpy()]
    set_weights_checked(model, weights)
