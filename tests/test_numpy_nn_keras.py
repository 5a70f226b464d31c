"""The NumPy layers equal Keras 3's (TensorFlow backend), forward and gradients via ``tf.GradientTape``.

Keras is channels-last and stores weights (in, out), so every comparison
converts explicitly, and the conversions are where the pitfalls live:

* images: ours (N, C, H, W), Keras (N, H, W, C): ``x.transpose(0, 2, 3, 1)``.
* Conv2D kernel: ours (F, C, kh, kw), Keras (kh, kw, C, F): ``w.transpose(2, 3, 1, 0)``.
* Conv2D padding is only "valid"/"same" in Keras, so explicit zero padding is
  applied to the input first; and Keras refuses strides > 1 together with
  dilation_rate > 1, which torch (and we) allow.
* LSTM gates: Keras i, f, c, o is our (torch's) i, f, g, o: same order.
* GRU gates: Keras z, r, h but ours (torch's) r, z, n: the first two blocks
  swap, and the (2, 3H) bias splits into input and recurrent rows. Only
  ``reset_after=True`` matches torch's GRU.
"""
import mmcourse  # noqa: F401  (TF_CPP_MIN_LOG_LEVEL before TensorFlow loads)
import keras
import numpy as np
import pytest
import tensorflow as tf

import mmcourse.numpy_nn as nn

DTYPES = [np.float64, np.float32]
TOL = {np.float64: 1e-6, np.float32: 1e-4}


def assert_close(actual, expected, dtype):
    assert actual.dtype == dtype
    np.testing.assert_allclose(actual, np.asarray(expected), rtol=TOL[dtype], atol=TOL[dtype])


def nhwc(a):
    return a.transpose(0, 2, 3, 1)  # (N, C, H, W) -> (N, H, W, C)


def nchw(a):
    return np.asarray(a).transpose(0, 3, 1, 2)  # (N, H, W, C) -> (N, C, H, W)


def dtype_name(dtype):
    return np.dtype(dtype).name


def test_keras_runs_on_the_tensorflow_backend():
    assert keras.backend.backend() == "tensorflow"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    ("x_shape", "w_shape", "stride", "padding", "dilation"),
    [
        ((1, 1, 5, 5), (1, 1, 3, 3), 1, 0, 1),  # batch 1, one channel
        ((2, 3, 9, 9), (4, 3, 3, 3), 2, 1, 1),  # stride 2 with padding
        ((3, 2, 7, 10), (5, 2, 2, 3), 1, 0, 1),  # non-square kernel, odd input
        ((2, 2, 11, 9), (3, 2, 3, 3), 1, 2, 2),  # dilation with padding (Keras: no stride with it)
        ((2, 3, 9, 12), (2, 3, 3, 2), (2, 1), (1, 0), 1),  # per-axis stride and padding
    ],
)
def test_conv2d_matches_keras_conv2d_channels_last(dtype, x_shape, w_shape, stride, padding, dilation):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal(w_shape).astype(dtype)
    b = rng.standard_normal(w_shape[0]).astype(dtype)
    out, cache = nn.conv2d_forward(x, w, b, stride=stride, padding=padding, dilation=dilation)
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    layer = keras.layers.Conv2D(
        w_shape[0], w_shape[2:], strides=stride, dilation_rate=dilation, padding="valid", dtype=dtype_name(dtype)
    )
    layer.build((None, x_shape[2] + 2 * ph, x_shape[3] + 2 * pw, x_shape[1]))
    layer.set_weights(nn.conv2d_weights_to_keras(w, b))
    w_back, b_back = nn.conv2d_weights_from_keras(layer)
    np.testing.assert_array_equal(w_back, w)
    np.testing.assert_array_equal(b_back, b)
    x_tf = tf.constant(nhwc(x))
    dout = rng.standard_normal(out.shape).astype(dtype)
    with tf.GradientTape() as tape:
        tape.watch(x_tf)
        out_tf = layer(tf.pad(x_tf, [[0, 0], [ph, ph], [pw, pw], [0, 0]]))  # explicit zero padding
    dx_tf, dk_tf, db_tf = tape.gradient(out_tf, [x_tf, layer.kernel, layer.bias], output_gradients=tf.constant(nhwc(dout)))
    assert_close(out, nchw(out_tf), dtype)
    dx, dw, db = nn.conv2d_backward(dout, cache)
    assert_close(dx, nchw(dx_tf), dtype)
    assert_close(dw, np.asarray(dk_tf).transpose(3, 2, 0, 1), dtype)  # (kh, kw, C, F) -> (F, C, kh, kw)
    assert_close(db, db_tf, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    ("x_shape", "kernel", "stride"),
    [((1, 1, 4, 4), 2, 2), ((2, 3, 7, 9), (3, 3), (2, 3)), ((2, 2, 6, 5), (2, 3), 1)],
)
def test_pools_match_keras_max_and_average_pooling(dtype, x_shape, kernel, stride):
    rng = np.random.default_rng(1)
    x = (rng.permutation(np.prod(x_shape)).reshape(x_shape) / 11).astype(dtype)  # distinct values: one max
    for forward, backward, layer_class in (
        (nn.max_pool2d_forward, nn.max_pool2d_backward, keras.layers.MaxPooling2D),
        (nn.avg_pool2d_forward, nn.avg_pool2d_backward, keras.layers.AveragePooling2D),
    ):
        out, cache = forward(x, kernel, stride)
        layer = layer_class(pool_size=kernel, strides=stride, padding="valid", dtype=dtype_name(dtype))
        x_tf = tf.constant(nhwc(x))
        dout = rng.standard_normal(out.shape).astype(dtype)
        with tf.GradientTape() as tape:
            tape.watch(x_tf)
            out_tf = layer(x_tf)
        assert_close(out, nchw(out_tf), dtype)
        assert_close(backward(dout, cache), nchw(tape.gradient(out_tf, x_tf, output_gradients=tf.constant(nhwc(dout)))), dtype)


def random_weights(layer, rng, dtype):
    """Give every weight (biases included) random values, so a wrong layout or gate order cannot hide."""
    layer.set_weights([(0.5 * rng.standard_normal(v.shape)).astype(dtype) for v in layer.get_weights()])


def run_keras(layer, x, states, dh, dtype):
    """Keras forward over x (N, T, D) from ``states``; returns hs and the gradients of Σ hs ⊙ dh."""
    x_tf = tf.constant(x)
    states_tf = [tf.constant(s) for s in states]
    with tf.GradientTape() as tape:
        tape.watch([x_tf, *states_tf])
        hs_tf = layer(x_tf, initial_state=states_tf)
    grads = tape.gradient(hs_tf, [x_tf, *states_tf, *layer.trainable_weights], output_gradients=tf.constant(dh))
    return np.asarray(hs_tf), [np.asarray(g) for g in grads]


SEQUENCE_SHAPES = [(1, 1, 1, 1), (3, 7, 5, 4)]  # (N, T, D, H)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("n", "t", "d", "h"), SEQUENCE_SHAPES)
def test_rnn_forward_and_bptt_match_keras_simple_rnn(dtype, n, t, d, h):
    rng = np.random.default_rng(2)
    layer = keras.layers.SimpleRNN(h, return_sequences=True, dtype=dtype_name(dtype))
    layer.build((None, t, d))
    random_weights(layer, rng, dtype)
    x = rng.standard_normal((n, t, d)).astype(dtype)
    h0 = rng.standard_normal((n, h)).astype(dtype)
    hs, cache = nn.rnn_forward(x, h0, *nn.rnn_weights_from_keras(layer))
    dh = rng.standard_normal(hs.shape).astype(dtype)
    hs_k, (dx_k, dh0_k, dkernel, drecurrent, dbias) = run_keras(layer, x, [h0], dh, dtype)
    assert_close(hs, hs_k, dtype)
    dx, dh0, dwx, dwh, db = nn.rnn_backward(dh, cache)
    for ours, theirs in zip((dx, dh0, dwx, dwh, db), (dx_k, dh0_k, dkernel, drecurrent, dbias)):
        assert_close(ours, theirs, dtype)  # Keras weights are (in, out) like ours: no transpose


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("n", "t", "d", "h"), SEQUENCE_SHAPES)
def test_lstm_forward_and_bptt_match_keras_lstm_whose_ifco_is_our_ifgo(dtype, n, t, d, h):
    rng = np.random.default_rng(3)
    layer = keras.layers.LSTM(h, return_sequences=True, dtype=dtype_name(dtype))
    layer.build((None, t, d))
    random_weights(layer, rng, dtype)
    x = rng.standard_normal((n, t, d)).astype(dtype)
    h0, c0 = (rng.standard_normal((n, h)).astype(dtype) for _ in range(2))
    hs, cache = nn.lstm_forward(x, h0, c0, *nn.lstm_weights_from_keras(layer))
    dh = rng.standard_normal(hs.shape).astype(dtype)
    hs_k, grads_k = run_keras(layer, x, [h0, c0], dh, dtype)  # Keras's state order is [h, c]
    assert_close(hs, hs_k, dtype)
    for ours, theirs in zip(nn.lstm_backward(dh, cache), grads_k):
        assert_close(ours, theirs, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("n", "t", "d", "h"), SEQUENCE_SHAPES)
def test_gru_forward_matches_keras_gru_reset_after_once_gates_are_reordered(dtype, n, t, d, h):
    rng = np.random.default_rng(4)
    layer = keras.layers.GRU(h, return_sequences=True, reset_after=True, dtype=dtype_name(dtype))
    layer.build((None, t, d))
    random_weights(layer, rng, dtype)
    x = rng.standard_normal((n, t, d)).astype(dtype)
    h0 = rng.standard_normal((n, h)).astype(dtype)
    hs = nn.gru_forward(x, h0, *nn.gru_weights_from_keras(layer))
    assert_close(hs, layer(x, initial_state=[h0]), dtype)


def test_gru_without_reordering_the_keras_gates_gives_different_numbers():
    """The pitfall itself: Keras's z, r, h blocks used as if they were r, z, n."""
    rng = np.random.default_rng(5)
    layer = keras.layers.GRU(3, return_sequences=True, dtype="float64")
    layer.build((None, 4, 2))
    random_weights(layer, rng, np.float64)
    kernel, recurrent, bias = layer.get_weights()
    x, h0 = rng.standard_normal((2, 4, 2)), rng.standard_normal((2, 3))
    naive = nn.gru_forward(x, h0, kernel, recurrent, bias[0], bias[1])
    assert np.abs(naive - np.asarray(layer(x, initial_state=[h0]))).max() > 1e-2


def test_gru_converter_refuses_keras_gru_with_reset_before_the_matmul():
    layer = keras.layers.GRU(3, reset_after=False)
    layer.build((None, 4, 2))
    with pytest.raises(ValueError, match="reset_after=True"):
        nn.gru_weights_from_keras(layer)
