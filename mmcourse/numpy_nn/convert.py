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
* MultiheadAttention: torch packs Wq, Wk, Wv as the rows of one
  ``in_proj_weight`` (3D, D), in that order, each (out, in). Keras keeps one
  EinsumDense per projection with the heads as their own axis: kernels
  (D, heads, head_dim), biases (heads, head_dim), output kernel
  (heads, head_dim, D). Flattening (heads, head_dim) head-major gives our
  (D, D) columns, head i owning columns i·head_dim .. (i+1)·head_dim.
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


def _zeros_if_none(tensor, size: int, like: np.ndarray) -> np.ndarray:
    """A torch bias as NumPy, or zeros (size,) when the module was built with bias=False."""
    return np.zeros(size, dtype=like.dtype) if tensor is None else _np(tensor)


def mha_weights_from_torch(module) -> dict[str, np.ndarray]:
    """torch ``nn.MultiheadAttention`` -> params {Wq, Wk, Wv, Wo (D, D); bq, bk, bv, bo (D,)}.

    ``in_proj_weight`` (3D, D) is split into its q, k, v row blocks and each is
    transposed (torch computes x Wᵀ); ``in_proj_bias`` (3D,) splits the same way.
    """
    if not getattr(module, "_qkv_same_embed_dim", False):
        raise ValueError(
            f"module must have kdim = vdim = embed_dim (one packed in_proj_weight), got {module!r} "
            f"with kdim={module.kdim}, vdim={module.vdim}"
        )
    if module.bias_k is not None or module.add_zero_attn:
        raise ValueError(
            "module must be built with add_bias_kv=False and add_zero_attn=False (extra keys the NumPy layer has not)"
        )
    d = module.embed_dim
    w = _np(module.in_proj_weight)  # (3D, D), rows q, k, v
    b = _zeros_if_none(module.in_proj_bias, 3 * d, w)  # (3D,)
    wq, wk, wv = (block.T.copy() for block in np.split(w, 3))
    bq, bk, bv = (block.copy() for block in np.split(b, 3))
    wo, bo = _np(module.out_proj.weight).T.copy(), _zeros_if_none(module.out_proj.bias, d, w)
    return {"Wq": wq, "Wk": wk, "Wv": wv, "bq": bq, "bk": bk, "bv": bv, "Wo": wo, "bo": bo}


def mha_weights_from_keras(layer) -> dict[str, np.ndarray]:
    """Keras ``MultiHeadAttention(num_heads, key_dim)`` -> params; needs num_heads · key_dim = D and value_dim = key_dim.

    Kernels (D, heads, head_dim) become (D, D), biases (heads, head_dim)
    become (D,), the output kernel (heads, head_dim, D) becomes (D, D). The
    layer must be built (called once, or ``layer.build(query_shape, value_shape)``).
    """
    if not layer.built:
        raise ValueError("layer must be built first: call it once or layer.build(query_shape, value_shape)")
    if getattr(layer, "_use_gate", False):
        raise ValueError("layer must be built with use_gate=False (a gated output the NumPy layer has not)")
    if layer.value_dim != layer.key_dim:
        raise ValueError(
            f"layer must have value_dim = key_dim, got value_dim={layer.value_dim} and key_dim={layer.key_dim}"
        )
    kernel = layer.query_dense.kernel
    d, h, head_dim = kernel.shape
    if h * head_dim != d:
        raise ValueError(
            f"layer must have num_heads * key_dim = D (params are (D, D)), got {h} * {head_dim} != D = {d}"
        )
    params = {}
    for name, dense in (("q", layer.query_dense), ("k", layer.key_dense), ("v", layer.value_dense)):
        weights = dense.get_weights()  # [kernel (D, h, head_dim), bias (h, head_dim)] or [kernel]
        params[f"W{name}"] = weights[0].reshape(d, d)
        params[f"b{name}"] = weights[1].reshape(d) if len(weights) > 1 else np.zeros(d, dtype=weights[0].dtype)
    weights = layer.output_dense.get_weights()  # [kernel (h, head_dim, D), bias (D,)] or [kernel]
    if weights[0].shape[-1] != d:
        raise ValueError(f"layer must have output_shape = D = {d}, got an output kernel of shape {weights[0].shape}")
    params["Wo"] = weights[0].reshape(d, d)
    params["bo"] = weights[1] if len(weights) > 1 else np.zeros(d, dtype=weights[0].dtype)
    return {name: params[name] for name in ("Wq", "Wk", "Wv", "bq", "bk", "bv", "Wo", "bo")}


def mha_weights_to_keras(params: dict[str, np.ndarray], num_heads: int) -> list[np.ndarray]:
    """params -> the 8 arrays of Keras ``MultiHeadAttention(num_heads, D // num_heads).set_weights``.

    Order q, k, v, output, each kernel then bias: (D, h, d), (h, d) three
    times, then (h, d, D), (D,).
    """
    d = params["Wq"].shape[0]
    if isinstance(num_heads, bool) or not isinstance(num_heads, int) or num_heads < 1 or d % num_heads:
        raise ValueError(f"num_heads must be a positive int that divides D = {d}, got {num_heads!r}")
    h, head_dim = num_heads, d // num_heads
    out = []
    for name in ("q", "k", "v"):
        out += [params[f"W{name}"].reshape(d, h, head_dim), params[f"b{name}"].reshape(h, head_dim)]
    return out + [params["Wo"].reshape(h, head_dim, d), params["bo"]]
