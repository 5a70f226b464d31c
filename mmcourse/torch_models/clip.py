"""The CLIP loss in PyTorch: symmetric InfoNCE in four lines, and the learnable temperature (chapter 09).

Twin of ``mmcourse.keras_models.clip`` (same names, same formula); diff the
two files to see what differs between the frameworks. The equation, with
shapes, is in :mod:`mmcourse.numpy_nn.contrastive`, whose hand-written
gradient the tests compare with this file's autograd; ``logit_scale`` t is
CLIP's log inverse temperature (exp(t) = 1/τ), learned by :class:`LogitScale`.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from mmcourse.numpy_nn.contrastive import INIT_LOGIT_SCALE, MAX_LOGIT_SCALE


def clip_loss(image_emb: torch.Tensor, text_emb: torch.Tensor, logit_scale: torch.Tensor) -> torch.Tensor:
    """L = ½ [CE(Z, diag) + CE(Zᵀ, diag)], Z = exp(t) Î T̂ᵀ, for image_emb, text_emb (N, D); returns a scalar.

    ``logit_scale`` t is a scalar tensor, e.g. ``LogitScale()()``. Written as
    open_clip's ``ClipLoss``, which is given exp(t) instead.
    """
    if image_emb.dim() != 2 or image_emb.shape != text_emb.shape:
        raise ValueError(f"image_emb and text_emb must both be (N, D), row n of each is pair n; "
                         f"got {tuple(image_emb.shape)} and {tuple(text_emb.shape)}")
    image_emb, text_emb = F.normalize(image_emb, dim=1), F.normalize(text_emb, dim=1)  # (N, D), unit rows
    logits = logit_scale.exp() * image_emb @ text_emb.T  # (N, N)
    labels = torch.arange(len(logits), device=logits.device)  # (N,): the diagonal
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2


class LogitScale(nn.Module):
    """CLIP's learnable log inverse temperature t: one scalar, starting at log(1/0.07); returns min(t, log 100).

    Storing log τ⁻¹ keeps the scale exp(t) positive whatever the optimiser
    does. The clamp keeps exp(t) <= 100, as CLIP does; it is applied here,
    in the forward pass, where open_clip clamps the parameter in place after
    each optimiser step. The value used is the same; the difference is that
    here no gradient reaches t while it is above log 100.
    """

    def __init__(self, init: float = INIT_LOGIT_SCALE, max_value: float = MAX_LOGIT_SCALE):
        super().__init__()
        self.max_value = max_value
        self.logit_scale = nn.Parameter(torch.tensor(float(init)))  # t: ()

    def forward(self) -> torch.Tensor:
        return self.logit_scale.clamp(max=self.max_value)  # ()
