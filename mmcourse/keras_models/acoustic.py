"""Acoustic models in Keras (chapter 12): two spoken-digit classifiers and a CTC recogniser of digit strings.

Twin of ``mmcourse.torch_models.acoustic`` (same class and layer names,
arguments and defaults, parameter counts); ``copy_weights_from_torch``
loads a torch model's weights and a test gets the same outputs. Every
model reads zero-padded MFCC frames (B, T, 13) with their true lengths
(B,), and never lets a padded frame change a real output:

    CNNClassifier  frames -> conv1d k5 + ReLU -> conv1d k5 + ReLU -> max over the true frames -> head: logits (B, 10)
    GRUClassifier  frames -> GRU over the true frames -> last state h_T -> head: logits (B, 10)
    CTCModel       frames -> conv1d k5 + ReLU -> bidirectional GRU -> head: per-frame logits (B, T, 11), 10 = blank

Keras convolves channels last, so no transposes; the GRUs skip padded
frames through a Keras mask where torch packs the sequences. Keras' GRU
(``reset_after=True``, the default) computes torch's gate formula; its
gates are stored z, r, h where torch stores r, z, n.
"""
from __future__ import annotations

import numpy as np

from mmcourse.env import import_tensorflow
from mmcourse.keras_models._weights import set_weights_checked
from mmcourse.numpy_nn.convert import linear_weights_from_torch

import_tensorflow()  # silences TensorFlow's start-up log lines before keras loads it
import keras  # noqa: E402
from keras import layers, ops  # noqa: E402

from mmcourse.keras_models.clip import _gru_direction  # noqa: E402

N_MFCC, N_DIGITS, KERNEL = 13, 10, 5


def _built(layer: layers.Layer, input_shape: tuple) -> layers.Layer:
    """``layer`` with its weights created now, for inputs of ``input_shape``."""
    layer.build(input_shape)
    return layer


def _check_inputs(features, lengths, n_mfcc: int) -> None:
    if len(features.shape) != 3 or features.shape[2] != n_mfcc:
        raise ValueError(f"features must have shape (B, T, {n_mfcc}), got {tuple(features.shape)}")
    if tuple(lengths.shape) != tuple(features.shape[:1]):
        raise ValueError(f"lengths must be (B,) = ({features.shape[0]},) frame counts, "
                         f"got shape {tuple(lengths.shape)}")


def true_frames(lengths, n_frames: int):
    """(B,) lengths -> (B, n_frames) bool mask: True at a true frame, False at padding."""
    return ops.arange(n_frames)[None, :] < ops.cast(lengths, "int32")[:, None]


class CNNClassifier(keras.Model):
    """Two 1-D convolutions over time, max-pooled over the true frames, then a linear head; returns logits."""

    def __init__(self, n_mfcc: int = N_MFCC, channels: tuple[int, int] = (32, 64), n_classes: int = N_DIGITS,
                 **kwargs):
        super().__init__(**kwargs)
        self.n_mfcc = n_mfcc
        self.conv1 = _built(layers.Conv1D(channels[0], KERNEL, padding="same", name="conv1"), (None, None, n_mfcc))
        self.conv2 = _built(layers.Conv1D(channels[1], KERNEL, padding="same", name="conv2"),
                            (None, None, channels[0]))
        self.head = _built(layers.Dense(n_classes, name="head"), (None, channels[1]))

    def call(self, features, lengths):
        """features (B, T, n_mfcc), lengths (B,) -> logits (B, n_classes)."""
        _check_inputs(features, lengths, self.n_mfcc)
        true = ops.cast(true_frames(lengths, ops.shape(features)[1]), features.dtype)[:, :, None]  # (B, T, 1)
        x = ops.relu(self.conv1(features)) * true  # (B, T, c1); padding -> 0
        x = ops.relu(self.conv2(x)) * true  # (B, T, c2): Keras convolves channels last
        return self.head(ops.max(x, axis=1))  # max over time (padding, 0, is below no ReLU output): (B, c2) -> logits


class GRUClassifier(keras.Model):
    """A GRU over the true frames; its last state goes through a linear head; returns logits."""

    def __init__(self, n_mfcc: int = N_MFCC, units: int = 64, n_classes: int = N_DIGITS, **kwargs):
        super().__init__(**kwargs)
        self.n_mfcc = n_mfcc
        self.gru = _built(layers.GRU(units, name="gru"), (None, None, n_mfcc))
        self.head = _built(layers.Dense(n_classes, name="head"), (None, units))

    def call(self, features, lengths):
        """features (B, T, n_mfcc), lengths (B,) -> logits (B, n_classes)."""
        _check_inputs(features, lengths, self.n_mfcc)
        mask = true_frames(lengths, ops.shape(features)[1])  # (B, T)
        last = self.gru(features, mask=mask)  # (B, units): the state after each sequence's own last frame
        return self.head(last)  # (B, n_classes)


class CTCModel(keras.Model):
    """Conv1d + ReLU, a bidirectional GRU over the true frames, a linear head: per-frame logits over digits + blank."""

    def __init__(self, n_mfcc: int = N_MFCC, channels: int = 64, units: int = 96, n_labels: int = N_DIGITS + 1,
                 **kwargs):
        super().__init__(**kwargs)
        self.n_mfcc = n_mfcc
        self.conv = _built(layers.Conv1D(channels, KERNEL, padding="same", name="conv"), (None, None, n_mfcc))
        self.gru = _built(layers.Bidirectional(layers.GRU(units, return_sequences=True), name="gru"),
                          (None, None, channels))
        self.head = _built(layers.Dense(n_labels, name="head"), (None, None, 2 * units))

    def call(self, features, lengths):
        """features (B, T, n_mfcc), lengths (B,) -> logits (B, T, n_labels); frames past a length are padding."""
        _check_inputs(features, lengths, self.n_mfcc)
        x = ops.relu(self.conv(features))  # (B, T, channels)
        states = self.gru(x, mask=true_frames(lengths, ops.shape(x)[1]))  # (B, T, 2 units)
        return self.head(states)  # (B, T, n_labels)


def _conv1d_weights(conv) -> list[np.ndarray]:
    """torch Conv1d weight (out, in, k) and bias -> Keras Conv1D kernel (k, in, out) and bias."""
    return [conv.weight.detach().cpu().numpy().transpose(2, 1, 0), conv.bias.detach().cpu().numpy()]


def copy_weights_from_torch(model: keras.Model, torch_model) -> None:
    """Load the weights of a torch ``CNNClassifier``, ``GRUClassifier`` or ``CTCModel`` into its Keras twin, in place.

    Conv1d (out, in, k) -> (k, in, out); Linear transposed; a GRU's gate
    blocks reordered r, z, n -> z, r, h (forward direction, then backward).
    Every shape is checked before any weight is set, so a mismatch leaves
    ``model`` as it was.
    """
    if type(model).__name__ != type(torch_model).__name__:
        raise ValueError(f"the Keras model is a {type(model).__name__} but the torch model is a "
                         f"{type(torch_model).__name__}; copy between twins of the same class")
    weights = {"head": list(linear_weights_from_torch(torch_model.head))}
    for name in ("conv", "conv1", "conv2"):
        if hasattr(torch_model, name):
            weights[name] = _conv1d_weights(getattr(torch_model, name))
    if hasattr(torch_model, "gru"):
        gru = torch_model.gru
        weights["gru"] = _gru_direction(gru, "") + (_gru_direction(gru, "_reverse") if gru.bidirectional else [])
    set_weights_checked(model, weights)
