"""Framework-free pieces of chapter 13 (learning from feedback): the speller's alphabet, the reward model's config.

- The digit-word speller: a policy writes a word letter by letter for a
  digit ("seven" for 7). Symbols are :data:`END` (id 0) and the 26 letters
  (ids 1..26); :func:`spell` and :func:`unspell` map between words and ids.
- :class:`RewardConfig` sizes the Bradley–Terry reward model whose twins
  are ``torch_models/reward.py`` and ``keras_models/reward.py``;
  :func:`caption_slots` turns the objects a caption names into what that
  model reads: per grid cell, the colour and shape named there and how often;
  :func:`caption_word_ids` turns any text into the word ids mini_clip's
  text encoder reads (cut to ``max_words``, unknown words as <unk>).
"""
from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mmcourse.data.shape_scenes import COLOURS, SHAPES, SceneObject

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


SLOT_COLOURS = tuple(COLOURS)  # slot id 0: nothing named in the cell; 1..4 these; 5 any other word
SLOT_SHAPES = SHAPES  # slot id 0: nothing named; 1..3 these; 4 any other word
MAX_COUNT = 2  # a cell's count slot: 0, 1 or 2 (twice or more) objects named there


@dataclass(frozen=True)
class RewardConfig:
    """The reward model r(image, caption): visual tokens (B, n_places, feature_dim) and caption slots (B, n_places, 3).

    ``feature_dim`` and ``n_places`` are the frozen image encoder's (chapter
    09's mini_clip: 4 tokens of 128, one per grid cell in reading order),
    ``width`` the size of the per-cell hidden layer.
    """

    feature_dim: int = 128
    n_places: int = 4
    width: int = 64

    def __post_init__(self):
        for name in ("feature_dim", "n_places", "width"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")


def caption_slots(named: Sequence[Sequence[SceneObject]], grid: int = 2) -> np.ndarray:
    """The objects each caption names (``vl.parse_caption``) -> slots (B, grid², 3) int64: colour, shape, count.

    Cell ``row * grid + col`` holds the colour id and shape id of the first
    object named there (0 where none is, the last id for a word that is no
    colour or shape) and how many objects are named there (capped at
    :data:`MAX_COUNT`). Sizes are dropped, as the rule drops them.
    """
    if isinstance(named, (str, SceneObject)):
        raise ValueError("named must hold one sequence of SceneObjects per caption, e.g. [parse_caption(text)]")
    slots = np.zeros((len(named), grid * grid, 3), dtype=np.int64)
    for b, objects in enumerate(named):
        for obj in objects:
            if not (0 <= obj.row < grid and 0 <= obj.col < grid):
                raise ValueError(f"object {obj} lies outside the {grid}x{grid} grid")
            cell = slots[b, obj.row * grid + obj.col]
            if cell[2] == 0:
                cell[0] = SLOT_COLOURS.index(obj.colour) + 1 if obj.colour in SLOT_COLOURS else len(SLOT_COLOURS) + 1
                cell[1] = SLOT_SHAPES.index(obj.shape) + 1 if obj.shape in SLOT_SHAPES else len(SLOT_SHAPES) + 1
            cell[2] = min(cell[2] + 1, MAX_COUNT)
    return slots


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


__all__ = ["DIGIT_WORDS", "END", "LETTERS", "MAX_COUNT", "MAX_SPELLING", "N_SYMBOLS", "RewardConfig", "SLOT_COLOURS",
           "SLOT_SHAPES", "caption_slots", "caption_word_ids", "spell", "unspell"]
