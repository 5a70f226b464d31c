"""Vanishing and exploding gradients in recurrent networks: ‖∂L/∂h_t‖ for every time step t (chapter 05).

The set-up: run a vanilla RNN or an LSTM over T steps, take a loss that reads
only the last state, L = Σ h_T ⊙ g for a fixed g (N, H), and ask how strongly
L depends on each earlier state h_t. By the chain rule,

    ∂L/∂h_t = ∂L/∂h_T · ∂h_T/∂h_{T-1} ··· ∂h_{t+1}/∂h_t,

a product of T - t Jacobians. For the vanilla RNN each is
diag(1 - h_k²) Uᵀ, so the product shrinks or grows roughly like ‖U‖^(T-t):
vanishing for small recurrent weights, exploding for large ones. The LSTM
adds a second state, the cell c_t, whose Jacobian along the cell path is
just diag(f_t), the forget gate: with the gate open (f close to 1) the
gradient survives many steps.

How it is computed, reusing the tested BPTT of :mod:`mmcourse.numpy_nn.rnn`:
∂L/∂h_t is the gradient with respect to the *initial* state of the rest of
the sequence, steps t+1..T, started from h_t. So one forward pass gives
every h_t, and one short backward pass per t gives its gradient (O(T²)
steps in all, instant for T of a few hundred).
"""
from __future__ import annotations

import numpy as np

from mmcourse.numpy_nn import lstm_backward, lstm_forward, rnn_backward, rnn_forward
from mmcourse.numpy_nn import _checks

GATES = {"rnn": 1, "lstm": 4}


def _orthogonal(rng: np.random.Generator, size: int) -> np.ndarray:
    """A random orthogonal (size, size) matrix (QR of a Gaussian one, signs fixed so it is uniform)."""
    q, r = np.linalg.qr(rng.standard_normal((size, size)))
    return q * np.sign(np.diag(r))


def random_recurrent_weights(cell: str, n_inputs: int, hidden_size: int, recurrent_scale: float,
                             forget_bias: float = 0.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random weights (wx (D, kH), wh (H, kH), b (kH,)) in float64 for ``rnn_forward`` (k=1) or ``lstm_forward`` (k=4).

    wx is Gaussian with variance 1/D. Each gate's block of wh is
    ``recurrent_scale`` times a random orthogonal matrix, so every singular
    value of it equals ``recurrent_scale``: below 1 the linear part of the
    recurrence shrinks the state, above 1 it stretches it. b is zero, except
    the LSTM's forget-gate block (i, f, g, o order), which is ``forget_bias``.
    """
    if cell not in GATES:
        raise ValueError(f"cell must be one of {sorted(GATES)}, got {cell!r}")
    n_inputs = _checks.integer("n_inputs", n_inputs, 1)
    hidden_size = _checks.integer("hidden_size", hidden_size, 1)
    if isinstance(recurrent_scale, bool) or not isinstance(recurrent_scale, (int, float)) or not recurrent_scale > 0:
        raise ValueError(f"recurrent_scale must be a positive number, got {recurrent_scale!r}")
    if forget_bias and cell != "lstm":
        raise ValueError(f"forget_bias applies to cell='lstm' only, got cell={cell!r}")
    k = GATES[cell]
    rng = np.random.default_rng(seed)
    wx = rng.standard_normal((n_inputs, k * hidden_size)) / np.sqrt(n_inputs)  # (D, kH)
    wh = np.concatenate([recurrent_scale * _orthogonal(rng, hidden_size) for _ in range(k)], axis=1)  # (H, kH)
    b = np.zeros(k * hidden_size)  # (kH,)
    if cell == "lstm":
        b[hidden_size : 2 * hidden_size] = forget_bias
    return wx, wh, b


def _last_step_dh(dh_last: np.ndarray, t_rest: int) -> np.ndarray:
    """dL/dh for every step of a t_rest-step sequence when only its last step is read: (N, t_rest, H)."""
    dh = np.zeros((dh_last.shape[0], t_rest, dh_last.shape[1]), dtype=dh_last.dtype)
    dh[:, -1] = dh_last
    return dh


def _check_dh_last(dh_last: np.ndarray, hs: np.ndarray) -> None:
    _checks.float_array("dh_last", dh_last, 2, "(N, H)", like=("x", hs))
    _checks.same_shape("dh_last", dh_last, (hs.shape[0], hs.shape[2]), "N of x and H of wh")


def rnn_state_gradients(x: np.ndarray, h0: np.ndarray, wx: np.ndarray, wh: np.ndarray, b: np.ndarray,
                        dh_last: np.ndarray) -> np.ndarray:
    """∂L/∂h_t for t = 0..T, (N, T + 1, H), of a vanilla RNN with L = Σ h_T ⊙ dh_last.

    x (N, T, D), h0 (N, H), wx (D, H), wh (H, H), b (H,) as in
    ``rnn_forward``; dh_last (N, H). Entry t = 0 is the gradient with
    respect to h0, entry T is dh_last itself.
    """
    hs, _ = rnn_forward(x, h0, wx, wh, b)  # (N, T, H); also validates every argument
    _check_dh_last(dh_last, hs)
    steps = x.shape[1]
    grads = np.empty((x.shape[0], steps + 1, wh.shape[0]), dtype=x.dtype)  # (N, T+1, H)
    grads[:, steps] = dh_last
    for t in range(steps):
        start = h0 if t == 0 else hs[:, t - 1]  # h_t
        _, cache = rnn_forward(x[:, t:], start, wx, wh, b)  # steps t+1..T from h_t
        grads[:, t] = rnn_backward(_last_step_dh(dh_last, steps - t), cache)[1]  # dL/d(initial state)
    return grads


def lstm_state_gradients(x: np.ndarray, h0: np.ndarray, c0: np.ndarray, wx: np.ndarray, wh: np.ndarray,
                         b: np.ndarray, dh_last: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(∂L/∂h_t, ∂L/∂c_t) for t = 0..T, each (N, T + 1, H), of an LSTM with L = Σ h_T ⊙ dh_last.

    Arguments as in ``lstm_forward``. The state handed from step t to step
    t + 1 is the pair (h_t, c_t), and these are the partial derivatives with
    respect to each, the other held fixed: ∂L/∂c_t is what reaches c_t from
    the later steps, along the cell path and through the gates. (Autograd's
    total gradient at c_t also counts the path c_t -> h_t = o_t ⊙ tanh(c_t).)
    L reads h_T only, so ∂L/∂c_T = 0.
    """
    hs, cache = lstm_forward(x, h0, c0, wx, wh, b)  # (N, T, H); also validates every argument
    _check_dh_last(dh_last, hs)
    cs = cache[7]  # (T, N, H), time-major: the cell states
    steps = x.shape[1]
    dhs = np.empty((x.shape[0], steps + 1, wh.shape[0]), dtype=x.dtype)  # (N, T+1, H)
    dcs = np.zeros_like(dhs)
    dhs[:, steps] = dh_last
    for t in range(steps):
        h_start, c_start = (h0, c0) if t == 0 else (hs[:, t - 1], cs[t - 1])  # (h_t, c_t)
        _, rest = lstm_forward(x[:, t:], h_start, c_start, wx, wh, b)  # steps t+1..T
        grads = lstm_backward(_last_step_dh(dh_last, steps - t), rest)
        dhs[:, t], dcs[:, t] = grads[1], grads[2]
    return dhs, dcs


def gradient_norms(grads: np.ndarray) -> np.ndarray:
    """Mean over the batch of the L2 norm per step: grads (N, T + 1, H) -> (T + 1,)."""
    _checks.float_array("grads", grads, 3, "(N, T + 1, H)")
    return np.linalg.norm(grads, axis=2).mean(axis=0)
