"""Plots shared by the chapters: image grids, spectrograms, learning curves, confusion matrices, bars.

Every function returns its matplotlib Figure and never calls ``plt.show()``.
In a notebook the figure is drawn at the end of the cell; end the line with
``;`` (or assign the figure) so that it is not drawn twice.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure


def image_grid(images: np.ndarray, labels: Sequence | None = None, ncols: int = 8, cmap: str = "gray",
               title: str | None = None) -> Figure:
    """Show images (N, H, W) or (N, H, W, C) in a grid of ncols columns, each titled by its label.

    Colour images (C = 3 or 4, RGB(A)) ignore ``cmap``; (N, H, W, 1) is shown as grey.
    """
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim not in (3, 4) or len(images) == 0 or (images.ndim == 4 and images.shape[-1] not in (3, 4)):
        raise ValueError(f"images must have shape (N, H, W) or (N, H, W, C) with N >= 1 and C in (1, 3, 4), "
                         f"got {images.shape}")
    if labels is not None and len(labels) != len(images):
        raise ValueError(f"labels must have one entry per image ({len(images)}), got {len(labels)}")
    if isinstance(ncols, bool) or not isinstance(ncols, int) or ncols < 1:
        raise ValueError(f"ncols must be a positive int, got {ncols!r}")
    ncols = min(ncols, len(images))
    nrows = math.ceil(len(images) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.3 * ncols, 1.4 * nrows + (0.4 if title else 0)),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i >= len(images):
            fig.delaxes(ax)
            continue
        ax.imshow(images[i], cmap=None if images.ndim == 4 else cmap)
        ax.set_axis_off()
        if labels is not None:
            ax.set_title(str(labels[i]), fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def spectrogram(spec: np.ndarray, sample_rate: float | None = None, frame_step: int | None = None,
                title: str | None = None, ax: Axes | None = None) -> Figure:
    """Show spec (T, F) as an image with time on x and frequency bins on y, plus a colour bar.

    With both sample_rate and frame_step the x axis is in seconds (frame t
    starts at t * frame_step / sample_rate), else in frames. Draws on ``ax``
    when given, so several spectrograms can share one figure.
    """
    spec = np.asarray(spec)
    if spec.ndim != 2:
        raise ValueError(f"spec must have shape (T, F), got {spec.shape}")
    if (sample_rate is None) != (frame_step is None):
        raise ValueError("sample_rate and frame_step must be given together (for a time axis in seconds) or not at all")
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3))
    n_frames, n_bins = spec.shape
    if sample_rate is None:
        extent, xlabel = (0, n_frames, 0, n_bins), "frame"
    else:
        extent, xlabel = (0, n_frames * frame_step / sample_rate, 0, n_bins), "time (s)"
    image = ax.imshow(spec.T, origin="lower", aspect="auto", extent=extent, cmap="magma")  # (F, T): time on x
    ax.set_xlabel(xlabel)
    ax.set_ylabel("frequency bin")
    if title:
        ax.set_title(title)
    ax.figure.colorbar(image, ax=ax)
    return ax.figure


def learning_curves(history: dict[str, list[float]]) -> Figure:
    """One panel per metric of a Keras-style history ({"loss": [...], "val_loss": [...], ...}), train and val.

    Keys ``m`` and ``val_m`` share a panel; the x axis is the epoch (1, 2, ...).
    """
    if not isinstance(history, dict) or not history:
        raise ValueError("history must be a non-empty dict of metric name -> list of per-epoch values, "
                         "e.g. keras' model.fit(...).history")
    metrics = list(dict.fromkeys(key.removeprefix("val_") for key in history))
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.5 * len(metrics), 3.2), squeeze=False)
    for metric, ax in zip(metrics, axes.flat):
        for key, label in ((metric, "train"), (f"val_{metric}", "val")):
            if key in history:
                values = list(history[key])
                ax.plot(range(1, len(values) + 1), values, marker="o", markersize=3, label=label)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.legend()
    fig.tight_layout()
    return fig


def confusion_matrix(cm: np.ndarray, class_names: Sequence[str]) -> Figure:
    """Show a confusion matrix cm (K, K) (rows: true class, columns: predicted) with each count written in."""
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"cm must be a square (K, K) matrix, got shape {cm.shape}")
    if len(class_names) != len(cm):
        raise ValueError(f"class_names must name all {len(cm)} classes, got {len(class_names)}")
    size = 1.0 + 0.5 * len(cm)
    fig, ax = plt.subplots(figsize=(size + 1.0, size))
    image = ax.imshow(cm, cmap="Blues")
    threshold = (cm.max() + cm.min()) / 2
    for (i, j), count in np.ndenumerate(cm):
        text = f"{count:g}" if np.issubdtype(cm.dtype, np.floating) else str(count)
        ax.text(j, i, text, ha="center", va="center", fontsize=8, color="white" if count > threshold else "black")
    ticks = range(len(cm))
    ax.set_xticks(ticks, [str(name) for name in class_names], rotation=45, ha="right")
    ax.set_yticks(ticks, [str(name) for name in class_names])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    fig.colorbar(image, ax=ax)
    fig.tight_layout()
    return fig


def bar_with_errors(names: Sequence[str], means: Sequence[float], stds: Sequence[float], ylabel: str) -> Figure:
    """Bars of means with ±std error bars, one per name (e.g. accuracy of each fusion method over seeds)."""
    if not len(names) == len(means) == len(stds):
        raise ValueError(f"names, means and stds must have the same length, got {len(names)}, {len(means)}, "
                         f"{len(stds)}")
    fig, ax = plt.subplots(figsize=(max(4.0, 0.9 * len(names) + 1.5), 3.2))
    ax.bar(range(len(names)), means, yerr=stds, capsize=4, color="tab:blue", alpha=0.8)
    ax.set_xticks(range(len(names)), [str(name) for name in names], rotation=30 if len(names) > 4 else 0)
    ax.set_ylabel(ylabel)
    fig.tight_layout()
    return fig
