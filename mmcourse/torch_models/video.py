"""A tiny video classifier in PyTorch: a CNN on every frame, then time (chapter 15).

Twin of ``mmcourse.keras_models.video`` (same class, layer names and
arguments, same number of parameters); diff the two files to see what
differs between the frameworks. Both take grey clips (B, T, H, W) and
return logits::

    videos (B, T, H, W) -> every frame on its own: (B T, 1, H, W)
        -> conv1 3x3 "same" + ReLU -> pool1 2x2 -> conv2 3x3 "same" + ReLU -> pool2 2x2  (B T, c2, H/4, W/4)
        -> flatten in (H, W, C) order -> embed + ReLU -> frame vectors (B, T, E)
        -> temporal: "mean" averages them over T (order lost), "gru" runs a GRU and keeps its last state (B, E)
        -> head -> logits (B, n_classes)

The flatten keeps where things are in the frame (a global average pool
would not), and only the GRU knows which frame came first: a shape moving
left shows the same set of frames as one moving right, in reverse order,
so "mean" cannot tell the two apart. A clip of one frame (T = 1) is an
image classifier with the same weights, the single-frame baseline.
"""
from __future__ import annotations

import torch
from torch import nn

from mmcourse.video import TEMPORAL, check_video_args  # noqa: F401 (TEMPORAL: the choices, for readers)


class VideoClassifier(nn.Module):
    """Per-frame CNN, "mean" or "gru" over time, a linear head: videos (B, T, H, W) -> logits (B, n_classes)."""

    def __init__(self, n_classes: int = 6, frame_size: int = 20, channels: tuple[int, int] = (8, 16),
                 embed_dim: int = 32, temporal: str = "gru"):
        super().__init__()
        check_video_args(frame_size, channels, embed_dim, temporal)
        c1, c2 = channels
        self.frame_size, self.temporal = frame_size, temporal
        self.conv1 = nn.Conv2d(1, c1, 3, padding=1)  # "same" padding
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(c1, c2, 3, padding=1)
        self.pool2 = nn.MaxPool2d(2)
        self.embed = nn.Linear((frame_size // 4) ** 2 * c2, embed_dim)
        self.gru = nn.GRU(embed_dim, embed_dim, batch_first=True) if temporal == "gru" else None
        self.head = nn.Linear(embed_dim, n_classes)

    def frame_vectors(self, videos: torch.Tensor) -> torch.Tensor:
        """videos (B, T, H, W) -> one vector per frame (B, T, E), each frame seen on its own."""
        size = self.frame_size
        if videos.dim() != 4 or tuple(videos.shape[2:]) != (size, size):
            raise ValueError(f"videos must have shape (B, T, {size}, {size}) (grey frames), got {tuple(videos.shape)}")
        B, T = videos.shape[:2]
        x = videos.reshape(B * T, 1, size, size)  # (B T, 1, H, W)
        x = self.pool1(torch.relu(self.conv1(x)))  # (B T, c1, H/2, W/2)
        x = self.pool2(torch.relu(self.conv2(x)))  # (B T, c2, H/4, W/4)
        x = x.permute(0, 2, 3, 1).flatten(1)  # (B T, H/4 W/4 c2), Keras's order
        return torch.relu(self.embed(x)).reshape(B, T, -1)  # (B, T, E)

    def forward(self, videos: torch.Tensor) -> torch.Tensor:
        """videos (B, T, H, W) -> logits (B, n_classes)."""
        x = self.frame_vectors(videos)  # (B, T, E)
        if self.gru is None:
            return self.head(x.mean(dim=1))  # (B, E): the frames' average, order lost
        _, last = self.gru(x)  # (1, B, E): the state after the last frame
        return self.head(last[0])
