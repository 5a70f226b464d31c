"""Every exercise accepts its worked solution and rejects classes of wrong answers kindly."""
import numpy as np
import pytest
import torch

from exercise_cells import answer_in_cell, exercise_cells, question
from mmcourse.exercises.core import FunctionQuestion

CELLS = exercise_cells()
IDS = [f"ch{chapter}-{name}" for chapter, name, _ in CELLS]


def test_every_chapter_from_00_to_03_has_at_least_three_exercises():
    for chapter in ("00", "01", "02", "03"):
        assert sum(c == chapter for c, _, _ in CELLS) >= 3, f"chapter {chapter} has fewer than 3 exercises"


@pytest.mark.parametrize(("chapter", "name", "source"), CELLS, ids=IDS)
def test_solution_passes_its_checker(chapter, name, source, monkeypatch):
    answer = answer_in_cell(source, monkeypatch)
    feedback = question(chapter, name).evaluate(answer)
    assert feedback.correct, feedback.message


def _wrong_values(value):
    """Wrong versions of a correct value, each with a fragment its feedback must contain."""
    if isinstance(value, np.ndarray):
        wrong = [(torch.from_numpy(np.array(value)), "torch.Tensor"),
                 (value.tolist(), "should be a NumPy array"),
                 (value.reshape(-1)[:-1] if value.size > 1 else value.reshape(1, 1), "wrong shape"),
                 (np.full(value.shape, np.nan), "NaN"),
                 (value + 1 + np.abs(value), "values are off"),
                 ("an array", "should be a NumPy array")]
        if value.dtype.kind in "iub":
            wrong[4] = (value + 1, "values are off")
        return wrong
    if isinstance(value, str):
        return [(value + " not", "is not right"), (3, "should be a string"), ([value], "should be a string")]
    if isinstance(value, tuple):
        return [(value[:-1], "tuple of"), (list(value), "tuple of")]
    if isinstance(value, list):  # token ids
        return [(value + [1], "not right"), ([float(v) for v in value] or [0.5], "not floats"),
                (" ".join(map(str, value)), "a list of token ids")]
    if isinstance(value, (bool, np.bool_)):
        return [(not value, "is not right"), ("yes", "should be True or False")]
    return [(float("nan"), "nan"), (value * 2 + 1, "is not right"), (str(value), "should be a number"),
            (torch.tensor(float(value)), "torch.Tensor"), ([value], "should be a number")]


def _raising(*args):
    raise ValueError("shapes do not match")


def _unattempted(*args):
    raise NotImplementedError()


def _returning(value):
    return lambda *args: value


@pytest.mark.parametrize(("chapter", "name", "source"), CELLS, ids=IDS)
def test_wrong_answers_are_rejected_with_a_precise_message(chapter, name, source, monkeypatch):
    q = question(chapter, name)
    answer = answer_in_cell(source, monkeypatch)
    assert q.evaluate(None).status == "unattempted"
    if isinstance(q, FunctionQuestion):
        first = q.cases()[0]
        cases = [(_unattempted, "not attempted yet"), (_raising, "raised ValueError: shapes do not match"),
                 (42, "pass your function itself")]
        cases += [(_returning(wrong), fragment) for wrong, fragment in _wrong_values(answer(*first))]
    else:
        cases = [(_raising, "wants a value, not a function")] + _wrong_values(answer)
    assert len(cases) >= 4
    for wrong, fragment in cases:
        feedback = q.evaluate(wrong)
        assert not feedback.correct, f"accepted a wrong answer expecting {fragment!r}"
        assert fragment.lower() in feedback.message.lower(), (fragment, feedback.message)


@pytest.mark.parametrize(("chapter", "name", "source"), CELLS, ids=IDS)
def test_hints_come_in_order_and_then_repeat_the_last(chapter, name, source, capsys):
    fresh = type(question(chapter, name))()
    for _ in range(len(fresh.hints) + 1):
        fresh.hint()
    n = len(fresh.hints)
    assert n >= 1, f"ch{chapter} {name} has no hint"
    prefix = (lambda i: f"Hint {i}/{n}: ") if n > 1 else (lambda i: "Hint: ")
    expected = [prefix(i + 1) + h for i, h in enumerate(fresh.hints)] + [prefix(n) + fresh.hints[-1]]
    assert capsys.readouterr().out.splitlines() == expected
