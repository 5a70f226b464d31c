"""A tiny video classifier in Keras: a CNN on every frame, then time (chapter 15).

Twin of ``mmcourse.torch_models.video`` (same class, layer names and
arguments, same number of parameters); diff the two files to see what
differs between the frameworks. Both take grey clips (B, T, H, W) and
return logits::

    videos (B, T, H, W) -> every frame on its own: (B T, H, W, 1)
        -> conv1 3x3 "same" + ReLU -> pool1 2x2 -> conv2 3x3 "same" + ReLU -> pool2 2x2  (B T, H/4, W/4, c2)
        -> flatten in (H, W, C) order -> embed + ReLU -> frame vectors (B, T, E)
        -> temporal: "mean" averages them over T (order lost), "gru" runs a GRU and keeps its last state (B, E)
        -> head -> logits (B, n_classes)

The flatten keeps where things are in the frame (a global average pool
would not), and only the GRU knows which frame came first: a shape moving
left shows the same set of frames as one moving right, in reverse order,
so "mean" cannot tell the two apart. A clip of one frame (T = 1) is an
image classifier with the same weights, the single-frame baseline.

Train it with ``SparseCategoricalCrossentropy(from_logits=True)``. Keras's
GRU (``reset_after=True``) computes what torch's does; only the weight
layout differs (:func:`copy_weights_from_torch`).
"""
from __future__ import annotations

from mmcourse.env import import_tensorflow
from mmcourse.keras_models._weights import conv_and_dense_weights, require_layers, set_weights_checked
from mmcourse.video import TEMPORAL, check_video_args  # noqa: F401 (TEMPORAL: the choices, for readers)

import_tensorflow()  # silences TensorFlow's start-up log lines before keras loads it
import keras  # noqa: E402
from keras import layers, ops  # noqa: E402

from mmcourse.keras_models.clip import _built, _gru_direction  # noqa: E402


class VideoClassifier(keras.Model):
    """Per-frame CNN, "mean" or "gru" over time, a linear head: videos (B, T, H, W) -> logits (B, n_classes)."""

    def __init__(self, n_classes: int = 6, frame_size: int = 20, channels: tuple[int, int] = (8, 16),
                 embed_dim: int = 32, temporal: str = "gru", **kwargs):
        super().__init__(**kwargs)
        check_video_args(frame_size, channels, embed_dim, temporal)
        c1, c2 = channels
        self.frame_size, self.temporal = frame_size, temporal
        self.conv1 = _built(layers.Conv2D(c1, 3, padding="same", name="conv1"), (None, frame_size, frame_size, 1))
        self.pool1 = layers.MaxPooling2D(2, name="pool1")
        self.conv2 = _built(layers.Conv2D(c2, 3, padding="same", name="conv2"),
                            (None, frame_size // 2, frame_size // 2, c1))
        self.pool2 = layers.MaxPooling2D(2, name="pool2")
        self.embed = _built(layers.Dense(embed_dim, name="embed"), (None, (frame_size // 4) ** 2 * c2))
        self.gru = _built(layers.GRU(embed_dim, name="gru"), (None, None, embed_dim)) if temporal == "gru" else None
        self.head = _built(layers.Dense(n_classes, name="head"), (None, embed_dim))

    def frame_vectors(self, videos):
        """videos (B, T, H, W) -> one vector per frame (B, T, E), each frame seen on its own."""
        size = self.frame_size
        if len(videos.shape) != 4 or tuple(videos.shape[2:]) != (size, size):
            raise ValueError(f"videos must have shape (B, T, {size}, {size}) (grey frames), got {tuple(videos.shape)}")
        B, T = ops.shape(videos)[0], ops.shape(videos)[1]
        x = ops.reshape(videos, (B * T, size, size, 1))  # (B T, H, W, 1)
        x = self.pool1(ops.relu(self.conv1(x)))  # (B T, H/2, W/2, c1)
        x = self.pool2(ops.relu(self.conv2(x)))  # (B T, H/4, W/4, c2)
        x = ops.reshape(x, (B * T, -1))  # (B T, H/4 W/4 c2), (H, W, C) order
        return ops.reshape(ops.relu(self.embed(x)), (B, T, -1))  # (B, T, E)

    def call(self, videos):
        """videos (B, T, H, W) -> logits (B, n_classes)."""
        x = self.frame_vectors(videos)  # (B, T, E)
        if self.gru is None:
            return self.head(ops.mean(x, axis=1))  # (B, E): the frames' average, order lost
        return self.head(self.gru(x))  # (B, E): the state after the last frame


def copy_weights_from_torch(model: VideoClassifier, torch_model) -> None:
    """Load the weights of a torch ``VideoClassifier`` into its Keras twin ``model``, in place.

    Conv2d kernels (F, C, kh, kw) -> (kh, kw, C, F); Linear transposed; the
    GRU's gate blocks reordered r, z, n -> z, r, h. Every shape is checked
    before any weight is set, so a mismatch leaves ``model`` as it was.
    """
    require_layers(torch_model, ("conv1", "conv2", "embed", "head"), "a VideoClassifier")
    if (torch_model.gru is None) != (model.gru is None):
        raise ValueError(f"the Keras model's temporal is {model.temporal!r} but the torch model's is "
                         f"{torch_model.temporal!r}; build both with the same arguments")
    weights = conv_and_dense_weights(torch_model, ("conv1", "conv2"), ("embed", "head"))
    if torch_model.gru is not None:
        weights["gru"] = _gru_direction(torch_model.gru, "")
    set_weights_checked(model, weights)
