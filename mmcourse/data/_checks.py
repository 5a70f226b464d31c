"""Checksums for the data files the course ships."""
from __future__ import annotations

import functools
import hashlib
from pathlib import Path


@functools.lru_cache(maxsize=None)
def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def verified_path(path: Path, sha256: str) -> Path:
    """Return ``path`` if it exists and has the expected SHA-256, else raise with a fix."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; reinstall mmcourse (pip install -e .) "
                                f"or rebuild it with the make_*.py script beside it")
    actual = _sha256(path)
    if actual != sha256:
        raise OSError(f"{path} is corrupt or stale: SHA-256 {actual}, expected {sha256}; "
                      f"restore it with `git checkout -- {path.name}` or its make_*.py script")
    return path
