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
