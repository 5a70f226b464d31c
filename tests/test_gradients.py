"""mmcourse.experiments.gradients: per-step state gradients agree with PyTorch autograd and show vanishing and exploding."""
import numpy as np
import pytest
import torch

from mmcourse.experiments.gradients import (gradient_norms, lstm_state_gradients, random_recurrent_weights,
                                rnn_state_gradients)

N, T, D, H = 3, 7, 4, 5
RNG = np.random.default_rng(0)
X = RNG.normal(size=(N, T, D))
G = RNG.normal(size=(N, H))
ZEROS = np.zeros((N, H))


def _torch_rnn_grads(x, h0, wx, wh, b, g):
    """∂L/∂h_t for t = 0..T by autograd, unrolling h_t = tanh(x_t Wx + h_{t-1} Wh + b)."""
    wx, wh, b, g = (torch.from_numpy(a) for a in (wx, wh, b, g))
    states = [torch.tensor(h0, requires_grad=True)]
    for t in range(x.shape[1]):
        states.append(torch.tanh(torch.from_numpy(x[:, t]) @ wx + states[-1] @ wh + b))
        states[-1].retain_grad()
    (states[-1] * g).sum().backward()
    return np.stack([s.grad.numpy() for s in states], axis=1)


def test_rnn_state_gradients_match_torch_autograd_at_every_step():
    wx, wh, b = random_recurrent_weights("rnn", D, H, recurrent_scale=1.3, seed=1)
    h0 = RNG.normal(size=(N, H))
    ours = rnn_state_gradients(X, h0, wx, wh, b, G)
    assert ours.shape == (N, T + 1, H)
    np.testing.assert_allclose(ours, _torch_rnn_grads(X, h0, wx, wh, b, G), rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(ours[:, -1], G)


def test_lstm_state_gradients_match_torch_autograd_with_the_path_through_h_removed():
    wx, wh, b = random_recurrent_weights("lstm", D, H, recurrent_scale=0.8, forget_bias=1.0, seed=2)
    wxt, wht, bt, gt = (torch.from_numpy(a) for a in (wx, wh, b, G))
    h = torch.zeros(N, H, dtype=torch.float64, requires_grad=True)
    c = torch.zeros(N, H, dtype=torch.float64, requires_grad=True)
    hs, cs, os_ = [h], [c], [None]
    for t in range(T):
        i, f, g, o = (hs[-1] @ wht + torch.from_numpy(X[:, t]) @ wxt + bt).chunk(4, dim=1)
        c = torch.sigmoid(f) * cs[-1] + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        h.retain_grad()
        c.retain_grad()
        hs.append(h)
        cs.append(c)
        os_.append(torch.sigmoid(o).detach())
    (hs[-1] * gt).sum().backward()
    dh, dc = lstm_state_gradients(X, ZEROS, ZEROS, wx, wh, b, G)
    np.testing.assert_allclose(dh, np.stack([s.grad.numpy() for s in hs], axis=1), rtol=1e-10, atol=1e-12)
    # autograd's c_t.grad also counts c_t -> h_t = o_t tanh(c_t); the state gradient holds h_t fixed
    for t in range(1, T + 1):
        through_h = hs[t].grad * os_[t] * (1 - torch.tanh(cs[t].detach()) ** 2)
        np.testing.assert_allclose(dc[:, t], (cs[t].grad - through_h).numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(dc[:, 0], cs[0].grad.numpy(), rtol=1e-10, atol=1e-12)  # c_0 does not feed h_0
    np.testing.assert_array_equal(dc[:, -1], 0.0)


def test_small_recurrent_weights_vanish_and_large_ones_explode():
    x = np.random.default_rng(3).normal(size=(8, 40, D))
    g = np.random.default_rng(4).normal(size=(8, 16))
    zeros = np.zeros((8, 16))
    norms = {}
    for scale in (0.5, 3.0):
        wx, wh, b = random_recurrent_weights("rnn", D, 16, recurrent_scale=scale)
        norms[scale] = gradient_norms(rnn_state_gradients(x, zeros, wx, wh, b, g))
    assert norms[0.5][0] < 1e-10 * norms[0.5][-1]
    assert norms[3.0][0] > 100 * norms[3.0][-1]


def test_an_open_forget_gate_keeps_the_lstm_gradient_alive():
    x = np.random.default_rng(3).normal(size=(8, 40, D))
    g = np.random.default_rng(4).normal(size=(8, 16))
    zeros = np.zeros((8, 16))
    first = {}
    for forget_bias in (0.0, 3.0):
        wx, wh, b = random_recurrent_weights("lstm", D, 16, recurrent_scale=0.5, forget_bias=forget_bias)
        first[forget_bias] = gradient_norms(lstm_state_gradients(x, zeros, zeros, wx, wh, b, g)[0])[0]
    assert first[3.0] > 1e4 * first[0.0]


def test_random_recurrent_weights_have_the_promised_singular_values_and_forget_bias():
    wx, wh, b = random_recurrent_weights("lstm", 6, 4, recurrent_scale=0.7, forget_bias=2.0, seed=5)
    assert (wx.shape, wh.shape, b.shape) == ((6, 16), (4, 16), (16,))
    for block in np.split(wh, 4, axis=1):
        np.testing.assert_allclose(np.linalg.svd(block, compute_uv=False), 0.7, rtol=1e-12)
    np.testing.assert_array_equal(b, np.r_[np.zeros(4), np.full(4, 2.0), np.zeros(8)])
    again = random_recurrent_weights("lstm", 6, 4, recurrent_scale=0.7, forget_bias=2.0, seed=5)
    assert all(np.array_equal(a, c) for a, c in zip((wx, wh, b), again))


def test_gradient_norms_average_the_l2_norm_over_the_batch():
    grads = np.zeros((2, 3, 2))
    grads[0, :, 0] = [3.0, 0.0, 1.0]
    grads[1, :, 1] = [4.0, 2.0, 1.0]
    np.testing.assert_allclose(gradient_norms(grads), [3.5, 1.0, 1.0])


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"cell": "gru"}, "cell must be one of"),
    ({"recurrent_scale": 0.0}, "recurrent_scale must be a positive number"),
    ({"cell": "rnn", "forget_bias": 1.0}, "forget_bias applies to cell='lstm' only"),
])
def test_random_recurrent_weights_reject_bad_arguments(kwargs, message):
    args = {"cell": "lstm", "n_inputs": 3, "hidden_size": 2, "recurrent_scale": 1.0} | kwargs
    with pytest.raises(ValueError, match=message):
        random_recurrent_weights(**args)


def test_state_gradients_reject_a_dh_last_of_the_wrong_shape():
    wx, wh, b = random_recurrent_weights("rnn", D, H, recurrent_scale=1.0)
    with pytest.raises(ValueError, match=r"dh_last must have shape \(3, 5\)"):
        rnn_state_gradients(X, ZEROS, wx, wh, b, G[:, :2])
    wx, wh, b = random_recurrent_weights("lstm", D, H, recurrent_scale=1.0)
    with pytest.raises(TypeError, match="dh_last has dtype float32"):
        lstm_state_gradients(X, ZEROS, ZEROS, wx, wh, b, G.astype(np.float32))
