"""Framework-free pieces of the VLM twins (``torch_models/vlm.py``, ``keras_models/vlm.py``): checked once, here.

Both twins take their projector kinds and their token-grid check from this
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
