"""Shape-scene VQA model in PyTorch: a small CNN reads the image, an embedding + LSTM reads the question.

Twin of ``mmcourse.keras_models.vqa`` (same layer names, arguments and
defaults). The source text's Keras example had two bugs that this model
fixes: it concatenated a 4-D conv map with a 2-D LSTM vector (here the map
is flattened to a vector first), and it fed integer word ids straight into
an LSTM (here an ``Embedding`` turns each id into a learned vector first;
id 17 is a name, not a quantity).

    image (B, 3, 32, 32) -> [conv 3x3 + ReLU -> max-pool 2] x 3 -> flatten -> dense + ReLU -> I (B, image_units)
    question ids (B, L)  -> embedding (padding_idx 0) -> LSTM, hidden state at the last TRUE step -> Q (B, lstm_units)
    F = [I; Q] -> dense + ReLU (B, fusion_units) -> head: logits (B, n_answers); softmax lives in the loss
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from mmcourse.data.shape_scenes import ANSWERS

IMAGE_SIZE = 32


class VQANet(nn.Module):
    """Two-input VQA classifier over ``ANSWERS``; ``forward(images, question_ids, lengths)`` returns logits."""

    def __init__(self, vocab_size: int, n_answers: int = len(ANSWERS), image_size: int = IMAGE_SIZE,
                 conv_channels: tuple[int, int, int] = (8, 16, 32), image_units: int = 128,
                 embedding_dim: int = 16, lstm_units: int = 32, fusion_units: int = 128):
        super().__init__()
        if vocab_size < 2:
            raise ValueError(f"vocab_size must be at least 2 (<pad> and <unk>), got {vocab_size}")
        if image_size % 8:
            raise ValueError(f"image_size must be a multiple of 8 (three 2x2 poolings), got {image_size}")
        c1, c2, c3 = conv_channels
        self.image_size = image_size
        self.image_conv1 = nn.Conv2d(3, c1, kernel_size=3, padding=1)
        self.image_pool1 = nn.MaxPool2d(2)
        self.image_conv2 = nn.Conv2d(c1, c2, kernel_size=3, padding=1)
        self.image_pool2 = nn.MaxPool2d(2)
        self.image_conv3 = nn.Conv2d(c2, c3, kernel_size=3, padding=1)
        self.image_pool3 = nn.MaxPool2d(2)
        self.image_flatten = nn.Flatten()  # keeps WHERE things are, which "what is at the top left?" needs
        self.image_dense = nn.Linear(c3 * (image_size // 8) ** 2, image_units)
        self.question_embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
        self.question_lstm = nn.LSTM(embedding_dim, lstm_units, batch_first=True)
        self.fusion_dense = nn.Linear(image_units + lstm_units, fusion_units)
        self.head = nn.Linear(fusion_units, n_answers)

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, 3, H, W) in [0, 1] -> I (B, image_units)."""
        x = self.image_pool1(torch.relu(self.image_conv1(images)))  # (B, c1, H/2, W/2)
        x = self.image_pool2(torch.relu(self.image_conv2(x)))  # (B, c2, H/4, W/4)
        x = self.image_pool3(torch.relu(self.image_conv3(x)))  # (B, c3, H/8, W/8)
        return torch.relu(self.image_dense(self.image_flatten(x)))  # (B, c3 * H/8 * W/8) -> (B, image_units)

    def encode_question(self, question_ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """question_ids (B, L) int64, lengths (B,) -> Q (B, lstm_units), the LSTM state after the last true token."""
        e = self.question_embedding(question_ids)  # (B, L, embedding_dim); <pad> rows are zero
        packed = pack_padded_sequence(e, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, (h, _) = self.question_lstm(packed)  # h (1, B, lstm_units), taken at each sequence's own length
        return h[0]

    def forward(self, images: torch.Tensor, question_ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """images (B, 3, H, W), question_ids (B, L), lengths (B,) -> logits (B, n_answers)."""
        size = self.image_size
        if images.dim() != 4 or tuple(images.shape[1:]) != (3, size, size):
            raise ValueError(f"images must have shape (B, 3, {size}, {size}) (channels first), "
                             f"got {tuple(images.shape)}")
        if question_ids.dim() != 2 or len(question_ids) != len(images):
            raise ValueError(f"question_ids must have shape (B, L) with B = {len(images)}, "
                             f"got {tuple(question_ids.shape)}")
        if lengths.shape != (len(images),) or bool((lengths < 1).any()):
            raise ValueError(f"lengths must have shape ({len(images)},) with every length >= 1, "
                             f"got shape {tuple(lengths.shape)}")
        fused = torch.cat([self.encode_image(images), self.encode_question(question_ids, lengths)], dim=1)
        return self.head(torch.relu(self.fusion_dense(fused)))  # F = [I; Q] -> logits (B, n_answers)


class RawIdsVQANet(VQANet):
    """The source text's mistake, kept for comparison: the LSTM reads each word id as one float, no embedding."""

    def __init__(self, vocab_size: int, **kwargs):
        super().__init__(vocab_size, **kwargs)
        lstm_units = self.question_lstm.hidden_size
        del self.question_embedding
        self.question_lstm = nn.LSTM(1, lstm_units, batch_first=True)

    def encode_question(self, question_ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """question_ids (B, L) as floats (B, L, 1) -> LSTM -> (B, lstm_units): "id 17" read as the number 17."""
        x = question_ids.float().unsqueeze(-1)  # (B, L, 1)
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, (h, _) = self.question_lstm(packed)
        return h[0]
