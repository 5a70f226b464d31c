"""A small digit CNN in PyTorch, f(x) = σ(W ∗ x + b) twice, then a linear head (chapter 04).

Twin of ``mmcourse.keras_models.cnn`` (same layer names, same arguments and
defaults, same number of parameters); diff the two files to see what differs
between the frameworks: the image layout (NCHW here, NHWC in Keras) and ReLU
as a call here, an ``activation=`` argument there. Both return logits.

    image (B, 1, 28, 28) -> conv1 3x3 "same" + ReLU -> pool1 2x2 -> (B, c1, 14, 14)
                         -> conv2 3x3 "same" + ReLU -> pool2 2x2 -> (B, c2, 7, 7)
                         -> flatten in (H, W, C) order -> (B, 7 * 7 * c2)
                         -> head: logits = x Wᵀ + b -> (B, n_classes)

The flatten moves the channels last first, so its vector has Keras's order
(row, column, channel): the head's weights then copy between the twins with
a plain transpose, no reordering of rows.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

IMAGE_SIZE = 28
FEATURE_LAYERS = ("conv1", "conv2")


class DigitCNN(nn.Module):
    """Two conv-ReLU-pool blocks and a linear head on (B, 1, 28, 28) images; ``forward`` returns logits."""

    def __init__(self, n_classes: int = 10, conv_channels: tuple[int, int] = (8, 16), kernel_size: int = 3):
        super().__init__()
        if isinstance(kernel_size, bool) or not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be a positive odd int (for 'same' padding), got {kernel_size!r}")
        c1, c2 = conv_channels
        self.conv1 = nn.Conv2d(1, c1, kernel_size, padding=kernel_size // 2)  # "same" padding
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(c1, c2, kernel_size, padding=kernel_size // 2)
        self.pool2 = nn.MaxPool2d(2)
        self.head = nn.Linear((IMAGE_SIZE // 4) ** 2 * c2, n_classes)

    def features(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """The ReLU outputs of conv1 (B, c1, 28, 28) and conv2 (B, c2, 14, 14), and the logits (B, n_classes)."""
        if images.dim() != 4 or tuple(images.shape[1:]) != (1, IMAGE_SIZE, IMAGE_SIZE):
            raise ValueError(f"images must have shape (B, 1, {IMAGE_SIZE}, {IMAGE_SIZE}) (channels first), "
                             f"got {tuple(images.shape)}")
        conv1 = torch.relu(self.conv1(images))  # (B, c1, 28, 28)
        conv2 = torch.relu(self.conv2(self.pool1(conv1)))  # (B, c2, 14, 14)
        x = self.pool2(conv2)  # (B, c2, 7, 7)
        x = x.permute(0, 2, 3, 1).flatten(1)  # (B, 7, 7, c2) -> (B, 7 * 7 * c2), Keras's order
        return {"conv1": conv1, "conv2": conv2, "logits": self.head(x)}

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, 1, 28, 28) -> logits (B, n_classes)."""
        return self.features(images)["logits"]


@torch.no_grad()
def feature_maps(model: DigitCNN, images: np.ndarray, layer: str = "conv1") -> np.ndarray:
    """ReLU output of ``layer`` ("conv1" or "conv2") for images (N, 28, 28): (N, C, H, W) NumPy, channels first."""
    if layer not in FEATURE_LAYERS:
        raise ValueError(f"layer must be one of {FEATURE_LAYERS}, got {layer!r}")
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 3:
        raise ValueError(f"images must have shape (N, 28, 28), got {images.shape}")
    device = next(model.parameters()).device
    model.eval()
    return model.features(torch.from_numpy(images)[:, None].to(device))[layer].cpu().numpy()
