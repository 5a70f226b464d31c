"""Find the exercise cells of the solution notebooks and run them with the checker recorded."""
from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

from mmcourse.exercises.core import Question

ROOT = Path(__file__).resolve().parents[1]


def exercise_cells() -> list[tuple[str, str, str]]:
    """(chapter, question name, cell source) for every nbgrader solution cell in solutions/."""
    found = []
    for path in sorted((ROOT / "solutions").glob("[0-9][0-9]_*.ipynb")):
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            if cell["cell_type"] == "code" and grade_id:
                found.append((path.name[:2], grade_id, "".join(cell["source"])))
    return found


def question(chapter: str, name: str) -> Question:
    """The question object ``name`` of ``mmcourse.exercises.ch{chapter}``."""
    return getattr(importlib.import_module(f"mmcourse.exercises.ch{chapter}"), name)


def answer_in_cell(source: str, monkeypatch) -> Any:
    """Run a solution cell and return the answer it passed to ``check``."""
    passed = []
    monkeypatch.setattr(Question, "check", lambda self, answer: passed.append(answer))
    exec(compile(source, "<solution cell>", "exec"), {"__name__": "__solution__"})
    if len(passed) != 1:
        raise AssertionError(f"the cell should call check() exactly once, called it {len(passed)} times")
    return passed[0]


def wrong_message(question: Question, answer: Any) -> str:
    """The feedback ``question`` gives ``answer``, which must be judged wrong."""
    import numpy as np

    with np.errstate(all="ignore"):
        feedback = question.evaluate(answer)
    assert not feedback.correct, "a wrong answer was accepted"
    return feedback.message
