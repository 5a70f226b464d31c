"""Spoken digit strings: 2-4 FSDD clips' MFCCs end to end, labelled with the digits said (chapter 12).

A string like "4 0 7" is the MFCC frames of three recordings of single
digits, concatenated. Clips come from one split of ``load_spoken_digits``
only, so strings built for training never hold a test clip and the other
way round. The frames are standardised with the statistics of the training
clips (each of the 13 coefficients to mean 0 and standard deviation 1), as
in AV digits.

The split is by clip, not by speaker: the packaged features carry no
speaker ids, so the six FSDD speakers are heard in training and in test.
Scores on test strings measure recognising new recordings of known voices,
not new voices.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from mmcourse.data._splits import SPLITS
from mmcourse.data.spoken_digits import N_MFCC, load_spoken_digits

BLANK = 10  # the CTC blank: digits are 0-9, so the blank takes the next id
N_LABELS = 11  # ten digits and the blank


@dataclass(frozen=True)
class DigitStrings:
    """Padded digit strings: ``features`` (N, T, 13) float32, zero after ``lengths`` (N,) frames;
    ``targets`` (N, S) int64, padded with the blank after ``target_lengths`` (N,) digits."""

    features: np.ndarray
    lengths: np.ndarray
    targets: np.ndarray
    target_lengths: np.ndarray

    def __len__(self) -> int:
        return len(self.lengths)

    def digits(self, i: int) -> list[int]:
        """The digits said in string ``i``."""
        return self.targets[i, :self.target_lengths[i]].tolist()


@functools.lru_cache(maxsize=1)
def mfcc_statistics() -> tuple[np.ndarray, np.ndarray]:
    """Mean (13,) and standard deviation (13,) of every MFCC frame of the training clips, float32."""
    frames = np.concatenate(load_spoken_digits("train").sequences)  # (sum T_i, 13)
    return frames.mean(axis=0), frames.std(axis=0)


def standardise(sequence: np.ndarray) -> np.ndarray:
    """MFCC frames (T, 13) -> (T, 13) float32 with the training clips' mean and standard deviation."""
    mean, std = mfcc_statistics()
    return ((sequence - mean) / std).astype(np.float32)


def pad_sequences(sequences: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Sequences (T_i, D) -> zero-padded (N, max T_i, D) float32 and their lengths (N,) int64."""
    lengths = np.array([len(s) for s in sequences], dtype=np.int64)
    out = np.zeros((len(sequences), int(lengths.max()), sequences[0].shape[1]), dtype=np.float32)
    for i, seq in enumerate(sequences):
        out[i, :len(seq)] = seq
    return out, lengths


def make_digit_strings(split: str, n: int, seed: int | tuple[int, ...] = 0, min_digits: int = 2,
                       max_digits: int = 4) -> DigitStrings:
    """``n`` strings of ``min_digits``-``max_digits`` different clips of ``split``, drawn with ``seed``.

    ``seed`` is an int or a tuple of ints (a training loop draws batch k
    of run s with seed (s, k)).
    The number of digits is uniform in [min_digits, max_digits]; the clips
    of one string are distinct recordings, drawn uniformly from the split
    (so digits repeat as often as chance makes them: "3 3" happens).
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int (strings to make), got {n!r}")
    if not 1 <= min_digits <= max_digits:
        raise ValueError(f"need 1 <= min_digits <= max_digits, got min_digits={min_digits}, max_digits={max_digits}")
    clips = load_spoken_digits(split)
    if max_digits > len(clips):
        raise ValueError(f"max_digits must be at most the {len(clips)} clips of split {split!r}, got {max_digits}")
    rng = np.random.default_rng([*np.atleast_1d(seed).tolist(), SPLITS.index(split)])
    sequences, targets = [], np.full((n, max_digits), BLANK, dtype=np.int64)
    target_lengths = rng.integers(min_digits, max_digits + 1, size=n)  # (N,)
    for i, k in enumerate(target_lengths):
        picked = rng.choice(len(clips), size=k, replace=False)
        sequences.append(standardise(np.concatenate([clips.sequences[j] for j in picked])))  # (sum T_j, 13)
        targets[i, :k] = clips.labels[picked]
    features, lengths = pad_sequences(sequences)
    return DigitStrings(features=features, lengths=lengths, targets=targets,
                        target_lengths=target_lengths.astype(np.int64))


__all__ = ["BLANK", "N_LABELS", "N_MFCC", "DigitStrings", "make_digit_strings", "mfcc_statistics",
           "pad_sequences", "standardise"]
