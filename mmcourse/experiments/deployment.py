"""Chapter 14's experiments: chapter 07's VQA net exported every way, timed, quantised, served and load-tested.

- Training: :func:`train_vqa_net` trains ``VQANet`` for a fixed number of
  steps (the ``vqa_net`` course checkpoint); :func:`accuracy` scores a
  predictor on a split.
- The exported graph: :class:`ServableVQA` wraps a ``VQANet`` so that it
  takes what a client sends, ``(images (B, 3, 32, 32), question_ids (B, L))``,
  and computes the lengths itself with no data-dependent Python branch and no
  ``pack_padded_sequence``, which exporters cannot trace.
- Exports (each written under a folder the caller gives, e.g. a
  ``tempfile.TemporaryDirectory``): :func:`export_torchscript`,
  :func:`export_program` (``torch.export``), :func:`export_onnx` and
  :func:`quantize_onnx` (ONNX Runtime's dynamic int8), :func:`export_keras`
  (``.keras`` and a SavedModel). :func:`max_abs_diff` is the parity figure,
  :func:`matches` the test (1e-5, relative above 1).
- Speed and precision: :func:`percentiles`, :func:`time_predictor`,
  :func:`latency_table` at fixed thread counts and :func:`plot_latency`;
  :func:`autocast_report` for ``torch.autocast`` (bf16 on the CPU, fp16/bf16 on a GPU).
- Load: :func:`load_test` sends a fixed number of requests from a few
  concurrent clients to a running server (:mod:`mmcourse.serving`).
- The ``vqa_net`` course checkpoint: :func:`train_vqa_checkpoint` and
  :func:`measure_vqa_checkpoint`, called by ``mmcourse.pretrained.course``.

Importing this module imports torch; ONNX Runtime, onnx and TensorFlow are imported by the functions that use them.
"""
from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from mmcourse import env
from mmcourse.data.vqa import VQASplit
from mmcourse.serving import onnx_predictor, onnx_session  # noqa: F401  (chapter 14 imports them from here)
from mmcourse.torch_models.vqa import VQANet

Predictor = Callable[[np.ndarray, np.ndarray], np.ndarray]  # images (B, 3, H, W), ids (B, L) -> logits (B, A)


# -- training ----------------------------------------------------------------------------------------------


def nchw(images: np.ndarray) -> np.ndarray:
    """Images (N, H, W, 3) as the data set stores them -> (N, 3, H, W) float32, as torch and ONNX take them."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must have shape (N, H, W, 3), got {images.shape}")
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2))


def train_vqa_net(train: VQASplit, vocab_size: int, steps: int, batch_size: int = 64, lr: float = 3e-3,
                  seed: int = 0, config: dict | None = None, progress: bool = True) -> tuple[VQANet, list[float]]:
    """A fresh ``VQANet(vocab_size, **config)`` trained by Adam on cross-entropy for ``steps`` random batches.

    The learning rate decays from ``lr`` to 0 along a cosine; returns the
    model (in eval mode, on the CPU) and the loss of every step.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 1 <= batch_size <= len(train):
        raise ValueError(f"batch_size must be an int in [1, {len(train)}], got {batch_size!r}")
    torch.manual_seed(seed)
    device = env.device()
    model = VQANet(vocab_size, **(config or {})).to(device).train()
    images = torch.from_numpy(nchw(train.images))  # (N, 3, H, W)
    ids, lengths = torch.from_numpy(train.question_ids), torch.from_numpy(train.lengths)
    answers = torch.from_numpy(train.answer_ids)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    rng = np.random.default_rng(seed)
    losses = []
    for _ in tqdm(range(steps), desc="train VQANet", disable=not progress):
        index = torch.from_numpy(rng.choice(len(train), batch_size, replace=False))
        logits = model(images[index].to(device), ids[index].to(device), lengths[index])
        loss = nn.functional.cross_entropy(logits, answers[index].to(device))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
    return model.cpu().eval(), losses


def accuracy(predict: Predictor, split: VQASplit, batch_size: int = 500) -> float:
    """Share of ``split`` whose argmax logit is the true answer, predicting ``batch_size`` pairs at a time."""
    images = nchw(split.images)
    predicted = np.concatenate([np.asarray(predict(images[i:i + batch_size], split.question_ids[i:i + batch_size]))
                                .argmax(axis=1) for i in range(0, len(split), batch_size)])
    return float(np.mean(predicted == split.answer_ids))


# -- the graph that is exported ----------------------------------------------------------------------------


class ServableVQA(nn.Module):
    """A trained ``VQANet`` as a client calls it: (images (B, 3, H, W) in [0, 1], question_ids (B, L) int64) -> logits.

    ``VQANet.forward`` also takes the lengths and packs the padded questions
    (``pack_padded_sequence`` needs the lengths on the CPU as Python data,
    which no exporter can trace), and it checks its inputs with Python
    ``if``s on tensor values. Here the lengths come from the ids (padding is
    id 0, at the end only), the LSTM runs over all L steps, and the state
    after each question's last true token is picked by indexing: the same
    numbers, one static graph.
    """

    def __init__(self, net: VQANet):
        super().__init__()
        self.net = net

    def forward(self, images: torch.Tensor, question_ids: torch.Tensor) -> torch.Tensor:
        """images (B, 3, H, W) float32, question_ids (B, L) int64 -> logits (B, n_answers)."""
        lengths = (question_ids != 0).sum(dim=1).clamp(min=1)  # (B,) true tokens; an all-pad row reads one step
        states, _ = self.net.question_lstm(self.net.question_embedding(question_ids))  # (B, L, lstm_units)
        question = states[torch.arange(states.shape[0]), lengths - 1]  # (B, lstm_units) after the last true token
        fused = torch.cat([self.net.encode_image(images), question], dim=1)  # F = [I; Q]
        return self.net.head(torch.relu(self.net.fusion_dense(fused)))  # (B, n_answers)


def torch_predictor(module: Callable) -> Predictor:
    """A NumPy-in, NumPy-out predictor around a torch callable (eager, TorchScript or ``ExportedProgram.module()``)."""
    def predict(images: np.ndarray, question_ids: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return module(torch.from_numpy(np.asarray(images, np.float32)),
                          torch.from_numpy(np.asarray(question_ids, np.int64))).numpy()
    return predict


def example_inputs(split: VQASplit, batch: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``batch`` pairs of ``split`` as the tensors an exporter traces with: (B, 3, H, W), (B, L).

    Export with ``batch >= 2``: torch.export and the ONNX exporter specialise
    a dimension whose example size is 1 (a 1 may be broadcast, so it cannot
    be proved to be a free size), and tracing with one example hides bugs
    that mix rows.
    """
    if isinstance(batch, bool) or not isinstance(batch, int) or not 2 <= batch <= len(split):
        raise ValueError(f"batch must be an int in [2, {len(split)}] (a batch of 1 pins the dimension), "
                         f"got {batch!r}")
    return torch.from_numpy(nchw(split.images[:batch])), torch.from_numpy(split.question_ids[:batch])


def _batch_dim() -> tuple[dict, dict]:
    batch = torch.export.Dim("batch", min=1, max=4096)
    return {0: batch}, {0: batch}  # images and question_ids share their first dimension


def export_torchscript(model: nn.Module, example: tuple[torch.Tensor, ...], path: str | os.PathLike) -> Path:
    """Trace ``model`` with ``example`` and save it as TorchScript (``torch.jit.load`` reads it back)."""
    traced = torch.jit.trace(model.eval(), example)
    traced.save(str(path))
    return Path(path)


def export_program(model: nn.Module, example: tuple[torch.Tensor, ...], path: str | os.PathLike) -> Path:
    """``torch.export`` with a dynamic batch dimension, saved as ``.pt2`` (``torch.export.load(path).module()``)."""
    program = torch.export.export(model.eval(), example, dynamic_shapes=_batch_dim())
    torch.export.save(program, str(path))
    return Path(path)


def export_onnx(model: nn.Module, example: tuple[torch.Tensor, ...], path: str | os.PathLike) -> Path:
    """ONNX through the ``torch.export``-based exporter (``dynamo=True``), inputs ``images``, ``question_ids``."""
    program = torch.onnx.export(model.eval(), example, dynamo=True, dynamic_shapes=_batch_dim(), verbose=False,
                                input_names=["images", "question_ids"], output_names=["logits"])
    program.save(str(path))
    return Path(path)


def quantize_onnx(path: str | os.PathLike, out: str | os.PathLike) -> Path:
    """ONNX Runtime's dynamic int8 quantisation of the model at ``path``, written to ``out``.

    Weights are stored as int8 with one scale per tensor; activations are
    quantised on the fly per batch (``DynamicQuantizeLinear``). The
    exporter's recorded intermediate shapes (``value_info``) are dropped
    first: the quantiser re-infers them and stops at the ones the exporter
    wrote for transposed weights.
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = onnx.load(str(path))
    del model.graph.value_info[:]
    plain = Path(out).with_suffix(".plain.onnx")
    onnx.save(model, str(plain))
    quantize_dynamic(str(plain), str(out), weight_type=QuantType.QInt8)
    plain.unlink()
    return Path(out)


def export_keras(model, folder: str | os.PathLike) -> tuple[Path, Path]:
    """Save the Keras twin as ``vqa.keras`` (architecture + weights) and export a SavedModel ``vqa_savedmodel``.

    Reload the first with ``keras.saving.load_model``; the second is a
    TensorFlow graph that needs no Keras and no Python model code:
    ``tf.saved_model.load(path).serve(...)`` or ``keras.layers.TFSMLayer``.
    """
    folder = Path(folder)
    keras_path, saved_path = folder / "vqa.keras", folder / "vqa_savedmodel"
    model.save(keras_path)
    model.export(str(saved_path), format="tf_saved_model", verbose=False)
    return keras_path, saved_path


def keras_inputs(images: np.ndarray, question_ids: np.ndarray) -> dict[str, np.ndarray]:
    """Torch-layout inputs (B, 3, H, W), (B, L) -> the Keras twin's {"images": (B, H, W, 3), "question_ids": int32}."""
    return {"images": np.ascontiguousarray(np.asarray(images, np.float32).transpose(0, 2, 3, 1)),
            "question_ids": np.asarray(question_ids, np.int32)}


def max_abs_diff(a, b) -> float:
    """max |a - b| over all entries of two arrays (or tensors) of the same shape."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"the outputs must have the same shape, got {a.shape} and {b.shape}")
    return float(np.max(np.abs(a - b)))


def matches(output, reference, tol: float = 1e-5) -> bool:
    """True when max |output - reference| <= tol * max(1, max |reference|): absolute for values up to 1, relative
    above. float32 keeps about 7 significant digits, so logits near 70 differ in the 5th decimal from the order
    of a sum alone (float32 spacing there is 7.6e-6): an absolute 1e-5 would test rounding, not the export."""
    scale = max(1.0, float(np.max(np.abs(np.asarray(reference, dtype=np.float64)))))
    return max_abs_diff(output, reference) <= tol * scale


def file_size(path: str | os.PathLike) -> int:
    """Bytes of a file, or of every file under a folder (a SavedModel is a folder)."""
    path = Path(path)
    return path.stat().st_size if path.is_file() else sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# -- latency -----------------------------------------------------------------------------------------------


def percentiles(samples: Sequence[float], qs: Sequence[float] = (50, 95)) -> list[float]:
    """``np.percentile`` with its default linear interpolation: p50 and p95 of ``samples`` by default."""
    samples = np.asarray(samples, dtype=np.float64)
    if samples.ndim != 1 or len(samples) == 0:
        raise ValueError(f"samples must be a non-empty 1-D sequence, got shape {samples.shape}")
    return [float(v) for v in np.percentile(samples, qs)]


def time_predictor(predict: Predictor, images: np.ndarray, question_ids: np.ndarray, repeats: int,
                   warmup: int = 5) -> np.ndarray:
    """Milliseconds of each of ``repeats`` calls ``predict(images, question_ids)``, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        predict(images, question_ids)
    times = np.empty(repeats)
    for i in range(repeats):
        start = time.perf_counter()
        predict(images, question_ids)
        times[i] = (time.perf_counter() - start) * 1000
    return times


@dataclass(frozen=True)
class LatencyRow:
    """p50 and p95 latency in ms of one predictor at one thread count and batch size."""

    name: str
    threads: int
    batch: int
    p50_ms: float
    p95_ms: float


def latency_table(makers: dict[str, Callable[[int], Predictor]], split: VQASplit, batches: Sequence[int] = (1, 64),
                  threads: Sequence[int] = (1, 2), repeats: dict[int, int] | None = None,
                  progress: bool = True) -> list[LatencyRow]:
    """Time every predictor at every thread count and batch size on the first pairs of ``split``.

    ``makers[name](threads)`` returns a predictor that uses that many threads
    (an ONNX Runtime session is built with its thread count; torch's is set
    globally with ``torch.set_num_threads``, restored at the end).
    ``repeats`` maps batch size -> timed calls (default 100 at batch 1, 30
    above): fixed counts, after 5 warm-up calls.
    """
    repeats = repeats or {b: 100 if b == 1 else 30 for b in batches}
    images, ids = nchw(split.images[:max(batches)]), split.question_ids[:max(batches)]
    before = torch.get_num_threads()
    rows = []
    try:
        for name, make in tqdm(makers.items(), desc="latency", disable=not progress):
            for n_threads in threads:
                torch.set_num_threads(n_threads)
                predict = make(n_threads)
                for batch in batches:
                    times = time_predictor(predict, images[:batch], ids[:batch], repeats[batch])
                    rows.append(LatencyRow(name, n_threads, batch, *percentiles(times)))
    finally:
        torch.set_num_threads(before)
    return rows


def plot_latency(rows: Sequence[LatencyRow]):
    """One panel per batch size: p50 bars (p95 as the whisker's top) per predictor, one colour per thread count."""
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(r.name for r in rows))
    batches = sorted({r.batch for r in rows})
    threads = sorted({r.threads for r in rows})
    fig, axes = plt.subplots(1, len(batches), figsize=(5.5 * len(batches), 3.6))
    width = 0.8 / len(threads)
    for ax, batch in zip(np.atleast_1d(axes), batches):
        for k, n_threads in enumerate(threads):
            found = {r.name: r for r in rows if r.batch == batch and r.threads == n_threads}
            p50 = np.array([found[n].p50_ms for n in names])
            p95 = np.array([found[n].p95_ms for n in names])
            x = np.arange(len(names)) + (k - (len(threads) - 1) / 2) * width
            ax.bar(x, p50, width, yerr=[np.zeros_like(p50), p95 - p50], capsize=3, label=f"{n_threads} thread(s)")
        ax.set_xticks(np.arange(len(names)), names, rotation=20)
        ax.set_ylabel("ms per call (bar p50, whisker p95)")
        ax.set_title(f"batch {batch}")
        ax.legend()
    fig.tight_layout()
    return fig


# -- mixed precision ---------------------------------------------------------------------------------------


def onednn_has(dtype: torch.dtype) -> bool:
    """Whether this CPU's oneDNN (PyTorch's CPU kernels for LSTMs, convolutions...) computes in ``dtype``:
    bf16 needs AVX-512 or newer, fp16 AVX-512 FP16 or AMX; float32 always."""
    check = {torch.bfloat16: torch.ops.mkldnn._is_mkldnn_bf16_supported,
             torch.float16: torch.ops.mkldnn._is_mkldnn_fp16_supported}.get(dtype)
    return check is None or bool(check())


@contextlib.contextmanager
def _without_onednn():
    """PyTorch's own CPU kernels instead of oneDNN's inside the block; the setting is restored after it."""
    before = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = False
    try:
        yield
    finally:
        torch.backends.mkldnn.enabled = before


def autocast_report(model: nn.Module, split: VQASplit, dtype: torch.dtype = torch.bfloat16,
                    device: torch.device | None = None, batch_size: int = 500, n: int | None = None
                    ) -> dict[str, float]:
    """Logits of ``model`` in float32 and under ``torch.autocast(device.type, dtype)`` on ``split`` (its first n).

    Returns max |logit difference|, both accuracies and the share of
    predictions that agree. On a CPU bf16 halves the bytes that matmuls and
    convolutions read (fast only on CPUs with AMX or AVX-512 BF16); on a GPU
    fp16 and bf16 run on the tensor cores. Where oneDNN has no kernels in
    ``dtype`` (:func:`onednn_has`: an AVX2 CPU has no bf16 LSTM and would
    raise), the autocast pass uses PyTorch's own kernels instead.
    """
    device = device or env.device()
    native = device.type == "cpu" and not onednn_has(dtype)
    model = model.to(device).eval()
    n = len(split) if n is None else n
    images, ids = torch.from_numpy(nchw(split.images[:n])), torch.from_numpy(split.question_ids[:n])
    full, low = [], []
    with torch.inference_mode():
        for i in range(0, n, batch_size):
            batch = images[i:i + batch_size].to(device), ids[i:i + batch_size].to(device)
            full.append(model(*batch).float().cpu())
            with torch.autocast(device.type, dtype=dtype), _without_onednn() if native else contextlib.nullcontext():
                low.append(model(*batch).float().cpu())
    full, low = torch.cat(full).numpy(), torch.cat(low).numpy()  # (N, n_answers) each
    truth = split.answer_ids[:n]
    return {"max_abs_logit_diff": max_abs_diff(full, low),
            "accuracy_fp32": float(np.mean(full.argmax(1) == truth)),
            f"accuracy_{str(dtype).removeprefix('torch.')}": float(np.mean(low.argmax(1) == truth)),
            "agreement": float(np.mean(full.argmax(1) == low.argmax(1)))}


# -- load test ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadReport:
    """What a load test saw: requests sent, answered 200, lost (error or no reply), wrong answers; speed."""

    sent: int
    ok: int
    lost: int
    wrong: int
    seconds: float
    throughput_rps: float
    p50_ms: float
    p95_ms: float


def load_test(url: str, payloads: Sequence[dict], expected: Sequence[str], n_requests: int = 200,
              concurrency: int = 4, timeout: float = 10.0, progress: bool = True) -> LoadReport:
    """POST ``n_requests`` requests to ``url`` from ``concurrency`` clients at once (a thread pool, one
    ``httpx.Client`` each); request i sends ``payloads[i % len(payloads)]`` and must answer ``expected[i % ...]``.

    A request is lost when it raises (refused, timed out) or gets a status
    other than 200; wrong when its answer differs. Latency is each request's
    round trip as the client sees it.
    """
    import httpx

    if len(payloads) != len(expected) or not payloads:
        raise ValueError(f"payloads and expected must be non-empty and of the same length, "
                         f"got {len(payloads)} and {len(expected)}")
    local = threading.local()
    clients = []

    def send(i: int) -> tuple[str | None, float]:
        if not hasattr(local, "client"):
            local.client = httpx.Client(timeout=timeout)
            clients.append(local.client)
        start = time.perf_counter()
        try:
            response = local.client.post(url, json=payloads[i % len(payloads)])
            answer = response.json()["answer"] if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError, KeyError):
            answer = None
        return answer, (time.perf_counter() - start) * 1000

    start = time.perf_counter()
    try:
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            results = list(tqdm(pool.map(send, range(n_requests)), total=n_requests, desc="load test",
                                disable=not progress))
    finally:
        for client in clients:
            client.close()
    seconds = time.perf_counter() - start
    answers = [answer for answer, _ in results]
    lost = sum(answer is None for answer in answers)
    wrong = sum(answer is not None and answer != expected[i % len(expected)] for i, answer in enumerate(answers))
    p50, p95 = percentiles([ms for _, ms in results])
    return LoadReport(n_requests, n_requests - lost, lost, wrong, seconds, n_requests / seconds, p50, p95)


# -- the course checkpoint ---------------------------------------------------------------------------------


def train_vqa_checkpoint(config: dict, recipe: dict, progress: bool = True) -> VQANet:
    """``VQANet(**config)`` trained by :func:`train_vqa_net` on ``load_vqa(n_train, seed=data_seed)``'s train split."""
    from mmcourse.data.vqa import load_vqa

    data = load_vqa(n_train=recipe["n_train"], seed=recipe["data_seed"])
    if len(data.vocab) != config["vocab_size"]:
        raise ValueError(f"config vocab_size {config['vocab_size']} differs from the data's {len(data.vocab)}")
    model_config = {k: v for k, v in config.items() if k != "vocab_size"}
    return train_vqa_net(data.train, config["vocab_size"], recipe["steps"], recipe["batch_size"], recipe["lr"],
                         recipe["seed"], model_config, progress)[0]


def measure_vqa_checkpoint(model: VQANet, n_train: int, data_seed: int) -> dict[str, float]:
    """Test accuracy of ``model`` on ``load_vqa(n_train, seed=data_seed).test`` and the question-only prior's."""
    from mmcourse.data.vqa import load_vqa, question_prior

    data = load_vqa(n_train=n_train, seed=data_seed)
    return {"test_accuracy": accuracy(torch_predictor(ServableVQA(model).eval()), data.test),
            "question_prior": question_prior(data.train, data.test)[0]}
