"""AV digits: handwritten digit images paired with spoken digits, each degraded.

In the manner of MultiBench's AV-MNIST: every example is an image of a digit
and a recording of someone saying the same digit. Both are degraded on
purpose so that neither modality alone is enough, and the two together are:

- image: rebuilt from its top ``image_components`` principal components
  (fitted on the training images only), plus Gaussian noise ``image_noise``;
- audio: MFCCs standardised with training statistics, cut to the first
  ``audio_frames`` frames, plus Gaussian noise ``audio_noise``.

Recordings are split into train/val/test **before** pairing, so no test
clip is ever heard in training (pairing from all clips inflated audio-only
test accuracy from 78 % to 88 % in our measurements).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from mmcourse.data._splits import SPLITS
from mmcourse.data.digit_images import load_digit_images
from mmcourse.data.spoken_digits import load_spoken_digits


@dataclass(frozen=True)
class AVSplit:
    """One split: images (N, 28, 28) float32, audio (N, frames, 13) float32, labels (N,) int64."""

    images: np.ndarray
    audio: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class AVDigits:
    """The three fixed splits of AV digits."""

    train: AVSplit
    val: AVSplit
    test: AVSplit

    def __getitem__(self, split: str) -> AVSplit:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        return getattr(self, split)


def _check_degradation(image_components: int | None, image_noise: float,
                       audio_frames: int, audio_noise: float) -> None:
    if image_components is not None and not 1 <= image_components <= 784:
        raise ValueError(f"image_components must be in [1, 784] or None (no PCA), got {image_components}")
    if not 1 <= audio_frames <= 200:
        raise ValueError(f"audio_frames must be in [1, 200], got {audio_frames}")
    for name, value in (("image_noise", image_noise), ("audio_noise", audio_noise)):
        if not np.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a finite number >= 0, got {value}")


@functools.lru_cache(maxsize=1)
def _train_pca() -> tuple[np.ndarray, np.ndarray]:
    """Mean (784,) and principal axes (784, 784), rows by falling variance, of the training images."""
    flat_train = load_digit_images("train")[0].reshape(3500, -1).astype(np.float64)  # (3500, 784)
    mean = flat_train.mean(axis=0)
    _, _, vt = np.linalg.svd(flat_train - mean, full_matrices=False)
    return mean, vt


def _pca_rebuild(images: np.ndarray, k: int) -> np.ndarray:
    """Project (N, 28, 28) images on the top-k principal components of the training images and back."""
    mean, axes = _train_pca()
    basis = axes[:k]  # (k, 784)
    flat = images.reshape(len(images), -1) - mean  # (N, 784)
    return (flat @ basis.T @ basis + mean).reshape(images.shape).astype(np.float32)


def load_av_digits(seed: int = 0, image_components: int | None = 4, image_noise: float = 0.5,
                   audio_frames: int = 4, audio_noise: float = 1.3) -> AVDigits:
    """Build AV digits: 3,500 / 500 / 1,000 image-audio pairs for train / val / test.

    ``seed`` drives the pairing and the noise; the splits themselves are fixed.
    Set ``image_components=None`` and both noises to 0 for clean data (the
    audio is then still cut to ``audio_frames`` frames, zero-padded if shorter).
    """
    _check_degradation(image_components, image_noise, audio_frames, audio_noise)
    rng = np.random.default_rng(seed)
    speech = {split: load_spoken_digits(split) for split in SPLITS}
    train_frames = np.concatenate(speech["train"].sequences)  # (sum T_i, 13)
    mfcc_mean, mfcc_std = train_frames.mean(axis=0), train_frames.std(axis=0)

    parts = {}
    for split in SPLITS:
        images, labels = load_digit_images(split)
        clips = (speech[split].padded(audio_frames) - mfcc_mean) / mfcc_std  # (M, frames, 13)
        clips[np.arange(audio_frames) >= speech[split].lengths[:, None]] = 0.0  # padding stays 0
        pick = np.empty(len(labels), dtype=np.int64)
        for digit in range(10):
            wanted = np.flatnonzero(labels == digit)
            pool = np.flatnonzero(speech[split].labels == digit)
            pick[wanted] = rng.choice(pool, size=len(wanted), replace=len(wanted) > len(pool))
        audio = clips[pick] + audio_noise * rng.standard_normal(clips[pick].shape)
        if image_components is not None:
            images = _pca_rebuild(images, image_components)
        images = images + image_noise * rng.standard_normal(images.shape)
        parts[split] = AVSplit(images=images.astype(np.float32), audio=audio.astype(np.float32),
                               labels=labels)
    return AVDigits(**parts)
