"""Chapter times have one source, benchmarks/chapter_times.md; the README and every header agree with it."""
import importlib.util
import re
import shutil

import pytest

from mmcourse.release import CHAPTERS, ROOT, SOLUTIONS

_spec = importlib.util.spec_from_file_location("chapter_times", ROOT / "benchmarks" / "chapter_times.py")
chapter_times = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(chapter_times)

TIMES = chapter_times.read_table()
NAMES = sorted(path.stem for path in CHAPTERS.glob("[0-9][0-9]_*.ipynb"))


def test_the_table_has_one_row_per_chapter_and_names_the_machine():
    assert sorted(TIMES) == NAMES
    assert re.search(r"^Measured on: .+ cores", chapter_times.TABLE.read_text(), re.MULTILINE)


@pytest.mark.parametrize("name", NAMES)
def test_every_chapter_is_within_its_budget(name):
    assert TIMES[name] <= chapter_times.budget(name), f"{name}: {TIMES[name]:.0f} s"


def test_the_readme_table_shows_the_measured_times():
    shown = {number: int(seconds) for _, number, seconds, _ in
             chapter_times.README_ROW.findall((ROOT / "README.md").read_text())}
    assert shown == {name[:2]: round(seconds) for name, seconds in TIMES.items()}


@pytest.mark.parametrize("folder", [SOLUTIONS, CHAPTERS], ids=["solutions", "chapters"])
@pytest.mark.parametrize("name", NAMES)
def test_every_header_shows_the_measured_time(folder, name):
    found = chapter_times.TIME_LINE.findall((folder / f"{name}.ipynb").read_text())
    assert len(found) == 1, f"{name}: expected one 'Time to run on a CPU: about N s on 2 cores' line"
    assert int(found[0][1]) == round(TIMES[name])


def test_sync_docs_rewrites_the_readme_and_headers(tmp_path):
    for folder in ("solutions", "chapters"):
        (tmp_path / folder).mkdir()
        shutil.copy(ROOT / folder / "01_background.ipynb", tmp_path / folder)
    shutil.copy(ROOT / "README.md", tmp_path / "README.md")
    changed = chapter_times.sync_docs({"01_background": 987.4}, root=tmp_path)
    assert sorted(p.name for p in changed) == ["01_background.ipynb", "01_background.ipynb", "README.md"]
    assert "about 987 s on 2 cores" in (tmp_path / "chapters" / "01_background.ipynb").read_text()
    readme = (tmp_path / "README.md").read_text()
    assert re.search(r"^\| 01 \|.*\| 987 s \|", readme, re.MULTILINE)
    assert readme.count(" 987 s ") == 1  # no other row touched


@pytest.mark.parametrize("name", ["00_environment", "05_rnn_math", "06_fusion", "14_deployment"])
def test_budgets_are_60_s_up_to_chapter_05_and_120_s_after(name):
    assert chapter_times.budget(name) == (60.0 if name < "06" else 120.0)
