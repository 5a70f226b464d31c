"""Framework-free pieces of the VLM twins (``torch_models/vlm.py``, ``keras_models/vlm.py``): checked once, here.

Both twins take their projector kinds and their argument checks from this
module, so the two frameworks accept and refuse exactly the same arguments.
"""
from __future__ import annotations

import math

PROJECTORS = ("linear", "mlp")


def grid_side(n: int, name: str) -> int:
    """√n for a square number of tokens n, else a ValueError naming the argument."""
    side = math.isqrt(n)
    if side * side != n:
        raise ValueError(f"{name} must be a square number of tokens (a grid), got {n}")
    return side


def check_sizes(feature_dim: int, n_visual: int | None) -> None:
    """Raise a ValueError unless feature_dim is a positive int and n_visual is None or a square number."""
    if isinstance(feature_dim, bool) or not isinstance(feature_dim, int) or feature_dim < 1:
        raise ValueError(f"feature_dim must be a positive int, got {feature_dim!r}")
    if n_visual is not None:
        grid_side(n_visual, "n_visual")
