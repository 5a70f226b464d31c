"""A Bradley–Terry reward model in PyTorch: how much a caption suits an image (chapter 13).

Twin of ``mmcourse.keras_models.reward`` (same class, layer names and
weight shapes); diff the two files to see what differs between the
frameworks. As in RLHF, the reward model starts from a pretrained network:
mini_clip's image encoder (chapter 09), frozen, gives one visual token per
grid cell. The caption is read the way the preference rule reads it, as
the colour and shape it names in each cell and how often
(``mmcourse.feedback.caption_slots``); what those words should look like
is what the model learns from the preference pairs. Each cell gets a
score, the reward is their sum::

    tokens (B, P, D) -> image            (B, P, W)
    slots (B, P, 3)  -> colour + shape + count embeddings   (B, P, W)
    [image ; text ; image * text] -> fc_1, ReLU -> fc_2  (B, P)  -> sum over cells  (B,)

Trained with :func:`bradley_terry_loss`: the probability that the chosen
caption beats the rejected one is σ(r_chosen − r_rejected). Only
differences of rewards are learned, so a reward of 0 means nothing on its own.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from mmcourse.feedback import MAX_COUNT, SLOT_COLOURS, SLOT_SHAPES, RewardConfig


def bradley_terry_loss(r_chosen: torch.Tensor, r_rejected: torch.Tensor) -> torch.Tensor:
    """Mean of −log σ(r_chosen − r_rejected) over the B pairs (B,): Bradley–Terry's negative log-likelihood."""
    return -F.logsigmoid(r_chosen - r_rejected).mean()


class RewardModel(nn.Module):
    """``forward(tokens (B, P, D), slots (B, P, 3))`` -> rewards (B,): a per-cell head, summed over the P cells."""

    def __init__(self, config: RewardConfig):
        super().__init__()
        self.config = config
        W = config.width
        self.colour = nn.Embedding(len(SLOT_COLOURS) + 2, W)  # nothing named, the colours, another word
        self.shape = nn.Embedding(len(SLOT_SHAPES) + 2, W)
        self.count = nn.Embedding(MAX_COUNT + 1, W)
        self.image = nn.Linear(config.feature_dim, W)
        self.fc_1 = nn.Linear(3 * W, W)
        self.fc_2 = nn.Linear(W, 1)

    def forward(self, tokens: torch.Tensor, slots: torch.Tensor) -> torch.Tensor:
        P, D = self.config.n_places, self.config.feature_dim
        if tokens.dim() != 3 or tuple(tokens.shape[1:]) != (P, D) or tuple(slots.shape) != (len(tokens), P, 3):
            raise ValueError(f"tokens must be (B, {P}, {D}) and slots (B, {P}, 3), got {tuple(tokens.shape)} and "
                             f"{tuple(slots.shape)}")
        image = self.image(tokens)  # (B, P, W)
        text = self.colour(slots[..., 0]) + self.shape(slots[..., 1]) + self.count(slots[..., 2])  # (B, P, W)
        hidden = F.relu(self.fc_1(torch.cat([image, text, image * text], dim=-1)))  # (B, P, 3 W) -> (B, P, W)
        return self.fc_2(hidden).squeeze(-1).sum(dim=1)  # (B, P) -> (B,)


__all__ = ["RewardModel", "bradley_terry_loss"]
