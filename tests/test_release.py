"""chapters/ is generated from solutions/: stubs replace solutions, and the two stay in sync."""
import nbformat
import pytest

from mmcourse.release import CHAPTERS, SOLUTIONS, strip_solutions, student_version

SOURCE = """import numpy as np

def f(x):
    \"\"\"Double x.\"\"\"
    ### BEGIN SOLUTION
    y = 2 * x
    return y
    ### END SOLUTION

n = None
### BEGIN SOLUTION
n = 3
### END SOLUTION
q1.check(n)"""


def test_solution_regions_become_stubs():
    assert strip_solutions(SOURCE) == """import numpy as np

def f(x):
    \"\"\"Double x.\"\"\"
    # YOUR CODE HERE
    raise NotImplementedError()

n = None
# YOUR CODE HERE
q1.check(n)"""


def test_a_region_at_the_end_of_a_cell_keeps_no_trailing_newline():
    assert strip_solutions("a = None\n### BEGIN SOLUTION\na = 1\n### END SOLUTION") == "a = None\n# YOUR CODE HERE"


def test_unbalanced_markers_are_an_error():
    with pytest.raises(ValueError, match="unbalanced"):
        strip_solutions("### BEGIN SOLUTION\nx = 1\n")


def test_student_version_clears_outputs_and_keeps_nbgrader_metadata():
    cell = nbformat.v4.new_code_cell(SOURCE, metadata={"nbgrader": {"grade_id": "q1", "solution": True}})
    cell.outputs = [nbformat.v4.new_output("stream", text="Correct!")]
    student = student_version(nbformat.v4.new_notebook(cells=[cell])).cells[0]
    assert student.outputs == [] and "BEGIN SOLUTION" not in student.source
    assert student.metadata["nbgrader"]["grade_id"] == "q1"
    assert "Correct!" in cell.outputs[0].text  # the solution notebook itself is untouched


def _cells(notebook):
    return [(c.cell_type, c.source, c.metadata.get("nbgrader")) for c in notebook.cells]


@pytest.mark.parametrize("solution", sorted(SOLUTIONS.glob("[0-9][0-9]_*.ipynb")), ids=lambda p: p.name)
def test_chapter_is_exactly_what_release_makes_of_its_solution(solution):
    chapter = CHAPTERS / solution.name
    assert chapter.is_file(), f"chapters/{solution.name} is missing: run `python -m mmcourse release`"
    expected = student_version(nbformat.read(solution, as_version=4))
    assert _cells(nbformat.read(chapter, as_version=4)) == _cells(expected), (
        f"chapters/{solution.name} is out of date: run `python -m mmcourse release --execute {solution}`")


def test_every_chapter_has_a_solution_notebook():
    chapters = {p.name for p in CHAPTERS.glob("*.ipynb")}
    assert chapters == {p.name for p in SOLUTIONS.glob("*.ipynb")}
    assert len(chapters) >= 4
