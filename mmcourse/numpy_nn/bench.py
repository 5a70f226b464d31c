"""How fast is from-scratch NumPy next to PyTorch? Timings for chapters 04-05 and the benchmark script.

:func:`measure` times each case and its baseline in one process, interleaved
repeat by repeat so that background load hits both alike, and reports the
median time per call. torch keeps its default thread count. Run
``python benchmarks/numpy_vs_frameworks.py`` for the table.

NumPy's BLAS (OpenBLAS) runs on one thread here by default. These layers do
many small matrix products (an RNN step is a (32, 64) @ (64, 64) product), and
OpenBLAS worker threads busy-wait after each call: on a 2-core machine with
anything else running, that spinning steals the core the main thread needs,
and the RNN forward pass went from 0.6 ms to 8-20 ms. ``numpy_threads=None``
leaves OpenBLAS at its default, to see this for yourself.
"""
from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from . import _checks
from .conv import conv2d_backward, conv2d_einsum, conv2d_forward
from .rnn import rnn_backward, rnn_forward


def _calls_per_repeat(fn: Callable[[], object], min_time: float) -> int:
    """How many calls of fn take at least min_time seconds (after one warm-up call)."""
    fn()
    number = 1
    while True:
        start = time.perf_counter()
        for _ in range(number):
            fn()
        if time.perf_counter() - start >= min_time:
            return number
        number *= 2


def _paired_medians(fn_a, fn_b, repeats: int, min_time: float) -> tuple[float, float]:
    """Median seconds per call of fn_a and of fn_b, their repeats interleaved."""
    counts = [_calls_per_repeat(fn, min_time) for fn in (fn_a, fn_b)]
    times = ([], [])
    for _ in range(repeats):
        for fn, number, out in zip((fn_a, fn_b), counts, times):
            start = time.perf_counter()
            for _ in range(number):
                fn()
            out.append((time.perf_counter() - start) / number)
    return float(np.median(times[0])), float(np.median(times[1]))


def _cases(seed: int):
    """(name, numpy fn, baseline name, baseline fn, comparison, target) for each measured case."""
    import torch

    rng = np.random.default_rng(seed)
    f32 = np.float32
    # conv2d: CIFAR-sized batch, 3x3 kernel, "same" padding
    x = rng.standard_normal((32, 3, 32, 32)).astype(f32)
    w = (0.1 * rng.standard_normal((16, 3, 3, 3))).astype(f32)
    b = np.zeros(16, dtype=f32)
    dout = rng.standard_normal((32, 16, 32, 32)).astype(f32)
    xt, wt, bt, doutt = (torch.from_numpy(a) for a in (x, w, b, dout))
    xg, wg, bg = (t.clone().requires_grad_() for t in (xt, wt, bt))

    def np_conv():
        return conv2d_forward(x, w, b, padding=1)

    def torch_conv():
        with torch.no_grad():
            return torch.nn.functional.conv2d(xt, wt, bt, padding=1)

    def np_conv_fb():
        out, cache = conv2d_forward(x, w, b, padding=1)
        return conv2d_backward(dout, cache)

    def torch_conv_fb():
        out = torch.nn.functional.conv2d(xg, wg, bg, padding=1)
        return torch.autograd.grad(out, (xg, wg, bg), doutt)

    # RNN: 32 sequences of 50 steps of 13 features (MFCC-like), 64 hidden units
    rnn = torch.nn.RNN(13, 64, batch_first=True)
    xs = rng.standard_normal((32, 50, 13)).astype(f32)
    h0 = np.zeros((32, 64), dtype=f32)
    dh = rng.standard_normal((32, 50, 64)).astype(f32)
    wx, wh = (p.detach().numpy().T.copy() for p in (rnn.weight_ih_l0, rnn.weight_hh_l0))
    rb = (rnn.bias_ih_l0 + rnn.bias_hh_l0).detach().numpy()
    xst, h0t, dht = torch.from_numpy(xs), torch.from_numpy(h0)[None], torch.from_numpy(dh)
    xsg, h0g = xst.clone().requires_grad_(), h0t.clone().requires_grad_()
    params = tuple(rnn.parameters())

    def np_rnn():
        return rnn_forward(xs, h0, wx, wh, rb)

    def torch_rnn():
        with torch.no_grad():
            return rnn(xst, h0t)

    def np_rnn_fb():
        hs, cache = rnn_forward(xs, h0, wx, wh, rb)
        return rnn_backward(dh, cache)

    def torch_rnn_fb():
        out, _ = rnn(xsg, h0g)
        return torch.autograd.grad(out, (xsg, h0g, *params), dht)

    # the einsum lesson, on the same convolution
    def einsum_naive():
        return conv2d_einsum(x, w, b, padding=1, optimize=False)

    def einsum_optimised():
        return conv2d_einsum(x, w, b, padding=1, optimize=True)

    return [
        ("conv2d forward (32,3,32,32)*(16,3,3,3) pad 1", np_conv, "torch", torch_conv, "<=", 3.0),
        ("conv2d forward+backward", np_conv_fb, "torch autograd", torch_conv_fb, "<=", 4.0),
        ("RNN forward (32,50,13) -> 64", np_rnn, "torch nn.RNN", torch_rnn, "<=", 1.0),
        ("RNN forward+BPTT", np_rnn_fb, "torch autograd", torch_rnn_fb, "<=", 3.0),
        ("conv2d as einsum, optimize=False vs True", einsum_naive, "einsum optimize=True", einsum_optimised, ">=", 10.0),
    ]


def _blas_threads(fn: Callable[[], object], threads: int | None) -> Callable[[], object]:
    """fn with NumPy's BLAS limited to ``threads`` while it runs (None: unchanged)."""
    if threads is None:
        return fn
    from threadpoolctl import ThreadpoolController

    limit = ThreadpoolController().select(user_api="blas").limit

    def limited():
        with limit(limits=threads):
            return fn()

    return limited


def measure(repeats: int = 7, min_time: float = 0.05, seed: int = 0, numpy_threads: int | None = 1) -> list[dict]:
    """Time every case against its baseline; returns one dict per case.

    Keys: ``case``, ``numpy_ms``, ``baseline``, ``baseline_ms``, ``ratio``
    (numpy / baseline), ``target`` (e.g. ``"<= 3"``) and ``meets`` (bool).
    All arrays are float32. Each time is the median of ``repeats`` repeats of
    at least ``min_time`` seconds. NumPy's BLAS uses ``numpy_threads``
    threads (None: OpenBLAS's default); torch keeps its default.
    """
    repeats = _checks.integer("repeats", repeats, 1)
    if isinstance(min_time, bool) or not isinstance(min_time, (int, float)) or min_time < 0:
        raise ValueError(f"min_time must be a number >= 0, got {min_time!r}")
    if numpy_threads is not None:
        numpy_threads = _checks.integer("numpy_threads", numpy_threads, 1)
    rows = []
    for case, fn, baseline, base_fn, op, target in _cases(seed):
        if baseline.startswith("torch"):
            fn = _blas_threads(fn, numpy_threads)
        else:  # NumPy against NumPy: both get the same BLAS
            fn, base_fn = _blas_threads(fn, numpy_threads), _blas_threads(base_fn, numpy_threads)
        t_np, t_base = _paired_medians(fn, base_fn, repeats, min_time)
        ratio = t_np / t_base
        rows.append(
            {
                "case": case,
                "numpy_ms": 1e3 * t_np,
                "baseline": baseline,
                "baseline_ms": 1e3 * t_base,
                "ratio": ratio,
                "target": f"{op} {target:g}",
                "meets": bool(ratio <= target if op == "<=" else ratio >= target),
            }
        )
    return rows


def format_table(rows: list[dict]) -> str:
    """The rows of :func:`measure` as a plain-text table."""
    header = f"{'case':<46} {'numpy ms':>9} {'baseline':<21} {'ms':>8} {'ratio':>7} {'target':>7}  meets"
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(
            f"{r['case']:<46} {r['numpy_ms']:>9.3f} {r['baseline']:<21} {r['baseline_ms']:>8.3f} "
            f"{r['ratio']:>7.2f} {r['target']:>7}  {'yes' if r['meets'] else 'NO'}"
        )
    return "\n".join(lines)
