"""Run notebooks top to bottom and print each one's wall time.

    python benchmarks/chapter_times.py                 # every chapter and solution
    python benchmarks/chapter_times.py chapters/02_*.ipynb

Notebooks run in a temporary copy, so nothing in the repository changes.
Budget: 60 s per chapter 00-05 on a 2-core machine (see README).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


def time_notebook(path: Path, timeout: int = 900) -> float:
    """Execute ``path`` in its own folder (outputs discarded); returns wall seconds."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--budget", type=float, default=60.0, help="seconds allowed per notebook")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted((ROOT / "chapters").glob("*.ipynb")) + sorted((ROOT / "solutions").glob("*.ipynb"))
    over, total = [], 0.0
    print(f"{'notebook':<45} {'seconds':>8}")
    for path in paths:
        seconds = time_notebook(path.resolve())
        total += seconds
        flag = "" if seconds <= args.budget else f"  over the {args.budget:.0f} s budget"
        over += [path] if flag else []
        print(f"{str(path.relative_to(ROOT) if path.is_absolute() else path):<45} {seconds:8.1f}{flag}", flush=True)
    print(f"{'total':<45} {total:8.1f}")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
