"""Bad inputs raise ValueError/TypeError whose message names the argument, what was expected and what came."""
import numpy as np
import pytest

import mmcourse.numpy_nn as nn

f64, f32 = np.float64, np.float32


def arr(*shape, dtype=f64):
    return np.zeros(shape, dtype=dtype)


class FakeTensor:
    """Stands in for a torch tensor, without importing torch."""


CASES = [
    # conv2d
    pytest.param(
        lambda: nn.conv2d_forward(arr(2, 3, 5, 5), arr(4, 2, 3, 3), arr(4)),
        ValueError, r"w has 2 input channels .* x has 3", id="conv2d-channel-mismatch",
    ),
    pytest.param(
        lambda: nn.conv2d_forward(arr(2, 3, 4, 4), arr(4, 3, 5, 5), arr(4)),
        ValueError, r"kernel height 5 .* bigger than the padded input height 4", id="conv2d-kernel-bigger-than-input",
    ),
    pytest.param(
        lambda: nn.conv2d_forward(arr(2, 3, 4, 4), arr(4, 3, 3, 3), arr(4), dilation=2),
        ValueError, r"kernel height 3 \(dilation 2: spans 5 pixels\)", id="conv2d-dilated-kernel-too-big",
    ),
    pytest.param(
        lambda: nn.conv2d_forward(arr(2, 3, 6, 6), arr(4, 3, 3, 3), arr(4), stride=2),
        ValueError, r"output height is not an integer: .* = 2\.5", id="conv2d-non-integer-output",
    ),
    pytest.param(
        lambda: nn.conv2d_forward(arr(3, 5, 5), arr(4, 3, 3, 3), arr(4)),
        ValueError, r"x must be 4-D \(N, C, H, W\), got shape \(3, 5, 5\)", id="conv2d-x-wrong-ndim",
    ),
    pytest.param(
        lambda: nn.conv2d_forward(arr(2, 3, 5, 5), arr(4, 3, 3), arr(4)),
        ValueError, r"w must be 4-D \(F, C, kh, kw\)", id="conv2d-w-wrong-ndim",
    ),
    pytest.param(
        lambda: nn.conv2d_forward(arr(2, 3, 5, 5), arr(4, 3, 3, 3), arr(3)),
        ValueError, r"b must have shape \(4,\) \(one bias per filter", id="conv2d-bias-length",
    ),
    pytest.param(
        lambda: nn.conv2d_forward(FakeTensor(), arr(4, 3, 3, 3), arr(4)),
        TypeError, r"x must be a NumPy array, got .*FakeTensor", id="conv2d-torch-tensor",
    ),
    pytest.param(
        lambda: nn.conv2d_forward(np.zeros((2, 3, 5, 5), dtype=int), arr(4, 3, 3, 3), arr(4)),
        TypeError, r"x must have a floating dtype .* got int64", id="conv2d-integer-dtype",
    ),
    pytest.param(
        lambda: nn.conv2d_forward(arr(2, 3, 5, 5, dtype=f32), arr(4, 3, 3, 3), arr(4)),
        TypeError, r"w has dtype float64 but x has dtype float32", id="conv2d-mixed-dtypes",
    ),
    pytest.param(
        lambda: nn.conv2d_forward(arr(2, 3, 5, 5), arr(4, 3, 3, 3), arr(4), stride=0),
        ValueError, r"stride must be >= 1, got 0", id="conv2d-zero-stride",
    ),
    pytest.param(
        lambda: nn.conv2d_forward(arr(2, 3, 5, 5), arr(4, 3, 3, 3), arr(4), stride=1.5),
        TypeError, r"stride must be an int, got float", id="conv2d-float-stride",
    ),
    pytest.param(
        lambda: nn.conv2d_forward(arr(2, 3, 5, 5), arr(4, 3, 3, 3), arr(4), padding=-1),
        ValueError, r"padding must be >= 0, got -1", id="conv2d-negative-padding",
    ),
    pytest.param(
        lambda: nn.conv2d_forward(arr(2, 3, 5, 5), arr(4, 3, 3, 3), arr(4), dilation=(1, 2, 3)),
        ValueError, r"dilation must be an int or a pair", id="conv2d-dilation-triple",
    ),
    pytest.param(
        lambda: nn.conv2d_forward(arr(2, 3, 5, 5), arr(4, 3, 3, 3), arr(4), padding=(1, True)),
        TypeError, r"padding\[1\] must be an int, got bool", id="conv2d-bool-padding",
    ),
    pytest.param(
        lambda: nn.conv2d_backward(arr(2, 4, 2, 2), nn.conv2d_forward(arr(2, 3, 5, 5), arr(4, 3, 3, 3), arr(4))[1]),
        ValueError, r"dout must have shape \(2, 4, 3, 3\) \(the forward output\), got \(2, 4, 2, 2\)", id="conv2d-dout-shape",
    ),
    pytest.param(
        lambda: nn.conv_output_size(5, 2, stride=2),
        ValueError, r"output size is not an integer", id="conv-output-size-non-integer",
    ),
    pytest.param(
        lambda: nn.conv_output_size(3, 5),
        ValueError, r"kernel size 5 .* bigger than the padded input size 3", id="conv-output-size-kernel-too-big",
    ),
    pytest.param(
        lambda: nn.conv_output_size(5, 0),
        ValueError, r"k must be >= 1, got 0", id="conv-output-size-zero-kernel",
    ),
    pytest.param(
        lambda: nn.conv2d_einsum(arr(1, 1, 4, 4), arr(1, 1, 3, 3), arr(1), optimize=1),
        TypeError, r"optimize must be a bool", id="einsum-optimize-not-bool",
    ),
    pytest.param(
        lambda: nn.col2im(arr(1, 9, 5), (1, 1, 4, 4), 3, 3),
        ValueError, r"cols must have shape \(1, 9, 4\) .* got \(1, 9, 5\)", id="col2im-cols-shape",
    ),
    # pooling
    pytest.param(
        lambda: nn.max_pool2d_forward(arr(1, 1, 3, 3), 4),
        ValueError, r"kernel height 4 .* bigger than the padded input height 3", id="maxpool-kernel-too-big",
    ),
    pytest.param(
        lambda: nn.avg_pool2d_forward(arr(1, 1, 5, 5), 2),
        ValueError, r"output height is not an integer", id="avgpool-non-integer-output",
    ),
    pytest.param(
        lambda: nn.max_pool2d_forward(arr(1, 1, 4, 4), 2, stride=0),
        ValueError, r"stride must be >= 1", id="maxpool-zero-stride",
    ),
    pytest.param(
        lambda: nn.max_pool2d_forward(arr(1, 4, 4), 2),
        ValueError, r"x must be 4-D", id="maxpool-x-wrong-ndim",
    ),
    pytest.param(
        lambda: nn.max_pool2d_backward(arr(1, 1, 3, 3), nn.max_pool2d_forward(arr(1, 1, 4, 4), 2)[1]),
        ValueError, r"dout must have shape \(1, 1, 2, 2\)", id="maxpool-dout-shape",
    ),
    # core
    pytest.param(
        lambda: nn.linear_forward(arr(3, 4), arr(5, 2), arr(2)),
        ValueError, r"w must have shape \(D_in=4, D_out\) .* got \(5, 2\)", id="linear-w-shape",
    ),
    pytest.param(
        lambda: nn.linear_forward(arr(4), arr(4, 2), arr(2)),
        ValueError, r"x must be at least 2-D", id="linear-x-1d",
    ),
    pytest.param(
        lambda: nn.linear_forward(arr(3, 4), arr(4, 2), arr(3)),
        ValueError, r"b must have shape \(2,\)", id="linear-bias-shape",
    ),
    pytest.param(
        lambda: nn.linear_backward(arr(3, 3), nn.linear_forward(arr(3, 4), arr(4, 2), arr(2))[1]),
        ValueError, r"dy must have shape \(3, 2\)", id="linear-dy-shape",
    ),
    pytest.param(
        lambda: nn.relu_backward(arr(2, 2), arr(2, 3)),
        ValueError, r"dout must have shape \(2, 3\)", id="relu-dout-shape",
    ),
    pytest.param(
        lambda: nn.softmax_cross_entropy_forward(arr(4, 3), np.array([0, 1, 2, 3])),
        ValueError, r"labels must hold values in \[0, 3\), got values in \[0, 3\]", id="ce-label-out-of-range",
    ),
    pytest.param(
        lambda: nn.softmax_cross_entropy_forward(arr(4, 3), np.zeros(4)),
        TypeError, r"labels must have an integer dtype, got float64", id="ce-float-labels",
    ),
    pytest.param(
        lambda: nn.softmax_cross_entropy_forward(arr(4, 3), np.zeros(5, dtype=int)),
        ValueError, r"labels must have shape \(4,\) \(N of logits\)", id="ce-labels-length",
    ),
    pytest.param(
        lambda: nn.softmax_cross_entropy_backward(
            np.ones(2), nn.softmax_cross_entropy_forward(arr(2, 3), np.zeros(2, dtype=int))[1]
        ),
        TypeError, r"dloss must be a scalar", id="ce-dloss-array",
    ),
    # recurrent
    pytest.param(
        lambda: nn.rnn_forward(arr(2, 5, 3), arr(2, 4), arr(3, 4), arr(4, 4), arr(5)),
        ValueError, r"b must have shape \(4,\)", id="rnn-bias-shape",
    ),
    pytest.param(
        lambda: nn.rnn_forward(arr(2, 5, 3), arr(3, 4), arr(3, 4), arr(4, 4), arr(4)),
        ValueError, r"h0 must have shape \(2, 4\) \(N of x and H of wh\), got \(3, 4\)", id="rnn-h0-shape",
    ),
    pytest.param(
        lambda: nn.rnn_forward(arr(2, 5, 3), arr(2, 4), arr(2, 4), arr(4, 4), arr(4)),
        ValueError, r"wx must have shape \(3, 4\)", id="rnn-wx-shape",
    ),
    pytest.param(
        lambda: nn.rnn_forward(arr(2, 3), arr(2, 4), arr(3, 4), arr(4, 4), arr(4)),
        ValueError, r"x must be 3-D \(N, T, D\)", id="rnn-x-wrong-ndim",
    ),
    pytest.param(
        lambda: nn.rnn_forward(arr(2, 0, 3), arr(2, 4), arr(3, 4), arr(4, 4), arr(4)),
        ValueError, r"x must have at least one time step", id="rnn-no-time-steps",
    ),
    pytest.param(
        lambda: nn.rnn_backward(arr(2, 4, 4), nn.rnn_forward(arr(2, 5, 3), arr(2, 4), arr(3, 4), arr(4, 4), arr(4))[1]),
        ValueError, r"dh must have shape \(2, 5, 4\)", id="rnn-dh-shape",
    ),
    pytest.param(
        lambda: nn.lstm_forward(arr(2, 5, 3), arr(2, 4), arr(2, 4), arr(3, 16), arr(4, 4), arr(16)),
        ValueError, r"wh must have shape \(4, 16\)", id="lstm-wh-shape",
    ),
    pytest.param(
        lambda: nn.lstm_forward(arr(2, 5, 3), arr(2, 4), arr(2, 3), arr(3, 16), arr(4, 16), arr(16)),
        ValueError, r"c0 must have shape \(2, 4\)", id="lstm-c0-shape",
    ),
    pytest.param(
        lambda: nn.gru_forward(arr(2, 5, 3), arr(2, 4), arr(3, 12), arr(4, 12), arr(12), arr(4)),
        ValueError, r"bh must have shape \(12,\)", id="gru-bh-shape",
    ),
    # word2vec
    pytest.param(
        lambda: nn.skipgram_pairs(np.arange(5), 0),
        ValueError, r"window must be >= 1, got 0", id="skipgram-zero-window",
    ),
    pytest.param(
        lambda: nn.skipgram_pairs(np.arange(5.0), 2),
        TypeError, r"ids must have an integer dtype", id="skipgram-float-ids",
    ),
    pytest.param(
        lambda: nn.skipgram_pairs(np.arange(5), 2, rng=0),
        TypeError, r"rng must be a numpy.random.Generator", id="skipgram-rng-seed",
    ),
    pytest.param(
        lambda: nn.negative_sampling_table(np.array([0, 5]), 3),
        ValueError, r"ids must hold values in \[0, 3\)", id="sampling-id-out-of-range",
    ),
    pytest.param(
        lambda: nn.sgns_loss_and_grads(arr(5, 2), arr(5, 2), np.array([0]), np.array([1]), np.array([2, 3])),
        ValueError, r"negatives must be 2-D", id="sgns-negatives-1d",
    ),
    pytest.param(
        lambda: nn.sgns_loss_and_grads(arr(5, 2), arr(5, 2), np.array([0, 1]), np.array([1, 2]), np.zeros((3, 2), dtype=int)),
        ValueError, r"negatives must have shape \(B=2, K\)", id="sgns-negatives-batch",
    ),
    pytest.param(
        lambda: nn.sgns_loss_and_grads(arr(5, 2), arr(4, 2), np.array([0]), np.array([1]), np.zeros((1, 2), dtype=int)),
        ValueError, r"w_out must have shape \(5, 2\)", id="sgns-w-out-shape",
    ),
    pytest.param(
        lambda: nn.train_word2vec(np.arange(10), 10, lr=0),
        ValueError, r"lr must be a positive number", id="word2vec-zero-lr",
    ),
    pytest.param(
        lambda: nn.train_word2vec(np.arange(10), 5),
        ValueError, r"ids must hold values in \[0, 5\)", id="word2vec-id-out-of-range",
    ),
    pytest.param(
        lambda: nn.nearest_neighbours(arr(5, 3), 5),
        ValueError, r"query_id must be < vocab_size 5, got 5", id="neighbours-query-out-of-range",
    ),
    pytest.param(
        lambda: nn.nearest_neighbours(arr(5, 3), 0, k=5),
        ValueError, r"k must be <= vocab_size - 1 = 4, got 5", id="neighbours-k-too-big",
    ),
    # gradient check
    pytest.param(
        lambda: nn.numerical_gradient(lambda: 0.0, arr(3, dtype=f32)),
        TypeError, r"x must be float64 .* got float32", id="gradcheck-float32",
    ),
    pytest.param(
        lambda: nn.numerical_gradient(0.0, arr(3)),
        TypeError, r"f must be a callable", id="gradcheck-f-not-callable",
    ),
    pytest.param(
        lambda: nn.numerical_gradient(lambda: np.zeros(2), arr(3)),
        ValueError, r"f must return a scalar, got an array of shape \(2,\)", id="gradcheck-f-not-scalar",
    ),
    pytest.param(
        lambda: nn.numerical_gradient(lambda: 0.0, arr(3), eps=0),
        ValueError, r"eps must be a positive number", id="gradcheck-zero-eps",
    ),
]


@pytest.mark.parametrize(("call", "error", "message"), CASES)
def test_bad_input_raises_an_error_that_names_the_argument(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_numerical_gradient_restores_x_even_when_f_is_not_scalar():
    x = np.ones(3)
    with pytest.raises(ValueError, match="f must return a scalar"):
        nn.numerical_gradient(lambda: x * 2, x)
    np.testing.assert_array_equal(x, np.ones(3))
