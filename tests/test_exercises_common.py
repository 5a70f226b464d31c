"""Every function question of chapters 10-15 accepts its reference, flags each near miss, and survives junk."""
import importlib

import pytest

from exercise_cells import wrong_message
from mmcourse.exercises.core import FunctionQuestion

QUESTIONS = [q for n in ("10", "11", "12", "13", "14", "15")
             for q in vars(importlib.import_module(f"mmcourse.exercises.ch{n}")).values()
             if isinstance(q, FunctionQuestion)]


@pytest.mark.parametrize("question", QUESTIONS, ids=lambda q: f"ch{q.chapter}-{q.name}")
def test_every_question_accepts_its_reference_and_flags_each_near_miss(question):
    assert question.evaluate(question.reference).correct
    for wrong, advice in question.near_misses():
        assert advice in wrong_message(question, wrong)


@pytest.mark.parametrize("question", QUESTIONS, ids=lambda q: f"ch{q.chapter}-{q.name}")
def test_no_crash_on_junk(question):
    assert question.evaluate(None).status == "unattempted"
    assert "pass your function itself" in wrong_message(question, [1, 2])
    assert "raised ZeroDivisionError" in wrong_message(question, lambda *args: 1 / 0)
