"""Every "chapter NN", "chapters NN–MM" or "chapters NN, MM and KK" in the notebooks and README names a real chapter.

Course chapters are always written with two digits ("chapter 08"); a mention
that starts with one digit ("*Dive into Deep Learning*, chapters 9 and 10",
"NLTK book, chapter 3") is another book's chapter and is skipped.
"""
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MENTION = re.compile(r"\b[Cc]hapters?\s+(\d{1,2}(?:\s*(?:[–—-]|,|\band\b|\bor\b|\bto\b)\s*\d{1,2}\b)*)")
RANGE = re.compile(r"(\d{1,2})\s*(?:[–—-]|\bto\b)\s*(\d{1,2})")


def referenced(text: str) -> list[str]:
    """The two-digit chapter numbers that ``text`` mentions, ranges expanded, in order of mention."""
    found = []
    for mention in MENTION.findall(text):
        if re.match(r"\d\b", mention):  # one digit: another book's chapter
            continue
        for low, high in RANGE.findall(mention):
            found += [f"{n:02d}" for n in range(int(low), int(high) + 1)]
        rest = RANGE.sub(" ", mention)
        found += [f"{int(n):02d}" for n in re.findall(r"\d{1,2}", rest)]
    return found


def existing_chapters() -> set[str]:
    """NN of every chapter that has both its solution and its student notebook."""
    def numbers(folder: str) -> set[str]:
        return {path.name[:2] for path in (ROOT / folder).glob("[0-9][0-9]_*.ipynb")}

    return numbers("solutions") & numbers("chapters")


def documents() -> list[tuple[str, str]]:
    """(name, text) of README.md and of every notebook's cells (sources only) in solutions/ and chapters/."""
    found = [("README.md", (ROOT / "README.md").read_text(encoding="utf-8"))]
    for path in sorted((ROOT / "solutions").glob("*.ipynb")) + sorted((ROOT / "chapters").glob("*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        found.append((f"{path.parent.name}/{path.name}", "\n".join("".join(cell["source"]) for cell in cells)))
    return found


@pytest.mark.parametrize("text, expected", [
    ("as chapter 08 showed", ["08"]),
    ("Chapter 07's classifier", ["07"]),
    ("chapters 02, 06, 12 measured it", ["02", "06", "12"]),
    ("chapters 02, 03 and 06", ["02", "03", "06"]),
    ("chapters 08–10 and chapter 13", ["08", "09", "10", "13"]),
    ("chapters 00 to 02", ["00", "01", "02"]),
    ("chapters 04-05 or 07", ["04", "05", "07"]),
    ("*Dive into Deep Learning*, chapters 9 and 10", []),
    ("NLTK book, chapter 3, *Processing raw text*", []),
    ("this chapter ends with exercises", []),
])
def test_referenced_reads_single_mentions_lists_and_ranges(text, expected):
    assert referenced(text) == expected


def test_existing_chapters_finds_the_course_notebooks():
    assert {"00", "08", "13"} <= existing_chapters()


def test_every_chapter_mention_points_to_a_chapter_that_exists():
    chapters = existing_chapters()
    mentions = [(name, number) for name, text in documents() for number in referenced(text)]
    assert len(mentions) > 100  # the scan really reads the notebooks
    missing = sorted({(name, number) for name, number in mentions if number not in chapters})
    assert not missing, f"mentions of chapters that do not exist (file, chapter): {missing}"
