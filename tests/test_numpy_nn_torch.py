"""The NumPy layers equal PyTorch's, forward and every gradient, in float64 (1e-6) and float32 (1e-4).

Gradients are compared by pushing the same random upstream gradient dout
through both: ``torch.autograd.grad(out, inputs, dout)`` against our
``*_backward(dout, cache)``.
"""
import mmcourse  # noqa: F401  (environment defaults before the frameworks load)
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import mmcourse.numpy_nn as nn

DTYPES = [np.float64, np.float32]
TOL = {np.float64: 1e-6, np.float32: 1e-4}


def assert_close(actual, expected, dtype):
    expected = expected.detach().numpy() if isinstance(expected, torch.Tensor) else expected
    assert actual.dtype == dtype
    np.testing.assert_allclose(actual, expected, rtol=TOL[dtype], atol=TOL[dtype])


def leaf(a):
    return torch.tensor(a, requires_grad=True)


def torch_grads(out, inputs, dout):
    return torch.autograd.grad(out, inputs, torch.tensor(dout))


def check_conv2d(rng, dtype, x_shape, w_shape, stride, padding, dilation):
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal(w_shape).astype(dtype)
    b = rng.standard_normal(w_shape[0]).astype(dtype)
    out, cache = nn.conv2d_forward(x, w, b, stride=stride, padding=padding, dilation=dilation)
    xt, wt, bt = leaf(x), leaf(w), leaf(b)
    out_t = F.conv2d(xt, wt, bt, stride=stride, padding=padding, dilation=dilation)
    assert out.shape == tuple(out_t.shape)
    assert_close(out, out_t, dtype)
    dout = rng.standard_normal(out.shape).astype(dtype)
    for ours, theirs in zip(nn.conv2d_backward(dout, cache), torch_grads(out_t, (xt, wt, bt), dout)):
        assert_close(ours, theirs, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    ("x_shape", "w_shape", "stride", "padding", "dilation"),
    [
        ((1, 1, 5, 5), (1, 1, 3, 3), 1, 0, 1),  # batch 1, one channel, one filter
        ((2, 3, 8, 8), (4, 3, 3, 3), 1, 1, 1),  # "same" padding
        ((2, 3, 9, 9), (4, 3, 3, 3), 2, 1, 1),  # stride 2 with padding
        ((3, 2, 7, 10), (5, 2, 2, 3), 1, 0, 1),  # non-square kernel, odd input
        ((2, 2, 11, 9), (3, 2, 3, 3), 1, 2, 2),  # dilation with padding
        ((2, 3, 9, 12), (2, 3, 3, 2), (2, 1), (1, 0), (1, 3)),  # every setting different per axis
        ((2, 1, 4, 4), (3, 1, 4, 4), 1, 0, 1),  # kernel as big as the input: 1x1 output
    ],
)
def test_conv2d_matches_torch_for_stride_and_padding(dtype, x_shape, w_shape, stride, padding, dilation):
    check_conv2d(np.random.default_rng(0), dtype, x_shape, w_shape, stride, padding, dilation)


@st.composite
def conv_geometry(draw):
    """A conv2d whose output size is an integer: draw the output size and derive the input size."""
    n, c, f = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 4))
    k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    p = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    d = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    out = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    size = tuple((o - 1) * s_ + d_ * (k_ - 1) + 1 - 2 * p_ for o, s_, d_, k_, p_ in zip(out, s, d, k, p))
    assume(min(size) >= 1)
    return (n, c, *size), (f, c, *k), s, p, d


@settings(max_examples=25, deadline=None)
@given(geometry=conv_geometry(), dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**16))
def test_conv2d_forward_and_gradients_match_torch_for_random_geometry(geometry, dtype, seed):
    check_conv2d(np.random.default_rng(seed), dtype, *geometry)


@st.composite
def pool_geometry(draw):
    n, c = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    k = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    out = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    return (n, c, *((o - 1) * s_ + k_ for o, s_, k_ in zip(out, s, k))), k, s


@settings(max_examples=25, deadline=None)
@given(geometry=pool_geometry(), dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**16))
def test_pools_match_torch_for_random_geometry_including_overlapping_windows(geometry, dtype, seed):
    x_shape, kernel, stride = geometry
    rng = np.random.default_rng(seed)
    x = rng.permutation(np.arange(np.prod(x_shape))).reshape(x_shape).astype(dtype) / 7  # distinct values: one max
    for forward, backward, reference in (
        (nn.max_pool2d_forward, nn.max_pool2d_backward, F.max_pool2d),
        (nn.avg_pool2d_forward, nn.avg_pool2d_backward, F.avg_pool2d),
    ):
        out, cache = forward(x, kernel, stride)
        xt = leaf(x)
        out_t = reference(xt, kernel, stride)
        assert_close(out, out_t, dtype)
        dout = rng.standard_normal(out.shape).astype(dtype)
        (dx_t,) = torch_grads(out_t, (xt,), dout)
        assert_close(backward(dout, cache), dx_t, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_pools_default_stride_is_the_kernel_like_torch(dtype):
    x = np.random.default_rng(1).standard_normal((2, 3, 6, 9)).astype(dtype)
    assert_close(nn.max_pool2d_forward(x, (2, 3))[0], F.max_pool2d(torch.tensor(x), (2, 3)), dtype)
    assert_close(nn.avg_pool2d_forward(x, 3)[0], F.avg_pool2d(torch.tensor(x), 3), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("x_shape", [(1, 1), (4, 5), (3, 6, 5)])
def test_linear_matches_torch_linear_including_leading_time_axis(dtype, x_shape):
    rng = np.random.default_rng(2)
    module = torch.nn.Linear(x_shape[-1], 3).to(torch.float64 if dtype == np.float64 else torch.float32)
    w, b = nn.linear_weights_from_torch(module)
    assert w.shape == (x_shape[-1], 3)
    x = rng.standard_normal(x_shape).astype(dtype)
    y, cache = nn.linear_forward(x, w, b)
    xt = leaf(x)
    y_t = module(xt)
    assert_close(y, y_t, dtype)
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx_t, dw_t, db_t = torch_grads(y_t, (xt, module.weight, module.bias), dy)
    dx, dw, db = nn.linear_backward(dy, cache)
    assert_close(dx, dx_t, dtype)
    assert_close(dw, dw_t.T, dtype)  # torch's weight is (D_out, D_in)
    assert_close(db, db_t, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    ("forward", "backward", "reference"),
    [
        (nn.relu_forward, nn.relu_backward, torch.relu),
        (nn.sigmoid_forward, nn.sigmoid_backward, torch.sigmoid),
        (nn.tanh_forward, nn.tanh_backward, torch.tanh),
    ],
    ids=["relu", "sigmoid", "tanh"],
)
def test_activations_match_torch_including_saturated_inputs(dtype, forward, backward, reference):
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.standard_normal(20), [-800.0, -30.0, 30.0, 800.0]]).astype(dtype).reshape(4, 6)
    with np.errstate(over="raise", invalid="raise"):  # no overflow or NaN at ±800
        out, cache = forward(x)
        dout = rng.standard_normal(out.shape).astype(dtype)
        dx = backward(dout, cache)
    xt = leaf(x)
    out_t = reference(xt)
    assert_close(out, out_t, dtype)
    assert_close(dx, torch_grads(out_t, (xt,), dout)[0], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scale", [1.0, 1000.0])
def test_softmax_cross_entropy_matches_torch_cross_entropy_even_for_huge_logits(dtype, scale):
    rng = np.random.default_rng(4)
    logits = (scale * rng.standard_normal((6, 5))).astype(dtype)
    labels = rng.integers(0, 5, size=6)
    loss, cache = nn.softmax_cross_entropy_forward(logits, labels)
    zt = leaf(logits)
    loss_t = F.cross_entropy(zt, torch.tensor(labels))
    np.testing.assert_allclose(loss, loss_t.item(), rtol=TOL[dtype])
    (dz_t,) = torch.autograd.grad(loss_t, (zt,), torch.tensor(2.5, dtype=zt.dtype))
    assert_close(nn.softmax_cross_entropy_backward(2.5, cache), dz_t, dtype)
    assert_close(nn.softmax(logits), torch.softmax(zt, -1), dtype)


def test_flatten_matches_torch_flatten_and_backward_restores_the_shape():
    x = np.random.default_rng(5).standard_normal((2, 3, 4, 5))
    out, cache = nn.flatten_forward(x)
    np.testing.assert_array_equal(out, torch.flatten(torch.tensor(x), 1).numpy())
    np.testing.assert_array_equal(nn.flatten_backward(out, cache), x)


def torch_dtype(dtype):
    return torch.float64 if dtype == np.float64 else torch.float32


SEQUENCE_SHAPES = [(1, 1, 1, 1), (3, 7, 5, 4), (2, 12, 3, 6)]  # (N, T, D, H)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("n", "t", "d", "h"), SEQUENCE_SHAPES)
def test_rnn_forward_and_bptt_match_torch_rnn(dtype, n, t, d, h):
    rng = np.random.default_rng(6)
    torch.manual_seed(0)
    module = torch.nn.RNN(d, h, batch_first=True, nonlinearity="tanh").to(torch_dtype(dtype))
    x = rng.standard_normal((n, t, d)).astype(dtype)
    h0 = rng.standard_normal((n, h)).astype(dtype)
    hs, cache = nn.rnn_forward(x, h0, *nn.rnn_weights_from_torch(module))
    xt, h0t = leaf(x), leaf(h0[None])  # torch's h0 is (layers, N, H)
    hs_t, hn_t = module(xt, h0t)
    assert_close(hs, hs_t, dtype)
    assert_close(hs[:, -1], hn_t[0], dtype)
    dh = rng.standard_normal(hs.shape).astype(dtype)
    params = (module.weight_ih_l0, module.weight_hh_l0, module.bias_ih_l0, module.bias_hh_l0)
    dx_t, dh0_t, dwx_t, dwh_t, db_ih_t, db_hh_t = torch_grads(hs_t, (xt, h0t, *params), dh)
    dx, dh0, dwx, dwh, db = nn.rnn_backward(dh, cache)
    assert_close(dx, dx_t, dtype)
    assert_close(dh0, dh0_t[0], dtype)
    assert_close(dwx, dwx_t.T, dtype)
    assert_close(dwh, dwh_t.T, dtype)
    assert_close(db, db_ih_t, dtype)  # both torch biases get the same gradient: they are only added
    assert_close(db, db_hh_t, dtype)


def test_rnn_output_layer_is_linear_on_every_step_like_torch():
    """y_t = h_t V + c for all t in one linear_forward call equals torch's Linear on the RNN output."""
    rng = np.random.default_rng(7)
    torch.manual_seed(0)
    rnn, head = torch.nn.RNN(4, 6, batch_first=True).double(), torch.nn.Linear(6, 3).double()
    x = rng.standard_normal((2, 5, 4))
    hs, _ = nn.rnn_forward(x, np.zeros((2, 6)), *nn.rnn_weights_from_torch(rnn))
    y, _ = nn.linear_forward(hs, *nn.linear_weights_from_torch(head))
    assert_close(y, head(rnn(torch.tensor(x))[0]), np.float64)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("n", "t", "d", "h"), SEQUENCE_SHAPES)
def test_lstm_forward_and_bptt_match_torch_lstm_with_gate_order_ifgo(dtype, n, t, d, h):
    rng = np.random.default_rng(8)
    torch.manual_seed(0)
    module = torch.nn.LSTM(d, h, batch_first=True).to(torch_dtype(dtype))
    x = rng.standard_normal((n, t, d)).astype(dtype)
    h0, c0 = (rng.standard_normal((n, h)).astype(dtype) for _ in range(2))
    hs, cache = nn.lstm_forward(x, h0, c0, *nn.lstm_weights_from_torch(module))
    xt, h0t, c0t = leaf(x), leaf(h0[None]), leaf(c0[None])
    hs_t, _ = module(xt, (h0t, c0t))
    assert_close(hs, hs_t, dtype)
    dh = rng.standard_normal(hs.shape).astype(dtype)
    params = (module.weight_ih_l0, module.weight_hh_l0, module.bias_ih_l0)
    dx_t, dh0_t, dc0_t, dwx_t, dwh_t, db_t = torch_grads(hs_t, (xt, h0t, c0t, *params), dh)
    dx, dh0, dc0, dwx, dwh, db = nn.lstm_backward(dh, cache)
    assert_close(dx, dx_t, dtype)
    assert_close(dh0, dh0_t[0], dtype)
    assert_close(dc0, dc0_t[0], dtype)
    assert_close(dwx, dwx_t.T, dtype)
    assert_close(dwh, dwh_t.T, dtype)
    assert_close(db, db_t, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("n", "t", "d", "h"), SEQUENCE_SHAPES)
def test_gru_forward_matches_torch_gru_with_reset_gate_after_the_matmul(dtype, n, t, d, h):
    rng = np.random.default_rng(9)
    torch.manual_seed(0)
    module = torch.nn.GRU(d, h, batch_first=True).to(torch_dtype(dtype))
    x = rng.standard_normal((n, t, d)).astype(dtype)
    h0 = rng.standard_normal((n, h)).astype(dtype)
    hs = nn.gru_forward(x, h0, *nn.gru_weights_from_torch(module))
    with torch.no_grad():
        hs_t, _ = module(torch.tensor(x), torch.tensor(h0[None]))
    assert_close(hs, hs_t, dtype)


@pytest.mark.parametrize("module", [torch.nn.LSTM(3, 4, num_layers=2, batch_first=True), torch.nn.GRU(3, 4)])
def test_weight_converters_refuse_modules_that_compute_something_else(module):
    convert = nn.lstm_weights_from_torch if isinstance(module, torch.nn.LSTM) else nn.gru_weights_from_torch
    with pytest.raises(ValueError, match="module must"):
        convert(module)


def test_benchmark_measure_returns_one_row_per_case_with_consistent_ratios():
    from mmcourse.numpy_nn.bench import format_table, measure

    rows = measure(repeats=1, min_time=0.0)
    assert [r["target"] for r in rows] == ["<= 3", "<= 4", "<= 1", "<= 3", ">= 10"]
    for r in rows:
        assert r["numpy_ms"] > 0 and r["baseline_ms"] > 0
        assert r["ratio"] == pytest.approx(r["numpy_ms"] / r["baseline_ms"])
    assert format_table(rows).count("\n") == len(rows) + 1
