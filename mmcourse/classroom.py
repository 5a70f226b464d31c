"""Take the course into a classroom with nbgrader: ``python -m mmcourse nbgrader COURSE_DIR``.

``write_course`` turns ``solutions/`` into an nbgrader course folder::

    COURSE_DIR/nbgrader_config.py
    COURSE_DIR/source/NN_name/NN_name.ipynb     (one assignment per chapter)

The solution cells already carry nbgrader's metadata and its
``### BEGIN SOLUTION`` / ``### END SOLUTION`` markers, but the course's
checkers print feedback and never raise, so nbgrader would have nothing to
grade. After each exercise cell the source notebook gets a locked,
autograded test cell worth ``POINTS`` that asserts the checker accepts the
answer the exercise cell last passed to ``qN.check(...)``
(``Question.last_answer``). An unattempted or wrong answer fails the
assertion, so the test cell scores 0, and its output is the checker's
feedback.

``nbgrader_config.py`` makes ``nbgrader generate_assignment`` stub solutions
exactly as ``mmcourse.release`` does for ``chapters/`` (``ClearSolutionsAsRelease``).
"""
from __future__ import annotations

import ast
import copy
from pathlib import Path
from typing import Sequence

import nbformat
from nbformat import NotebookNode
from nbgrader.converters import GenerateAssignment
from nbgrader.preprocessors import ClearSolutions

from mmcourse.release import BEGIN, SOLUTIONS, strip_solutions

POINTS = 1
CONFIG_FILE = "nbgrader_config.py"
TEST_CELL = '''\
# Autograded test of {name} ({points} point{plural}): grades the answer the cell above passed to {name}.check(...)
from {module} import {name}

feedback = {name}.evaluate({name}.last_answer)
assert feedback.correct, feedback.message
print(feedback.message)'''
CONFIG = '''\
"""nbgrader configuration of a course folder written by `python -m mmcourse nbgrader`."""
from mmcourse.classroom import generate_assignment_preprocessors

c = get_config()  # noqa: F821 - nbgrader defines get_config when it reads this file
c.CourseDirectory.course_id = "mmcourse"
# Student versions get exactly the stubs of the course's chapters/ (mmcourse.release.strip_solutions):
# "raise NotImplementedError()" only inside a function, so a top-level `answer = None` stub
# still reaches q.check(None), which says "not attempted yet".
c.GenerateAssignment.preprocessors = generate_assignment_preprocessors()
# A chapter runs in about a minute on a laptop CPU; give a slow cell up to 10 minutes when grading.
c.Execute.timeout = 600
'''


class ClearSolutionsAsRelease(ClearSolutions):
    """nbgrader's ClearSolutions, stubbing Python code cells exactly as ``mmcourse.release`` does."""

    def _replace_solution_region(self, cell: NotebookNode, language: str) -> bool:
        if cell.cell_type != "code" or language != "python":
            return super()._replace_solution_region(cell, language)
        replaced = BEGIN in cell.source
        cell.source = strip_solutions(cell.source)
        return replaced


def generate_assignment_preprocessors() -> list[type]:
    """nbgrader's GenerateAssignment preprocessors with ClearSolutions replaced by ClearSolutionsAsRelease."""
    default = GenerateAssignment.class_traits()["preprocessors"].default()
    return [ClearSolutionsAsRelease if step is ClearSolutions else step for step in default]


def checked_question(source: str) -> tuple[str, str]:
    """(module, name) of the question an exercise cell checks, e.g. ('mmcourse.exercises.ch02', 'q1').

    The cell must call ``name.check(...)`` exactly once and import ``name``
    itself (``from module import name``), as the course's exercise cells do.
    """
    tree = ast.parse(source)
    checked = [node.func.value.id for node in ast.walk(tree)
               if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
               and node.func.attr == "check" and isinstance(node.func.value, ast.Name)]
    if len(checked) != 1:
        raise ValueError(f"an exercise cell should call qN.check(...) exactly once, this one calls it "
                         f"{len(checked)} times:\n{source}")
    name = checked[0]
    modules = [node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
               and any((alias.asname or alias.name) == name for alias in node.names)]
    if len(modules) != 1 or not modules[0]:
        raise ValueError(f"an exercise cell should import {name} itself (from mmcourse.exercises.chNN import "
                         f"{name}):\n{source}")
    return modules[0], name


def grading_cell(grade_id: str, source: str, points: int = POINTS) -> NotebookNode:
    """The autograded nbgrader test cell for the exercise cell ``grade_id`` with code ``source``."""
    module, name = checked_question(source)
    return nbformat.v4.new_code_cell(
        TEST_CELL.format(name=name, module=module, points=points, plural="" if points == 1 else "s"),
        metadata={"nbgrader": {"grade": True, "grade_id": f"{grade_id}_test", "locked": True,
                               "points": points, "schema_version": 3, "solution": False, "task": False}})


def nbgrader_notebook(solution: NotebookNode) -> NotebookNode:
    """The solution notebook, outputs cleared, with an autograded test cell after each exercise cell."""
    notebook = copy.deepcopy(solution)
    cells = []
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        cells.append(cell)
        nbgrader = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and nbgrader.get("solution") and not nbgrader.get("grade"):
            cells.append(grading_cell(nbgrader["grade_id"], cell.source))
    notebook.cells = cells
    return notebook


def write_course(course_dir: Path | str, chapters: Sequence[str] | None = None,
                 solutions_dir: Path = SOLUTIONS) -> list[Path]:
    """Write an nbgrader course folder from the solution notebooks; returns the source notebooks written.

    ``chapters`` picks chapters by number ('02' or '2'; default: all). Each
    chapter becomes the assignment ``NN_name``. An existing ``nbgrader_config.py``
    is kept, so a teacher's own settings survive a re-run.
    """
    notebooks = sorted(Path(solutions_dir).glob("[0-9][0-9]_*.ipynb"))
    if chapters is not None:
        wanted = {}
        for chapter in chapters:
            if not str(chapter).isdigit():
                raise ValueError(f"chapters should be chapter numbers such as '02', got {chapter!r}")
            wanted[f"{int(chapter):02d}"] = chapter
        missing = sorted(set(wanted) - {path.name[:2] for path in notebooks})
        if missing:
            raise ValueError(f"chapters: no solution notebook for {missing} in {solutions_dir}")
        notebooks = [path for path in notebooks if path.name[:2] in wanted]
    course = Path(course_dir)
    course.mkdir(parents=True, exist_ok=True)
    if not (course / CONFIG_FILE).exists():
        (course / CONFIG_FILE).write_text(CONFIG, encoding="utf-8")
    written = []
    for path in notebooks:
        target = course / "source" / path.stem / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nbgrader_notebook(nbformat.read(path, as_version=4)), target)
        written.append(target)
    return written
