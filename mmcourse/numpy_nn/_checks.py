"""Input validation shared by the layers: clear errors that name the argument.

Every public function in :mod:`mmcourse.numpy_nn` checks its inputs here, so a
learner who passes a torch tensor, a 3-D image or a float32/float64 mix gets a
message that says which argument is wrong, what was expected and what came.
"""
from __future__ import annotations

import numbers

import numpy as np


def float_array(
    name: str, x, ndim: int | None = None, shape_hint: str = "", like: tuple[str, np.ndarray] | None = None
) -> np.ndarray:
    """Return ``x`` if it is a floating NumPy array of ``ndim`` dimensions, else raise.

    ``like=(other_name, other)`` also requires the same dtype as ``other``, so
    float32 inputs are never silently promoted to float64.
    """
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array, got {type(x).__module__}.{type(x).__name__}")
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"{name} must have a floating dtype (float32 or float64), got {x.dtype}")
    if ndim is not None and x.ndim != ndim:
        hint = f" {shape_hint}" if shape_hint else ""
        raise ValueError(f"{name} must be {ndim}-D{hint}, got shape {x.shape}")
    if like is not None and x.dtype != like[1].dtype:
        raise TypeError(
            f"{name} has dtype {x.dtype} but {like[0]} has dtype {like[1].dtype}; cast one so both match"
        )
    return x


def int_array(name: str, x, ndim: int | None = None, high: int | None = None) -> np.ndarray:
    """Return ``x`` if it is an integer NumPy array of ``ndim`` dimensions with values in [0, high)."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array of integers, got {type(x).__module__}.{type(x).__name__}")
    if not np.issubdtype(x.dtype, np.integer):
        raise TypeError(f"{name} must have an integer dtype, got {x.dtype}")
    if ndim is not None and x.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {x.shape}")
    if high is not None and x.size and (x.min() < 0 or x.max() >= high):
        raise ValueError(f"{name} must hold values in [0, {high}), got values in [{x.min()}, {x.max()}]")
    return x


def integer(name: str, value, minimum: int) -> int:
    """Return ``value`` as an int if it is an integer (not a bool) >= ``minimum``, else raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def pair(name: str, value, minimum: int) -> tuple[int, int]:
    """Return ``(value, value)`` for an int, or the checked pair for a 2-tuple of ints."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
        return integer(f"{name}[0]", value[0], minimum), integer(f"{name}[1]", value[1], minimum)
    v = integer(name, value, minimum)
    return v, v


def same_shape(name: str, x: np.ndarray, expected: tuple[int, ...], what: str) -> None:
    """Raise ValueError unless ``x.shape == expected`` (``what`` says where ``expected`` comes from)."""
    if x.shape != tuple(expected):
        raise ValueError(f"{name} must have shape {tuple(expected)} ({what}), got {x.shape}")
