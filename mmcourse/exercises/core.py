"""Checked exercises, declared not coded (in the manner of Kaggle's learntools).

A chapter module declares each question as a small class: what the answer
is (a ``reference`` function, or a value), which inputs to try it on
(``cases``), a tolerance and hints. The machinery here does the rest:

- ``check(answer)`` prints kind, precise feedback and never raises, whatever
  the learner passes (None, a function that raises, a list or a torch
  tensor instead of an array, a wrong shape, NaN, wrong values ...). It never
  shows the expected values.
- ``hint()`` prints the next hint.
- ``solution()`` prints the worked code, read from ``solutions/NN_*.ipynb``
  (the cell whose nbgrader ``grade_id`` is the question's name), so every
  solution is written exactly once.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

SOLUTIONS_DIR = Path(__file__).resolve().parents[2] / "solutions"


@dataclass(frozen=True)
class Feedback:
    """The outcome of checking one answer: ``status`` is 'correct', 'unattempted' or 'wrong'."""

    status: str
    message: str

    @property
    def correct(self) -> bool:
        return self.status == "correct"


def _describe(value: Any) -> str:
    """Short description of a value's type (and shape) for feedback messages."""
    kind = type(value)
    module = kind.__module__.split(".")[0]
    shape = getattr(value, "shape", None)
    if module == "torch" and shape is not None:
        return f"a torch.Tensor of shape {tuple(shape)}"
    if module in ("tensorflow", "keras") and shape is not None:
        return f"a TensorFlow tensor of shape {tuple(shape)}"
    if module in ("torch", "tensorflow", "keras"):
        return f"a {module} {kind.__name__}"
    if isinstance(value, np.ndarray):
        return f"a NumPy array of shape {value.shape} and dtype {value.dtype}"
    return f"a {kind.__name__}"


def _convert_advice(value: Any) -> str:
    module = type(value).__module__.split(".")[0]
    if module == "torch":
        return " Convert it with `.detach().cpu().numpy()`."
    if module in ("tensorflow", "keras"):
        return " Convert it with `.numpy()`."
    if isinstance(value, (list, tuple)):
        return " Wrap it with `np.asarray(...)`."
    return ""


def compare(answer: Any, expected: Any, rtol: float = 1e-5, atol: float = 1e-8,
            what: str = "your answer") -> str | None:
    """Compare an answer with the expected value; returns None if it matches, else what is wrong.

    ``expected`` may be an array, a number, a string, a bool, or a tuple of
    those (compared item by item). The message never contains expected values.
    """
    if isinstance(expected, tuple):
        if not isinstance(answer, tuple) or len(answer) != len(expected):
            return f"{what} should be a tuple of {len(expected)} items, got {_describe(answer)}" + (
                f" of {len(answer)} items" if isinstance(answer, tuple) else "")
        for i, (a, e) in enumerate(zip(answer, expected)):
            problem = compare(a, e, rtol, atol, f"item {i} of {what}")
            if problem:
                return problem
        return None
    if isinstance(expected, str):
        if not isinstance(answer, str):
            return f"{what} should be a string, got {_describe(answer)}"
        return None if answer.strip().lower() == expected.lower() else f"{what} ({answer!r}) is not right"
    if isinstance(expected, (bool, np.bool_)):
        if not isinstance(answer, (bool, np.bool_)):
            return f"{what} should be True or False, got {_describe(answer)}"
        return None if bool(answer) == bool(expected) else f"{what} ({answer}) is not right"
    if isinstance(expected, np.ndarray):
        return _compare_arrays(answer, expected, rtol, atol, what)
    return _compare_numbers(answer, expected, rtol, atol, what)


def _compare_numbers(answer: Any, expected: float, rtol: float, atol: float, what: str) -> str | None:
    if isinstance(answer, np.ndarray) and answer.size == 1:
        answer = answer.item()
    if isinstance(answer, (bool, np.bool_)) or not isinstance(answer, (int, float, np.integer, np.floating)):
        return f"{what} should be a number, got {_describe(answer)}." + _convert_advice(answer)
    if not np.isfinite(answer):
        return f"{what} is {answer}: look for a division by zero or a log of zero"
    if isinstance(expected, (int, np.integer)) and float(answer) != int(answer):
        return f"{what} should be a whole number, got {answer}"
    if not np.isclose(answer, expected, rtol=rtol, atol=atol):
        return f"{what} ({answer}) is not right"
    return None


def _compare_arrays(answer: Any, expected: np.ndarray, rtol: float, atol: float, what: str) -> str | None:
    if not isinstance(answer, np.ndarray):
        return f"{what} should be a NumPy array, got {_describe(answer)}." + _convert_advice(answer)
    if answer.shape != expected.shape:
        return f"{what} has the wrong shape: expected {expected.shape}, got {answer.shape}"
    if answer.dtype.kind not in "biuf":
        return f"{what} should hold numbers, got dtype {answer.dtype}"
    bad = ~np.isfinite(answer)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        return f"{what} contains NaN or inf ({int(bad.sum())} entries, the first at index {where})"
    if expected.dtype.kind in "biu" and answer.dtype.kind not in "biu":
        return f"{what} should hold integers, got dtype {answer.dtype}"
    close = np.isclose(answer, expected, rtol=rtol, atol=atol)
    if not close.all():
        where = tuple(int(i) for i in np.argwhere(~close)[0])
        return (f"{what} has the right shape but {int((~close).sum())} of {close.size} values are off, "
                f"the first at index {where}")
    return None


class Question:
    """Shared machinery of every question; subclasses declare what to check.

    Subclasses set ``name`` ('q1'), ``chapter`` ('02'), ``hints`` and either
    ``expected`` (a value) or ``reference`` + ``cases`` (a function and the
    inputs to call it with).
    """

    name: str = ""
    chapter: str = ""
    hints: tuple[str, ...] = ()
    rtol: float = 1e-5
    atol: float = 1e-8
    last_answer: Any = None  # what check() was last given; nbgrader's test cells grade it

    def __init__(self) -> None:
        self._hints_shown = 0

    # -- what the learner calls ------------------------------------------------
    def check(self, answer: Any) -> None:
        """Check ``answer`` and print feedback; never raises. Keeps the answer in ``last_answer``."""
        self.last_answer = answer
        print(self.evaluate(answer).message)

    def hint(self) -> None:
        """Print the next hint (they get more specific each time)."""
        if not self.hints:
            print("No hint for this one: re-read the text above the exercise.")
            return
        shown = min(self._hints_shown, len(self.hints) - 1)
        self._hints_shown += 1
        prefix = f"Hint {shown + 1}/{len(self.hints)}: " if len(self.hints) > 1 else "Hint: "
        print(prefix + self.hints[shown])

    def solution(self) -> None:
        """Print the worked solution, taken from the solution notebook."""
        print(f"Solution to {self.chapter} {self.name}:\n\n{solution_source(self.chapter, self.name)}")

    # -- machinery ---------------------------------------------------------------
    def evaluate(self, answer: Any) -> Feedback:
        """Judge ``answer``; returns a Feedback, never raises."""
        if answer is None:
            return self._unattempted()
        try:
            problem = self._problem(answer)
        except NotImplementedError:
            return self._unattempted()
        except Exception as err:  # the learner's code may raise anything; report it, kindly
            return Feedback("wrong", f"Not yet: your code raised {type(err).__name__}: {err}")
        if problem is None:
            return Feedback("correct", f"Correct! ({self.chapter} {self.name})")
        return Feedback("wrong", f"Not yet: {problem}. Call {self.name}.hint() for a hint.")

    def _unattempted(self) -> Feedback:
        return Feedback("unattempted", f"{self.name} is not attempted yet: replace the "
                        f"`# YOUR CODE HERE` line with your code, then run the cell again. "
                        f"{self.name}.hint() gives a hint, {self.name}.solution() the answer.")

    def _problem(self, answer: Any) -> str | None:
        raise NotImplementedError  # pragma: no cover - subclasses define it


class ValueQuestion(Question):
    """A question whose answer is a value (number, string, array, tuple)."""

    expected: Any = None

    def expected_value(self) -> Any:
        """The expected answer; override to compute it."""
        return self.expected

    def _problem(self, answer: Any) -> str | None:
        if callable(answer):
            return "this exercise wants a value, not a function: call your function and pass its result"
        return compare(answer, self.expected_value(), self.rtol, self.atol)


class FunctionQuestion(Question):
    """A question whose answer is a function, checked against ``reference`` on ``cases()``.

    ``near_misses`` may list (wrong function, what is wrong) pairs: when the
    learner's result for a failing case equals a near miss's result, its
    text is added to the feedback. The texts name the mistake, never the
    expected values.
    """

    def reference(self, *args: Any) -> Any:
        raise NotImplementedError  # pragma: no cover - subclasses define it

    def cases(self) -> list[tuple]:
        """Argument tuples to call the answer with; override with seeded inputs."""
        raise NotImplementedError  # pragma: no cover - subclasses define it

    def near_misses(self) -> tuple[tuple[Callable[..., Any], str], ...]:
        """Known mistakes as (wrong function, advice) pairs; none by default."""
        return ()

    def _mismatch(self, got: Any, expected: Any, args: tuple) -> str | None:
        """What is wrong with ``got`` for the inputs ``args``, or None; override for special comparisons."""
        return compare(got, expected, self.rtol, self.atol, "the returned value")

    def _diagnosis(self, got: Any, args: tuple) -> str | None:
        """The advice of the first near miss whose result equals ``got``, or None."""
        for wrong, advice in self.near_misses():
            try:
                with np.errstate(all="ignore"):
                    matches = compare(got, wrong(*copy.deepcopy(args)), self.rtol, self.atol) is None
            except Exception:  # a near miss may not apply to this case (e.g. an empty cache)
                continue
            if matches:
                return advice
        return None

    def _problem(self, answer: Any) -> str | None:
        if not callable(answer):
            return f"pass your function itself (without calling it), got {_describe(answer)}"
        for args in self.cases():
            expected = self.reference(*copy.deepcopy(args))
            got = answer(*copy.deepcopy(args))
            problem = self._mismatch(got, expected, args)
            if problem:
                diagnosis = self._diagnosis(got, args)
                return f"{problem} (for inputs {_describe_args(args)})" + (f"; {diagnosis}" if diagnosis else "")
        return None


def _describe_args(args: tuple) -> str:
    return ", ".join(f"shape {a.shape}" if isinstance(a, np.ndarray) else repr(a) for a in args)


def solution_source(chapter: str, name: str, solutions_dir: Path | None = None) -> str:
    """Source of the solution cell of question ``name`` in ``solutions/{chapter}_*.ipynb``."""
    folder = solutions_dir or SOLUTIONS_DIR
    notebooks = sorted(folder.glob(f"{chapter}_*.ipynb"))
    if not notebooks:
        return (f"(The solution notebook for chapter {chapter} is not here: expected it in {folder}. "
                f"Clone the whole course repository and install it with `pip install -e .`.)")
    cells = json.loads(notebooks[0].read_text(encoding="utf-8"))["cells"]
    for cell in cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == name:
            return "".join(cell["source"])
    return f"(No cell with grade_id {name!r} in {notebooks[0].name}.)"
