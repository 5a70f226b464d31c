"""Why attention replaced the RNN (chapter 08): path length and parallel time steps, measured.

Two numbers tell the story, both for one layer of width ``width`` on random
inputs at its default initialisation:

- **path length**: how strongly the output at the last step T-1 depends on
  the input at step 0, ‖∂y_{T-1}/∂x_0‖. In an RNN the signal passes through
  T-1 recurrent steps (chapter 05: a product of T-1 Jacobians), in causal
  self-attention through one weighted sum, so the first shrinks quickly as T
  grows and the second only as the attention spreads over more keys (~1/T).
- **parallel time steps**: an RNN runs T dependent steps one after the other;
  attention computes all T positions in a few matrix products (T² scores,
  but no step waits for another).
"""
from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn

from mmcourse.numpy_nn import _checks


def _check_lengths(lengths) -> list[int]:
    lengths = [_checks.integer("lengths[i]", t, 2) for t in lengths]
    if not lengths:
        raise ValueError("lengths must hold at least one sequence length")
    return lengths


def _layers(width: int, seed: int) -> tuple[nn.RNN, nn.MultiheadAttention]:
    """A tanh RNN and one causal self-attention layer (4 heads), both at PyTorch's default initialisation."""
    torch.manual_seed(seed)
    return (nn.RNN(width, width, batch_first=True).double(),
            nn.MultiheadAttention(width, num_heads=4, batch_first=True).double())


def _self_attention(attention: nn.MultiheadAttention, x: torch.Tensor) -> torch.Tensor:
    """Causal self-attention of x (B, T, C) -> (B, T, C); torch's mask is True where attention is NOT allowed."""
    t = x.shape[1]
    future = torch.triu(torch.ones(t, t, dtype=torch.bool), diagonal=1)  # (T, T)
    return attention(x, x, x, attn_mask=future, need_weights=False)[0]


def first_input_influence(lengths, width: int = 32, seed: int = 0) -> dict[str, np.ndarray]:
    """‖∂y_{T-1}/∂x_0‖ (Frobenius) for each T in ``lengths``: {'rnn': (n,), 'attention': (n,)} in float64."""
    lengths = _check_lengths(lengths)
    rnn, attention = _layers(_checks.integer("width", width, 4), seed)
    generator = torch.Generator().manual_seed(seed)
    norms = {"rnn": [], "attention": []}
    for t in lengths:
        x = torch.randn(1, t, width, dtype=torch.float64, generator=generator)  # (1, T, C)
        for name, layer in (("rnn", lambda v: rnn(v)[0]), ("attention", lambda v: _self_attention(attention, v))):
            jacobian = torch.autograd.functional.jacobian(lambda v: layer(v)[0, -1], x)  # (C, 1, T, C)
            norms[name].append(float(jacobian[:, 0, 0].norm()))  # ∂y_{T-1} / ∂x_0: (C, C)
    return {name: np.array(values) for name, values in norms.items()}


def _median_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


@torch.no_grad()
def time_layers(lengths, batch: int = 16, width: int = 64, repeats: int = 5, seed: int = 0) -> list[dict]:
    """Median forward time in ms of an RNN and of causal self-attention, float32, for each T in ``lengths``.

    Returns one row per T: {'T', 'rnn_ms', 'attention_ms'}. Run with a fixed
    ``torch.set_num_threads`` so that the numbers compare.
    """
    lengths = _check_lengths(lengths)
    rnn, attention = (layer.float() for layer in _layers(_checks.integer("width", width, 4), seed))
    rows = []
    for t in lengths:
        x = torch.randn(_checks.integer("batch", batch, 1), t, width)  # (B, T, C)
        rnn(x), _self_attention(attention, x)  # warm-up
        rows.append({"T": t, "rnn_ms": _median_ms(lambda: rnn(x), repeats),
                     "attention_ms": _median_ms(lambda: _self_attention(attention, x), repeats)})
    return rows
