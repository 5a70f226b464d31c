"""Vanilla RNN, LSTM (forward and BPTT) and GRU (forward) in NumPy, batch-first like ``batch_first=True``.

Shapes: x (N, T, D) is N sequences of T steps of D features; hidden size H.
Weights are stored the way the maths reads, x_t W (row vector times matrix):
input weights (D, k·H), recurrent weights (H, k·H), with the k gates stacked
side by side along the last axis.

Speed comes from doing everything that does not depend on h_{t-1} outside the
time loop: x_t W_x for all T steps is one (N·T, D) @ (D, k·H) matmul before the
loop, and in BPTT the weight gradients are one matmul each after it. Only the
recurrence itself, h_{t-1} W_h, runs step by step.

Framework layouts (the usual source of silent bugs when copying weights):

==============  ===================  ==================  ====================  =====================
layer           torch weight_ih_l0   torch weight_hh_l0  Keras kernel          Keras recurrent_kernel
==============  ===================  ==================  ====================  =====================
SimpleRNN/RNN   (H, D)               (H, H)              (D, H)                (H, H)
LSTM            (4H, D): i, f, g, o  (4H, H)             (D, 4H): i, f, c, o   (H, 4H)
GRU             (3H, D): r, z, n     (3H, H)             (D, 3H): z, r, h      (H, 3H)
==============  ===================  ==================  ====================  =====================

torch stores (out, in) and computes x Wᵀ, so its matrices are the transpose
of ours; Keras stores (in, out) like us. torch has two biases, b_ih and b_hh;
for RNN and LSTM only their sum matters. The LSTM gate order is the same in
both (Keras calls the candidate ``c`` what torch calls ``g``), but the GRU
order is not: torch is r, z, n and Keras is z, r, h. :mod:`.convert` does
these conversions.
"""
from __future__ import annotations

import numpy as np

from . import _checks
from .core import sigmoid


def _check_sequence(x, states: dict, wx, wh, gates: int) -> tuple[int, int, int, int]:
    """Validate x (N, T, D), the initial states {name: (N, H)}, wx (D, gates*H), wh (H, gates*H); return N, T, D, H."""
    _checks.float_array("x", x, 3, "(N, T, D)")
    n, t, d = x.shape
    if t < 1:
        raise ValueError(f"x must have at least one time step, got shape {x.shape}")
    what = f"{gates}*H" if gates > 1 else "H"
    _checks.float_array("wh", wh, 2, f"(H, {what})", like=("x", x))
    h = wh.shape[0]
    _checks.same_shape("wh", wh, (h, gates * h), f"(H, {what}) with H = wh.shape[0]")
    _checks.float_array("wx", wx, 2, f"(D, {what})", like=("x", x))
    _checks.same_shape("wx", wx, (d, gates * h), f"(D, {what}) with D = x.shape[2] and H = wh.shape[0]")
    for name, state in states.items():
        _checks.float_array(name, state, 2, "(N, H)", like=("x", x))
        _checks.same_shape(name, state, (n, h), "N of x and H of wh")
    return n, t, d, h


def _check_dh(dh: np.ndarray, hs: np.ndarray) -> np.ndarray:
    """Validate dh (N, T, H) against the time-major states (T, N, H); return it time-major."""
    _checks.float_array("dh", dh, 3, "(N, T, H)", like=("x", hs))
    _checks.same_shape("dh", dh, (hs.shape[1], hs.shape[0], hs.shape[2]), "the forward output (N, T, H)")
    return dh.transpose(1, 0, 2)  # (T, N, H), a view


def _input_projection(x: np.ndarray, wx: np.ndarray, b: np.ndarray) -> np.ndarray:
    """x_t Wx + b for every step in one matmul: x (N, T, D) -> (T, N, k*H), time-major."""
    n, t, d = x.shape
    xw = x.transpose(1, 0, 2).reshape(t * n, d) @ wx  # (T*N, k*H)
    xw += b
    return xw.reshape(t, n, -1)  # (T, N, k*H)


def _batch_first(a: np.ndarray) -> np.ndarray:
    """A time-major array (T, N, ·) as a contiguous batch-first one (N, T, ·)."""
    return np.ascontiguousarray(a.transpose(1, 0, 2))  # (T, N, ·) -> (N, T, ·)


def _weight_grads(x: np.ndarray, h0: np.ndarray, hs: np.ndarray, da: np.ndarray, wx: np.ndarray):
    """After the BPTT loop: dx, dwx, dwh, db from the pre-activation gradients da (T, N, k*H), one matmul each."""
    t, n, _ = da.shape
    d = x.shape[2]
    da2 = da.reshape(t * n, -1)  # (T*N, k*H)
    x2 = x.transpose(1, 0, 2).reshape(t * n, d)  # (T*N, D)
    h_prev = np.concatenate([h0[None], hs[:-1]]).reshape(t * n, -1)  # (T*N, H): h_{t-1} for every step
    dx = (da2 @ wx.T).reshape(t, n, d).transpose(1, 0, 2)  # (N, T, D)
    return np.ascontiguousarray(dx), x2.T @ da2, h_prev.T @ da2, da2.sum(axis=0)


def rnn_forward(x: np.ndarray, h0: np.ndarray, wx: np.ndarray, wh: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, tuple]:
    """h_t = tanh(x_t Wx + h_{t-1} Wh + b) for x (N, T, D), h0 (N, H), Wx (D, H), Wh (H, H), b (H,).

    Returns all hidden states hs (N, T, H) and cache. Equals
    ``torch.nn.RNN(D, H, batch_first=True)`` with Wx = weight_ih_l0ᵀ,
    Wh = weight_hh_l0ᵀ, b = bias_ih_l0 + bias_hh_l0, and Keras ``SimpleRNN(H,
    return_sequences=True)``. An output layer y_t = h_t V + c is
    :func:`.core.linear_forward` on hs.
    """
    n, t, d, h = _check_sequence(x, {"h0": h0}, wx, wh, 1)
    _checks.float_array("b", b, 1, "(H,)", like=("x", x))
    _checks.same_shape("b", b, (h,), "H of wh")
    hs = _input_projection(x, wx, b)  # (T, N, H), x_t Wx + b; overwritten in place by h_t
    prev = h0
    for s in range(t):
        hs[s] += prev @ wh
        np.tanh(hs[s], out=hs[s])
        prev = hs[s]
    return _batch_first(hs), (x, h0, wx, wh, hs)


def rnn_backward(dh: np.ndarray, cache: tuple) -> tuple[np.ndarray, ...]:
    """Backpropagation through time for dh = dL/dh_t (N, T, H), the loss gradient at every step.

    Returns dx (N, T, D), dh0 (N, H), dWx (D, H), dWh (H, H), db (H,). With
    a_t the pre-activation, dL/da_t = (dh_t + dL/dh_t via h_{t+1}) ⊙ (1 - h_t²)
    and dL/dh_{t-1} (through the recurrence) = dL/da_t Whᵀ.
    """
    x, h0, wx, wh, hs = cache
    dh_tm = _check_dh(dh, hs)  # (T, N, H)
    da = 1 - hs * hs  # (T, N, H): tanh' for every step, vectorised; becomes dL/da
    carry = np.zeros_like(h0)  # dL/dh_t arriving from step t+1
    for s in range(hs.shape[0] - 1, -1, -1):
        da[s] *= dh_tm[s] + carry
        carry = da[s] @ wh.T
    dx, dwx, dwh, db = _weight_grads(x, h0, hs, da, wx)
    return dx, carry, dwx, dwh, db


def lstm_forward(
    x: np.ndarray, h0: np.ndarray, c0: np.ndarray, wx: np.ndarray, wh: np.ndarray, b: np.ndarray
) -> tuple[np.ndarray, tuple]:
    """LSTM over x (N, T, D) from h0, c0 (N, H); Wx (D, 4H), Wh (H, 4H), b (4H,), gates in order i, f, g, o.

    Returns hs (N, T, H) and cache. Per step, with a = x_t Wx + h_{t-1} Wh + b
    split into four (N, H) blocks::

        i = σ(a_i)  f = σ(a_f)  g = tanh(a_g)  o = σ(a_o)
        c_t = f ⊙ c_{t-1} + i ⊙ g          h_t = o ⊙ tanh(c_t)

    Equals ``torch.nn.LSTM(D, H, batch_first=True)`` and Keras ``LSTM(H,
    return_sequences=True)`` (whose order i, f, c, o is the same) once the
    weights are converted (:func:`.convert.lstm_weights_from_torch`,
    :func:`.convert.lstm_weights_from_keras`).
    """
    n, t, d, h = _check_sequence(x, {"h0": h0, "c0": c0}, wx, wh, 4)
    _checks.float_array("b", b, 1, "(4*H,)", like=("x", x))
    _checks.same_shape("b", b, (4 * h,), "4*H, H = wh.shape[0]")
    gates = _input_projection(x, wx, b)  # (T, N, 4H), x_t Wx + b; becomes the activated gates
    hs = np.empty((t, n, h), dtype=x.dtype)
    cs = np.empty((t, n, h), dtype=x.dtype)
    h_prev, c_prev = h0, c0
    for s in range(t):
        a = gates[s]  # (N, 4H), a view: activated in place
        a += h_prev @ wh
        a[:, : 2 * h] = sigmoid(a[:, : 2 * h])  # i, f
        np.tanh(a[:, 2 * h : 3 * h], out=a[:, 2 * h : 3 * h])  # g
        a[:, 3 * h :] = sigmoid(a[:, 3 * h :])  # o
        i, f, g, o = a[:, :h], a[:, h : 2 * h], a[:, 2 * h : 3 * h], a[:, 3 * h :]
        cs[s] = f * c_prev + i * g
        hs[s] = o * np.tanh(cs[s])
        h_prev, c_prev = hs[s], cs[s]
    return _batch_first(hs), (x, h0, c0, wx, wh, gates, hs, cs)


def lstm_backward(dh: np.ndarray, cache: tuple) -> tuple[np.ndarray, ...]:
    """BPTT through the LSTM for dh = dL/dh_t (N, T, H).

    Returns dx (N, T, D), dh0 (N, H), dc0 (N, H), dWx (D, 4H), dWh (H, 4H),
    db (4H,). The cell state is the LSTM's gradient highway: dL/dc_{t-1} =
    dL/dc_t ⊙ f, with no squashing derivative in between.
    """
    x, h0, c0, wx, wh, gates, hs, cs = cache
    dh_tm = _check_dh(dh, hs)  # (T, N, H)
    t, _, h = hs.shape
    da = np.empty_like(gates)  # (T, N, 4H): dL/d(pre-activation), gate order i, f, g, o
    dh_carry = np.zeros_like(h0)  # dL/dh_t arriving from step t+1
    dc_carry = np.zeros_like(c0)  # dL/dc_t arriving from step t+1
    for s in range(t - 1, -1, -1):
        a = gates[s]
        i, f, g, o = a[:, :h], a[:, h : 2 * h], a[:, 2 * h : 3 * h], a[:, 3 * h :]
        c_prev = cs[s - 1] if s else c0
        tanh_c = np.tanh(cs[s])
        dh_s = dh_tm[s] + dh_carry
        dc = dc_carry + dh_s * o * (1 - tanh_c * tanh_c)
        da[s, :, :h] = dc * g * i * (1 - i)  # through i = σ(a_i)
        da[s, :, h : 2 * h] = dc * c_prev * f * (1 - f)  # through f = σ(a_f)
        da[s, :, 2 * h : 3 * h] = dc * i * (1 - g * g)  # through g = tanh(a_g)
        da[s, :, 3 * h :] = dh_s * tanh_c * o * (1 - o)  # through o = σ(a_o)
        dc_carry = dc * f
        dh_carry = da[s] @ wh.T
    dx, dwx, dwh, db = _weight_grads(x, h0, hs, da, wx)
    return dx, dh_carry, dc_carry, dwx, dwh, db


def gru_forward(
    x: np.ndarray, h0: np.ndarray, wx: np.ndarray, wh: np.ndarray, bx: np.ndarray, bh: np.ndarray
) -> np.ndarray:
    """GRU over x (N, T, D) from h0 (N, H); Wx (D, 3H), Wh (H, 3H), bx, bh (3H,), gates in torch's order r, z, n.

    Returns hs (N, T, H) (forward only; the backward pass is an exercise). Per step::

        r = σ(x_t W_ir + b_ir + h_{t-1} W_hr + b_hr)        reset gate
        z = σ(x_t W_iz + b_iz + h_{t-1} W_hz + b_hz)        update gate
        n = tanh(x_t W_in + b_in + r ⊙ (h_{t-1} W_hn + b_hn))
        h_t = (1 - z) ⊙ n + z ⊙ h_{t-1}

    The reset gate multiplies h_{t-1} W_hn + b_hn *after* the matmul, which
    is why the two biases cannot be summed as in the LSTM. This is
    ``torch.nn.GRU`` and Keras ``GRU(reset_after=True)`` (the Keras 3
    default); ``reset_after=False`` is the original paper's GRU, with
    r ⊙ h_{t-1} inside the matmul, and gives different numbers.
    """
    n, t, d, h = _check_sequence(x, {"h0": h0}, wx, wh, 3)
    for name, bias in (("bx", bx), ("bh", bh)):
        _checks.float_array(name, bias, 1, "(3*H,)", like=("x", x))
        _checks.same_shape(name, bias, (3 * h,), "3*H, H = wh.shape[0]")
    xw = _input_projection(x, wx, bx)  # (T, N, 3H), x_t W_i + b_i
    hs = np.empty((t, n, h), dtype=x.dtype)
    prev = h0
    for s in range(t):
        hw = prev @ wh + bh  # (N, 3H), h_{t-1} W_h + b_h
        rz = sigmoid(xw[s, :, : 2 * h] + hw[:, : 2 * h])  # (N, 2H): r, z
        r, z = rz[:, :h], rz[:, h:]
        cand = np.tanh(xw[s, :, 2 * h :] + r * hw[:, 2 * h :])  # (N, H): n
        hs[s] = (1 - z) * cand + z * prev
        prev = hs[s]
    return _batch_first(hs)
