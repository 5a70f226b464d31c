"""Run notebooks top to bottom and print each one's wall time; with --write, record the course's times.

    python benchmarks/chapter_times.py                  # every chapter and solution, printed
    python benchmarks/chapter_times.py chapters/02_*.ipynb
    python benchmarks/chapter_times.py --write          # every chapter, then update the records below
    python benchmarks/chapter_times.py --write chapters/09_*.ipynb   # re-time some chapters, keep the others

``--write`` is the one source of truth for chapter times: it writes
``benchmarks/chapter_times.md`` (a table with the machine it was measured
on) and copies each figure into the README's chapter table and into the
"Time to run on a CPU" line of the chapter's header, in ``solutions/`` and
``chapters/``. ``tests/test_chapter_times.py`` checks that the three agree
and that every chapter is within its budget.

Notebooks run in a temporary copy of their outputs, so nothing else in the
repository changes. Budgets on a 2-core machine: 60 s for chapters 00-05,
120 s for the chapters that train (06 onwards).
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "benchmarks" / "chapter_times.md"
README = ROOT / "README.md"
TIME_LINE = re.compile(r"(\*\*Time to run on a CPU:\*\* about )(\d+)( s on 2 cores)")
README_ROW = re.compile(r"^(\| (\d\d) \| \[[^]]+\]\(chapters/[^)]+\) \| [^|]+\| )(\d+)( s \|)", re.MULTILINE)
TABLE_ROW = re.compile(r"^\| (\d\d_\w+) \| ([\d.]+) \|$", re.MULTILINE)


def budget(name: str) -> float:
    """Seconds allowed for the notebook ``name`` ('03_pipeline' or a path): 60 up to chapter 05, else 120."""
    return 60.0 if int(Path(name).name[:2]) <= 5 else 120.0


def time_notebook(path: Path, timeout: int = 900) -> float:
    """Execute ``path`` in its own folder (outputs discarded); returns wall seconds."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    return time.perf_counter() - start


def machine() -> str:
    """One line naming the machine: CPU model, cores, OS, Python and the date."""
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        found = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.MULTILINE)
        model = found.group(1).strip() if found else model
    return (f"{model}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}, {datetime.date.today().isoformat()}")


def read_table(path: Path = TABLE) -> dict[str, float]:
    """{'00_environment': seconds, ...} from the committed table."""
    return {name: float(seconds) for name, seconds in TABLE_ROW.findall(path.read_text(encoding="utf-8"))}


def write_table(times: dict[str, float], path: Path = TABLE) -> None:
    """Write the table of chapter times with the machine they were measured on."""
    rows = "\n".join(f"| {name} | {seconds:.1f} |" for name, seconds in sorted(times.items()))
    path.write_text("# Chapter run times (written by `python benchmarks/chapter_times.py --write`)\n\n"
                    f"Wall-clock seconds to run each notebook of `chapters/` top to bottom.\n"
                    f"Measured on: {machine()}.\n\n| notebook | seconds |\n|---|---|\n{rows}\n", encoding="utf-8")


def sync_docs(times: dict[str, float], root: Path = ROOT) -> list[Path]:
    """Copy each time (rounded to the second) into the README table and the notebook headers; returns changed files."""
    by_number = {name[:2]: round(seconds) for name, seconds in times.items()}
    changed = []
    readme = root / "README.md"
    text = readme.read_text(encoding="utf-8")
    new = README_ROW.sub(lambda m: f"{m[1]}{by_number.get(m[2], m[3])}{m[4]}", text)
    for name, seconds in times.items():
        for folder in ("solutions", "chapters"):
            path = root / folder / f"{name}.ipynb"
            notebook = path.read_text(encoding="utf-8")
            updated = TIME_LINE.sub(lambda m: f"{m[1]}{round(seconds)}{m[3]}", notebook, count=1)
            if updated != notebook:
                path.write_text(updated, encoding="utf-8")
                changed.append(path)
    if new != text:
        readme.write_text(new, encoding="utf-8")
        changed.append(readme)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--write", action="store_true",
                        help="time every chapter (or the given chapters, keeping the others' recorded times), "
                             "write benchmarks/chapter_times.md, update README and headers")
    args = parser.parse_args(argv)
    if args.write and any(path.resolve().parent != ROOT / "chapters" for path in args.notebooks):
        parser.error("--write records chapters/ notebooks only")
    chapters = sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb"))
    paths = args.notebooks or (chapters if args.write else chapters + sorted((ROOT / "solutions").glob("*.ipynb")))
    over, times = [], {}
    print(f"{'notebook':<45} {'seconds':>8}")
    for path in paths:
        path = path.resolve()
        seconds = time_notebook(path)
        times[path.stem] = seconds
        flag = "" if seconds <= budget(path.stem) else f"  over the {budget(path.stem):.0f} s budget"
        over += [path] if flag else []
        print(f"{str(path.relative_to(ROOT)):<45} {seconds:8.1f}{flag}", flush=True)
    print(f"{'total':<45} {sum(times.values()):8.1f}")
    if args.write:
        times = read_table() | times if args.notebooks else times
        write_table(times)
        for path in sync_docs(times):
            print("updated", path.relative_to(ROOT))
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
