"""Chapter 00 exercises reject realistic mistakes with a message that points at the mistake."""
import numpy as np
import pytest
import torch

from mmcourse.exercises import ch00


def _message(question, answer) -> str:
    feedback = question.evaluate(answer)
    assert not feedback.correct, "a wrong answer was accepted"
    return feedback.message


def test_q0_rejects_gigabytes_and_integer_division():
    assert "is not right" in _message(ch00.q0, lambda n: n / 1e9)
    assert "is not right" in _message(ch00.q0, lambda n: n // 2**30)
    assert ch00.q0.evaluate(lambda n: n / 2**30).correct


def test_q1_rejects_mps_before_cuda_and_non_strings():
    def mps_first(cuda, mps):
        return "mps" if mps else ("cuda" if cuda else "cpu")

    assert "for inputs True, True" in _message(ch00.q1, mps_first)
    assert "is not right" in _message(ch00.q1, lambda cuda, mps: "gpu" if cuda or mps else "cpu")
    assert "returned a torch.device (cpu)" in _message(ch00.q1, lambda cuda, mps: torch.device("cpu"))
    assert "should be a string" in _message(ch00.q1, lambda cuda, mps: ["cpu"])


def test_q2_rejects_element_counts_and_a_fixed_four_bytes():
    assert "is not right" in _message(ch00.q2, lambda shape, dtype: int(np.prod(shape)))
    assert "'float16'" in _message(ch00.q2, lambda shape, dtype: int(np.prod(shape)) * 4)
    assert "is not right" in _message(ch00.q2, lambda shape, dtype: len(shape) * np.dtype(dtype).itemsize)


def test_q2_rejects_floats_and_bools_naming_the_type_but_accepts_numpy_integers():
    def as_float(shape, dtype):
        return float(np.prod(shape)) * np.dtype(dtype).itemsize

    def true_division(shape, dtype):
        return np.prod(shape) * np.dtype(dtype).itemsize / 1

    assert ("should be an int (number of bytes), got float 602112.0 (for inputs (3, 224, 224), 'float32')"
            in _message(ch00.q2, as_float))
    assert "should be an int (number of bytes), got float64 602112.0" in _message(ch00.q2, true_division)
    assert "got float32 602112.0" in _message(ch00.q2, lambda shape, dtype: np.float32(as_float(shape, dtype)))
    assert "got bool True" in _message(ch00.q2, lambda shape, dtype: True)
    assert ch00.q2.evaluate(lambda shape, dtype: np.prod(shape, dtype=np.int64) * np.dtype(dtype).itemsize).correct


def test_q3_rejects_gigabytes_and_forgotten_optimiser_state():
    def weights_only(n, dtype, training):
        return n * np.dtype(dtype).itemsize / 2**30

    def decimal_gb(n, dtype, training):
        return (4 if training else 1) * n * np.dtype(dtype).itemsize / 1e9

    def weights_and_gradients(n, dtype, training):
        return (2 if training else 1) * n * np.dtype(dtype).itemsize / 2**30

    assert "True" in _message(ch00.q3, weights_only)  # fails on the first training case
    assert "is not right" in _message(ch00.q3, decimal_gb)
    assert "is not right" in _message(ch00.q3, weights_and_gradients)


def test_q4_accepts_any_local_seeded_shuffle():
    def with_random_state(n, seed):
        order = np.random.RandomState(seed).permutation(n)
        return order[: n // 5], order[n // 5:]

    def sorted_choice(n, seed):
        rng = np.random.default_rng(seed)
        validation = np.sort(rng.choice(n, size=n // 5, replace=False))
        return validation, np.setdiff1d(np.arange(n), validation)

    assert ch00.q4.evaluate(with_random_state).correct
    assert ch00.q4.evaluate(sorted_choice).correct


def test_q4_names_the_global_state_when_the_answer_uses_or_reseeds_it():
    def unseeded_global(n, seed):
        order = np.random.permutation(n)
        return order[: n // 5], order[n // 5:]

    def reseeds_global(n, seed):
        np.random.seed(seed)
        order = np.random.permutation(n)
        return order[: n // 5], order[n // 5:]

    assert "global random state" in _message(ch00.q4, unseeded_global)
    assert "global random state" in _message(ch00.q4, reseeds_global)


def test_q4_rejects_the_global_generator_even_when_the_answer_puts_its_state_back():
    def saves_and_restores(n, seed):
        saved = np.random.get_state()
        np.random.seed(seed)
        order = np.random.permutation(n)
        np.random.set_state(saved)
        return order[: n // 5], order[n // 5:]

    def imports_inside(n, seed):
        from numpy.random import get_state, set_state, shuffle

        saved, order = get_state(), np.arange(n)
        shuffle(order)
        set_state(saved)
        return order[: n // 5], order[n // 5:]

    message = _message(ch00.q4, saves_and_restores)
    assert ("uses NumPy's global random state (it calls np.random.get_state, np.random.seed, "
            "np.random.permutation, np.random.set_state)") in message
    assert "np.random.default_rng(seed)" in message
    assert "(it calls np.random.get_state, np.random.shuffle, np.random.set_state)" in _message(
        ch00.q4, imports_inside)


def test_q4_rejects_a_rotation_as_a_shuffle():
    def rotation(n, seed):
        order = np.roll(np.arange(n), seed)
        return order[: n // 5], order[n // 5:]

    def shifted_slice(n, seed):
        validation = (np.arange(n // 5) + 7 * seed) % n
        return validation, np.setdiff1d(np.arange(n), validation)

    assert "validation indices are consecutive" in _message(ch00.q4, rotation)
    assert "(for n=50, seed=0)" in _message(ch00.q4, rotation)
    assert "validation indices are consecutive" in _message(ch00.q4, shifted_slice)


def test_q4_rejects_unseeded_and_seed_ignoring_generators():
    def unseeded_local(n, seed):
        order = np.random.default_rng().permutation(n)
        return order[: n // 5], order[n // 5:]

    def ignores_seed(n, seed):
        order = np.random.default_rng(0).permutation(n)
        return order[: n // 5], order[n // 5:]

    assert "same seed gave different splits" in _message(ch00.q4, unseeded_local)
    assert "seeds 0 and 1 gave the same split" in _message(ch00.q4, ignores_seed)


def test_q4_rejects_malformed_splits():
    def lists(n, seed):
        order = np.random.default_rng(seed).permutation(n)
        return list(order[: n // 5]), list(order[n // 5:])

    def a_quarter(n, seed):
        order = np.random.default_rng(seed).permutation(n)
        return order[: n // 4], order[n // 4:]

    def with_repeats(n, seed):
        rng = np.random.default_rng(seed)
        return rng.integers(0, n, n // 5), rng.integers(0, n, n - n // 5)

    def floats(n, seed):
        order = np.random.default_rng(seed).permutation(n).astype(float)
        return order[: n // 5], order[n // 5:]

    assert "should be a NumPy array" in _message(ch00.q4, lists)
    assert "wrong shape: expected (10,), got (12,)" in _message(ch00.q4, a_quarter)
    assert "every index 0..n-1 exactly once" in _message(ch00.q4, with_repeats)
    assert "should be integers" in _message(ch00.q4, floats)


def test_q4_leaves_the_global_state_as_it_was_even_when_the_answer_raises():
    def raises(n, seed):
        raise RuntimeError("boom")

    global_functions = (np.random.seed, np.random.permutation, np.random.mtrand.get_state)
    np.random.seed(99)
    expected = np.random.rand(3)
    np.random.seed(99)
    assert "raised RuntimeError: boom" in _message(ch00.q4, raises)
    assert ch00.q4.evaluate(lambda n, seed: (np.arange(n)[: n // 5], np.arange(n)[n // 5:])).status == "wrong"
    np.testing.assert_array_equal(np.random.rand(3), expected)
    assert (np.random.seed, np.random.permutation, np.random.mtrand.get_state) == global_functions
