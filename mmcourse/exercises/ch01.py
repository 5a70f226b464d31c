"""Exercises of chapter 01: background (looking at the course data)."""
from __future__ import annotations

from collections import Counter

import numpy as np

from mmcourse.data.shape_scenes import COLOURS
from mmcourse.exercises.core import FunctionQuestion

COLOUR_WORDS = tuple(COLOURS)  # ("red", "green", "blue", "yellow"), the colours of the shape scenes


class ClassCounts(FunctionQuestion):
    """Examples per class, including classes that never occur."""

    name, chapter = "q1", "01"
    hints = ("The result has one entry per class, n_classes in all, even for a class with no examples.",
             "np.bincount counts how often each non-negative integer occurs; its minlength argument pads "
             "the result with zeros up to that length.",
             "np.bincount(labels, minlength=n_classes)")

    def reference(self, labels, n_classes):
        return np.bincount(labels, minlength=n_classes)

    def cases(self):
        rng = np.random.default_rng(1)
        return [(rng.integers(0, 8, size=40), 10),  # classes 8 and 9 are missing
                (np.array([2, 2, 0, 2]), 3),  # class 1 is missing
                (rng.integers(0, 10, size=500), 10),
                (np.array([], dtype=np.int64), 4)]


class FrameTimes(FunctionQuestion):
    """Start time in seconds of each frame of a feature sequence."""

    name, chapter = "q2", "01"
    hints = ("Frame t starts t * hop_length samples into the recording.",
             "A sample lasts 1 / sample_rate seconds, so frame t starts at t * hop_length / sample_rate seconds.",
             "np.arange(n_frames) * hop_length / sample_rate  (use /, not //: integer division gives 0 here)")

    def reference(self, n_frames, hop_length, sample_rate):
        return np.arange(n_frames) * hop_length / sample_rate

    def cases(self):
        return [(17, 512, 22050), (5, 80, 8000), (1, 160, 16000), (40, 256, 8000)]


class CaptionColours(FunctionQuestion):
    """The colour words of a scene caption, in the order the caption names them."""

    name, chapter = "q3", "01"
    hints = ("Split the caption into words (caption.split() or mmcourse.text.tokenize) and keep those that "
             "are colours.",
             "Walk through the caption's words, not through the list of colours: the order and the repeats "
             "must follow the caption.",
             "tuple(word for word in tokenize(caption) if word in COLOUR_WORDS)")

    def reference(self, caption):
        return tuple(word for word in caption.replace(",", " ").split() if word in COLOUR_WORDS)

    def cases(self):
        return [("a large blue circle at the top left and a small green triangle at the bottom right",),
                ("a small red square at the top left, a small yellow square at the top right and "
                 "a small red circle at the bottom right",),
                ("a large yellow triangle at the bottom left",),
                ("a small green square at the top right, a large green circle at the bottom left and "
                 "a large blue triangle at the bottom right",)]


class MajorityBaseline(FunctionQuestion):
    """Accuracy on the test answers of always giving the most common training answer."""

    name, chapter = "q4", "01"
    hints = ("First find the most common answer among the TRAINING answers only: that is the baseline's "
             "one and only prediction.",
             "collections.Counter(train_answers).most_common(1)[0][0] is the most common training answer.",
             "The accuracy is the fraction of test answers equal to it: np.mean(test_answers == answer), "
             "a number between 0 and 1.")

    def reference(self, train_answers, test_answers):
        (answer, _), = Counter(train_answers.tolist()).most_common(1)
        return float(np.mean(test_answers == answer))

    def cases(self):
        return [(np.array(["yes", "no", "yes", "2", "yes", "red", "no"]), np.array(["no", "yes", "no", "no"])),
                (np.array(["1", "1", "2", "1", "3", "circle"]), np.array(["1", "2", "1", "3", "1"])),
                (np.array([3, 3, 1, 0, 3, 2]), np.array([0, 1, 2, 2, 2, 3, 1, 0])),
                (np.array(["no", "yes", "no"]), np.array(["yes", "yes"]))]


q1 = ClassCounts()
q2 = FrameTimes()
q3 = CaptionColours()
q4 = MajorityBaseline()

__all__ = ["COLOUR_WORDS", "q1", "q2", "q3", "q4"]
