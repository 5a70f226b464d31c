"""A teacher takes solutions/ into nbgrader: student versions, autograded test cells, real scores."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook
from nbgrader.preprocessors import ClearSolutions

from exercise_cells import exercise_cells
from mmcourse.classroom import (CONFIG_FILE, ClearSolutionsAsRelease, checked_question,
                                generate_assignment_preprocessors, nbgrader_notebook, write_course)
from mmcourse.exercises.core import FunctionQuestion
from mmcourse.release import student_version, strip_solutions

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = "00_environment"  # small and fast: five exercises, no training
STUB = "    # YOUR CODE HERE\n    raise NotImplementedError()"


class Triple(FunctionQuestion):
    name, chapter = "q9", "99"

    def reference(self, x):
        return 3 * x

    def cases(self):
        return [(1.0,), (-2.5,)]


def test_check_remembers_the_last_answer_and_still_prints_feedback_without_raising(capsys):
    question = Triple()
    assert question.last_answer is None  # nothing checked yet: graded as not attempted
    assert question.evaluate(question.last_answer).status == "unattempted"

    def crashes(x):
        raise ZeroDivisionError("oops")

    question.check(crashes)
    assert question.last_answer is crashes
    assert "raised ZeroDivisionError: oops" in capsys.readouterr().out

    def triple(x):
        return 3 * x

    question.check(triple)
    assert question.last_answer is triple
    assert capsys.readouterr().out.strip() == "Correct! (99 q9)"
    assert Triple().last_answer is None  # each question remembers its own answer


def test_checked_question_finds_the_check_call_and_where_its_question_comes_from():
    source = "import numpy as np\nfrom mmcourse.exercises.ch02 import q1 as q1\n\ndef f(x):\n    return x\n\nq1.check(f)"
    assert checked_question(source) == ("mmcourse.exercises.ch02", "q1")
    with pytest.raises(ValueError, match="exactly once, this one calls it 0 times"):
        checked_question("from mmcourse.exercises.ch02 import q1\nx = 1")
    with pytest.raises(ValueError, match="exactly once, this one calls it 2 times"):
        checked_question("from mmcourse.exercises.ch02 import q1\nq1.check(1)\nq1.check(2)")
    with pytest.raises(ValueError, match="should import q1 itself"):
        checked_question("q1.check(1)")


def test_every_exercise_gets_a_locked_test_cell_that_passes_its_solution_and_fails_its_stub():
    for path in sorted((ROOT / "solutions").glob("[0-9][0-9]_*.ipynb")):
        notebook = nbgrader_notebook(nbformat.read(path, as_version=4))
        for i, cell in enumerate(notebook.cells):
            meta = cell.metadata.get("nbgrader", {})
            if not meta.get("solution"):
                continue
            test = notebook.cells[i + 1]
            assert test.metadata["nbgrader"] == {
                "grade": True, "grade_id": f"{meta['grade_id']}_test", "locked": True, "points": 1,
                "schema_version": 3, "solution": False, "task": False}, path.name
            assert test.outputs == [] and cell.outputs == []
    for chapter, name, source in exercise_cells():
        grading = nbgrader_notebook(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
            source, metadata={"nbgrader": {"grade": False, "grade_id": name, "solution": True}})])).cells[1].source
        namespace: dict = {"__name__": "__solution__"}
        exec(compile(source, f"<ch{chapter} {name} solution>", "exec"), namespace)
        exec(compile(grading, f"<ch{chapter} {name} test>", "exec"), namespace)  # passes: no AssertionError
        stub = strip_solutions(source)
        exec(compile(stub, f"<ch{chapter} {name} stub>", "exec"), {"__name__": "__stub__"})
        with pytest.raises(AssertionError, match="not attempted yet"):
            exec(compile(grading, f"<ch{chapter} {name} test>", "exec"), {"__name__": "__test__"})


def test_nbgrader_stubs_solutions_exactly_as_the_course_release_does():
    source = ("from mmcourse.exercises.ch99 import q1, q2\n\ndef f(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n"
              "    ### END SOLUTION\n\nq1.check(f)\nanswer = None\n### BEGIN SOLUTION\nanswer = 42\n### END SOLUTION\n"
              "q2.check(answer)")
    notebook = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}, cells=[
        nbformat.v4.new_code_cell(source, metadata={"nbgrader": {"grade": False, "grade_id": "q1", "solution": True}})])
    stubbed, _ = ClearSolutionsAsRelease().preprocess(nbformat.from_dict(notebook), {})
    assert stubbed.cells[0].source == strip_solutions(source)
    assert "answer = None\n# YOUR CODE HERE\nq2.check(answer)" in stubbed.cells[0].source  # no top-level raise
    plain, _ = ClearSolutions().preprocess(nbformat.from_dict(notebook), {})
    assert "\nraise NotImplementedError()" in plain.cells[0].source  # what nbgrader alone would have done
    steps = generate_assignment_preprocessors()
    assert ClearSolutionsAsRelease in steps and ClearSolutions not in steps


def test_write_course_picks_chapters_by_number_and_keeps_a_teachers_config(tmp_path):
    written = write_course(tmp_path, chapters=["0"])
    assert written == [tmp_path / "source" / CHAPTER / f"{CHAPTER}.ipynb"]
    assert "generate_assignment_preprocessors()" in (tmp_path / CONFIG_FILE).read_text()
    (tmp_path / CONFIG_FILE).write_text("c = get_config()\n")
    write_course(tmp_path, chapters=["00"])
    assert (tmp_path / CONFIG_FILE).read_text() == "c = get_config()\n"
    with pytest.raises(ValueError, match=r"chapters: no solution notebook for \['98'\]"):
        write_course(tmp_path, chapters=["98"])
    with pytest.raises(ValueError, match="chapter numbers such as '02', got 'intro'"):
        write_course(tmp_path, chapters=["intro"])


def _nbgrader(course: Path, *args: str) -> str:
    """Run the nbgrader command line in the course folder; returns its log, fails the test on an error."""
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # nbgrader calls `alembic`
    result = subprocess.run([sys.executable, "-m", "nbgrader", *args, f"--CourseDirectory.root={course}"],
                            cwd=course, env=env, capture_output=True, text=True, timeout=900)
    log = result.stdout + result.stderr
    assert result.returncode == 0 and "ERROR" not in log, f"nbgrader {' '.join(args)} failed:\n{log[-4000:]}"
    return log


def _solution_body(source: str) -> str:
    return re.search(r"### BEGIN SOLUTION[^\n]*\n(.*?)\n[ \t]*### END SOLUTION", source, re.DOTALL).group(1)


def _submit(course: Path, student: str, released: nbformat.NotebookNode, bodies: dict[str, str]) -> None:
    """Save a student's notebook: the released one with the stub of each question in ``bodies`` filled in."""
    notebook = nbformat.from_dict(released)
    for cell in notebook.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in bodies:
            assert STUB in cell.source, cell.source
            cell.source = cell.source.replace(STUB, bodies[grade_id])
    target = course / "submitted" / student / CHAPTER / f"{CHAPTER}.ipynb"
    target.parent.mkdir(parents=True)
    nbformat.write(notebook, target)


@pytest.mark.slow
def test_nbgrader_autogrades_a_correct_and_a_partly_wrong_submission(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    course = tmp_path / "course"
    write_course(course, chapters=["00"])
    _nbgrader(course, "generate_assignment", CHAPTER)

    released = nbformat.read(course / "release" / CHAPTER / f"{CHAPTER}.ipynb", as_version=4)
    solution = nbformat.read(ROOT / "solutions" / f"{CHAPTER}.ipynb", as_version=4)
    chapter = {c.metadata["nbgrader"]["grade_id"]: c.source for c in student_version(solution).cells
               if "nbgrader" in c.metadata}
    exercises = {c.metadata["nbgrader"]["grade_id"]: c.source for c in released.cells
                 if c.metadata.get("nbgrader", {}).get("solution")}
    assert exercises == chapter, "nbgrader's student version should be stubbed exactly like chapters/"
    assert "### BEGIN SOLUTION" not in nbformat.writes(released)
    solutions = {c.metadata["nbgrader"]["grade_id"]: _solution_body(c.source) for c in solution.cells
                 if "nbgrader" in c.metadata}
    assert sorted(solutions) == ["q0", "q1", "q2", "q3", "q4"]

    _submit(course, "A", released, solutions)
    _submit(course, "B", released, {  # realistic mistakes; q4 left as the stub (not attempted)
        "q0": solutions["q0"], "q2": solutions["q2"],
        "q1": '    return "cuda" if cuda_available else "cpu"  # forgot Apple MPS',
        "q3": "    return n_params * np.dtype(dtype).itemsize / 2**30  # forgot gradients and Adam's moments",
    })
    _nbgrader(course, "autograde", CHAPTER)

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        scores = {}
        for student in ("A", "B"):
            notebook = gradebook.find_submission_notebook(CHAPTER, CHAPTER, student)
            scores[student] = (notebook.score, notebook.max_score, {g.name: g.score for g in notebook.grades})
    max_score = 5.0
    assert scores["A"] == (max_score, max_score, {f"q{i}_test": 1.0 for i in range(5)})
    b_total, b_max, b_grades = scores["B"]
    assert b_max == max_score and 0 < b_total < max_score
    assert sorted(name for name, score in b_grades.items() if score == 0) == ["q1_test", "q3_test", "q4_test"]
    assert b_total == 2.0

    graded = nbformat.read(course / "autograded" / "B" / CHAPTER / f"{CHAPTER}.ipynb", as_version=4)
    outputs = {c.metadata["nbgrader"]["grade_id"]: nbformat.writes(nbformat.v4.new_notebook(cells=[c]))
               for c in graded.cells if "nbgrader" in c.metadata}
    assert "q4 is not attempted yet" in outputs["q4"]  # the unattempted stub ran without crashing
    assert "AssertionError" in outputs["q4_test"] and "not attempted yet" in outputs["q4_test"]
    assert "Not yet: the returned value ('cpu') is not right" in outputs["q1_test"]  # the feedback is the grade's reason
    assert "Correct! (00 q2)" in outputs["q2_test"]
