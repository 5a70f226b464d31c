"""Image–caption pairs for mini-CLIP (chapter 09), with a compositional split.

Scenes as :func:`~mmcourse.data.shape_scenes.make_scenes` draws them: 1 to 3
objects, each in its own cell of a 2 x 2 grid, pixel for pixel the same
pictures (:func:`render` adds up the 96 one-object pictures, which never
leave their cell) and the same captions. Four colour–shape combinations
(:data:`HELD_OUT`) never occur in a training scene, so never in a training
caption either: one per colour, so each colour is still seen with two
shapes in training, and each shape with at least two colours::

              circle   square   triangle
    red       train    train    HELD OUT
    green     HELD OUT train    train
    blue      train    HELD OUT train
    yellow    HELD OUT train    train

Three fixed splits (:func:`load_scene_captions`), each caption at most once
in a split:

- ``train``: scenes with no held-out combination. There are only 17,984 such
  scenes (64 with one object, 1,536 with two), so 10,000 of them hold every
  one- and two-object scene and 8,400 three-object ones;
- ``test`` (in distribution): scenes with no held-out combination and no
  training caption: new scenes of known parts (so nearly all hold three objects);
- ``compositional``: scenes holding at least one held-out combination: new
  parts, made of known words.

Two scenes with the same caption are the same picture, so a split holding
each caption once has exactly one right answer for retrieval, and a
training batch has no duplicate pair posing as a negative. Captions become
word ids with :func:`caption_vocabulary`, fixed by the captions' grammar
(:meth:`SceneCaptions.encode`). Generated, seeded, a few seconds.
"""
from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from mmcourse.data.shape_scenes import (COL_NAMES, COLOURS, ROW_NAMES, SHAPES, SIZES, SceneObject, caption,
                                         make_scenes)
from mmcourse.text import Vocabulary, tokenize

HELD_OUT: tuple[tuple[str, str], ...] = (("red", "triangle"), ("green", "circle"),
                                         ("blue", "square"), ("yellow", "circle"))
MAX_LEN = 25  # three objects of 8 words ("a small red circle at the top left") and one "and"
_PLAIN = re.compile(r"[a-z]+(,? [a-z]+)*")  # words split by a space or a comma and a space
SEEDS = {"train": 9, "test": 10, "compositional": 11, "tiles": 12}  # scene seeds, fixed forever


@dataclass(frozen=True)
class CaptionPairs:
    """N image–caption pairs: images (N, H, W, 3) uint8 RGB, captions, and the objects each scene holds."""

    images: np.ndarray
    captions: list[str]
    objects: list[tuple[SceneObject, ...]]

    def __len__(self) -> int:
        return len(self.captions)

    def pixels(self) -> np.ndarray:
        """Images as float32 (N, 3, H, W) in [0, 1], channels first (torch's layout)."""
        return np.ascontiguousarray(self.images.transpose(0, 3, 1, 2), dtype=np.float32) / 255.0

    def subset(self, index: Sequence[int] | np.ndarray) -> CaptionPairs:
        """The pairs at ``index``, in that order."""
        index = np.asarray(index, dtype=np.int64)
        return CaptionPairs(self.images[index], [self.captions[i] for i in index],
                            [self.objects[i] for i in index])


@dataclass(frozen=True)
class SceneCaptions:
    """The three splits, the captions' vocabulary and the held-out combinations."""

    train: CaptionPairs
    test: CaptionPairs
    compositional: CaptionPairs
    vocab: Vocabulary
    held_out: tuple[tuple[str, str], ...] = HELD_OUT

    def encode(self, captions: Sequence[str], max_len: int = MAX_LEN) -> tuple[np.ndarray, np.ndarray]:
        """Captions -> word ids (N, max_len) int64, padded with 0 at the end, and lengths (N,) int64."""
        return encode_captions(captions, self.vocab, max_len)


def encode_captions(captions: Sequence[str], vocab: Vocabulary,
                    max_len: int = MAX_LEN) -> tuple[np.ndarray, np.ndarray]:
    """Captions -> word ids (N, max_len) int64 padded with ``<pad>`` = 0, and true lengths (N,) int64.

    A caption longer than ``max_len`` words raises (cutting it would drop an object).
    """
    if isinstance(captions, str):
        raise ValueError("captions must be a list of str, got one str; wrap it as [caption]")
    tokens = [words(c) for c in captions]
    lengths = np.array([len(t) for t in tokens], dtype=np.int64)  # (N,)
    if len(tokens) and (lengths.max() > max_len or lengths.min() < 1):
        bad = int(np.argmax((lengths > max_len) | (lengths < 1)))
        raise ValueError(f"every caption must have 1 to max_len = {max_len} words, caption {bad} has "
                         f"{lengths[bad]}: {captions[bad]!r}")
    return vocab.pad_sequences([vocab.encode(t) for t in tokens], max_len), lengths


def caption_vocabulary() -> Vocabulary:
    """The 19 ids of the captions' words: <pad> = 0, <unk> = 1, then the 17 words in alphabetical order.

    Fixed by the grammar, not counted from a sample, so every split and
    every checkpoint shares the same ids.
    """
    grammar = {"a", "and", "at", "the", *COLOURS, *SHAPES, *SIZES, *ROW_NAMES, *COL_NAMES}
    return Vocabulary([sorted(grammar)])


def words(text: str) -> list[str]:
    """``mmcourse.text.tokenize(text)``, fast for the captions' grammar (lowercase words, spaces, commas)."""
    if isinstance(text, str) and _PLAIN.fullmatch(text):
        return text.replace(",", " ").split()
    return tokenize(text)


def has_held_out(objects: Sequence[SceneObject], held_out: Sequence[tuple[str, str]] = HELD_OUT) -> bool:
    """True when some object of the scene is a held-out (colour, shape) combination."""
    return any((obj.colour, obj.shape) in held_out for obj in objects)


def _check_held_out(held_out: Sequence[tuple[str, str]]) -> None:
    """Raise unless held_out names known combinations and leaves every colour and shape in training."""
    unknown = [pair for pair in held_out if pair[0] not in COLOURS or pair[1] not in SHAPES]
    if unknown:
        raise ValueError(f"held_out must hold (colour, shape) pairs of {tuple(COLOURS)} x {SHAPES}, got {unknown}")
    kept = {(c, s) for c in COLOURS for s in SHAPES} - set(held_out)
    missing = set(COLOURS) - {c for c, _ in kept} | set(SHAPES) - {s for _, s in kept}
    if missing:
        raise ValueError(f"held_out leaves no training scene with {sorted(missing)}: "
                         "every colour and every shape must still occur in training")


@functools.lru_cache(maxsize=1)
def _object_tiles() -> dict[SceneObject, np.ndarray]:
    """Each of the 96 possible objects drawn alone: {object: image (32, 32, 3) uint8}, black outside its cell."""
    scenes = make_scenes(3000, seed=SEEDS["tiles"], max_objects=1)
    tiles = {objs[0]: image for objs, image in zip(scenes.objects, scenes.images)}
    if len(tiles) != len(COLOURS) * len(SHAPES) * len(SIZES) * 4:
        raise RuntimeError(f"expected all 96 one-object scenes among 3000 draws, got {len(tiles)}")
    return tiles


def render(objects: Sequence[SceneObject]) -> np.ndarray:
    """The image (32, 32, 3) uint8 of a scene, as ``make_scenes`` draws it: each object stays inside its cell."""
    tiles = _object_tiles()
    if not objects or any(obj not in tiles for obj in objects):
        raise ValueError(f"objects must be 1 to 4 SceneObjects of the 2 x 2 grid, got {objects!r}")
    return np.sum([tiles[obj] for obj in objects], axis=0, dtype=np.uint16).astype(np.uint8)


def _random_scenes(rng: np.random.Generator, combos: Sequence[tuple[str, str]],
                   m: int) -> Iterator[tuple[SceneObject, ...]]:
    """Up to m scenes of 1 to 3 objects (uniformly, as make_scenes) of the given (colour, shape) combos."""
    counts = rng.integers(1, 4, size=m).tolist()  # (m,)
    cells = np.argsort(rng.random((m, 4)), axis=1).tolist()  # (m, 4): a random order of the 4 cells
    picks, sizes = rng.integers(len(combos), size=(m, 3)).tolist(), rng.integers(2, size=(m, 3)).tolist()
    for k, order, pick, size in zip(counts, cells, picks, sizes):
        yield tuple(SceneObject(shape=combos[pick[j]][1], colour=combos[pick[j]][0], size=SIZES[size[j]],
                                row=cell // 2, col=cell % 2)
                    for j, cell in enumerate(sorted(order[:k])))  # objects in reading order, as in captions


def _scenes(n: int, seed: int, held: bool, held_out: Sequence[tuple[str, str]], exclude: set[str],
            name: str) -> CaptionPairs:
    """n seeded scenes with distinct captions outside ``exclude``: with a held-out combination (``held``) or none."""
    combos = [(c, s) for c in COLOURS for s in SHAPES if held or (c, s) not in held_out]
    rng, seen, scenes = np.random.default_rng(seed), set(exclude), []
    draws = itertools.chain.from_iterable(_random_scenes(rng, combos, 2 * n) for _ in range(25))
    for objects in draws:  # at most 50 n draws, made 2 n at a time
        text = caption(objects)
        if text not in seen and has_held_out(objects, held_out) == held:
            seen.add(text)
            scenes.append(objects)
            if len(scenes) == n:
                images = np.stack([render(objs) for objs in scenes])  # (n, 32, 32, 3)
                return CaptionPairs(images, [caption(objs) for objs in scenes], scenes)
    raise ValueError(f"only {len(scenes)} distinct new {name} scenes could be drawn, asked for n_{name} = {n}")


def _check_count(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 2:
        raise ValueError(f"{name} must be an int >= 2, got {value!r}")


def load_scene_captions(n_train: int = 10000, n_test: int = 1000, n_compositional: int = 1000,
                        held_out: Sequence[tuple[str, str]] = HELD_OUT) -> SceneCaptions:
    """The fixed train / test / compositional splits (module docstring); n_* pairs each, seeded, a few seconds."""
    for name, value in (("n_train", n_train), ("n_test", n_test), ("n_compositional", n_compositional)):
        _check_count(name, value)
    held_out = tuple(tuple(pair) for pair in held_out)
    _check_held_out(held_out)
    train = _scenes(n_train, SEEDS["train"], False, held_out, set(), "train")
    test = _scenes(n_test, SEEDS["test"], False, held_out, set(train.captions), "test")
    compositional = _scenes(n_compositional, SEEDS["compositional"], True, held_out, set(), "compositional")
    vocab = caption_vocabulary()
    return SceneCaptions(train, test, compositional, vocab, held_out)


def single_object_scenes(held_out: Sequence[tuple[str, str]] = HELD_OUT) -> tuple[CaptionPairs, CaptionPairs]:
    """Every distinct one-object scene (4 cells x 4 colours x 3 shapes x 2 sizes = 96), in two groups.

    Returns (known, held): with the default :data:`HELD_OUT`, the 64 scenes of
    training combinations and the 32 of held-out ones, each sorted by
    caption; for zero-shot classification.
    """
    objects = sorted(_object_tiles(), key=lambda obj: caption((obj,)))
    groups = ([obj for obj in objects if not has_held_out((obj,), held_out)],
              [obj for obj in objects if has_held_out((obj,), held_out)])
    return tuple(CaptionPairs(np.stack([render((obj,)) for obj in group]), [caption((obj,)) for obj in group],
                              [(obj,) for obj in group]) for group in groups)
