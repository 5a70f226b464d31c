"""The symmetric InfoNCE (CLIP) loss, forward and backward (chapter 09).

A batch holds N matching pairs: row n of the image embeddings I (N, D) and
row n of the text embeddings T (N, D) describe the same thing. Each image
should pick its own text out of the N, and each text its own image::

    Î = I / ‖I‖,  T̂ = T / ‖T‖                  (N, D)   rows of unit length
    Z = exp(t) Î T̂ᵀ                            (N, N)   Z[i, j] = exp(t) cos(image i, text j)
    L = ½ [CE(Z, diag) + CE(Zᵀ, diag)]                  CE(Z, diag) = -1/N Σ_n log softmax(Z[n])[n]

The first cross-entropy classifies each image among the texts (rows of Z),
the second each text among the images (columns of Z); the labels are the
diagonal. ``t`` is CLIP's learnable ``logit_scale``, the log of the inverse
temperature: exp(t) = 1/τ. CLIP stores log τ⁻¹ rather than τ so the scale
stays positive whatever the optimiser does; it starts at log(1/0.07) ≈ 2.66
(:data:`INIT_LOGIT_SCALE`) and is clamped to at most log 100
(:data:`MAX_LOGIT_SCALE`), so logits never exceed 100 in size.

With perfectly aligned, well separated pairs and a large scale, L → 0; when
every image points the same way and so does every text, Z is constant and
L = ln N, chance level.
"""
from __future__ import annotations

import math
import numbers
from typing import NamedTuple

import numpy as np

from . import _checks
from .core import log_softmax

INIT_LOGIT_SCALE = math.log(1 / 0.07)  # CLIP's initial log inverse temperature: exp(t) = 1/0.07 ≈ 14.3
MAX_LOGIT_SCALE = math.log(100)  # CLIP's clamp: exp(t) <= 100


class ContrastiveCache(NamedTuple):
    """What :func:`info_nce_backward` needs; ``logits`` (N, N) is Z, for plots."""

    image_unit: np.ndarray
    text_unit: np.ndarray
    image_norm: np.ndarray
    text_norm: np.ndarray
    scale: float
    logits: np.ndarray


def _unit_rows(name: str, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x (N, D) divided by its row norms; returns the unit rows (N, D) and the norms (N, 1)."""
    if not np.isfinite(x).all():
        row = int(np.argwhere(~np.isfinite(x))[0, 0])
        raise ValueError(f"{name} must be finite, got NaN or inf in row {row}")
    norm = np.linalg.norm(x, axis=1, keepdims=True)  # (N, 1)
    if not norm.all():
        row = int(np.argmin(norm[:, 0]))
        raise ValueError(f"{name} row {row} has norm 0: a zero vector has no direction to compare by cosine")
    return x / norm, norm


def _normalise(
    image_emb: np.ndarray, text_emb: np.ndarray, logit_scale: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
    """Check the inputs; returns Î, ‖I‖, T̂, ‖T‖ and the scale exp(logit_scale)."""
    _checks.float_array("image_emb", image_emb, 2, "(N, D)")
    _checks.float_array("text_emb", text_emb, 2, "(N, D)", like=("image_emb", image_emb))
    _checks.same_shape("text_emb", text_emb, image_emb.shape, "(N, D) like image_emb: row n of each is pair n")
    if image_emb.shape[0] < 2:
        raise ValueError(
            f"image_emb must hold N >= 2 pairs (with one pair there is nothing to contrast), got shape {image_emb.shape}"
        )
    if isinstance(logit_scale, bool) or not isinstance(logit_scale, numbers.Real):
        raise TypeError(f"logit_scale must be a real number (log of the inverse temperature), got {logit_scale!r}")
    highest = math.log(np.finfo(image_emb.dtype).max)  # exp(t) must stay finite in the embeddings' dtype
    if not math.isfinite(logit_scale) or logit_scale > highest:
        raise ValueError(
            f"logit_scale must be finite and at most {highest:.4g} (so exp(logit_scale) is a finite "
            f"{image_emb.dtype}); CLIP keeps it <= log 100 = {MAX_LOGIT_SCALE:.4f}, got {logit_scale!r}"
        )
    image_unit, image_norm = _unit_rows("image_emb", image_emb)
    text_unit, text_norm = _unit_rows("text_emb", text_emb)
    return image_unit, image_norm, text_unit, text_norm, math.exp(logit_scale)


def similarity_logits(image_emb: np.ndarray, text_emb: np.ndarray, logit_scale: float) -> np.ndarray:
    """Z = exp(logit_scale) Î T̂ᵀ for image_emb, text_emb (N, D); returns (N, N), Z[i, j] = exp(t) cos(image i, text j).

    Rows are L2-normalised first, so Z depends on directions only.
    ``logit_scale`` t is log τ⁻¹, CLIP's learnable parameter (starts at
    log(1/0.07), :data:`INIT_LOGIT_SCALE`).
    """
    image_unit, _, text_unit, _, scale = _normalise(image_emb, text_emb, logit_scale)
    return scale * (image_unit @ text_unit.T)  # (N, N)


def info_nce_forward(
    image_emb: np.ndarray, text_emb: np.ndarray, logit_scale: float
) -> tuple[float, ContrastiveCache]:
    """L = ½ [CE(Z, diag) + CE(Zᵀ, diag)], Z = exp(t) Î T̂ᵀ, for image_emb, text_emb (N, D); returns loss and cache.

    Row n of image_emb and row n of text_emb are a matching pair; the other
    N - 1 texts of the batch are the negatives of image n, and vice versa.
    The log-softmaxes subtract the maximum first, so no exp overflows.
    The loss is a Python float. Equals open_clip's ``ClipLoss`` (which is
    given exp(t)), :func:`mmcourse.torch_models.clip.clip_loss` and
    :func:`mmcourse.keras_models.clip.clip_loss`.
    """
    image_unit, image_norm, text_unit, text_norm, scale = _normalise(image_emb, text_emb, logit_scale)
    logits = scale * (image_unit @ text_unit.T)  # (N, N): Z[i, j] = exp(t) cos(image i, text j)
    loss_image = -np.diagonal(log_softmax(logits, axis=1)).mean()  # CE(Z, diag): each image picks its text
    loss_text = -np.diagonal(log_softmax(logits, axis=0)).mean()  # CE(Zᵀ, diag): each text picks its image
    loss = (loss_image + loss_text) / 2
    return float(loss), ContrastiveCache(image_unit, text_unit, image_norm, text_norm, scale, logits)


def info_nce_backward(cache: ContrastiveCache) -> tuple[np.ndarray, np.ndarray, float]:
    """Gradients of the loss L itself; returns d_image (N, D), d_text (N, D) and d_logit_scale (a float).

    With P = softmax of Z's rows and Q = softmax of its columns::

        dZ  = (P + Q - 2 Id) / 2N                  each cross-entropy gives (softmax - onehot) / N
        dt  = Σ dZ ⊙ Z                             Z = exp(t) Î T̂ᵀ, so ∂Z/∂t = Z
        dÎ  = exp(t) dZ T̂,   dT̂ = exp(t) dZᵀ Î
        dI  = (dÎ - Î (dÎ · Î)) / ‖I‖             per row: the radial part is projected out

    The last line is the gradient of x / ‖x‖: scaling a row does not change
    the loss, so no gradient points along it.
    """
    image_unit, text_unit, image_norm, text_norm, scale, logits = cache
    n = logits.shape[0]
    p = np.exp(log_softmax(logits, axis=1))  # (N, N), rows sum to 1
    q = np.exp(log_softmax(logits, axis=0))  # (N, N), columns sum to 1
    dlogits = (p + q - 2 * np.eye(n, dtype=logits.dtype)) / (2 * n)  # (N, N)
    d_logit_scale = float((dlogits * logits).sum())
    dlogits *= scale
    d_image_unit = dlogits @ text_unit  # (N, D)
    d_text_unit = dlogits.T @ image_unit  # (N, D)
    d_image = (d_image_unit - image_unit * (d_image_unit * image_unit).sum(axis=1, keepdims=True)) / image_norm
    d_text = (d_text_unit - text_unit * (d_text_unit * text_unit).sum(axis=1, keepdims=True)) / text_norm
    return d_image, d_text, d_logit_scale
