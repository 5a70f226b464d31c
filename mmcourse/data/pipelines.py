"""Input pipelines for AV digits: a torch ``Dataset`` + ``DataLoader`` and their ``tf.data`` twin.

Both yield ``(inputs, labels)`` with ``inputs = (images, audio)``, the
convention of Keras' ``model.fit``; only the image layout differs, because
each framework's Conv2D wants its own:

- torch: images (B, 1, 28, 28), channels first (NCHW);
- tf.data: images (B, 28, 28, 1), channels last (NHWC);
- both: audio (B, frames, 13) float32, labels (B,) int64.

Importing this module imports torch; TensorFlow is imported only when
``make_tf_dataset`` is called.
"""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset


def check_av_arrays(images: np.ndarray, audio: np.ndarray, labels: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate one split: images (N, H, W), audio (N, T, D), labels (N,) integers.

    Returns them as float32, float32 and int64 arrays, or raises a ValueError
    naming the argument that is wrong (a mismatched length included).
    """
    images, audio, labels = np.asarray(images), np.asarray(audio), np.asarray(labels)
    if images.ndim != 3 or not np.issubdtype(images.dtype, np.number):
        raise ValueError(f"images must be a numeric array of shape (N, H, W), got {images.dtype} {images.shape}")
    if audio.ndim != 3 or not np.issubdtype(audio.dtype, np.number):
        raise ValueError(f"audio must be a numeric array of shape (N, frames, coefficients), "
                         f"got {audio.dtype} {audio.shape}")
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be a 1-D array of integer classes, got {labels.dtype} {labels.shape}")
    for name, array in (("images", images), ("audio", audio)):
        if len(array) != len(labels):
            raise ValueError(f"{name} and labels must have the same length, got {len(array)} {name} "
                             f"and {len(labels)} labels")
    return images.astype(np.float32), audio.astype(np.float32), labels.astype(np.int64)


class AVDigitsDataset(Dataset):
    """Map-style torch Dataset of AV digit pairs: item i is ((image (1, H, W), audio (T, D)), label).

    Arrays are converted to tensors once, here, so ``__getitem__`` only
    indexes. Preprocess (normalise with training statistics) before.
    """

    def __init__(self, images: np.ndarray, audio: np.ndarray, labels: np.ndarray):
        images, audio, labels = check_av_arrays(images, audio, labels)
        self.images = torch.from_numpy(images).unsqueeze(1)  # (N, H, W) -> (N, 1, H, W)
        self.audio = torch.from_numpy(audio)  # (N, T, D)
        self.labels = torch.from_numpy(labels)  # (N,)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[tuple[torch.Tensor, torch.Tensor], torch.Tensor]:
        return (self.images[index], self.audio[index]), self.labels[index]


def make_dataloader(dataset: Dataset, batch_size: int = 64, shuffle: bool = False, seed: int = 0) -> DataLoader:
    """A DataLoader over dataset; with ``shuffle`` its order comes from its own generator seeded with ``seed``.

    Its own generator makes the batch order repeat for a given seed, whatever
    else has drawn from torch's global generator in between.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    generator = torch.Generator().manual_seed(seed) if shuffle else None
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator)


def make_tf_dataset(images: np.ndarray, audio: np.ndarray, labels: np.ndarray, batch_size: int = 64,
                    shuffle: bool = False, seed: int = 0):
    """A ``tf.data.Dataset`` of ((images (B, H, W, 1), audio (B, T, D)), labels (B,)) batches.

    ``from_tensor_slices`` -> ``shuffle`` (a buffer as large as the data, seeded,
    a new order each epoch) -> ``batch`` -> ``prefetch``, which prepares the
    next batch while the model trains on this one.
    """
    from mmcourse.env import import_tensorflow

    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    images, audio, labels = check_av_arrays(images, audio, labels)
    tf = import_tensorflow()
    dataset = tf.data.Dataset.from_tensor_slices(((images[..., None], audio), labels))  # images (N, H, W, 1)
    if shuffle:
        dataset = dataset.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)
