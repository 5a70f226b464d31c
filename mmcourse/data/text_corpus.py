"""A small real English corpus that is always present: Python's own documentation.

The standard library ships ``pydoc_data.topics``: about 465 KB of prose from
the Python reference manual (PSF licence), one text per help topic. It needs
no download and no extra package, which makes it the course's corpus for
tokenising, vocabularies, TF-IDF and word vectors.
"""
from __future__ import annotations


def load_text_corpus(min_chars: int = 200) -> dict[str, str]:
    """Return {topic title: text} for every documentation topic of at least ``min_chars`` characters.

    Topics are sorted by title, so the corpus is the same on every machine
    running the same Python version.
    """
    from pydoc_data.topics import topics

    if min_chars < 0:
        raise ValueError(f"min_chars must be >= 0, got {min_chars}")
    return {title: topics[title] for title in sorted(topics) if len(topics[title]) >= min_chars}


def _is_prose(paragraph: str) -> bool:
    """False for a heading underline, a bullet or a grammar rule (``::=``): what a summary should skip."""
    return not paragraph.lstrip().startswith(("*", "=", "-")) and "::=" not in paragraph


def topic_summaries(max_chars: int = 600) -> dict[str, str]:
    """{topic title: "title: " + its first two prose paragraphs, whitespace collapsed, cut to ``max_chars``}.

    The passages a retriever searches (chapters 08 and 15): one per topic of
    :func:`load_text_corpus`, without the heading and grammar lines that open
    most topics and say little to a reader.
    """
    if max_chars < 1:
        raise ValueError(f"max_chars must be >= 1, got {max_chars}")
    summaries = {}
    for title, text in load_text_corpus().items():
        paragraphs = [p for p in text.split("\n\n")[1:] if _is_prose(p)]  # [0] is the title and its underline
        summaries[title] = f"{title}: " + " ".join(" ".join(paragraphs[:2]).split())[:max_chars]
    return summaries
