"""Exercises of chapter 04: the mathematics of CNNs (output size, convolution, pooling, backprop, parameters)."""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from mmcourse.exercises.core import FunctionQuestion


def _correlate_valid(x: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Valid cross-correlation of x (H, W) with k (kh, kw): (H - kh + 1, W - kw + 1)."""
    return np.einsum("ijpq,pq->ij", sliding_window_view(x, k.shape), k)


class OutputSize(FunctionQuestion):
    """Output length of a convolution along one axis, floored as torch and Keras do."""

    name, chapter = "q1", "04"
    hints = ("Pad first: the input is n + 2p long. A k-wide kernel fits in n + 2p - k + 1 positions at stride 1.",
             "With stride s only every s-th position is used: the first, then s further on, and so on, as long "
             "as the kernel still fits. Count the steps with integer division //, then add the first position.",
             "(n + 2 * p - k) // s + 1")

    def reference(self, n, k, p, s):
        return (n + 2 * p - k) // s + 1

    def cases(self):
        return [(28, 3, 1, 1),  # "same" padding
                (28, 5, 0, 1),
                (32, 3, 1, 2),  # 31 / 2 is not whole: floored
                (224, 7, 3, 2),  # the first layer of a ResNet
                (7, 7, 0, 1),  # the kernel covers the whole input
                (10, 4, 2, 3)]


class Conv2dSingle(FunctionQuestion):
    """Valid cross-correlation of one grey image with one kernel."""

    name, chapter = "q2", "04"
    hints = ("The output has shape (H - kh + 1, W - kw + 1): one value per position of the kernel inside the image.",
             "out[i, j] is the sum of kernel * image[i:i + kh, j:j + kw]: the kernel is NOT flipped "
             "(that is what frameworks call convolution).",
             "Two loops over i and j with np.sum(image[i:i + kh, j:j + kw] * kernel) work; so does "
             "mmcourse.numpy_nn.conv2d_forward on image[None, None] and kernel[None, None] with a zero bias.")
    rtol = 1e-7

    def reference(self, image, kernel):
        return _correlate_valid(image, kernel)

    def cases(self):
        rng = np.random.default_rng(4)
        return [(rng.normal(size=(6, 6)), rng.normal(size=(3, 3))),
                (rng.normal(size=(7, 5)), rng.normal(size=(2, 3))),  # non-square: rows and columns must not swap
                (rng.normal(size=(4, 4)), rng.normal(size=(4, 4))),  # the kernel fills the image: one output
                (rng.normal(size=(5, 8)), rng.normal(size=(1, 1))),
                (np.arange(30.0).reshape(5, 6), np.array([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]]))]


class MaxPool(FunctionQuestion):
    """Non-overlapping k x k max pooling of one grey image."""

    name, chapter = "q3", "04"
    hints = ("The windows do not overlap (stride = k), so the output has shape (H // k, W // k).",
             "out[i, j] is the largest value of x[i*k:(i+1)*k, j*k:(j+1)*k].",
             "Without loops: x.reshape(H // k, k, W // k, k).max(axis=(1, 3)).")

    def reference(self, x, k):
        h, w = x.shape
        return x.reshape(h // k, k, w // k, k).max(axis=(1, 3))

    def cases(self):
        rng = np.random.default_rng(5)
        return [(rng.normal(size=(4, 4)), 2),
                (rng.normal(size=(6, 9)), 3),
                (rng.normal(size=(8, 4)), 2),
                (-np.abs(rng.normal(size=(6, 6))), 2),  # all negative: starting from 0 is a bug
                (rng.normal(size=(5, 5)), 5)]


class ConvWeightGrad(FunctionQuestion):
    """dL/dW of a single-channel valid convolution, from the input x and the upstream gradient dout."""

    name, chapter = "q4", "04"
    hints = ("The kernel has shape (H - H' + 1, W - W' + 1), where x is (H, W) and dout is (H', W').",
             "W[p, q] multiplies x[i + p, j + q] in output (i, j), so dW[p, q] = Σ_ij dout[i, j] · x[i + p, j + q].",
             "That sum is a valid cross-correlation of x with dout: slide dout over x, as in q2, with dout "
             "playing the kernel. No flip.")
    rtol = 1e-7

    def reference(self, x, dout):
        return _correlate_valid(x, dout)

    def cases(self):
        rng = np.random.default_rng(6)
        return [(rng.normal(size=(6, 6)), rng.normal(size=(4, 4))),  # a 3 x 3 kernel
                (rng.normal(size=(7, 5)), rng.normal(size=(6, 3))),  # a 2 x 3 kernel
                (rng.normal(size=(5, 5)), rng.normal(size=(5, 5))),  # a 1 x 1 kernel
                (rng.normal(size=(8, 6)), rng.normal(size=(4, 5)))]


class ConvInputGrad(FunctionQuestion):
    """dL/dx of a single-channel valid convolution: the full convolution of dout with the kernel."""

    name, chapter = "q5", "04"
    hints = ("dx has the input's shape: (H' + kh - 1, W' + kw - 1) for dout (H', W') and w (kh, kw).",
             "Output (i, j) used x[i + p, j + q] with weight w[p, q], so dx[m, n] = Σ dout[i, j] · w[m - i, n - j] "
             "over the (i, j) where m - i and n - j are valid kernel indices.",
             "Scatter: start from zeros and, for each (i, j), add dout[i, j] * w to dx[i:i + kh, j:j + kw]. "
             "Or: pad dout with kh - 1 rows and kw - 1 columns of zeros on each side and cross-correlate it with "
             "the flipped kernel w[::-1, ::-1].")
    rtol = 1e-7

    def reference(self, dout, w):
        kh, kw = w.shape
        padded = np.pad(dout, ((kh - 1, kh - 1), (kw - 1, kw - 1)))
        return _correlate_valid(padded, w[::-1, ::-1])

    def cases(self):
        rng = np.random.default_rng(7)
        return [(rng.normal(size=(4, 4)), rng.normal(size=(3, 3))),
                (rng.normal(size=(6, 3)), rng.normal(size=(2, 3))),  # non-square kernel: the flip matters per axis
                (rng.normal(size=(1, 1)), rng.normal(size=(4, 4))),
                (rng.normal(size=(5, 7)), rng.normal(size=(1, 1)))]


class ConvParameters(FunctionQuestion):
    """Number of trainable parameters of a Conv2D layer."""

    name, chapter = "q6", "04"
    hints = ("Each of the c_out filters looks at every input channel: a filter has c_in * kh * kw weights.",
             "With bias=True each filter also has one bias (one per output channel, not per input channel).",
             "c_out * (c_in * kh * kw + (1 if bias else 0))")

    def reference(self, c_in, c_out, kh, kw, bias):
        return c_out * (c_in * kh * kw + int(bias))

    def cases(self):
        return [(1, 8, 3, 3, True), (8, 16, 3, 3, True), (3, 64, 7, 7, False), (16, 32, 1, 1, True),
                (3, 5, 3, 5, True), (512, 512, 3, 3, False)]


q1 = OutputSize()
q2 = Conv2dSingle()
q3 = MaxPool()
q4 = ConvWeightGrad()
q5 = ConvInputGrad()
q6 = ConvParameters()
