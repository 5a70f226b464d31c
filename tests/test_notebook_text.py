"""What every notebook's text and code must respect, checked over all of solutions/ and chapters/."""
import re

import nbformat
import pytest

from mmcourse.release import CHAPTERS, SOLUTIONS

NOTEBOOKS = sorted(SOLUTIONS.glob("[0-9][0-9]_*.ipynb")) + sorted(CHAPTERS.glob("[0-9][0-9]_*.ipynb"))
FRAMEWORK_IMPORT = re.compile(r"^\s*(import|from) (torch|tensorflow|keras)\b", re.MULTILINE)
MMCOURSE_IMPORT = re.compile(r"^\s*(import|from) mmcourse\b", re.MULTILINE)


def _code(path) -> str:
    notebook = nbformat.read(path, as_version=4)
    return "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_mmcourse_is_imported_before_any_framework(path):
    """``import mmcourse`` sets OMP_WAIT_POLICY and TF_CPP_MIN_LOG_LEVEL, which do nothing once a framework has loaded."""
    code = _code(path)
    framework, ours = FRAMEWORK_IMPORT.search(code), MMCOURSE_IMPORT.search(code)
    if framework:
        assert ours and ours.start() < framework.start(), f"{framework.group(0).strip()!r} comes before mmcourse"
