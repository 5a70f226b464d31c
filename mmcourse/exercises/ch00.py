"""Exercises of chapter 00: setting up the environment (devices, memory, reproducibility)."""
from __future__ import annotations

from contextlib import contextmanager
from inspect import isclass
from typing import Any, Callable, Iterator

import numpy as np

from mmcourse.exercises.core import FunctionQuestion, _describe

GIB = 2**30


class BytesToGiB(FunctionQuestion):
    """Warm-up: convert a number of bytes to gibibytes (GiB, 2**30 bytes)."""

    name, chapter = "q0", "00"
    hints = ("One GiB (gibibyte) is 1024 * 1024 * 1024 = 2**30 bytes; one GB (gigabyte) is 10**9 bytes.",
             "Divide the number of bytes by 2**30.")

    def reference(self, n_bytes):
        return n_bytes / GIB

    def cases(self):
        return [(2**30,), (3 * 2**29,), (0,), (80 * 10**9,)]


class PickDevice(FunctionQuestion):
    """The course's device rule: CUDA first, then Apple MPS, else the CPU."""

    name, chapter = "q1", "00"
    hints = ("Return one of the strings 'cuda', 'mps' or 'cpu'.",
             "Test CUDA first: a machine with an NVIDIA GPU should use it even if something else is there too.",
             "if cuda_available: return 'cuda'; then the same for mps; otherwise 'cpu'.")

    def reference(self, cuda_available, mps_available):
        if cuda_available:
            return "cuda"
        if mps_available:
            return "mps"
        return "cpu"

    def cases(self):
        return [(True, False), (False, True), (False, False), (True, True)]

    def _problem(self, answer: Any) -> str | None:
        if callable(answer):
            for args in self.cases():
                got = answer(*args)
                if type(got).__module__.startswith("torch") and type(got).__name__ == "device":
                    return (f"your function returned a torch.device ({got}) for inputs {args[0]}, {args[1]}: "
                            f"return its name as a string instead, e.g. 'cpu' (a device's .type)")
        return super()._problem(answer)


class TensorBytes(FunctionQuestion):
    """Memory of a tensor: number of elements times bytes per element."""

    name, chapter = "q2", "00"
    hints = ("The number of elements is the product of the shape's entries (and 1 for the shape ()).",
             "np.dtype(dtype).itemsize is the number of bytes of one element: 4 for float32, 2 for float16.",
             "int(np.prod(shape)) * np.dtype(dtype).itemsize")

    def reference(self, shape, dtype):
        return int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize

    def cases(self):
        return [((3, 224, 224), "float32"), ((64, 1, 28, 28), "float16"), ((1000, 13), "int64"),
                ((2, 3), "uint8"), ((), "float64"), ((10, 0, 3), "float32")]

    def _problem(self, answer: Any) -> str | None:
        if callable(answer):
            for shape, dtype in self.cases():
                got = answer(shape, dtype)
                value = got.item() if isinstance(got, np.ndarray) and got.size == 1 else got
                if isinstance(value, (bool, np.bool_, float, np.floating)):
                    return (f"the returned value should be an int (number of bytes), got {type(value).__name__} "
                            f"{value} (for inputs {shape!r}, {dtype!r}): bytes come whole, so return an int")
        return super()._problem(answer)


class ModelMemory(FunctionQuestion):
    """Memory of a model's parameters, for inference or for training with Adam."""

    name, chapter = "q3", "00"
    hints = ("Start with the weights: n_params * bytes per parameter (np.dtype(dtype).itemsize).",
             "Training with Adam keeps four numbers per parameter: the weight, its gradient and Adam's two "
             "moment estimates, so four times the weights' memory.",
             "Divide by 2**30 at the end to get GiB (not by 10**9, that would be GB).")

    def reference(self, n_params, dtype, training):
        copies = 4 if training else 1
        return copies * n_params * np.dtype(dtype).itemsize / GIB

    def cases(self):
        return [(135_000_000, "float32", False), (135_000_000, "float32", True),
                (7_000_000_000, "float16", False), (1_000_000, "float64", True)]


class DeterministicSplit(FunctionQuestion):
    """Split indices 0..n-1 into validation (n // 5) and training indices, reproducibly.

    Any shuffle is accepted as long as it is a function of ``seed`` alone:
    the same seed gives the same split, another seed another split, and
    NumPy's global random state is neither used nor changed (calling its
    functions counts as use, even when the state is put back). A rotation
    of 0..n-1 is no shuffle: its validation indices are consecutive, which
    for n >= 50 a shuffle gives with probability below 1e-8.
    """

    name, chapter = "q4", "00"
    hints = ("Create a generator of your own inside the function: rng = np.random.default_rng(seed).",
             "rng.permutation(n) shuffles 0..n-1; the first n // 5 entries are the validation indices.",
             "Do not call np.random.seed or np.random.permutation: they use (and change) the global state "
             "that every other piece of code shares.")

    def reference(self, n, seed):
        order = np.random.default_rng(seed).permutation(n)
        return order[: n // 5], order[n // 5:]

    def cases(self):
        return [(50, 0), (50, 1), (7, 3), (1000, 2024)]

    def _problem(self, answer: Any) -> str | None:
        if not callable(answer):
            return f"pass your function itself (without calling it), got {_describe(answer)}"
        splits = {}
        for n, seed in self.cases():
            before = np.random.get_state()
            try:
                np.random.seed(12345)  # a known global state, to see whether the answer draws from it
                sentinel = np.random.get_state()
                with _recording_global_random_calls() as calls:
                    first = answer(n, seed)
                global_changed = not _same_state(np.random.get_state(), sentinel)
                second = answer(n, seed)
            finally:
                np.random.set_state(before)  # leave the learner's global state as it was
            problem = _split_problem(first, n)
            if problem:
                return f"{problem} (for n={n}, seed={seed})"
            called = ", ".join(f"np.random.{name}" for name in calls)
            if global_changed:
                return (f"your function changes NumPy's global random state "
                        f"({called or 'np.random.seed, np.random.permutation ...'}), which every other piece of "
                        f"code shares: use a generator of your own, np.random.default_rng(seed)")
            if calls:
                return (f"your function uses NumPy's global random state (it calls {called}): even when the "
                        f"state is put back afterwards, the global generator is shared with every other piece "
                        f"of code, so leave it alone and use a generator of your own, np.random.default_rng(seed)")
            if _split_problem(second, n) or not all(np.array_equal(a, b) for a, b in zip(first, second)):
                return f"two calls with the same seed gave different splits (n={n}, seed={seed})"
            if n >= 50 and _is_one_run(first[0], n):
                return (f"the validation indices are consecutive (wrapping around from n - 1 to 0), as a "
                        f"rotation or a slice of 0..n-1 gives them: that is no shuffle, where every index is "
                        f"equally likely to land in either part (for n={n}, seed={seed})")
            splits[(n, seed)] = first
        if np.array_equal(splits[(50, 0)][0], splits[(50, 1)][0]):
            return "seeds 0 and 1 gave the same split: the shuffle must depend on the seed"
        return None


@contextmanager
def _recording_global_random_calls() -> Iterator[list[str]]:
    """Within the block, record (once each, in order) which functions of NumPy's global generator are called."""
    calls: list[str] = []
    names = [name for name in np.random.mtrand.__all__ if not isclass(getattr(np.random.mtrand, name))]
    originals = {(module, name): getattr(module, name) for module in (np.random, np.random.mtrand) for name in names}
    for (module, name), function in originals.items():
        setattr(module, name, _recorded(function, name, calls))
    try:
        yield calls
    finally:
        for (module, name), function in originals.items():
            setattr(module, name, function)


def _recorded(function: Callable, name: str, calls: list[str]) -> Callable:
    """``function``, noting ``name`` in ``calls`` when it is called."""
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if name not in calls:
            calls.append(name)
        return function(*args, **kwargs)
    return wrapper


def _is_one_run(indices: np.ndarray, n: int) -> bool:
    """Whether ``indices`` (fewer than n) are consecutive modulo n, like 48, 49, 0, 1."""
    ordered = np.sort(indices)
    gaps = np.diff(np.append(ordered, ordered[0] + n))  # (k,), the last one wraps around
    return int(np.sum(gaps > 1)) <= 1


def _same_state(a: tuple, b: tuple) -> bool:
    """Whether two np.random.get_state() tuples are equal."""
    return a[0] == b[0] and np.array_equal(a[1], b[1]) and a[2:] == b[2:]


def _split_problem(result: Any, n: int) -> str | None:
    """What is wrong with a (validation, training) split of range(n), or None."""
    if not isinstance(result, tuple) or len(result) != 2:
        return (f"the returned value should be a tuple of 2 items (validation indices, training indices), "
                f"got {_describe(result)}" + (f" of {len(result)} items" if isinstance(result, tuple) else ""))
    for what, part, size in (("validation", result[0], n // 5), ("training", result[1], n - n // 5)):
        if not isinstance(part, np.ndarray):
            return f"the {what} indices should be a NumPy array, got {_describe(part)}"
        if part.dtype.kind not in "iu":
            return f"the {what} indices should be integers, got dtype {part.dtype}"
        if part.shape != (size,):
            return f"the {what} indices have the wrong shape: expected ({size},), got {part.shape}"
    if not np.array_equal(np.sort(np.concatenate(result)), np.arange(n)):
        return "together the two arrays should hold every index 0..n-1 exactly once"
    return None


q0 = BytesToGiB()
q1 = PickDevice()
q2 = TensorBytes()
q3 = ModelMemory()
q4 = DeterministicSplit()

__all__ = ["GIB", "q0", "q1", "q2", "q3", "q4"]
