"""What the torch and Keras fusion twins share, in NumPy: argument checks and LMF factors from a TFN weight.

The operators themselves live in ``mmcourse.torch_models.fusion`` and
``mmcourse.keras_models.fusion``; this module imports neither framework.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

LATE_COMBINES = ("sum_logits", "mean_probs")


def check_dims(input_dims: Sequence[int], min_modalities: int = 2, max_modalities: int | None = None
                ) -> tuple[int, ...]:
    """``input_dims`` as a tuple of positive ints, one per modality; ValueError when it is not."""
    dims = tuple(input_dims) if isinstance(input_dims, (list, tuple)) else ()
    if not dims or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in dims):
        raise ValueError(f"input_dims must be a list of positive ints (features per modality), got {input_dims!r}")
    if len(dims) < min_modalities or (max_modalities is not None and len(dims) > max_modalities):
        wanted = f"exactly {min_modalities}" if max_modalities == min_modalities else f"at least {min_modalities}"
        raise ValueError(f"input_dims must give {wanted} modalities, got {len(dims)}: {dims}")
    return dims


def check_positive(value: int, name: str) -> int:
    """``value`` if it is a positive int; else a ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def low_rank_factors(weight: np.ndarray, input_dims: Sequence[int], rank: int) -> tuple[np.ndarray, np.ndarray]:
    """LMF factors whose rank-``rank`` product best approximates a two-modality TFN weight.

    weight (out, (d_1 + 1) (d_2 + 1)), each row W_j read as a (d_1 + 1, d_2 + 1)
    matrix, so that TFN's output j is z_1^T W_j z_2 with z_i = [f_i; 1]. Its
    singular value decomposition W_j = sum_k s_jk u_jk v_jk^T, cut after
    ``rank`` terms (the best approximation of that rank), gives the factors
    (rank, d_1 + 1, out) = s_jk u_jk and (rank, d_2 + 1, out) = v_jk; with
    lambda = 1 the LMF output is then the TFN output, exactly once ``rank``
    >= min(d_1 + 1, d_2 + 1).
    """
    d1, d2 = input_dims
    out = weight.shape[0]
    u, s, vt = np.linalg.svd(weight.reshape(out, d1 + 1, d2 + 1).astype(np.float64))  # (out, d1+1, k) ...
    r = min(rank, len(s[0]))
    first, second = np.zeros((rank, d1 + 1, out)), np.zeros((rank, d2 + 1, out))
    first[:r] = (u[:, :, :r] * s[:, None, :r]).transpose(2, 1, 0)  # (r, d1 + 1, out)
    second[:r] = vt[:, :r, :].transpose(1, 2, 0)  # (r, d2 + 1, out)
    return first.astype(np.float32), second.astype(np.float32)
