"""Image preprocessing (chapter 03) with OpenCV: grey, resize, normalise, augment, layouts.

Our images are RGB, channels last: (H, W) grey or (H, W, C) colour, uint8 in
[0, 255] or floating point. OpenCV's own convention is BGR (``cv2.imread``
returns BGR), so the colour conversions here name RGB explicitly. PyTorch
wants (C, H, W) and Keras (H, W, C): ``to_chw`` and ``to_hwc`` convert.
"""
from __future__ import annotations

import cv2
import numpy as np

_INTERPOLATIONS = {"area": cv2.INTER_AREA, "linear": cv2.INTER_LINEAR, "nearest": cv2.INTER_NEAREST}


def _check_image(img: np.ndarray, name: str = "img") -> np.ndarray:
    """img as an array of shape (H, W) or (H, W, C) and dtype uint8 or float, else a ValueError."""
    img = np.asarray(img)
    if img.ndim not in (2, 3):
        raise ValueError(f"{name} must have shape (H, W) or (H, W, C), got shape {img.shape}")
    if img.dtype != np.uint8 and not np.issubdtype(img.dtype, np.floating):
        raise ValueError(f"{name} must be uint8 or floating point, got dtype {img.dtype}")
    return img


def to_grey(img: np.ndarray) -> np.ndarray:
    """RGB (H, W, 3) -> grey (H, W), same dtype: 0.299 R + 0.587 G + 0.114 B (ITU-R BT.601).

    Uses ``cv2.COLOR_RGB2GRAY``: with OpenCV's default ``COLOR_BGR2GRAY`` the red
    and blue weights would swap. A grey (H, W) or (H, W, 1) image comes back as (H, W).
    float64 is converted through float32, which OpenCV's colour code requires.
    """
    img = _check_image(img)
    if img.ndim == 2:
        return img.copy()
    if img.shape[2] == 1:
        return img[:, :, 0].copy()
    if img.shape[2] != 3:
        raise ValueError(f"img must have 1 or 3 channels (RGB), got {img.shape[2]}")
    if img.dtype == np.float64:
        return cv2.cvtColor(img.astype(np.float32), cv2.COLOR_RGB2GRAY).astype(np.float64)
    return cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)


def resize(img: np.ndarray, size: int | tuple[int, int], interpolation: str = "area") -> np.ndarray:
    """(H, W[, C]) -> (height, width[, C]), same dtype; ``size`` is (height, width) or one int for a square.

    Careful: ``cv2.resize`` itself takes (width, height); this wrapper takes
    NumPy's order. "area" is best for shrinking, "linear" for enlarging,
    "nearest" keeps label maps' values.
    """
    img = _check_image(img)
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        size = (int(size), int(size))
    if (not isinstance(size, (tuple, list)) or len(size) != 2
            or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s > 0 for s in size)):
        raise ValueError(f"size must be a positive int or a (height, width) pair of positive ints, got {size!r}")
    if interpolation not in _INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {sorted(_INTERPOLATIONS)}, got {interpolation!r}")
    height, width = int(size[0]), int(size[1])
    out = cv2.resize(img, (width, height), interpolation=_INTERPOLATIONS[interpolation])
    return out.reshape(height, width, *img.shape[2:])  # OpenCV drops a channel axis of size 1


def normalise(imgs: np.ndarray, mean: np.ndarray | None = None,
              std: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Standardise a batch per channel: returns ((imgs - mean) / std as float32, mean, std).

    imgs is (N, H, W) grey (mean and std are scalars, shape ()) or (N, H, W, C)
    (mean and std have shape (C,)). Statistics come from this batch unless
    given: compute them on the training set, then pass them for the test set.
    A channel with std 0 is divided by 1 instead (as scikit-learn does), and
    the returned std says so.
    """
    imgs = np.asarray(imgs)
    if imgs.ndim not in (3, 4):
        raise ValueError(f"imgs must be a batch of shape (N, H, W) or (N, H, W, C), got shape {imgs.shape}")
    if imgs.dtype != np.uint8 and not np.issubdtype(imgs.dtype, np.floating):
        raise ValueError(f"imgs must be uint8 or floating point, got dtype {imgs.dtype}")
    stats_shape = imgs.shape[3:]  # () for grey, (C,) for colour
    axes = (0, 1, 2)
    values = imgs.astype(np.float64)
    if mean is None:
        mean = values.mean(axis=axes)
    if std is None:
        std = values.std(axis=axes)
        std = np.where(std == 0, 1.0, std)
    mean = np.asarray(mean, dtype=np.float64)
    std = np.asarray(std, dtype=np.float64)
    for name, stat in (("mean", mean), ("std", std)):
        if stat.shape != stats_shape:
            raise ValueError(f"{name} must have shape {stats_shape} for imgs of shape {imgs.shape}, got {stat.shape}")
    if np.any(std <= 0):
        raise ValueError(f"std must be positive, got {std}")
    out = ((values - mean) / std).astype(np.float32)
    return out, mean.astype(np.float32), std.astype(np.float32)


def augment(img: np.ndarray, rng: np.random.Generator, max_shift: float = 2, max_rotation: float = 10,
            flip: bool = False) -> np.ndarray:
    """A random shift, rotation and (if ``flip``) left-right flip of img (H, W[, C]); same shape and dtype.

    Draws a shift in [-max_shift, max_shift] pixels per axis, an angle in
    [-max_rotation, max_rotation] degrees about the centre and, with
    ``flip=True``, a flip with probability 1/2; all three are one affine map
    applied by ``cv2.warpAffine`` (bilinear, zeros outside). The same ``rng``
    state gives the same image. Do not flip digits or text: a flipped 2 is
    not a 2.
    """
    img = _check_image(img)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator (np.random.default_rng(seed)), "
                        f"got {type(rng).__name__}")
    for name, value in (("max_shift", max_shift), ("max_rotation", max_rotation)):
        if not np.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a non-negative number, got {value!r}")
    height, width = img.shape[:2]
    dx, dy = rng.uniform(-max_shift, max_shift, size=2)
    angle = rng.uniform(-max_rotation, max_rotation)
    centre = ((width - 1) / 2, (height - 1) / 2)
    rotate = np.vstack([cv2.getRotationMatrix2D(centre, angle, 1.0), [0.0, 0.0, 1.0]])  # (3, 3)
    shift = np.array([[1.0, 0.0, dx], [0.0, 1.0, dy], [0.0, 0.0, 1.0]])
    matrix = shift @ rotate
    if flip and rng.random() < 0.5:
        mirror = np.array([[-1.0, 0.0, width - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
        matrix = matrix @ mirror
    out = cv2.warpAffine(img, matrix[:2], (width, height), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return out.reshape(img.shape)  # OpenCV drops a channel axis of size 1


def to_chw(imgs: np.ndarray) -> np.ndarray:
    """Channels last -> channels first (PyTorch): (H, W, C) -> (C, H, W), (N, H, W, C) -> (N, C, H, W)."""
    imgs = np.asarray(imgs)
    if imgs.ndim not in (3, 4):
        raise ValueError(f"imgs must have shape (H, W, C) or (N, H, W, C), got shape {imgs.shape}; "
                         "give a grey image a channel axis first with img[..., None]")
    return np.ascontiguousarray(np.moveaxis(imgs, -1, -3))


def to_hwc(imgs: np.ndarray) -> np.ndarray:
    """Channels first -> channels last (Keras): (C, H, W) -> (H, W, C), (N, C, H, W) -> (N, H, W, C)."""
    imgs = np.asarray(imgs)
    if imgs.ndim not in (3, 4):
        raise ValueError(f"imgs must have shape (C, H, W) or (N, C, H, W), got shape {imgs.shape}")
    return np.ascontiguousarray(np.moveaxis(imgs, -3, -1))
