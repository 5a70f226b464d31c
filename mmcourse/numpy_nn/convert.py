"""Copy weights between torch / Keras layers and the NumPy layers, fixing layout and gate order.

No framework is imported here: the functions read a module's parameters or a
layer's ``get_weights()``, so they work on whatever the caller built. Each
returns NumPy arrays in the argument order of the matching ``*_forward``.

The pitfalls, spelled out (see also :mod:`.rnn`):

* Conv2D: torch weight (F, C, kh, kw), Keras kernel (kh, kw, C, F).
* Dense/Linear, RNN, LSTM, GRU: torch stores (out, in) and computes x Wᵀ;
  Keras and this package store (in, out) and compute x W. Transpose.
* torch RNN/LSTM/GRU have two biases (b_ih, b_hh). For RNN and LSTM they
  are only ever added, so we sum them; the GRU needs both (b_hn sits inside
  the reset gate's product).
* LSTM gates: torch i, f, g, o; Keras i, f, c, o. Same order (g ≡ c).
* GRU gates: torch r, z, n; Keras z, r, h. Different order: swap the
  first two blocks. Keras's GRU bias is (2, 3H): row 0 input, row 1
  recurrent, and only with ``reset_after=True``.
"""
from __future__ import annotations

import numpy as np


def _np(tensor) -> np.ndarray:
    """A torch parameter as a NumPy array (a copy, detached from autograd)."""
    return tensor.detach().cpu().numpy().copy()


def _single_layer(module, kind: str) -> None:
    if getattr(module, "num_layers", 1) != 1 or getattr(module, "bidirectional", False):
        raise ValueError(f"module must be a one-layer, one-direction torch {kind}, got {module!r}")
    if not getattr(module, "batch_first", True):
        raise ValueError(f"module must be built with batch_first=True to match x (N, T, D), got {module!r}")


def conv2d_weights_from_torch(module) -> tuple[np.ndarray, np.ndarray]:
    """torch ``nn.Conv2d`` -> (w (F, C, kh, kw), b (F,)): the same layout, just copied."""
    return _np(module.weight), _np(module.bias)


def conv2d_weights_from_keras(layer) -> tuple[np.ndarray, np.ndarray]:
    """Keras ``Conv2D`` -> (w (F, C, kh, kw), b (F,)); the kernel (kh, kw, C, F) is transposed."""
    kernel, bias = layer.get_weights()
    return np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)), bias


def conv2d_weights_to_keras(w: np.ndarray, b: np.ndarray) -> list[np.ndarray]:
    """(w (F, C, kh, kw), b (F,)) -> ``[kernel (kh, kw, C, F), bias]`` for Keras ``Conv2D.set_weights``."""
    return [np.ascontiguousarray(w.transpose(2, 3, 1, 0)), b]


def linear_weights_from_torch(module) -> tuple[np.ndarray, np.ndarray]:
    """torch ``nn.Linear`` (weight (D_out, D_in)) -> (w (D_in, D_out), b (D_out,))."""
    return _np(module.weight).T.copy(), _np(module.bias)


def rnn_weights_from_torch(module) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """torch ``nn.RNN(batch_first=True)`` -> (wx (D, H), wh (H, H), b (H,)), b = b_ih + b_hh."""
    _single_layer(module, "RNN")
    if module.nonlinearity != "tanh":
        raise ValueError(f"module must use nonlinearity='tanh' like rnn_forward, got {module.nonlinearity!r}")
    return _np(module.weight_ih_l0).T.copy(), _np(module.weight_hh_l0).T.copy(), _np(module.bias_ih_l0) + _np(module.bias_hh_l0)


def rnn_weights_from_keras(layer) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keras ``SimpleRNN`` -> (wx (D, H), wh (H, H), b (H,)): already (in, out)."""
    kernel, recurrent, bias = layer.get_weights()
    return kernel, recurrent, bias


def lstm_weights_from_torch(module) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """torch ``nn.LSTM(batch_first=True)`` -> (wx (D, 4H), wh (H, 4H), b (4H,)), order i, f, g, o kept."""
    _single_layer(module, "LSTM")
    if getattr(module, "proj_size", 0):
        raise ValueError(f"module must have proj_size=0, got {module.proj_size}")
    return _np(module.weight_ih_l0).T.copy(), _np(module.weight_hh_l0).T.copy(), _np(module.bias_ih_l0) + _np(module.bias_hh_l0)


def lstm_weights_from_keras(layer) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keras ``LSTM`` -> (wx (D, 4H), wh (H, 4H), b (4H,)): Keras's i, f, c, o is already our i, f, g, o."""
    kernel, recurrent, bias = layer.get_weights()
    return kernel, recurrent, bias


def gru_weights_from_torch(module) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """torch ``nn.GRU(batch_first=True)`` -> (wx (D, 3H), wh (H, 3H), bx (3H,), bh (3H,)), order r, z, n kept."""
    _single_layer(module, "GRU")
    return _np(module.weight_ih_l0).T.copy(), _np(module.weight_hh_l0).T.copy(), _np(module.bias_ih_l0), _np(module.bias_hh_l0)


def _zr_to_rz(a: np.ndarray) -> np.ndarray:
    """Reorder the gate blocks on the last axis from Keras z, r, h to torch r, z, n."""
    z, r, h = np.split(a, 3, axis=-1)
    return np.concatenate([r, z, h], axis=-1)


def gru_weights_from_keras(layer) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Keras ``GRU(reset_after=True)`` -> (wx (D, 3H), wh (H, 3H), bx (3H,), bh (3H,)), reordered z, r, h -> r, z, n."""
    if not getattr(layer, "reset_after", True):
        raise ValueError(
            "layer must be built with reset_after=True (torch's GRU, r applied after the recurrent matmul); "
            "reset_after=False is a different recurrence"
        )
    kernel, recurrent, bias = layer.get_weights()  # bias (2, 3H): input row, recurrent row
    return _zr_to_rz(kernel), _zr_to_rz(recurrent), _zr_to_rz(bias[0]), _zr_to_rz(bias[1])
