"""Write the student notebooks in ``chapters/`` from the solution notebooks in ``solutions/``.

The solution notebooks are the source. In their code cells, everything
between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` (nbgrader's markers)
is replaced by ``# YOUR CODE HERE``; inside a function body the stub also
gets ``raise NotImplementedError()``, which the checkers read as "not
attempted yet". Outputs are cleared; ``--execute`` runs the notebooks and
saves fresh outputs, so readers of a static copy see every plot.
"""
from __future__ import annotations

import copy
import re
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS, CHAPTERS = ROOT / "solutions", ROOT / "chapters"
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
_REGION = re.compile(rf"^([ \t]*){re.escape(BEGIN)}[^\n]*\n.*?^[ \t]*{re.escape(END)}[^\n]*(\n|$)",
                     re.MULTILINE | re.DOTALL)


def strip_solutions(source: str) -> str:
    """Replace every solution region of a code cell's source with a stub."""
    def stub(match: re.Match) -> str:
        indent = match.group(1)
        lines = f"{indent}# YOUR CODE HERE\n"
        if indent:
            lines += f"{indent}raise NotImplementedError()\n"
        return lines if match.group(2) else lines.rstrip("\n")

    if source.count(BEGIN) != source.count(END):
        raise ValueError(f"unbalanced solution markers in cell:\n{source[:200]}")
    return _REGION.sub(stub, source)


def student_version(solution: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The student notebook for a solution notebook: solutions stubbed, outputs cleared."""
    notebook = copy.deepcopy(solution)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.source = strip_solutions(cell.source)
            cell.outputs = []
            cell.execution_count = None
    return notebook


def run_notebook(path: Path, timeout: int = 600) -> None:
    """Run a notebook top to bottom in its own folder and save its outputs in place."""
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    nbformat.write(notebook, path)


def release_all(notebooks: list[str] | None = None, execute: bool = False) -> list[Path]:
    """Write chapters/NN_*.ipynb for each solution notebook; returns the chapter paths.

    With ``execute=True`` the solution notebook is run first and the chapter
    after it is written, both saving their outputs.
    """
    sources = [Path(n) for n in notebooks] if notebooks else sorted(SOLUTIONS.glob("[0-9][0-9]_*.ipynb"))
    written = []
    for source in sources:
        if not source.is_file():
            raise FileNotFoundError(f"no solution notebook at {source}")
        target = CHAPTERS / source.name
        if execute:
            run_notebook(source)
        nbformat.write(student_version(nbformat.read(source, as_version=4)), target)
        if execute:
            run_notebook(target)
        written.append(target)
    return written
