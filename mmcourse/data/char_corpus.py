"""The course's text corpus as character ids for a character-level language model (chapter 08).

Documents (help topics of ``load_text_corpus``) are split 90/10 into train
and validation *by document*, in a fixed shuffled order, so no text of a
validation topic is ever trained on; each split's documents are joined
with a blank line. The tokenizer is fitted on the whole corpus, so both
splits encode without unknown characters (it learns the alphabet, nothing more).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mmcourse.data.text_corpus import load_text_corpus
from mmcourse.text import CharTokenizer

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
