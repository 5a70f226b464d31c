"""Shape-scene visual question answering data (chapter 07): splits, token ids, torch and tf.data pipelines.

Each split is drawn by ``make_scenes`` with its own seed, so no scene is
shared between train, val and test. Questions become token ids with a
``Vocabulary`` built on the TRAIN questions only (a word seen first at test
time maps to ``<unk>``, as it would in deployment). Images are scaled to
float32 in [0, 1]; answers are indices into ``ANSWERS``.

    load_vqa() -> VQAData(train, val, test, vocab)
    VQASplit: images (N, H, W, 3) float32, question_ids (N, L) int64 (0 = <pad>),
              lengths (N,) int64, answer_ids (N,) int64, questions, answers, question_types
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace

import numpy as np

from mmcourse.data.shape_scenes import ANSWERS, QUESTION_TYPES, make_scenes
from mmcourse.text import Vocabulary, tokenize

MAX_LEN = 8  # every shape-scene question has 5 or 6 tokens; the rest is padding


@dataclass(frozen=True)
class VQASplit:
    """N question-image pairs ready for a model; see the module docstring for the shapes."""

    images: np.ndarray
    question_ids: np.ndarray
    lengths: np.ndarray
    answer_ids: np.ndarray
    questions: list[str]
    answers: list[str]
    question_types: list[str]

    def __len__(self) -> int:
        return len(self.answer_ids)


@dataclass(frozen=True)
class VQAData:
    """Train, val and test splits and the vocabulary built on the train questions."""

    train: VQASplit
    val: VQASplit
    test: VQASplit
    vocab: Vocabulary


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def encode_questions(questions: list[str], vocab: Vocabulary, max_len: int = MAX_LEN
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Questions (N strings) -> ids (N, max_len) int64 padded with 0 at the end, and true lengths (N,) int64."""
    max_len = _positive_int(max_len, "max_len")
    if isinstance(questions, str):
        raise ValueError("questions must be a list of strings, got one str; wrap it as [question]")
    encoded = [vocab.encode(tokenize(q)) for q in questions]
    lengths = np.array([max(1, min(len(ids), max_len)) for ids in encoded], dtype=np.int64)  # (N,)
    return vocab.pad_sequences(encoded, max_len), lengths


def _split(n: int, seed: int, image_size: int, vocab: Vocabulary | None, max_len: int
           ) -> tuple[VQASplit, Vocabulary]:
    scenes = make_scenes(n, seed=seed, image_size=image_size)
    if vocab is None:
        vocab = Vocabulary([tokenize(q) for q in scenes.questions])
    ids, lengths = encode_questions(scenes.questions, vocab, max_len)
    split = VQASplit(images=scenes.images.astype(np.float32) / 255.0, question_ids=ids, lengths=lengths,
                     answer_ids=scenes.answer_ids, questions=list(scenes.questions), answers=list(scenes.answers),
                     question_types=list(scenes.question_types))
    return split, vocab


def load_vqa(n_train: int = 6000, n_val: int = 1000, n_test: int = 1000, seed: int = 0,
             image_size: int = 32, max_len: int = MAX_LEN) -> VQAData:
    """Three disjoint splits from seeds ``seed``, ``seed + 1``, ``seed + 2``; vocabulary from train only."""
    n_train, n_val, n_test = (_positive_int(v, k) for v, k in ((n_train, "n_train"), (n_val, "n_val"),
                                                               (n_test, "n_test")))
    max_len = _positive_int(max_len, "max_len")
    train, vocab = _split(n_train, seed, image_size, None, max_len)
    val, _ = _split(n_val, seed + 1, image_size, vocab, max_len)
    test, _ = _split(n_test, seed + 2, image_size, vocab, max_len)
    return VQAData(train=train, val=val, test=test, vocab=vocab)


def blank_images(split: VQASplit) -> VQASplit:
    """The split with every image set to black: what a model knows from the question alone."""
    return replace(split, images=np.zeros_like(split.images))


def blank_questions(split: VQASplit) -> VQASplit:
    """The split with every question replaced by a single ``<unk>`` token: the image alone."""
    ids = np.zeros_like(split.question_ids)
    ids[:, 0] = Vocabulary.UNK_ID
    return replace(split, question_ids=ids, lengths=np.ones_like(split.lengths))


def question_prior(train: VQASplit, test: VQASplit) -> tuple[float, dict[str, str]]:
    """Accuracy on test of answering each question type with its most common TRAIN answer, and that answer.

    This is the bar a VQA model must clear to show it looks at the image:
    the question type alone already narrows the answer down.
    """
    majority = {}
    for kind in QUESTION_TYPES:
        answers = [a for a, t in zip(train.answers, train.question_types) if t == kind]
        if answers:
            majority[kind] = min(Counter(answers).items(), key=lambda item: (-item[1], item[0]))[0]
    hits = [majority.get(t) == a for a, t in zip(test.answers, test.question_types)]
    return float(np.mean(hits)), majority


def accuracy_per_type(predicted: np.ndarray, split: VQASplit) -> dict[str, float]:
    """Accuracy of predicted answer ids (N,) on each question type present in the split."""
    predicted = np.asarray(predicted)
    if predicted.shape != split.answer_ids.shape:
        raise ValueError(f"predicted must have shape {split.answer_ids.shape}, got {predicted.shape}")
    kinds = np.array(split.question_types)
    return {kind: float(np.mean(predicted[kinds == kind] == split.answer_ids[kinds == kind]))
            for kind in QUESTION_TYPES if np.any(kinds == kind)}


def make_vqa_dataloader(split: VQASplit, batch_size: int = 64, shuffle: bool = False, seed: int = 0):
    """A torch DataLoader of ((images (B, 3, H, W), question_ids (B, L), lengths (B,)), answer_ids (B,)).

    With ``shuffle`` the order comes from the loader's own generator seeded
    with ``seed`` (``loader.generator``), whose state a checkpoint can save.
    """
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    batch_size = _positive_int(batch_size, "batch_size")
    dataset = TensorDataset(torch.from_numpy(split.images).permute(0, 3, 1, 2).contiguous(),  # (N, 3, H, W)
                            torch.from_numpy(split.question_ids), torch.from_numpy(split.lengths),
                            torch.from_numpy(split.answer_ids))
    generator = torch.Generator().manual_seed(seed) if shuffle else None
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator,
                      collate_fn=_collate)


def _collate(items):
    """Stack (image, ids, length, answer) items into ((images, ids, lengths), answers)."""
    import torch

    images, ids, lengths, answers = (torch.stack(column) for column in zip(*items))
    return (images, ids, lengths), answers


def make_vqa_tf_dataset(split: VQASplit, batch_size: int = 64, shuffle: bool = False, seed: int = 0):
    """A ``tf.data.Dataset`` of ({"images": (B, H, W, 3), "question_ids": (B, L)}, answer_ids (B,)) batches."""
    from mmcourse.env import import_tensorflow

    batch_size = _positive_int(batch_size, "batch_size")
    tf = import_tensorflow()
    inputs = {"images": split.images, "question_ids": split.question_ids}
    dataset = tf.data.Dataset.from_tensor_slices((inputs, split.answer_ids))
    if shuffle:
        dataset = dataset.shuffle(len(split), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)

