"""Helpers of the opening chapters (00 environment, 01 background).

- ``pinned_versions``: what ``pyproject.toml`` pins next to what is installed.
- ``format_table``: a plain-text table, for summaries whose printout nbval compares.
- ``top_words``: the most frequent content words of some texts.
- ``nearest_mean_accuracy``: the simplest classifier there is, to show how hard a data set is.
"""
from __future__ import annotations

import importlib.metadata
import re
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

from mmcourse.text import STOPWORDS, remove_stopwords, tokenize


def pinned_versions(distribution: str = "mmcourse") -> list[tuple[str, str, str]]:
    """(package, pinned version, installed version) for every ``==`` pin of ``distribution``.

    The installed version drops a local build tag (``2.13.0+cpu`` -> ``2.13.0``),
    which names the wheel's flavour (CPU or a CUDA version), not a release.
    A package that is missing is reported as ``"not installed"``.
    """
    try:
        requirements = importlib.metadata.requires(distribution) or []
    except importlib.metadata.PackageNotFoundError:
        raise ValueError(f"distribution {distribution!r} is not installed; run `pip install -e .` "
                         f"in the course folder") from None
    rows = []
    for requirement in requirements:
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([^;\s]+)", requirement.strip())
        if match is None:
            continue  # only exact pins are compared
        name, pinned = match.groups()
        try:
            installed = importlib.metadata.version(name).split("+")[0]
        except importlib.metadata.PackageNotFoundError:
            installed = "not installed"
        rows.append((name, pinned, installed))
    return rows


def format_table(rows: Sequence[Sequence], header: Sequence[str]) -> str:
    """Lay out ``rows`` under ``header`` as aligned plain text; numbers right-aligned, the rest left.

    Floats are written with up to 3 significant decimals (``f"{x:.3g}"``), so
    print only values that are exact or rounded on purpose.
    """
    header = [str(h) for h in header]
    cells, numeric = [], [True] * len(header)
    for i, row in enumerate(rows):
        if len(row) != len(header):
            raise ValueError(f"rows[{i}] has {len(row)} cells but header has {len(header)}")
        line = []
        for j, value in enumerate(row):
            is_number = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
            numeric[j] &= is_number
            line.append(f"{value:.3g}" if isinstance(value, (float, np.floating)) else str(value))
        cells.append(line)
    widths = [max([len(h)] + [len(line[j]) for line in cells]) for j, h in enumerate(header)]

    def layout(line: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if numeric[j] and cells else c.ljust(w)
                         for j, (c, w) in enumerate(zip(line, widths))).rstrip()

    return "\n".join([layout(header), layout(["-" * w for w in widths])] + [layout(line) for line in cells])


def top_words(texts: Iterable[str], k: int = 10, stopwords: frozenset[str] = STOPWORDS) -> list[tuple[str, int]]:
    """The ``k`` most frequent words of ``texts`` with their counts, stop words left out.

    Words are ``mmcourse.text.tokenize`` tokens (lowercased) that contain a
    letter and are longer than one character, so numbers and single-letter
    variable names do not crowd the list. Ties keep first-seen order.
    """
    if isinstance(texts, str):
        raise TypeError("texts must be an iterable of strings, got one string; wrap it in a list")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")
    counts: Counter[str] = Counter()
    for text in texts:
        words = remove_stopwords(tokenize(text), stopwords)
        counts.update(w for w in words if len(w) > 1 and any(ch.isalpha() for ch in w))
    return counts.most_common(k)


def nearest_mean_accuracy(train_x: np.ndarray, train_y: np.ndarray,
                          test_x: np.ndarray, test_y: np.ndarray) -> float:
    """Test accuracy of a nearest-class-mean classifier; x arrays are (N, ...) and flattened per example.

    Each class is summarised by the mean of its training examples; a test
    example gets the class whose mean is closest (Euclidean). No training, no
    hyper-parameters: a quick measure of how separable a representation is.
    """
    train_x = np.asarray(train_x, dtype=np.float64).reshape(len(train_x), -1)  # (N, D)
    test_x = np.asarray(test_x, dtype=np.float64).reshape(len(test_x), -1)  # (M, D)
    train_y, test_y = np.asarray(train_y), np.asarray(test_y)
    if train_x.shape[1] != test_x.shape[1]:
        raise ValueError(f"train_x and test_x must have the same features per example, got "
                         f"{train_x.shape[1]} and {test_x.shape[1]}")
    if len(train_y) != len(train_x) or len(test_y) != len(test_x):
        raise ValueError("train_y and test_y must have one label per example of train_x and test_x")
    classes = np.unique(train_y)
    means = np.stack([train_x[train_y == c].mean(axis=0) for c in classes])  # (K, D)
    distances = ((test_x[:, None, :] - means[None, :, :]) ** 2).sum(axis=2)  # (M, K)
    return float((classes[distances.argmin(axis=1)] == test_y).mean())
