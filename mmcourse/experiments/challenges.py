"""The challenges of multimodal models, measured at the course's scale (chapter 15).

- **Labelled data**: :func:`label_curve` trains chapter 04's ``DigitCNN``
  on the first n labelled training digits (n = 20 ... 2,000) for the same
  number of steps and scores it on the 1,000 test digits.
- **More modalities: video**: :func:`video_study` trains the
  ``VideoClassifier`` on moving shapes three ways (the middle frame alone,
  every frame averaged, every frame in order through a GRU) and records what
  the time axis costs: parameters and milliseconds per training step.
- **Compute**: :func:`compute_table` builds every course checkpoint's model
  from its config in ``mmcourse.pretrained.course.CHECKPOINTS`` (no
  training, no weights read), counts its parameters and times a forward pass
  at a fixed batch and thread count, next to the pretraining wall time the
  manifest recorded and the chapter's run time from
  ``benchmarks/chapter_times.md``.

Every run is seeded with fixed step counts; times depend on the machine.
"""
from __future__ import annotations

import re
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from mmcourse.env import device as default_device

LABEL_COUNTS = (20, 50, 100, 500, 2000)
VIDEO_VARIANTS = ("single frame", "frames averaged", "frames in order (GRU)")
CHAPTER_OF = {"vqa_net": "07", "tiny_gpt": "08", "tiny_bert": "08", "tiny_gpt_instruct": "08", "mini_clip": "09",
              "tiny_vlm": "10", "gan_digits": "11", "gan_shapes": "11", "ddpm_digits": "11", "ddpm_shapes": "11",
              "ctc_digits": "12", "tiny_vlm_rlhf": "13", "tiny_vlm_dpo": "13", "tiny_vlm_hacked": "13"}  # "?" if missing
CHAPTER_TIMES = Path(__file__).resolve().parents[2] / "benchmarks" / "chapter_times.md"


def count_parameters(model: nn.Module) -> int:
    """Number of scalars in the model's parameters (trainable or not)."""
    return sum(p.numel() for p in model.parameters())


def fit_steps(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int, batch_size: int = 32, lr: float = 3e-3,
              seed: int = 0, progress: bool = True, desc: str = "training") -> float:
    """``steps`` Adam steps on batches drawn with replacement from (x (N, ...), y (N,)); returns seconds per step.

    Runs on ``mmcourse.env.device()``; the model stays there.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    if len(x) != len(y) or len(y) == 0:
        raise ValueError(f"x and y must hold the same number (> 0) of examples, got {len(x)} and {len(y)}")
    device = default_device()
    model.to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    for _ in tqdm(range(steps), desc=desc, disable=not progress, leave=False):
        batch = torch.randint(0, len(y), (batch_size,), generator=generator)
        loss = F.cross_entropy(model(x[batch].to(device)), y[batch].to(device))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return (time.perf_counter() - start) / steps


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 500) -> float:
    """Share of examples whose arg-max logit is the label, in evaluation mode, in batches."""
    device = next(model.parameters()).device
    model.eval()
    hits = sum(int((model(x[i:i + batch_size].to(device)).argmax(dim=1).cpu() == y[i:i + batch_size]).sum())
               for i in range(0, len(y), batch_size))
    return hits / len(y)


def label_curve(counts: Sequence[int] = LABEL_COUNTS, steps: int = 150, seed: int = 0, progress: bool = True
                ) -> dict[int, float]:
    """{n labels: test accuracy of a DigitCNN trained for ``steps`` steps on the first n training digits}.

    The training digits come in a fixed shuffled order, so every n is a
    random sample and a smaller one is part of every larger one.
    """
    from mmcourse.data.digit_images import load_digit_images
    from mmcourse.torch_models.cnn import DigitCNN

    images, labels = load_digit_images("train")
    test_images, test_labels = load_digit_images("test")
    if any(isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= len(labels) for n in counts):
        raise ValueError(f"counts must be ints in [1, {len(labels)}], got {list(counts)}")
    order = np.random.default_rng(seed).permutation(len(labels))
    x, y = torch.from_numpy(images[order])[:, None], torch.from_numpy(labels[order])  # (N, 1, 28, 28), (N,)
    x_test, y_test = torch.from_numpy(test_images)[:, None], torch.from_numpy(test_labels)
    scores = {}
    for n in tqdm(counts, desc="label counts", disable=not progress):
        torch.manual_seed(seed)
        model = DigitCNN()
        fit_steps(model, x[:n], y[:n], steps, seed=seed, progress=False)
        scores[n] = accuracy(model, x_test, y_test)
    return scores


def video_study(n_train: int = 1200, n_test: int = 300, steps: int = 200, seed: int = 0, progress: bool = True
                ) -> dict[str, dict[str, float]]:
    """Train the VideoClassifier on moving shapes three ways; per variant: test accuracy, parameters, ms per step.

    "single frame" sees only each clip's middle frame (an image model:
    temporal "mean" over one frame); "frames averaged" sees every frame but
    averages them (order lost); "frames in order (GRU)" runs a GRU over them.
    Same steps, batch and seed for all three.
    """
    from mmcourse.data.moving_shapes import make_moving_shapes
    from mmcourse.torch_models.video import VideoClassifier

    train, test = make_moving_shapes(n_train, seed=seed), make_moving_shapes(n_test, seed=seed + 1)
    size = train.videos.shape[-1]
    variants = {"single frame": ("mean", True), "frames averaged": ("mean", False),
                "frames in order (GRU)": ("gru", False)}
    results = {}
    for name, (temporal, single) in variants.items():
        x = torch.from_numpy(train.middle_frames() if single else train.videos)  # (N, T, H, W)
        x_test = torch.from_numpy(test.middle_frames() if single else test.videos)
        torch.manual_seed(seed)
        model = VideoClassifier(frame_size=size, temporal=temporal)
        seconds = fit_steps(model, x, torch.from_numpy(train.labels), steps, seed=seed, progress=progress, desc=name)
        results[name] = {"accuracy": accuracy(model, x_test, torch.from_numpy(test.labels)),
                         "parameters": count_parameters(model), "ms_per_step": 1000 * seconds,
                         "frames": x.shape[1]}
    return results


def _tokens(vocab_size: int, batch: int, length: int, generator: torch.Generator) -> torch.Tensor:
    """Random token ids in [1, vocab_size) of shape (batch, length): 0 stays free for padding."""
    return torch.randint(1, vocab_size, (batch, length), generator=generator)


def example_inputs(kind: str, config: dict, model: nn.Module, batch: int = 8, seed: int = 0
                   ) -> tuple[torch.Tensor, ...]:
    """Random inputs of the right shapes for ``model``, a course model of ``kind`` built from ``config``."""
    g = torch.Generator().manual_seed(seed)
    if kind == "gpt":
        return (_tokens(config["vocab_size"], batch, min(64, config["block_size"]), g),)  # idx (B, T)
    if kind == "clip":
        return torch.rand(batch, 3, 32, 32, generator=g), _tokens(config["vocab_size"], batch, 8, g)
    if kind in ("vlm", "vlm_feedback"):
        return (torch.rand(batch, 4, config["feature_dim"], generator=g),  # 4 visual tokens (B, N, D)
                _tokens(config["gpt"]["vocab_size"], batch, 60, g))
    if kind == "ctc":
        return torch.randn(batch, 100, 13, generator=g), torch.full((batch,), 100)  # MFCC frames, lengths
    if kind == "gan":
        return torch.randn(batch, config["z_dim"], generator=g), _tokens(config["vocab_size"], batch, 6, g)
    if kind == "ddpm":
        size = config["image_size"]
        return (torch.randn(batch, config["channels"], size, size, generator=g),
                torch.randint(0, 100, (batch,), generator=g),
                _tokens(config["vocab_size"], batch, 6, g))
    if kind == "vqa":
        size = model.image_size
        return (torch.rand(batch, 3, size, size, generator=g), _tokens(config["vocab_size"], batch, 8, g),
                torch.full((batch,), 8))  # images, question ids, lengths
    raise ValueError(f"no example inputs for course models of kind {kind!r}: add them to example_inputs")


@torch.no_grad()
def forward_ms(model: nn.Module, inputs: tuple[torch.Tensor, ...], threads: int = 1, repeats: int = 5) -> float:
    """Median milliseconds of one forward pass on the CPU with ``threads`` torch threads (restored after)."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        model.cpu().eval()
        model(*inputs)  # warm-up: first calls allocate
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            model(*inputs)
            times.append(time.perf_counter() - start)
    finally:
        torch.set_num_threads(before)
    return 1000 * statistics.median(times)


def chapter_times(path: str | Path = CHAPTER_TIMES) -> dict[str, float]:
    """{chapter number 'NN': seconds} from the table in ``benchmarks/chapter_times.md``."""
    rows = re.findall(r"^\|\s*(\d\d)_\w+\s*\|\s*([\d.]+)\s*\|", Path(path).read_text(), flags=re.MULTILINE)
    return {chapter: float(seconds) for chapter, seconds in rows}


def compute_table(batch: int = 8, threads: int = 1, progress: bool = True) -> list[dict]:
    """One row per course checkpoint: name, chapter, parameters, forward ms (``batch``, ``threads``), pretraining
    seconds from the manifest (None if not recorded) and the chapter's notebook seconds (None if not measured)."""
    from mmcourse.pretrained.course import CHECKPOINTS, KINDS, read_manifest

    manifest = read_manifest()
    times = chapter_times() if CHAPTER_TIMES.is_file() else {}  # benchmarks/ is in a clone, not in a wheel
    rows = []
    for name, checkpoint in tqdm(CHECKPOINTS.items(), desc="course models", disable=not progress):
        torch.manual_seed(0)
        model = KINDS[checkpoint.kind].build(checkpoint.config)
        chapter = CHAPTER_OF.get(name, "?")
        rows.append({"name": name, "kind": checkpoint.kind, "chapter": chapter, "parameters": count_parameters(model),
                     "forward_ms": forward_ms(model, example_inputs(checkpoint.kind, checkpoint.config, model, batch),
                                             threads),
                     "pretrain_s": manifest.get(name, {}).get("wall_s"), "chapter_s": times.get(chapter)})
    return rows


def plot_compute(rows: Sequence[dict]):
    """Parameters against forward milliseconds, log-log, one labelled point per architecture; returns the Figure.

    Fine-tuned copies share their base's architecture (the same parameter
    count), so they share its point, at their median time: "tiny_vlm x4 (ch10, 13)".
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    groups: dict[int, list[dict]] = {}
    for row in rows:
        groups.setdefault(row["parameters"], []).append(row)
    points = sorted(({"name": members[0]["name"], "copies": len(members), "parameters": size,
                      "chapters": ", ".join(sorted({m["chapter"] for m in members})),
                      "forward_ms": statistics.median(m["forward_ms"] for m in members)}
                     for size, members in groups.items()), key=lambda row: -row["forward_ms"])
    fig, ax = plt.subplots(figsize=(7, 4.5))
    stacked, above = 0, None  # big models close in time get their labels one under another
    for row in points:
        label = row["name"] + (f" x{row['copies']}" if row["copies"] > 1 else "") + f" (ch{row['chapters']})"
        big = row["parameters"] > 5e5  # the big models crowd the right: labels to their left
        if big:
            stacked = stacked + 1 if above is not None and above < 1.5 * row["forward_ms"] else 0
            above = row["forward_ms"]
        offset = (-6, 8 - 11 * stacked) if big else (5, 2)
        ax.scatter(row["parameters"], row["forward_ms"], color="C0")
        ax.annotate(label, (row["parameters"], row["forward_ms"]), fontsize=8, ha="right" if big else "left",
                    xytext=offset, textcoords="offset points", arrowprops={"arrowstyle": "-", "lw": 0.5})
    ax.set(xscale="log", yscale="log", xlabel="parameters", ylabel="forward pass, ms (batch 8, 1 thread)",
           title="The course's models: size against CPU time")
    ax.xaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x / 1000:g}k"))
    ax.yaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:g}"))
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_minor_formatter(NullFormatter())
    fig.tight_layout()
    return fig


def plot_curve(xs: Sequence[float], ys: Sequence[float], xlabel: str, ylabel: str, title: str, logx: bool = True,
               labels: Sequence[str] | None = None, ax=None):
    """Accuracy-like ys (in [0, 1]) against xs, a line with markers, optionally annotated; returns the Axes."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    if ax is None:
        ax = plt.subplots(figsize=(5, 3.5))[1]
    ax.plot(xs, ys, marker="o")
    for x, y, label in zip(xs, ys, labels or []):
        ax.annotate(label, (x, y), fontsize=8, xytext=(4, -10), textcoords="offset points")
    ax.set(xscale="log" if logx else "linear", xlabel=xlabel, ylabel=ylabel, title=title, ylim=(0, 1))
    if logx:  # ticks at the measured points, written plainly
        ax.set_xticks(list(xs), [f"{x:.3g}" for x in xs])
        ax.xaxis.set_minor_formatter(NullFormatter())
    return ax

