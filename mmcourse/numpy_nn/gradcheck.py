"""Numerical gradients by central differences, to check hand-written backward passes.

The recipe for a layer ``out, cache = forward(x)`` with ``dx = backward(dout, cache)``:
pick a random ``dout`` and the scalar L(x) = Σ forward(x) ⊙ dout, whose
gradient is exactly ``backward(dout, cache)``. Then::

    num = numerical_gradient(lambda: (forward(x)[0] * dout).sum(), x)
    relative_error(num, dx)   # about 1e-9 when right, about 1 when wrong
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from . import _checks


def numerical_gradient(f: Callable[[], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """∂f/∂x by central differences, (f(x + ε eᵢ) - f(x - ε eᵢ)) / 2ε for every entry i of x.

    ``f`` takes no arguments and reads ``x`` itself, so x may be any array a
    closure sees (an input, a weight, a bias). Each entry is nudged in place
    and put back, so x is unchanged afterwards. Costs 2·x.size calls of f.
    x must be float64: in float32 the two values of f agree to about 7
    digits, and their difference keeps only noise.
    """
    if not callable(f):
        raise TypeError(f"f must be a callable taking no arguments, got {type(f).__name__}")
    _checks.float_array("x", x)
    if x.dtype != np.float64:
        raise TypeError(f"x must be float64 for finite differences (float32 keeps too few digits), got {x.dtype}")
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps > 0:
        raise ValueError(f"eps must be a positive number, got {eps!r}")
    grad = np.empty_like(x)
    for idx in np.ndindex(x.shape):
        orig = x[idx]
        x[idx] = orig + eps
        plus = f()
        x[idx] = orig - eps
        minus = f()
        x[idx] = orig
        if np.ndim(plus) != 0:
            raise ValueError(f"f must return a scalar, got an array of shape {np.shape(plus)}")
        grad[idx] = (plus - minus) / (2 * eps)
    return grad


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """‖a - b‖ / (‖a‖ + ‖b‖), 0 when both are zero: scale-free, so one threshold fits every layer."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {a.shape} and {b.shape}")
    scale = np.linalg.norm(a) + np.linalg.norm(b)
    return float(np.linalg.norm(a - b) / scale) if scale > 0 else 0.0
