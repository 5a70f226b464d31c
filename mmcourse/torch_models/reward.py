"""A Bradley–Terry reward model in PyTorch: how much a caption suits an image (chapter 13).

Twin of ``mmcourse.keras_models.reward`` (same class, layer names and
weight shapes); diff the two files to see what differs between the
frameworks. As in RLHF, the reward model starts from a pretrained network:
mini_clip (chapter 09), frozen, embeds the image and the caption; a small
head, trained on preference pairs, turns the two embeddings into one
number, the reward r(image, caption)::

    image (B, E), caption (B, E): unit embeddings of the frozen encoder
    [image ; caption ; image * caption] -> fc_1, ReLU -> fc_2  (B,)   the reward

Trained with :func:`bradley_terry_loss`: the probability that the chosen
caption beats the rejected one is σ(r_chosen − r_rejected). Only
differences of rewards are learned, so a reward of 0 means nothing on its own.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from mmcourse.feedback import RewardConfig


def bradley_terry_loss(r_chosen: torch.Tensor, r_rejected: torch.Tensor) -> torch.Tensor:
    """Mean of −log σ(r_chosen − r_rejected) over the B pairs (B,): Bradley–Terry's negative log-likelihood."""
    return -F.logsigmoid(r_chosen - r_rejected).mean()


class RewardModel(nn.Module):
    """``forward(image (B, E), caption (B, E))`` -> rewards (B,): a two-layer head on the pair's embeddings."""

    def __init__(self, config: RewardConfig):
        super().__init__()
        self.config = config
        self.fc_1 = nn.Linear(3 * config.embed_dim, config.width)
        self.fc_2 = nn.Linear(config.width, 1)

    def forward(self, image: torch.Tensor, caption: torch.Tensor) -> torch.Tensor:
        E = self.config.embed_dim
        if image.dim() != 2 or image.shape[1] != E or caption.shape != image.shape:
            raise ValueError(f"image and caption must both be (B, {E}) embeddings, got {tuple(image.shape)} and "
                             f"{tuple(caption.shape)}")
        hidden = F.relu(self.fc_1(torch.cat([image, caption, image * caption], dim=1)))  # (B, 3 E) -> (B, W)
        return self.fc_2(hidden).squeeze(1)  # (B,)


__all__ = ["RewardModel", "bradley_terry_loss"]
