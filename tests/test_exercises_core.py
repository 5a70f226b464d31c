"""The exercise machinery: kind, precise feedback for every kind of wrong answer, never a crash."""
import json

import numpy as np
import pytest
import torch

from mmcourse.env import import_tensorflow
from mmcourse.exercises.core import FunctionQuestion, ValueQuestion, compare, solution_source


class Double(FunctionQuestion):
    name, chapter = "q9", "99"
    hints = ("Multiply by two.", "Use `2 * x`.")

    def reference(self, x):
        return 2 * x

    def cases(self):
        return [(np.arange(6.0).reshape(2, 3),), (np.ones((1, 1)),)]


class Answer(ValueQuestion):
    name, chapter = "q8", "99"
    expected = 42


def test_a_correct_function_is_accepted():
    assert Double().evaluate(lambda x: x + x).correct


@pytest.mark.parametrize(("answer", "status", "fragment"), [
    (None, "unattempted", "not attempted yet"),
    (lambda x: (_ for _ in ()).throw(NotImplementedError()), "unattempted", "not attempted yet"),
    (lambda x: 1 / 0, "wrong", "raised ZeroDivisionError"),
    (lambda x: (2 * x).tolist(), "wrong", "should be a NumPy array, got a list. Wrap it"),
    (lambda x: torch.from_numpy(2 * x), "wrong", "torch.Tensor of shape (2, 3). Convert it with `.detach().cpu().numpy()`"),
    (lambda x: 2 * x.T, "wrong", "wrong shape: expected (2, 3), got (3, 2)"),
    (lambda x: np.full_like(x, np.nan), "wrong", "contains NaN or inf (6 entries, the first at index (0, 0))"),
    (lambda x: 2 * x + (x > 3), "wrong", "2 of 6 values are off, the first at index (1, 1)"),
    (lambda x: (2 * x).astype(str), "wrong", "should hold numbers"),
    (np.zeros((2, 3)), "wrong", "pass your function itself"),
])
def test_wrong_functions_get_precise_kind_feedback(answer, status, fragment):
    feedback = Double().evaluate(answer)
    assert feedback.status == status
    assert fragment in feedback.message


def test_feedback_never_reveals_the_expected_values():
    feedback = Double().evaluate(lambda x: 2 * x + 0.5)
    for value in ("10.0", "8.0", "6.0"):
        assert value not in feedback.message


def test_tensorflow_tensors_get_their_own_advice():
    tf = import_tensorflow()
    feedback = Double().evaluate(lambda x: tf.constant(2 * x))
    assert "TensorFlow tensor" in feedback.message and ".numpy()" in feedback.message


@pytest.mark.parametrize(("answer", "fragment"), [
    (41, "(41) is not right"), ("42", "should be a number, got a str"), (float("inf"), "is inf"),
    (42.5, "should be a whole number"), (lambda: 42, "wants a value, not a function"), (True, "should be a number")])
def test_value_questions_reject_wrong_values(answer, fragment):
    feedback = Answer().evaluate(answer)
    assert not feedback.correct and fragment in feedback.message


def test_value_questions_accept_numpy_scalars_and_zero_d_arrays():
    assert Answer().evaluate(np.int64(42)).correct
    assert Answer().evaluate(np.array(42.0)).correct


def test_compare_handles_strings_bools_and_tuples():
    assert compare(" Red ", "red") is None
    assert "is not right" in compare("blue", "red")
    assert compare(np.True_, True) is None
    assert "tuple of 2 items" in compare((1,), (1, 2))
    assert "item 1 of" in compare((1, 3), (1, 2))
    assert "should hold integers" in compare(np.array([1.0]), np.array([1]))


def test_check_prints_instead_of_raising(capsys):
    Double().check(lambda x: undefined_name)  # noqa: F821 - the learner's typo
    assert "NameError" in capsys.readouterr().out


def test_hints_come_in_order_and_then_repeat_the_last(capsys):
    q = Double()
    q.hint(), q.hint(), q.hint()
    assert capsys.readouterr().out.splitlines() == [
        "Hint 1/2: Multiply by two.", "Hint 2/2: Use `2 * x`.", "Hint 2/2: Use `2 * x`."]


def test_solution_source_reads_the_graded_cell_of_the_solution_notebook(tmp_path):
    cell = {"cell_type": "code", "source": ["x = 1\n", "q9.check(x)"], "outputs": [], "execution_count": None,
            "metadata": {"nbgrader": {"grade_id": "q9", "solution": True}}}
    (tmp_path / "99_demo.ipynb").write_text(json.dumps({"cells": [cell]}))
    assert solution_source("99", "q9", tmp_path) == "x = 1\nq9.check(x)"
    assert "No cell with grade_id 'q1'" in solution_source("99", "q1", tmp_path)
    assert "not here" in solution_source("98", "q1", tmp_path)


def test_framework_objects_without_a_shape_are_described_not_crashed_on():
    feedback = Answer().evaluate(torch.device("cpu"))
    assert not feedback.correct and "should be a number, got a torch device" in feedback.message


def test_nan_in_an_integer_answer_is_reported_as_nan():
    assert "NaN" in compare(np.array([1.0, np.nan]), np.array([1, 2]))
