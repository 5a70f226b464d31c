"""Chapter 04 exercises reject realistic mistakes with a message that points at the mistake."""
import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view
from scipy import signal

from mmcourse.exercises import ch04

QUESTIONS = [ch04.q1, ch04.q2, ch04.q3, ch04.q4, ch04.q5, ch04.q6]


def _message(question, answer) -> str:
    feedback = question.evaluate(answer)
    assert not feedback.correct, "a wrong answer was accepted"
    return feedback.message


def test_q1_rejects_padding_once_true_division_ceiling_and_a_missing_plus_one():
    assert "is not right" in _message(ch04.q1, lambda n, k, p, s: (n + p - k) // s + 1)
    assert "should be a whole number" in _message(ch04.q1, lambda n, k, p, s: (n + 2 * p - k) / s + 1)
    assert "(17) is not right" in _message(ch04.q1, lambda n, k, p, s: -(-(n + 2 * p - k) // s) + 1)  # ceil: 32 -> 17
    assert "is not right" in _message(ch04.q1, lambda n, k, p, s: (n + 2 * p - k) // s)


def test_q1_accepts_the_library_formula_with_int_and_floor():
    assert ch04.q1.evaluate(lambda n, k, p, s: int(np.floor((n + 2 * p - k) / s)) + 1).correct


def test_q2_rejects_a_true_convolution_and_same_padding():
    assert "values are off" in _message(ch04.q2, lambda x, k: signal.convolve2d(x, k, mode="valid"))
    assert "wrong shape: expected (4, 4), got (6, 6)" in _message(
        ch04.q2, lambda x, k: signal.correlate2d(x, k, mode="same"))


def test_q2_rejects_swapped_loop_bounds_on_a_non_square_image():
    def swapped(image, kernel):
        kh, kw = kernel.shape
        out = np.zeros((image.shape[1] - kw + 1, image.shape[0] - kh + 1))  # (W', H') instead of (H', W')
        for i in range(out.shape[0]):
            for j in range(out.shape[1]):
                if i + kh <= image.shape[0] and j + kw <= image.shape[1]:
                    out[i, j] = np.sum(image[i:i + kh, j:j + kw] * kernel)
        return out

    assert "wrong shape: expected (6, 3), got (3, 6)" in _message(ch04.q2, swapped)


def test_q2_accepts_the_numpy_nn_layer_and_scipy():
    from mmcourse.numpy_nn import conv2d_forward

    assert ch04.q2.evaluate(lambda x, k: conv2d_forward(x[None, None], k[None, None], np.zeros(1))[0][0, 0]).correct
    assert ch04.q2.evaluate(lambda x, k: signal.correlate2d(x, k, mode="valid")).correct


def test_q3_rejects_average_pooling_overlapping_windows_and_a_zero_start():
    def average(x, k):
        h, w = x.shape
        return x.reshape(h // k, k, w // k, k).mean(axis=(1, 3))

    def stride_one(x, k):
        return sliding_window_view(x, (k, k)).max(axis=(2, 3))

    def from_zero(x, k):
        out = np.zeros((x.shape[0] // k, x.shape[1] // k))
        for i in range(out.shape[0]):
            for j in range(out.shape[1]):
                for v in x[i * k:(i + 1) * k, j * k:(j + 1) * k].ravel():
                    out[i, j] = max(out[i, j], v)
        return out

    assert "values are off" in _message(ch04.q3, average)
    assert "wrong shape: expected (2, 2), got (3, 3)" in _message(ch04.q3, stride_one)
    assert "values are off" in _message(ch04.q3, from_zero)  # all-negative case: the max is not 0


def test_q3_rejects_a_reshape_that_mixes_windows():
    def wrong_reshape(x, k):
        h, w = x.shape
        return x.reshape(h // k, w // k, k * k).max(axis=2)  # groups k*k consecutive values, not a window

    assert "values are off" in _message(ch04.q3, wrong_reshape)


def test_q4_rejects_a_flipped_gradient_and_dout_as_the_image():
    assert "values are off" in _message(ch04.q4, lambda x, g: signal.convolve2d(x, g, mode="valid"))
    assert "values are off" in _message(ch04.q4, lambda x, g: signal.correlate2d(x, g, mode="valid")[::-1, ::-1])
    assert "wrong shape" in _message(ch04.q4, lambda x, g: signal.correlate2d(x, g, mode="same"))


def test_q4_accepts_scipy_correlate2d():
    assert ch04.q4.evaluate(lambda x, g: signal.correlate2d(x, g, mode="valid")).correct


def test_q5_rejects_a_missing_flip_a_one_axis_flip_and_valid_mode():
    def no_flip(g, w):
        kh, kw = w.shape
        return signal.correlate2d(np.pad(g, ((kh - 1, kh - 1), (kw - 1, kw - 1))), w, mode="valid")

    def rows_flipped_only(g, w):
        kh, kw = w.shape
        return signal.correlate2d(np.pad(g, ((kh - 1, kh - 1), (kw - 1, kw - 1))), w[::-1], mode="valid")

    assert "values are off" in _message(ch04.q5, no_flip)
    assert "values are off" in _message(ch04.q5, rows_flipped_only)
    assert "wrong shape: expected (6, 6), got (2, 2)" in _message(
        ch04.q5, lambda g, w: signal.convolve2d(g, w, mode="valid"))


def test_q5_accepts_scipy_full_convolution():
    assert ch04.q5.evaluate(lambda g, w: signal.convolve2d(g, w, mode="full")).correct


def test_q6_rejects_forgetting_the_input_channels_or_the_bias_flag_or_biasing_per_input():
    assert "is not right" in _message(ch04.q6, lambda ci, co, kh, kw, bias: co * (kh * kw + 1))
    assert "is not right" in _message(ch04.q6, lambda ci, co, kh, kw, bias: co * (ci * kh * kw + 1))
    assert "is not right" in _message(ch04.q6, lambda ci, co, kh, kw, bias: co * ci * (kh * kw + int(bias)))


def test_q6_says_a_float_count_must_be_whole():
    assert "should be a whole number" in _message(
        ch04.q6, lambda ci, co, kh, kw, bias: co * (ci * kh * kw + int(bias)) + 0.5)


@pytest.mark.parametrize("question", QUESTIONS, ids=[q.name for q in QUESTIONS])
def test_solution_prints_the_cell_of_the_solution_notebook(question, capsys):
    question.solution()
    out = capsys.readouterr().out
    assert f"from mmcourse.exercises.ch04 import {question.name}" in out
    assert f"{question.name}.check(" in out


@pytest.mark.parametrize("question", QUESTIONS, ids=[q.name for q in QUESTIONS])
def test_reference_and_cases_are_cheap(question):
    import time

    start = time.perf_counter()
    assert question.evaluate(question.reference).correct
    assert time.perf_counter() - start < 0.5
