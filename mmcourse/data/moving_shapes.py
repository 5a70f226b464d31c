"""Moving shapes: tiny grey videos whose class is a motion, so no single frame can tell it (chapter 15).

Each clip is ``n_frames`` frames of ``size x size`` pixels: one filled
circle or square (which one does not matter) that moves left, right, up or
down by one pixel a frame, or grows or shrinks by a quarter pixel a frame,
plus a little Gaussian noise. The middle frame is drawn from the same
distribution for every class: its centre is uniform over the same square
and its radius over the same range, so a classifier that sees only the
middle frame cannot beat chance (1/6); the class is in how the frames
change. Seeded; 1,000 clips take well under a second.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CLASSES = ("left", "right", "up", "down", "grow", "shrink")
SHAPES = ("circle", "square")
SPEED = 1.0  # pixels per frame, for the four moves
GROWTH = 0.25  # pixels of radius per frame, for grow and shrink
RADIUS = (2.0, 3.5)  # the middle frame's radius, uniform in this range
_MOTION = {"left": (-SPEED, 0.0, 0.0), "right": (SPEED, 0.0, 0.0), "up": (0.0, -SPEED, 0.0),
           "down": (0.0, SPEED, 0.0), "grow": (0.0, 0.0, GROWTH), "shrink": (0.0, 0.0, -GROWTH)}  # dx, dy, dr


@dataclass(frozen=True)
class MovingShapes:
    """N clips: videos (N, T, H, W) float32 in [0, 1], labels (N,) int64 indexing ``CLASSES``."""

    videos: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def middle_frames(self) -> np.ndarray:
        """The middle frame of every clip as a one-frame clip: (N, 1, H, W)."""
        middle = self.videos.shape[1] // 2
        return self.videos[:, middle:middle + 1]


def _draw(size: int, cx: np.ndarray, cy: np.ndarray, r: np.ndarray, square: np.ndarray) -> np.ndarray:
    """Filled shapes, one per frame: centres cx, cy and radii r (F,), square (F,) bool -> frames (F, size, size)."""
    grid = np.arange(size, dtype=np.float32)
    dx = np.abs(grid[None, None, :] - cx[:, None, None])  # (F, 1, W)
    dy = np.abs(grid[None, :, None] - cy[:, None, None])  # (F, H, 1)
    inside_circle = dx ** 2 + dy ** 2 <= r[:, None, None] ** 2
    inside_square = np.maximum(dx, dy) <= r[:, None, None]
    return np.where(square[:, None, None], inside_square, inside_circle).astype(np.float32)  # (F, H, W)


def _margin(n_frames: int) -> float:
    """How far the middle frame's centre must stay from the border so every frame of every class fits inside."""
    half = n_frames // 2
    return half * SPEED + RADIUS[1] + half * GROWTH  # moved the furthest, at the largest radius grown the most


def _check(n: int, n_frames: int, size: int, noise: float) -> None:
    for name, value, low in (("n", n, 1), ("n_frames", n_frames, 3)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    if n_frames % 2 == 0:
        raise ValueError(f"n_frames must be odd, so that one frame is the middle one, got {n_frames}")
    margin = _margin(n_frames)
    if isinstance(size, bool) or not isinstance(size, int) or size < 2 * margin + 2:
        raise ValueError(f"size must be an int >= {int(np.ceil(2 * margin + 2))} for {n_frames} frames "
                         f"(the shape must stay inside the frame), got {size!r}")
    if not isinstance(noise, (int, float)) or isinstance(noise, bool) or not 0 <= noise <= 1:
        raise ValueError(f"noise must be a number in [0, 1], got {noise!r}")


def make_moving_shapes(n: int, n_frames: int = 7, size: int = 20, noise: float = 0.05, seed: int = 0
                       ) -> MovingShapes:
    """``n`` clips of ``n_frames`` (odd) frames of ``size x size``, balanced over ``CLASSES``, in random order.

    Frame t of a clip has the shape at the middle frame's centre and radius
    plus (t - middle) times its class's step (dx, dy, dr), clipped to a
    radius of at least 1 pixel.
    """
    _check(n, n_frames, size, noise)
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % len(CLASSES)).astype(np.int64)  # (n,) balanced
    half = n_frames // 2
    margin = _margin(n_frames)
    centre = rng.uniform(margin, size - 1 - margin, size=(n, 2)).astype(np.float32)  # (n, 2): x, y
    radius = rng.uniform(*RADIUS, size=n).astype(np.float32)  # (n,)
    square = rng.integers(0, 2, size=n).astype(bool)  # (n,)
    steps = np.array([_MOTION[c] for c in CLASSES], dtype=np.float32)[labels]  # (n, 3): dx, dy, dr
    t = np.arange(n_frames, dtype=np.float32) - half  # (T,) frames from the middle one
    cx = centre[:, :1] + steps[:, :1] * t  # (n, T)
    cy = centre[:, 1:] + steps[:, 1:2] * t
    r = np.maximum(radius[:, None] + steps[:, 2:] * t, 1.0)
    frames = _draw(size, cx.ravel(), cy.ravel(), r.ravel(), np.repeat(square, n_frames))  # (n T, H, W)
    videos = frames.reshape(n, n_frames, size, size) + noise * rng.standard_normal(frames.shape).reshape(
        n, n_frames, size, size).astype(np.float32)
    return MovingShapes(videos=np.clip(videos, 0.0, 1.0).astype(np.float32), labels=labels)
