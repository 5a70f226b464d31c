"""Fixed, stratified train/val/test splits shared by every loader."""
from __future__ import annotations

import numpy as np

SPLITS = ("train", "val", "test")
FRACTIONS = {"train": 0.7, "val": 0.1, "test": 0.2}
SPLIT_SEED = 20261122  # fixed forever: changing it would reshuffle every split


def stratified_split(labels: np.ndarray, split: str) -> np.ndarray:
    """Indices of ``split`` in a fixed 70/10/20 split stratified by label, in a fixed shuffled order.

    The order is shuffled within the split (not sorted, not grouped by class),
    so the first n items of a split are a fair sample of it: a gallery of
    ``images[:16]`` shows every class, not sixteen zeros.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS} or 'all', got {split!r}")
    rng = np.random.default_rng(SPLIT_SEED)
    chosen = []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        n_train = round(FRACTIONS["train"] * len(members))
        n_val = round(FRACTIONS["val"] * len(members))
        bounds = {"train": (0, n_train), "val": (n_train, n_train + n_val),
                  "test": (n_train + n_val, len(members))}
        start, stop = bounds[split]
        chosen.append(members[start:stop])
    in_split = np.concatenate(chosen)  # grouped by label
    return np.random.default_rng([SPLIT_SEED, SPLITS.index(split)]).permutation(in_split)
