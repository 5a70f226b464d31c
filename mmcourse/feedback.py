"""Framework-free pieces of chapter 13 (learning from feedback): the speller's alphabet, the reward model's config.

- The digit-word speller: a policy writes a word letter by letter for a
  digit ("seven" for 7). Symbols are :data:`END` (id 0) and the 26 letters
  (ids 1..26); :func:`spell` and :func:`unspell` map between words and ids.
- :class:`RewardConfig` sizes the Bradley–Terry reward model whose twins
  are ``torch_models/reward.py`` and ``keras_models/reward.py``;
  :func:`caption_word_ids` turns any text into the word ids mini_clip's
  text encoder reads (cut to ``max_words``, unknown words as <unk>).
"""
from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
END = 0  # the symbol that ends a spelling
LETTERS = string.ascii_lowercase  # letter i has id i + 1
N_SYMBOLS = len(LETTERS) + 1  # END and the letters
MAX_SPELLING = max(len(w) for w in DIGIT_WORDS) + 1  # the longest word and its END


def spell(word: str, length: int = MAX_SPELLING) -> np.ndarray:
    """The ids of ``word`` followed by END, padded with END to ``length``: (length,) int64."""
    if not isinstance(word, str) or not word or any(c not in LETTERS for c in word) or len(word) >= length:
        raise ValueError(f"word must be 1 to {length - 1} lowercase letters, got {word!r}")
    ids = np.full(length, END, dtype=np.int64)
    ids[: len(word)] = [LETTERS.index(c) + 1 for c in word]
    return ids


def unspell(ids: Sequence[int]) -> str:
    """The letters of ``ids`` before the first END ("" when the first symbol is END)."""
    letters = []
    for i in ids:
        if int(i) == END:
            break
        letters.append(LETTERS[int(i) - 1])
    return "".join(letters)


@dataclass(frozen=True)
class RewardConfig:
    """The reward model r(image, caption) on a frozen contrastive encoder's unit embeddings (B, embed_dim) each.

    ``embed_dim`` is the encoder's (64: chapter 09's mini_clip), ``width``
    the hidden layer's size.
    """

    embed_dim: int = 64
    width: int = 64

    def __post_init__(self):
        for name in ("embed_dim", "width"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")


def caption_word_ids(captions: Sequence[str], vocab, max_words: int) -> np.ndarray:
    """Captions -> word ids (N, max_words) int64: chapter 09's words, unknown ones as <unk>, cut, 0-padded.

    Unlike ``scene_captions.encode_captions`` a long caption is cut, not
    refused: a policy may write anything, and the reward must score it.
    """
    from mmcourse.data.scene_captions import words

    if isinstance(captions, str):
        raise ValueError("captions must be a list of str, got one str; wrap it as [caption]")
    ids = [vocab.encode(words(c))[:max_words] or [vocab.UNK_ID] for c in captions]  # an empty caption: one <unk>
    return vocab.pad_sequences(ids, max_words)


__all__ = ["DIGIT_WORDS", "END", "LETTERS", "MAX_SPELLING", "N_SYMBOLS", "RewardConfig", "caption_word_ids", "spell",
           "unspell"]
