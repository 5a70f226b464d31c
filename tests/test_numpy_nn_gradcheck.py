"""Every backward pass agrees with central differences in float64 (relative error < 1e-7).

For a layer out = forward(x) and a fixed random dout, L = Σ out ⊙ dout has
dL/dx = backward(dout); :func:`numerical_gradient` computes the same from
forward calls alone.
"""
import numpy as np
import pytest

import mmcourse.numpy_nn as nn
from mmcourse.numpy_nn import numerical_gradient, relative_error

THRESHOLD = 1e-7


def check_layer(forward, backward, inputs: dict, rng):
    """Numerical vs analytical gradient of Σ forward(**inputs)[0] ⊙ dout for every input."""
    out, cache = forward(**inputs)
    dout = rng.standard_normal(np.shape(out))
    analytic = backward(dout, cache)
    analytic = analytic if isinstance(analytic, tuple) else (analytic,)

    def loss():
        return float(np.sum(forward(**inputs)[0] * dout))

    for (name, value), grad in zip(inputs.items(), analytic):
        err = relative_error(numerical_gradient(loss, value), grad)
        assert err < THRESHOLD, f"d{name}: relative error {err:.2e}"


def test_numerical_gradient_of_known_functions():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4))
    np.testing.assert_allclose(numerical_gradient(lambda: np.sin(x).sum(), x), np.cos(x), atol=1e-9)
    a = rng.standard_normal((5, 5))
    v = rng.standard_normal(5)
    np.testing.assert_allclose(numerical_gradient(lambda: v @ a @ v, v), (a + a.T) @ v, atol=1e-8)


def test_numerical_gradient_leaves_x_unchanged_and_works_on_non_contiguous_views():
    x = np.arange(12.0).reshape(3, 4)
    view = x[:, ::2]  # non-contiguous
    before = x.copy()
    grad = numerical_gradient(lambda: (view**2).sum(), view)
    np.testing.assert_allclose(grad, 2 * view, atol=1e-6)
    np.testing.assert_array_equal(x, before)


def test_relative_error_is_scale_free_and_zero_for_two_zero_arrays():
    a = np.array([1.0, 2.0, 3.0])
    assert relative_error(a, a) == 0.0
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0
    assert relative_error(1e-9 * a, 1e-9 * (a + 0.1)) == pytest.approx(relative_error(a, a + 0.1))
    assert relative_error(a, -a) == pytest.approx(1.0)


def test_linear_backward_passes_gradcheck():
    rng = np.random.default_rng(1)
    inputs = {"x": rng.standard_normal((3, 2, 4)), "w": rng.standard_normal((4, 5)), "b": rng.standard_normal(5)}
    check_layer(nn.linear_forward, nn.linear_backward, inputs, rng)


@pytest.mark.parametrize(
    ("forward", "backward"),
    [(nn.relu_forward, nn.relu_backward), (nn.sigmoid_forward, nn.sigmoid_backward), (nn.tanh_forward, nn.tanh_backward)],
    ids=["relu", "sigmoid", "tanh"],
)
def test_activation_backward_passes_gradcheck(forward, backward):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 5))
    x[np.abs(x) < 1e-3] = 0.5  # keep ReLU's kink out of the ±eps nudge
    check_layer(forward, backward, {"x": x}, rng)


def test_softmax_cross_entropy_backward_passes_gradcheck():
    rng = np.random.default_rng(3)
    logits = 3 * rng.standard_normal((5, 4))
    labels = rng.integers(0, 4, size=5)
    _, cache = nn.softmax_cross_entropy_forward(logits, labels)
    num = numerical_gradient(lambda: nn.softmax_cross_entropy_forward(logits, labels)[0], logits)
    assert relative_error(num, nn.softmax_cross_entropy_backward(1.0, cache)) < THRESHOLD


def test_flatten_backward_passes_gradcheck():
    rng = np.random.default_rng(4)
    check_layer(nn.flatten_forward, nn.flatten_backward, {"x": rng.standard_normal((2, 3, 2))}, rng)


@pytest.mark.parametrize(
    ("x_shape", "w_shape", "stride", "padding", "dilation"),
    [
        ((2, 2, 5, 5), (3, 2, 3, 3), 1, 1, 1),
        ((1, 3, 7, 6), (2, 3, 3, 2), 2, (1, 0), 1),
        ((2, 1, 7, 7), (2, 1, 2, 2), 1, 1, 2),
        ((1, 2, 7, 9), (2, 2, 2, 3), (3, 2), 1, (2, 1)),
    ],
)
def test_conv2d_backward_passes_gradcheck_with_stride_padding_and_dilation(x_shape, w_shape, stride, padding, dilation):
    rng = np.random.default_rng(5)

    def forward(x, w, b):
        return nn.conv2d_forward(x, w, b, stride=stride, padding=padding, dilation=dilation)

    inputs = {"x": rng.standard_normal(x_shape), "w": rng.standard_normal(w_shape), "b": rng.standard_normal(w_shape[0])}
    check_layer(forward, nn.conv2d_backward, inputs, rng)


@pytest.mark.parametrize(
    ("kernel", "stride"), [(2, 2), ((3, 2), 1), (3, 2)], ids=["disjoint", "overlapping", "overlapping-strided"]
)
@pytest.mark.parametrize(
    ("forward", "backward"),
    [(nn.max_pool2d_forward, nn.max_pool2d_backward), (nn.avg_pool2d_forward, nn.avg_pool2d_backward)],
    ids=["max", "avg"],
)
def test_pool_backward_passes_gradcheck(forward, backward, kernel, stride):
    rng = np.random.default_rng(6)
    x = rng.permutation(2 * 2 * 7 * 7).reshape(2, 2, 7, 7) / 10.0  # values 0.1 apart: eps never changes an argmax
    if kernel == 2:
        x = x[:, :, :6, :6].copy()
    check_layer(lambda x: forward(x, kernel, stride), backward, {"x": x}, rng)


def test_im2col_and_col2im_are_adjoint():
    """<im2col(x), c> = <x, col2im(c)>: col2im is exactly the transpose that backward needs."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 3, 7, 8))
    cols = nn.im2col(x, 3, 2, stride=2, padding=1, dilation=(1, 3))
    c = rng.standard_normal(cols.shape)
    lhs = np.sum(cols * c)
    rhs = np.sum(x * nn.col2im(c, x.shape, 3, 2, stride=2, padding=1, dilation=(1, 3)))
    assert lhs == pytest.approx(rhs, rel=1e-12)


def test_im2col_columns_are_the_receptive_fields():
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    cols = nn.im2col(x, 2, 2, stride=2)  # (N=1, C*kh*kw=4, H'*W'=4)
    assert cols.shape == (1, 4, 4)
    np.testing.assert_array_equal(cols[0, :, 0], [0, 1, 4, 5])  # top-left window
    np.testing.assert_array_equal(cols[0, :, 3], [10, 11, 14, 15])  # bottom-right window


def test_rnn_bptt_passes_gradcheck():
    rng = np.random.default_rng(8)
    n, t, d, h = 2, 5, 3, 4
    inputs = {
        "x": rng.standard_normal((n, t, d)),
        "h0": rng.standard_normal((n, h)),
        "wx": 0.5 * rng.standard_normal((d, h)),
        "wh": 0.5 * rng.standard_normal((h, h)),
        "b": rng.standard_normal(h),
    }
    check_layer(nn.rnn_forward, nn.rnn_backward, inputs, rng)


def test_lstm_bptt_passes_gradcheck():
    rng = np.random.default_rng(9)
    n, t, d, h = 2, 4, 3, 3
    inputs = {
        "x": rng.standard_normal((n, t, d)),
        "h0": rng.standard_normal((n, h)),
        "c0": rng.standard_normal((n, h)),
        "wx": 0.5 * rng.standard_normal((d, 4 * h)),
        "wh": 0.5 * rng.standard_normal((h, 4 * h)),
        "b": rng.standard_normal(4 * h),
    }
    check_layer(nn.lstm_forward, nn.lstm_backward, inputs, rng)


def test_sgns_gradients_pass_gradcheck_with_repeated_words_in_the_batch():
    rng = np.random.default_rng(10)
    w_in, w_out = rng.standard_normal((7, 4)), rng.standard_normal((7, 4))
    centre = np.array([0, 3, 3, 5, 0])  # repeats: np.add.at must sum them
    context = np.array([1, 2, 2, 6, 3])
    negatives = rng.integers(0, 7, size=(5, 3))
    _, (dw_in, dw_out) = nn.sgns_loss_and_grads(w_in, w_out, centre, context, negatives)

    def loss():
        return nn.sgns_loss_and_grads(w_in, w_out, centre, context, negatives)[0]

    assert relative_error(numerical_gradient(loss, w_in), dw_in) < THRESHOLD
    assert relative_error(numerical_gradient(loss, w_out), dw_out) < THRESHOLD
    assert np.all(dw_in[[1, 2, 4, 6]] == 0)  # words never used as a centre get no input-vector gradient
