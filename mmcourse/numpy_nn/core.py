"""Fully connected layer, activations, softmax cross-entropy and flatten, forward and backward.

Every layer is a pair of pure functions::

    out, cache = layer_forward(inputs...)      # cache: what backward needs
    grads = layer_backward(dout, cache)        # dout = dLoss/dout, same shape as out

so a network is a chain of forward calls, and backpropagation is the same
chain of backward calls in reverse. Arrays keep the dtype they come in
(float32 or float64).
"""
from __future__ import annotations

import numpy as np

from . import _checks


def linear_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, tuple]:
    """y = x W + b for x (N, ..., D_in), W (D_in, D_out), b (D_out,); returns y (N, ..., D_out) and cache.

    Leading dimensions are batch dimensions, so per-step outputs of an RNN,
    y_t = V h_t + c for h (N, T, H), are one call. ``torch.nn.Linear`` keeps its
    weight as (D_out, D_in): pass ``weight.T``.
    """
    _checks.float_array("x", x)
    if x.ndim < 2:
        raise ValueError(f"x must be at least 2-D (N, ..., D_in), got shape {x.shape}")
    _checks.float_array("w", w, 2, "(D_in, D_out)", like=("x", x))
    _checks.float_array("b", b, 1, "(D_out,)", like=("x", x))
    if w.shape[0] != x.shape[-1]:
        raise ValueError(f"w must have shape (D_in={x.shape[-1]}, D_out) to match x {x.shape}, got {w.shape}")
    _checks.same_shape("b", b, (w.shape[1],), "D_out of w")
    return x @ w + b, (x, w)


def linear_backward(dy: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of y = x W + b: dx = dy Wᵀ (N, ..., D_in), dW = xᵀ dy (D_in, D_out), db = Σ dy (D_out,)."""
    x, w = cache
    _checks.float_array("dy", dy, like=("x", x))
    _checks.same_shape("dy", dy, x.shape[:-1] + (w.shape[1],), "the forward output")
    x2 = x.reshape(-1, x.shape[-1])  # (N*..., D_in)
    dy2 = dy.reshape(-1, dy.shape[-1])  # (N*..., D_out)
    return dy @ w.T, x2.T @ dy2, dy2.sum(axis=0)


def relu_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """max(0, x), elementwise; returns out (same shape as x) and cache."""
    _checks.float_array("x", x)
    return np.maximum(x, 0), x


def relu_backward(dout: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """dx = dout · 1[x > 0] (the subgradient at 0 is taken as 0, as torch and TF do)."""
    x = cache
    _checks.float_array("dout", dout, like=("x", x))
    _checks.same_shape("dout", dout, x.shape, "the forward output")
    return dout * (x > 0)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """σ(x) = 1 / (1 + e⁻ˣ), computed as exp(-log(1 + e⁻ˣ)) so that no exp overflows."""
    return np.exp(-np.logaddexp(0, -x))


def sigmoid_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """σ(x) elementwise; returns out and cache (out itself, since σ' = σ(1 - σ))."""
    _checks.float_array("x", x)
    out = sigmoid(x)
    return out, out


def sigmoid_backward(dout: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """dx = dout · σ(x)(1 - σ(x))."""
    out = cache
    _checks.float_array("dout", dout, like=("x", out))
    _checks.same_shape("dout", dout, out.shape, "the forward output")
    return dout * out * (1 - out)


def tanh_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """tanh(x) elementwise; returns out and cache (out itself, since tanh' = 1 - tanh²)."""
    _checks.float_array("x", x)
    out = np.tanh(x)
    return out, out


def tanh_backward(dout: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """dx = dout · (1 - tanh(x)²)."""
    out = cache
    _checks.float_array("dout", dout, like=("x", out))
    _checks.same_shape("dout", dout, out.shape, "the forward output")
    return dout * (1 - out * out)


def log_softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    """log softmax(z) = z - logΣexp(z), with the max subtracted first so exp never overflows."""
    shifted = z - z.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    """softmax(z)_k = exp(z_k) / Σ_j exp(z_j) along ``axis``, computed stably."""
    return np.exp(log_softmax(z, axis=axis))


def softmax_cross_entropy_forward(logits: np.ndarray, labels: np.ndarray) -> tuple[float, tuple]:
    """Mean cross-entropy L = -1/N Σ_n log softmax(z_n)[y_n] for logits (N, K) and integer labels (N,).

    Returns the loss (a Python float) and cache. This is
    ``torch.nn.functional.cross_entropy(logits, labels)`` and Keras's
    ``SparseCategoricalCrossentropy(from_logits=True)``.
    """
    _checks.float_array("logits", logits, 2, "(N, K)")
    _checks.int_array("labels", labels, 1, high=logits.shape[1])
    _checks.same_shape("labels", labels, (logits.shape[0],), "N of logits")
    logp = log_softmax(logits)  # (N, K)
    n = logits.shape[0]
    loss = -logp[np.arange(n), labels].mean()
    return float(loss), (logp, labels)


def softmax_cross_entropy_backward(dloss: float, cache: tuple) -> np.ndarray:
    """dL/dz = (softmax(z) - onehot(y)) / N, scaled by the upstream scalar ``dloss``; returns (N, K)."""
    logp, labels = cache
    if isinstance(dloss, bool) or not isinstance(dloss, (int, float, np.floating, np.integer)):
        raise TypeError(f"dloss must be a scalar number, got {type(dloss).__name__}")
    n = logp.shape[0]
    dz = np.exp(logp)  # (N, K) softmax
    dz[np.arange(n), labels] -= 1
    dz *= dloss / n
    return dz


def flatten_forward(x: np.ndarray) -> tuple[np.ndarray, tuple[int, ...]]:
    """Reshape x (N, d1, d2, ...) to (N, d1*d2*...); returns out and cache (the input shape)."""
    _checks.float_array("x", x)
    if x.ndim < 1:
        raise ValueError(f"x must have a batch dimension, got shape {x.shape}")
    return x.reshape(x.shape[0], -1), x.shape  # (N, d1*d2*...)


def flatten_backward(dout: np.ndarray, cache: tuple[int, ...]) -> np.ndarray:
    """Reshape dout (N, d1*d2*...) back to the input shape (N, d1, d2, ...)."""
    shape = cache
    _checks.float_array("dout", dout, 2, "(N, d1*d2*...)")
    if dout.size != int(np.prod(shape)):
        raise ValueError(
            f"dout must have {int(np.prod(shape))} elements to match the input shape {shape}, got shape {dout.shape}"
        )
    return dout.reshape(shape)
