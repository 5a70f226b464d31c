"""Acoustic models in PyTorch (chapter 12): two spoken-digit classifiers and a CTC recogniser of digit strings.

Twin of ``mmcourse.keras_models.acoustic`` (same class and layer names,
arguments and defaults, parameter counts); a test copies the weights
across and gets the same outputs. Every model reads zero-padded MFCC
frames (B, T, 13) with their true lengths (B,), and never lets a padded
frame change a real output:

    CNNClassifier  frames -> conv1d k5 + ReLU -> conv1d k5 + ReLU -> max over the true frames -> head: logits (B, 10)
    GRUClassifier  frames -> GRU over the true frames -> last state h_T -> head: logits (B, 10)
    CTCModel       frames -> conv1d k5 + ReLU -> bidirectional GRU -> head: per-frame logits (B, T, 11), 10 = blank

The convolutions pad 2 frames of zeros at each end ("same" length) and
run over the zero padding of shorter sequences too, so a convolution's
output at a padded frame is set back to zero before the next layer: a
sequence gives the same true outputs alone or padded in a batch.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

N_MFCC, N_DIGITS, KERNEL = 13, 10, 5


def _check_inputs(features: torch.Tensor, lengths: torch.Tensor, n_mfcc: int) -> None:
    if features.dim() != 3 or features.shape[2] != n_mfcc:
        raise ValueError(f"features must have shape (B, T, {n_mfcc}), got {tuple(features.shape)}")
    if lengths.shape != features.shape[:1] or int(lengths.min()) < 1 or int(lengths.max()) > features.shape[1]:
        raise ValueError(f"lengths must be (B,) = ({features.shape[0]},) frame counts in [1, {features.shape[1]}], "
                         f"got shape {tuple(lengths.shape)}")


def true_frames(lengths: torch.Tensor, n_frames: int) -> torch.Tensor:
    """(B,) lengths -> (B, n_frames, 1) float mask: 1 at a true frame, 0 at padding."""
    return (torch.arange(n_frames, device=lengths.device)[None, :] < lengths[:, None]).float()[:, :, None]


class CNNClassifier(nn.Module):
    """Two 1-D convolutions over time, max-pooled over the true frames, then a linear head; returns logits."""

    def __init__(self, n_mfcc: int = N_MFCC, channels: tuple[int, int] = (32, 64), n_classes: int = N_DIGITS):
        super().__init__()
        self.n_mfcc = n_mfcc
        self.conv1 = nn.Conv1d(n_mfcc, channels[0], KERNEL, padding=KERNEL // 2)
        self.conv2 = nn.Conv1d(channels[0], channels[1], KERNEL, padding=KERNEL // 2)
        self.head = nn.Linear(channels[1], n_classes)

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """features (B, T, n_mfcc), lengths (B,) -> logits (B, n_classes)."""
        _check_inputs(features, lengths, self.n_mfcc)
        true = true_frames(lengths, features.shape[1])  # (B, T, 1)
        x = torch.relu(self.conv1(features.transpose(1, 2))).transpose(1, 2) * true  # (B, T, c1); padding -> 0
        x = torch.relu(self.conv2(x.transpose(1, 2))).transpose(1, 2) * true  # (B, T, c2): torch convolves (B, C, T)
        return self.head(x.amax(dim=1))  # max over time (padding, 0, is below no ReLU output): (B, c2) -> logits


class GRUClassifier(nn.Module):
    """A GRU over the true frames; its last state goes through a linear head; returns logits."""

    def __init__(self, n_mfcc: int = N_MFCC, units: int = 64, n_classes: int = N_DIGITS):
        super().__init__()
        self.n_mfcc = n_mfcc
        self.gru = nn.GRU(n_mfcc, units, batch_first=True)
        self.head = nn.Linear(units, n_classes)

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """features (B, T, n_mfcc), lengths (B,) -> logits (B, n_classes)."""
        _check_inputs(features, lengths, self.n_mfcc)
        packed = pack_padded_sequence(features, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, last = self.gru(packed)  # (1, B, units): the state after each sequence's own last frame
        return self.head(last[0])  # (B, n_classes)


class CTCModel(nn.Module):
    """Conv1d + ReLU, a bidirectional GRU over the true frames, a linear head: per-frame logits over digits + blank."""

    def __init__(self, n_mfcc: int = N_MFCC, channels: int = 64, units: int = 96, n_labels: int = N_DIGITS + 1):
        super().__init__()
        self.n_mfcc = n_mfcc
        self.conv = nn.Conv1d(n_mfcc, channels, KERNEL, padding=KERNEL // 2)
        self.gru = nn.GRU(channels, units, batch_first=True, bidirectional=True)
        self.head = nn.Linear(2 * units, n_labels)

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """features (B, T, n_mfcc), lengths (B,) -> logits (B, T, n_labels); frames past a length are padding."""
        _check_inputs(features, lengths, self.n_mfcc)
        x = torch.relu(self.conv(features.transpose(1, 2))).transpose(1, 2)  # (B, T, channels)
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        states, _ = pad_packed_sequence(self.gru(packed)[0], batch_first=True, total_length=x.shape[1])  # (B, T, 2U)
        return self.head(states)  # (B, T, n_labels)
