"""Connectionist temporal classification (CTC): the loss by the forward (α) recursion, and its gradient (chapter 12).

A recogniser emits, at each of T frames, a distribution over C labels, one
of them the *blank*. A path π (one label per frame) is read by the collapse
rule B: merge repeated labels, then drop blanks (B("a a - b - b") = "a b b").
The probability of a target l of L labels sums over every path that
collapses to it::

    p(l | x) = Σ_{π : B(π) = l} Π_t y_t(π_t),      loss = -log p(l | x)

Summed by dynamic programming over the extended target l' = (-, l_1, -, l_2,
..., l_L, -) of S = 2L + 1 symbols (Graves et al., 2006). With the per-frame
log-probabilities y = log softmax(logits)::

    α_0(0) = y_0(-),  α_0(1) = y_0(l_1)
    α_t(s) = y_t(l'_s) + log[α_{t-1}(s) + α_{t-1}(s-1) + α_{t-1}(s-2)]
             (the last term only when l'_s is a label and l'_s != l'_{s-2}:
             a path may skip a blank, but not the blank between two equal labels)
    log p  = log[α_{T-1}(S-1) + α_{T-1}(S-2)]

β runs the same recursion from the end. α_t(s) β_t(s) / y_t(l'_s) sums the
probability of every path that is in state s at frame t, so the posterior of
label k at frame t is γ_t(k) = Σ_{s : l'_s = k} exp(α_t(s) + β_t(s) - y_t(k) - log p),
and the gradient of the loss with respect to the logits is softmax - γ.
Everything is computed in log space (sums as ``logaddexp``): p is a product
of T probabilities and underflows otherwise.

Inputs are batch-major logits (B, T, C), as ``keras.ops.ctc_loss`` takes
them; ``torch.nn.CTCLoss`` takes log-probabilities time-major (T, B, C), and
``reduction='none'`` gives the same per-sample losses.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import _checks
from .core import log_softmax


class CTCCache(NamedTuple):
    """What :func:`ctc_loss_backward` needs: softmax (B, T, C), posteriors γ (B, T, C), frames per sequence (B,)."""

    probs: np.ndarray
    posteriors: np.ndarray
    logit_lengths: np.ndarray


def extend_target(target: np.ndarray, blank: int) -> np.ndarray:
    """Labels (L,) -> l' (2L + 1,): a blank before, between and after them."""
    extended = np.full(2 * len(target) + 1, blank, dtype=np.int64)
    extended[1::2] = target
    return extended


def _can_skip(extended: np.ndarray, blank: int) -> np.ndarray:
    """(S,) bool: state s may be reached from s - 2 (a label that differs from the label two states back)."""
    skip = np.zeros(len(extended), dtype=bool)
    skip[2:] = (extended[2:] != blank) & (extended[2:] != extended[:-2])
    return skip


def _recursion(emit: np.ndarray, skip: np.ndarray) -> np.ndarray:
    """The α recursion in log space on per-state emissions emit (T, S) = y_t(l'_s), skip rule skip (S,) -> (T, S)."""
    alpha = np.full(emit.shape, -np.inf, dtype=emit.dtype)
    alpha[0, :2] = emit[0, :2]
    from_two_back = np.flatnonzero(skip) - 2
    for t in range(1, len(emit)):
        prev = alpha[t - 1]
        total = prev.copy()  # stay in state s
        total[1:] = np.logaddexp(total[1:], prev[:-1])  # or come from s - 1
        total[skip] = np.logaddexp(total[skip], prev[from_two_back])  # or skip a blank from s - 2
        alpha[t] = total + emit[t]
    return alpha


def ctc_alpha(log_probs: np.ndarray, target: np.ndarray, blank: int = 0) -> np.ndarray:
    """Forward variables log α (T, 2L + 1) of one sequence: log_probs (T, C), target (L,) labels."""
    extended = extend_target(target, blank)
    return _recursion(log_probs[:, extended], _can_skip(extended, blank))


def ctc_beta(log_probs: np.ndarray, target: np.ndarray, blank: int = 0) -> np.ndarray:
    """Backward variables log β (T, 2L + 1) of one sequence; like α they include y_t(l'_s).

    β is α of the time-reversed frames and the reversed extended target
    (which follows the same skip rule), read backwards.
    """
    backwards = extend_target(target, blank)[::-1]
    return _recursion(log_probs[::-1][:, backwards], _can_skip(backwards, blank))[::-1, ::-1]


def ctc_occupancy(log_probs: np.ndarray, target: np.ndarray, blank: int = 0) -> tuple[np.ndarray, float]:
    """P(state s at frame t | target) (T, 2L + 1) = exp(α_t(s) + β_t(s) - y_t(l'_s) - log p), and log p.

    Each row sums to 1: at every frame the paths to the target are in
    exactly one state. Its image shows where CTC places each label.
    """
    alpha, beta = ctc_alpha(log_probs, target, blank), ctc_beta(log_probs, target, blank)  # (T, S) each
    log_p = float(np.logaddexp.reduce(alpha[-1, -2:]))  # end in the last label or the last blank
    emit = log_probs[:, extend_target(target, blank)]  # (T, S): y_t(l'_s), counted in both α and β
    return np.exp(alpha + beta - emit - log_p), log_p


def min_frames(target: np.ndarray) -> int:
    """The fewest frames that can emit ``target`` (L,): one per label, plus a blank between each equal pair."""
    target = np.asarray(target)
    return int(len(target) + np.sum(target[1:] == target[:-1]))


def _check(logits, targets, logit_lengths, target_lengths, blank) -> None:
    _checks.float_array("logits", logits, 3, "(B, T, C): batch-major logits")
    batch, frames, classes = logits.shape
    _checks.integer("blank", blank, 0)
    if blank >= classes:
        raise ValueError(f"blank must be a class index in [0, {classes}), got {blank}")
    _checks.int_array("targets", targets, 2, high=classes)
    _checks.int_array("logit_lengths", logit_lengths, 1, high=frames + 1)
    _checks.int_array("target_lengths", target_lengths, 1, high=targets.shape[1] + 1)
    for name, value in (("targets", targets), ("logit_lengths", logit_lengths), ("target_lengths", target_lengths)):
        if len(value) != batch:
            raise ValueError(f"{name} must have one row per sequence (B = {batch}), got {len(value)}")
    for b in range(batch):
        target = targets[b, :target_lengths[b]]
        if np.any(target == blank):
            raise ValueError(f"targets[{b}] holds the blank ({blank}) within its length: a target is labels only")
        if logit_lengths[b] < max(1, min_frames(target)):
            raise ValueError(f"sequence {b}: {logit_lengths[b]} frames cannot emit its {len(target)} labels "
                             f"(it needs at least {max(1, min_frames(target))}); no path collapses to the target")


def ctc_loss_forward(logits: np.ndarray, targets: np.ndarray, logit_lengths: np.ndarray,
                     target_lengths: np.ndarray, blank: int = 0) -> tuple[np.ndarray, CTCCache]:
    """Per-sequence CTC losses (B,) = -log p(target | logits), and the cache for the backward pass.

    logits (B, T, C) batch-major; targets (B, S) int, row b's labels in its
    first target_lengths[b] places (the rest is ignored); logit_lengths (B,)
    frames per sequence (frames past it are padding and get no gradient).
    """
    _check(logits, targets, logit_lengths, target_lengths, blank)
    log_probs = log_softmax(logits, axis=-1)  # (B, T, C)
    losses = np.zeros(len(logits), dtype=logits.dtype)
    posteriors = np.zeros_like(logits)  # (B, T, C): γ_t(k)
    for b in range(len(logits)):
        frames, target = logit_lengths[b], targets[b, :target_lengths[b]]
        occupancy, log_p = ctc_occupancy(log_probs[b, :frames], target, blank)  # (T_b, S), log p(target)
        losses[b] = -log_p
        np.add.at(posteriors[b, :frames].T, extend_target(target, blank), occupancy.T)  # sum each label's states
    return losses, CTCCache(np.exp(log_probs), posteriors, logit_lengths)


def ctc_loss_backward(dlosses: np.ndarray, cache: CTCCache) -> np.ndarray:
    """dL/dlogits (B, T, C) = dlosses[b] · (softmax - γ) at a sequence's true frames, 0 past its length."""
    _checks.float_array("dlosses", dlosses, 1, "(B,): the gradient of the objective w.r.t. each loss")
    _checks.same_shape("dlosses", dlosses, cache.probs.shape[:1], "one value per sequence")
    frames = np.arange(cache.probs.shape[1])
    true = (frames[None, :] < cache.logit_lengths[:, None])[:, :, None]  # (B, T, 1): a true frame, not padding
    return dlosses[:, None, None] * (cache.probs * true - cache.posteriors)
