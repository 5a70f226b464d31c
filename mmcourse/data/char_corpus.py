"""The course's text corpus as character ids for a character-level language model (chapter 08).

Documents (help topics of ``load_text_corpus``) are split 90/10 into train
and validation *by document*, in a fixed shuffled order, so no text of a
validation topic is ever trained on; each split's documents are joined
with a blank line. The tokenizer is fitted on the whole corpus, so both
splits encode without unknown characters (it learns the alphabet, nothing more).

Batches for training (torch tensors; torch is imported when they are made):

- :func:`random_batches`: random windows x (B, T) and their next characters
  y (B, T) = the windows shifted by one, for a causal (GPT) language model.
- :func:`mask_tokens`: BERT's masking for a masked language model.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from mmcourse.data.text_corpus import load_text_corpus
from mmcourse.text import CharTokenizer

if TYPE_CHECKING:
    import torch

SPLIT_SEED = 20261130  # fixed forever: changing it would move documents between the splits
SEPARATOR = "\n\n"


@dataclass
class CharCorpus:
    """Character ids of the train and validation documents, with their titles and the tokenizer."""

    tokenizer: CharTokenizer
    train: np.ndarray  # (N_train,) int64
    val: np.ndarray  # (N_val,) int64
    train_titles: list[str]
    val_titles: list[str]


def load_char_corpus(val_fraction: float = 0.1) -> CharCorpus:
    """The text corpus as character ids, split by document: the same split and ids on every call."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction!r}")
    corpus = load_text_corpus()
    titles = list(corpus)  # sorted by title
    order = np.random.default_rng(SPLIT_SEED).permutation(len(titles))
    n_val = max(1, round(val_fraction * len(titles)))
    val_titles = [titles[i] for i in order[:n_val]]
    train_titles = [titles[i] for i in order[n_val:]]
    tokenizer = CharTokenizer("".join(corpus.values()) + SEPARATOR)
    train = tokenizer.encode(SEPARATOR.join(corpus[t] for t in train_titles))
    val = tokenizer.encode(SEPARATOR.join(corpus[t] for t in val_titles))
    return CharCorpus(tokenizer, train, val, train_titles, val_titles)


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def random_batches(ids: np.ndarray, batch_size: int, block_size: int, generator: torch.Generator
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """B = batch_size random windows of ids (N,): x (B, T) int64 and next characters y (B, T), y[:, t] = x[:, t + 1].

    Window starts are drawn uniformly from 0 .. N - T - 1 with ``generator``
    (a ``torch.Generator``), so the same seed gives the same batches.
    """
    import torch

    batch_size, block_size = _positive_int("batch_size", batch_size), _positive_int("block_size", block_size)
    ids = np.asarray(ids)
    if ids.ndim != 1 or ids.dtype.kind not in "iu":
        raise ValueError(f"ids must be a 1-D integer array, got {ids.dtype} of shape {ids.shape}")
    if len(ids) < block_size + 1:
        raise ValueError(f"ids holds {len(ids)} tokens, fewer than block_size + 1 = {block_size + 1}")
    starts = torch.randint(len(ids) - block_size, (batch_size,), generator=generator)  # (B,)
    windows = torch.from_numpy(np.stack([ids[s : s + block_size + 1] for s in starts.tolist()]).astype(np.int64))
    return windows[:, :-1], windows[:, 1:]  # (B, T), (B, T): y is x one step ahead


def mask_tokens(ids: torch.Tensor, mask_id: int, vocab_size: int, generator: torch.Generator, p: float = 0.15
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's masking of ids (B, T) int64 -> (inputs (B, T), targets (B, T)).

    Each position is chosen with probability p. A chosen position becomes
    ``mask_id`` 80% of the time, a random id in [0, vocab_size) 10% of the
    time, and stays as it was 10% of the time; its target is the original
    id. Positions not chosen keep their id and get target -100, which
    ``F.cross_entropy`` ignores (its ``ignore_index``), so only chosen
    positions are predicted. The random ids are drawn from [0, vocab_size),
    so pass the tokenizer's vocab_size to keep [MASK] out of them.
    """
    import torch

    if not isinstance(ids, torch.Tensor) or ids.dim() != 2 or ids.dtype != torch.int64:
        raise ValueError(f"ids must be an int64 torch.Tensor of shape (B, T), got {type(ids).__name__} "
                         f"{getattr(ids, 'dtype', '')} {tuple(getattr(ids, 'shape', ()))}")
    vocab_size = _positive_int("vocab_size", vocab_size)
    if isinstance(mask_id, bool) or not isinstance(mask_id, (int, np.integer)) or mask_id < 0:
        raise ValueError(f"mask_id must be an int >= 0, got {mask_id!r}")
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 < p <= 1.0:
        raise ValueError(f"p must be a number in (0, 1], got {p!r}")
    draw = torch.rand(ids.shape, generator=generator)  # (B, T): one uniform number decides each position
    chosen = draw < p
    to_mask = draw < 0.8 * p  # the first 80% of the chosen range
    to_random = chosen & ~to_mask & (draw < 0.9 * p)  # the next 10%; the last 10% stay as they are
    random_ids = torch.randint(vocab_size, ids.shape, generator=generator)  # (B, T)
    inputs = torch.where(to_mask, torch.full_like(ids, mask_id), torch.where(to_random, random_ids, ids))
    targets = torch.where(chosen, ids, torch.full_like(ids, -100))
    return inputs, targets
