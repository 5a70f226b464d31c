"""Scaled dot-product and multi-head attention, masks, sinusoidal positions and layer norm (chapter 08).

Shapes: N sequences, h heads, Tq queries, Tk keys, model width D = h · d
with d = D / h per head. Scaled dot-product attention works on any leading
dimensions, so one call does every sequence and every head::

    scores = Q Kᵀ / √d                   (..., Tq, Tk)
    A      = softmax(scores where mask)  (..., Tq, Tk)   each row sums to 1
    out    = A V                         (..., Tq, dv)

Masks are boolean with **True = may attend** (Keras's ``attention_mask`` and
``torch.nn.functional.scaled_dot_product_attention``'s ``attn_mask``).
``torch.nn.MultiheadAttention`` uses the opposite: its ``attn_mask`` and
``key_padding_mask`` are True where attention is *not* allowed, so pass
``~mask`` there. A masked score becomes -inf before the softmax, so its
weight is exactly 0. A query row with every key masked has no softmax
(0/0; torch returns NaN, Keras a uniform row): here it is a ValueError.

Multi-head attention projects, splits the width into heads, attends per head,
merges and projects again, with weights used as x W like the rest of the
package (:func:`.core.linear_forward`)::

    Q = x_q Wq + bq    K = x_kv Wk + bk    V = x_kv Wv + bv           (N, T, D)
    head_i = attention(Q_i, K_i, V_i)     Q_i = columns i·d .. (i+1)·d  (N, Tq, d)
    out = [head_1 ... head_h] Wo + bo                                 (N, Tq, D)

Head i owns the i-th block of d columns of each projection; torch and Keras
split the same way, so :mod:`.convert` only reshapes and transposes.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from . import _checks
from .core import linear_backward, linear_forward

PARAM_NAMES = ("Wq", "Wk", "Wv", "bq", "bk", "bv", "Wo", "bo")


class AttentionCache(NamedTuple):
    """What :func:`scaled_dot_product_attention_backward` needs; ``weights`` (..., Tq, Tk) is A, for plots."""

    q: np.ndarray
    k: np.ndarray
    v: np.ndarray
    weights: np.ndarray


class MultiHeadAttentionCache(NamedTuple):
    """What :func:`multi_head_attention_backward` needs: the four linear caches and the attention cache."""

    query: tuple
    key: tuple
    value: tuple
    attention: AttentionCache
    output: tuple
    num_heads: int

    @property
    def weights(self) -> np.ndarray:
        """The attention weights (N, h, Tq, Tk), like torch's ``average_attn_weights=False``."""
        return self.attention.weights


def _bool_mask(mask, scores_shape: tuple[int, ...]) -> np.ndarray:
    """Validate a boolean mask broadcastable to ``scores_shape`` (..., Tq, Tk) with no fully masked row."""
    if not isinstance(mask, np.ndarray):
        raise TypeError(f"mask must be a boolean NumPy array, got {type(mask).__module__}.{type(mask).__name__}")
    if mask.dtype != np.bool_:
        raise TypeError(
            f"mask must have dtype bool (True = may attend), got {mask.dtype}; an additive float mask "
            "is not accepted, compare it instead (e.g. mask == 0)"
        )
    try:
        broadcast = np.broadcast_shapes(mask.shape, scores_shape)
    except ValueError:
        broadcast = None
    if broadcast != tuple(scores_shape):
        raise ValueError(
            f"mask must broadcast to the attention scores (..., Tq, Tk) = {tuple(scores_shape)}, got shape {mask.shape}"
        )
    blocked = ~np.broadcast_to(mask, scores_shape).any(axis=-1)  # (..., Tq): rows with no key left
    if blocked.any():
        where = tuple(int(i) for i in np.argwhere(blocked)[0])
        raise ValueError(
            f"mask leaves query row {where} (index into (..., Tq)) with no key to attend to; every row of "
            "(..., Tq, Tk) needs at least one True (a padded query can keep its own position, or mask its output later)"
        )
    return mask


def scaled_dot_product_attention(
    q: np.ndarray, k: np.ndarray, v: np.ndarray, mask: np.ndarray | None = None
) -> tuple[np.ndarray, AttentionCache]:
    """softmax(Q Kᵀ / √d) V for q (..., Tq, d), k (..., Tk, d), v (..., Tk, dv); returns out (..., Tq, dv) and cache.

    q, k and v share their leading dimensions, e.g. (N, h). ``mask`` is
    boolean, True = may attend, and broadcasts to the scores (..., Tq, Tk):
    :func:`causal_mask` (Tq, Tk), :func:`padding_mask` (N, 1, 1, Tk), or
    both combined with ``&``. Every query row must keep at least one key.
    The softmax subtracts each row's maximum first, so no exp overflows.
    ``cache.weights`` holds the attention weights A (..., Tq, Tk). Equals
    ``torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)``.
    """
    _checks.float_array("q", q)
    if q.ndim < 2:
        raise ValueError(f"q must be at least 2-D (..., Tq, d), got shape {q.shape}")
    _checks.float_array("k", k, q.ndim, "(..., Tk, d) like q", like=("q", q))
    _checks.float_array("v", v, q.ndim, "(..., Tk, dv) like q", like=("q", q))
    lead, d = q.shape[:-2], q.shape[-1]
    if k.shape[:-2] != lead or k.shape[-1] != d:
        raise ValueError(f"k must have shape {(*lead, 'Tk', d)} to match q {q.shape}, got {k.shape}")
    if v.shape[:-1] != k.shape[:-1]:
        raise ValueError(f"v must have shape {(*k.shape[:-1], 'dv')} to match k {k.shape}, got {v.shape}")
    if d < 1 or k.shape[-2] < 1:
        raise ValueError(f"q and k need d >= 1 features and at least one key, got q {q.shape} and k {k.shape}")
    scores = (q @ k.swapaxes(-1, -2)) * (1 / math.sqrt(d))  # (..., Tq, Tk); a Python float keeps float32
    if mask is not None:
        scores = np.where(_bool_mask(mask, scores.shape), scores, -np.inf)  # exp(-inf) = 0
    weights = np.exp(scores - scores.max(axis=-1, keepdims=True))  # (..., Tq, Tk), row max is finite
    weights /= weights.sum(axis=-1, keepdims=True)
    return weights @ v, AttentionCache(q, k, v, weights)  # (..., Tq, dv)


def scaled_dot_product_attention_backward(
    dout: np.ndarray, cache: AttentionCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of out = A V, A = softmax(S), S = Q Kᵀ/√d, for dout (..., Tq, dv); returns dq, dk, dv.

    dV = Aᵀ dout, dA = dout Vᵀ, dS = A ⊙ (dA - Σ_j dA ⊙ A) (the softmax
    Jacobian, row by row), dQ = dS K / √d, dK = dSᵀ Q / √d. Masked entries
    have A = 0, so no gradient reaches their keys.
    """
    q, k, v, a = cache
    _checks.float_array("dout", dout, like=("q", q))
    _checks.same_shape("dout", dout, a.shape[:-1] + (v.shape[-1],), "the forward output (..., Tq, dv)")
    dv = a.swapaxes(-1, -2) @ dout  # (..., Tk, dv)
    da = dout @ v.swapaxes(-1, -2)  # (..., Tq, Tk)
    ds = a * (da - (da * a).sum(axis=-1, keepdims=True))  # (..., Tq, Tk)
    ds *= 1 / math.sqrt(q.shape[-1])
    return ds @ k, ds.swapaxes(-1, -2) @ q, dv  # (..., Tq, d), (..., Tk, d), (..., Tk, dv)


def causal_mask(T: int) -> np.ndarray:
    """(T, T) bool, True on and below the diagonal: position t may attend to positions 0..t only."""
    t = _checks.integer("T", T, 1)
    return np.tril(np.ones((t, t), dtype=bool))


def padding_mask(lengths: np.ndarray, T: int) -> np.ndarray:
    """(N, 1, 1, T) bool for integer lengths (N,): key j of sequence n may be attended to iff j < lengths[n].

    The two singleton axes broadcast over heads and queries; combine with
    :func:`causal_mask` as ``causal_mask(T) & padding_mask(lengths, T)``.
    torch's ``key_padding_mask`` is the opposite, ``~padding_mask(...)[:, 0, 0]``.
    """
    t = _checks.integer("T", T, 1)
    _checks.int_array("lengths", lengths, 1)
    if lengths.size and (lengths.min() < 1 or lengths.max() > t):
        raise ValueError(
            f"lengths must hold values in [1, T={t}] (length 0 leaves nothing to attend to), "
            f"got values in [{lengths.min()}, {lengths.max()}]"
        )
    return (np.arange(t) < lengths[:, None])[:, None, None, :]  # (N, 1, 1, T)


def _split_heads(x: np.ndarray, num_heads: int) -> np.ndarray:
    """(N, T, D) -> (N, h, T, D/h): head i takes columns i·d .. (i+1)·d."""
    n, t, d = x.shape
    return x.reshape(n, t, num_heads, d // num_heads).transpose(0, 2, 1, 3)


def _merge_heads(x: np.ndarray) -> np.ndarray:
    """(N, h, T, d) -> (N, T, h·d), the inverse of :func:`_split_heads`."""
    n, h, t, d = x.shape
    return x.transpose(0, 2, 1, 3).reshape(n, t, h * d)


def _check_params(params, x_q: np.ndarray) -> None:
    """params must be exactly {Wq, Wk, Wv, Wo: (D, D); bq, bk, bv, bo: (D,)} in x_q's dtype."""
    if not isinstance(params, dict):
        raise TypeError(f"params must be a dict with keys {', '.join(PARAM_NAMES)}, got {type(params).__name__}")
    missing = [name for name in PARAM_NAMES if name not in params]
    extra = sorted(set(params) - set(PARAM_NAMES), key=str)
    if missing or extra:
        raise ValueError(
            f"params must have exactly the keys {', '.join(PARAM_NAMES)}; missing {missing}, unexpected {extra}"
        )
    d = x_q.shape[-1]
    for name in PARAM_NAMES:
        matrix = name.startswith("W")
        expected = (d, d) if matrix else (d,)
        what = "(D, D)" if matrix else "(D,)"
        _checks.float_array(f"params['{name}']", params[name], len(expected), what, like=("x_q", x_q))
        _checks.same_shape(f"params['{name}']", params[name], expected, f"{what} with D = x_q.shape[-1]")


def _head_mask(mask, n: int) -> np.ndarray | None:
    """A mask for the scores (N, h, Tq, Tk): (Tq, Tk) and (N|1, h|1, Tq, Tk) as given, Keras's (N, Tq, Tk) per head."""
    if mask is None or not isinstance(mask, np.ndarray):
        return mask  # None, or a non-array that _bool_mask reports
    if mask.ndim == 3:
        if mask.shape[0] not in (1, n):
            raise ValueError(f"mask of 3 dimensions must be (N={n}, Tq, Tk) as in Keras, got shape {mask.shape}")
        return mask[:, None]  # (N, 1, Tq, Tk): the same mask for every head
    if mask.ndim not in (2, 4):
        raise ValueError(
            f"mask must be (Tq, Tk), (N, Tq, Tk) or (N, h, Tq, Tk) (size-1 axes broadcast), got shape {mask.shape}"
        )
    return mask


def multi_head_attention_forward(
    x_q: np.ndarray, x_kv: np.ndarray, params: dict, num_heads: int, mask: np.ndarray | None = None
) -> tuple[np.ndarray, MultiHeadAttentionCache]:
    """Multi-head attention of queries x_q (N, Tq, D) over x_kv (N, Tk, D); returns out (N, Tq, D) and cache.

    ``params`` holds Wq, Wk, Wv, Wo (D, D) and bq, bk, bv, bo (D,); each of
    the ``num_heads`` heads works on d = D / num_heads columns. Self-attention
    is ``x_q = x_kv = x``. ``mask`` (True = may attend) is (Tq, Tk), Keras's
    (N, Tq, Tk), or (N, h, Tq, Tk), size-1 axes broadcasting.
    ``cache.weights`` (N, h, Tq, Tk) are the attention weights. Equals
    ``torch.nn.MultiheadAttention(D, h, batch_first=True)`` and Keras
    ``MultiHeadAttention(h, key_dim=d)`` with weights copied by
    :func:`.convert.mha_weights_from_torch` / :func:`.convert.mha_weights_from_keras`.
    """
    _checks.float_array("x_q", x_q, 3, "(N, Tq, D)")
    _checks.float_array("x_kv", x_kv, 3, "(N, Tk, D)", like=("x_q", x_q))
    n, _, d = x_q.shape
    if x_kv.shape[0] != n or x_kv.shape[2] != d:
        raise ValueError(f"x_kv must have shape (N={n}, Tk, D={d}) to match x_q {x_q.shape}, got {x_kv.shape}")
    h = _checks.integer("num_heads", num_heads, 1)
    if d % h:
        raise ValueError(f"num_heads must divide the model width D = x_q.shape[-1] = {d}, got num_heads={h}")
    _check_params(params, x_q)
    q, cache_q = linear_forward(x_q, params["Wq"], params["bq"])  # (N, Tq, D)
    k, cache_k = linear_forward(x_kv, params["Wk"], params["bk"])  # (N, Tk, D)
    v, cache_v = linear_forward(x_kv, params["Wv"], params["bv"])  # (N, Tk, D)
    heads, cache_a = scaled_dot_product_attention(
        _split_heads(q, h), _split_heads(k, h), _split_heads(v, h), _head_mask(mask, n)
    )  # (N, h, Tq, d)
    out, cache_o = linear_forward(_merge_heads(heads), params["Wo"], params["bo"])  # (N, Tq, D)
    return out, MultiHeadAttentionCache(cache_q, cache_k, cache_v, cache_a, cache_o, h)


def multi_head_attention_backward(
    dout: np.ndarray, cache: MultiHeadAttentionCache
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Gradients for dout (N, Tq, D); returns dx_q (N, Tq, D), dx_kv (N, Tk, D) and grads {Wq, ..., bo}.

    For self-attention (x_q and x_kv the same array) the input gradient is
    dx_q + dx_kv: x feeds both the queries and the keys and values.
    """
    cache_q, cache_k, cache_v, cache_a, cache_o, h = cache
    x_q = cache_q[0]
    _checks.float_array("dout", dout, 3, "(N, Tq, D)", like=("x_q", x_q))
    _checks.same_shape("dout", dout, x_q.shape, "the forward output (N, Tq, D)")
    dheads, dwo, dbo = linear_backward(dout, cache_o)  # (N, Tq, D)
    dq, dk, dv = scaled_dot_product_attention_backward(_split_heads(dheads, h), cache_a)  # (N, h, T, d)
    dx_q, dwq, dbq = linear_backward(_merge_heads(dq), cache_q)
    dx_k, dwk, dbk = linear_backward(_merge_heads(dk), cache_k)
    dx_v, dwv, dbv = linear_backward(_merge_heads(dv), cache_v)
    grads = {"Wq": dwq, "Wk": dwk, "Wv": dwv, "bq": dbq, "bk": dbk, "bv": dbv, "Wo": dwo, "bo": dbo}
    return dx_q, dx_k + dx_v, grads


def sinusoidal_positions(T: int, D: int, dtype=np.float64) -> np.ndarray:
    """Vaswani et al.'s position encodings (T, D): PE[t, 2i] = sin(t / 10000^(2i/D)), PE[t, 2i+1] = cos(same angle).

    Each pair of dimensions is a clock at its own frequency, from one turn in
    2π steps (i = 0) down to one in 2π·10000 steps; PE[t + k] is a rotation of
    PE[t] that depends on k only. An odd D ends with a sine.
    """
    t = _checks.integer("T", T, 1)
    d = _checks.integer("D", D, 1)
    if not np.issubdtype(np.dtype(dtype), np.floating):
        raise TypeError(f"dtype must be a floating dtype (float32 or float64), got {np.dtype(dtype)}")
    angle = np.arange(t)[:, None] / 10000 ** (np.arange(0, d, 2) / d)  # (T, ceil(D/2)): t / 10000^(2i/D)
    pe = np.empty((t, d))
    pe[:, 0::2] = np.sin(angle)
    pe[:, 1::2] = np.cos(angle[:, : d // 2])
    return pe.astype(dtype, copy=False)


def layer_norm_forward(
    x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float = 1e-5
) -> tuple[np.ndarray, tuple]:
    """γ ⊙ (x - μ) / √(σ² + ε) + β over the last axis of x (..., D), γ, β (D,); returns out (..., D) and cache.

    μ and σ² (the biased variance) are per position, over its D features.
    Equals ``torch.nn.functional.layer_norm(x, (D,), gamma, beta, eps)``;
    Keras's ``LayerNormalization`` is the same with its default ε = 1e-3.
    """
    _checks.float_array("x", x)
    if x.ndim < 1 or x.shape[-1] < 1:
        raise ValueError(f"x must have a feature axis (..., D) with D >= 1, got shape {x.shape}")
    d = x.shape[-1]
    _checks.float_array("gamma", gamma, 1, "(D,)", like=("x", x))
    _checks.same_shape("gamma", gamma, (d,), "D = x.shape[-1]")
    _checks.float_array("beta", beta, 1, "(D,)", like=("x", x))
    _checks.same_shape("beta", beta, (d,), "D = x.shape[-1]")
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps > 0:
        raise ValueError(f"eps must be a positive number, got {eps!r}")
    centred = x - x.mean(axis=-1, keepdims=True)  # (..., D)
    inv_std = 1 / np.sqrt((centred * centred).mean(axis=-1, keepdims=True) + eps)  # (..., 1)
    x_hat = centred * inv_std  # (..., D)
    return x_hat * gamma + beta, (x_hat, inv_std, gamma)


def layer_norm_backward(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients for dout (..., D); returns dx (..., D), dγ (D,), dβ (D,).

    With g = dout ⊙ γ: dx = (g - mean(g) - x̂ ⊙ mean(g ⊙ x̂)) / √(σ² + ε), the
    two means over the features: shifting x or scaling it changes nothing, so
    those two directions are projected out.
    """
    x_hat, inv_std, gamma = cache
    _checks.float_array("dout", dout, like=("x", x_hat))
    _checks.same_shape("dout", dout, x_hat.shape, "the forward output")
    g = dout * gamma  # (..., D)
    dx = inv_std * (g - g.mean(axis=-1, keepdims=True) - x_hat * (g * x_hat).mean(axis=-1, keepdims=True))
    d = x_hat.shape[-1]
    return dx, (dout * x_hat).reshape(-1, d).sum(axis=0), dout.reshape(-1, d).sum(axis=0)
