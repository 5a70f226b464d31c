"""AV digits classifier in PyTorch: a small CNN on the image, an MLP on the audio, concatenated.

Twin of ``mmcourse.keras_models.av_fusion`` (same layer names, same
arguments and defaults, same number of parameters); diff the two files to
see what differs between the frameworks: the image layout (NCHW here, NHWC
in Keras), ReLU as a call here and as an ``activation=`` argument there, and
the softmax, which lives in the loss here (``nn.CrossEntropyLoss`` takes
logits) and in the model there.

    image (B, 1, 28, 28) -> conv 3x3 + ReLU -> max-pool 2 -> conv 3x3 + ReLU -> max-pool 2
                         -> flatten (B, c2 * 7 * 7) -> dense + ReLU -> I (B, image_units)
    audio (B, T, D)      -> flatten (B, T * D) -> dense + ReLU      -> A (B, audio_units)
    F = [I; A] (B, image_units + audio_units) -> head: logits = F W^T + b (B, n_classes)
"""
from __future__ import annotations

import torch
from torch import nn

IMAGE_SIZE = 28


class AVFusionNet(nn.Module):
    """Two-input digit classifier with concatenation (early) fusion; ``forward`` returns logits."""

    def __init__(self, n_classes: int = 10, audio_shape: tuple[int, int] = (4, 13),
                 conv_channels: tuple[int, int] = (8, 16), image_units: int = 32, audio_units: int = 32):
        super().__init__()
        c1, c2 = conv_channels
        frames, coefficients = audio_shape
        self.audio_shape = (frames, coefficients)
        self.image_conv1 = nn.Conv2d(1, c1, kernel_size=3, padding=1)  # "same" padding
        self.image_pool1 = nn.MaxPool2d(2)
        self.image_conv2 = nn.Conv2d(c1, c2, kernel_size=3, padding=1)
        self.image_pool2 = nn.MaxPool2d(2)
        self.image_flatten = nn.Flatten()  # flattens in (C, H, W) order
        self.image_dense = nn.Linear(c2 * (IMAGE_SIZE // 4) ** 2, image_units)
        self.audio_flatten = nn.Flatten()
        self.audio_dense = nn.Linear(frames * coefficients, audio_units)
        self.head = nn.Linear(image_units + audio_units, n_classes)

    def forward(self, images: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        """images (B, 1, 28, 28), audio (B, T, D) -> logits (B, n_classes)."""
        if images.dim() != 4 or tuple(images.shape[1:]) != (1, IMAGE_SIZE, IMAGE_SIZE):
            raise ValueError(f"images must have shape (B, 1, {IMAGE_SIZE}, {IMAGE_SIZE}) (channels first), "
                             f"got {tuple(images.shape)}")
        if audio.dim() != 3 or tuple(audio.shape[1:]) != self.audio_shape:
            raise ValueError(f"audio must have shape (B, {self.audio_shape[0]}, {self.audio_shape[1]}), "
                             f"got {tuple(audio.shape)}")
        x = self.image_pool1(torch.relu(self.image_conv1(images)))  # (B, c1, 14, 14)
        x = self.image_pool2(torch.relu(self.image_conv2(x)))  # (B, c2, 7, 7)
        x = torch.relu(self.image_dense(self.image_flatten(x)))  # (B, c2 * 49) -> (B, image_units)
        a = torch.relu(self.audio_dense(self.audio_flatten(audio)))  # (B, T * D) -> (B, audio_units)
        fused = torch.cat([x, a], dim=1)  # F = [I; A]: (B, image_units + audio_units)
        return self.head(fused)  # logits (B, n_classes)
