"""Caption -> image pairs for text-to-image models (chapter 11): digit words and one-shape scenes.

Two data sets, the same interface (:class:`CaptionedImages`):

- ``load_digit_captions(split)``: the 5,000 real MNIST digits of
  :func:`~mmcourse.data.digit_images.load_digit_images` at 16 x 16 (padded
  to 32 x 32, then 2 x 2 averaged), captioned by their word ("seven");
  the warm-up, where a caption is one word.
- ``load_shape_captions(split)``: every one-object scene of
  :func:`~mmcourse.data.scene_captions.single_object_scenes` (32 x 32 RGB),
  captioned "a large red circle at the top left". ``"train"`` holds the 64
  scenes of combinations seen in training, ``"held_out"`` the 32 of the
  four held-out colour–shape combinations (:data:`~mmcourse.data.scene_captions.HELD_OUT`):
  new captions made of known words.

Images are channels first, float32 in [-1, 1] (a generator's tanh range).
``labels`` holds what a judge classifier checks per image: the digit, or
the object's colour, shape, size and position (indices into
:data:`SHAPE_ATTRIBUTES`). Captions become word ids with ``encode``; word
id 1 (``<unk>``) alone is the *empty caption* a guided diffusion model
learns as "no text".
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mmcourse.data.digit_images import load_digit_images
from mmcourse.data.scene_captions import caption_vocabulary, encode_captions, single_object_scenes
from mmcourse.data.shape_scenes import COLOURS, SHAPES, SIZES
from mmcourse.text import Vocabulary

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
SHAPE_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "colour": tuple(COLOURS), "shape": SHAPES, "size": SIZES,
    "position": ("top left", "top right", "bottom left", "bottom right")}
DIGIT_ATTRIBUTES: dict[str, tuple[str, ...]] = {"digit": DIGIT_WORDS}
SHAPE_MAX_LEN = 8  # "a large red circle at the top left"


@dataclass(frozen=True)
class CaptionedImages:
    """N images (N, C, H, W) float32 in [-1, 1], their captions, and per attribute the label (N,) int64."""

    images: np.ndarray
    captions: list[str]
    labels: dict[str, np.ndarray]
    vocab: Vocabulary
    max_len: int

    def __len__(self) -> int:
        return len(self.captions)

    @property
    def attributes(self) -> dict[str, tuple[str, ...]]:
        """{attribute: its class names}: the digit, or colour, shape, size and position."""
        return DIGIT_ATTRIBUTES if "digit" in self.labels else SHAPE_ATTRIBUTES

    def encode(self, captions: Sequence[str] | None = None) -> np.ndarray:
        """Captions (default: this set's) -> word ids (N, max_len) int64, padded with 0."""
        return encode_captions(self.captions if captions is None else captions, self.vocab, self.max_len)[0]

    def subset(self, index: Sequence[int] | np.ndarray) -> CaptionedImages:
        """The pairs at ``index``, in that order."""
        index = np.asarray(index, dtype=np.int64)
        return CaptionedImages(self.images[index], [self.captions[i] for i in index],
                               {k: v[index] for k, v in self.labels.items()}, self.vocab, self.max_len)


def digit_vocabulary() -> Vocabulary:
    """<pad> = 0, <unk> = 1, then the ten digit words in alphabetical order (12 ids)."""
    return Vocabulary([list(DIGIT_WORDS)])


def to_16(images: np.ndarray) -> np.ndarray:
    """Digits (N, 28, 28) in [0, 1] -> (N, 1, 16, 16) in [-1, 1]: pad to 32 x 32 with 0, average 2 x 2 blocks."""
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(f"images must be (N, 28, 28), got {images.shape}")
    padded = np.pad(images, ((0, 0), (2, 2), (2, 2)))  # (N, 32, 32)
    small = padded.reshape(len(images), 16, 2, 16, 2).mean(axis=(2, 4))  # (N, 16, 16)
    return (2 * small - 1)[:, None].astype(np.float32)  # (N, 1, 16, 16)


def load_digit_captions(split: str = "train") -> CaptionedImages:
    """MNIST digits of ``split`` ('train', 'val', 'test' or 'all') at 16 x 16, captioned by their word."""
    images, digits = load_digit_images(split)
    return CaptionedImages(to_16(images), [DIGIT_WORDS[d] for d in digits], {"digit": digits},
                           digit_vocabulary(), 1)


def load_shape_captions(split: str = "train") -> CaptionedImages:
    """One-object scenes (N, 3, 32, 32): 'train' (64, seen combinations), 'held_out' (32) or 'all' (96)."""
    if split not in ("train", "held_out", "all"):
        raise ValueError(f"split must be 'train', 'held_out' or 'all', got {split!r}")
    known, held = single_object_scenes()
    parts = {"train": (known,), "held_out": (held,), "all": (known, held)}[split]
    images = np.concatenate([p.images for p in parts])  # (N, 32, 32, 3) uint8
    objects = [objs[0] for p in parts for objs in p.objects]
    labels = {"colour": [tuple(COLOURS).index(o.colour) for o in objects],
              "shape": [SHAPES.index(o.shape) for o in objects],
              "size": [SIZES.index(o.size) for o in objects],
              "position": [2 * o.row + o.col for o in objects]}
    pixels = (images.transpose(0, 3, 1, 2).astype(np.float32) / 127.5 - 1).astype(np.float32)  # (N, 3, 32, 32)
    return CaptionedImages(pixels, [c for p in parts for c in p.captions],
                           {k: np.array(v, dtype=np.int64) for k, v in labels.items()}, caption_vocabulary(),
                           SHAPE_MAX_LEN)


def load_captioned(name: str, split: str = "train") -> CaptionedImages:
    """``load_digit_captions(split)`` for name 'digits', ``load_shape_captions(split)`` for 'shapes'."""
    if name not in ("digits", "shapes"):
        raise ValueError(f"name must be 'digits' or 'shapes', got {name!r}")
    return load_digit_captions(split) if name == "digits" else load_shape_captions(split)
