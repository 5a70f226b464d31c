"""Exercises of chapter 03: the pipeline (preprocess, extract features, fuse, train, evaluate)."""
from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, f1_score

from mmcourse.exercises.core import FunctionQuestion


class StandardiseWithTrainStats(FunctionQuestion):
    """z-score train and test features with the mean and std of the TRAINING features only."""

    name, chapter = "q1", "03"
    hints = ("Compute mean and std per feature (axis=0) on `train` only, then use those same two vectors "
             "for both arrays.",
             "If you compute the statistics of `test` on `test`, the test set leaks into preprocessing, and "
             "its features come out centred even when the test data has drifted.",
             "mean = train.mean(axis=0); std = train.std(axis=0); "
             "return (train - mean) / std, (test - mean) / std")

    def reference(self, train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean, std = train.mean(axis=0), train.std(axis=0)
        return (train - mean) / std, (test - mean) / std

    def cases(self) -> list[tuple[np.ndarray, np.ndarray]]:
        rng = np.random.default_rng(3)
        drifted = (rng.normal(2.0, 3.0, size=(50, 4)), rng.normal(5.0, 1.0, size=(20, 4)))  # test has shifted
        small = (np.array([[1.0, 10.0], [3.0, 30.0]]), np.array([[2.0, 20.0]]))  # one test row: its own std is 0
        return [drifted, small, (rng.normal(size=(8, 3)), rng.normal(size=(8, 3)))]


class CountFrames(FunctionQuestion):
    """Number of frames tf.signal.frame (pad_end=False) cuts from a signal of n_samples samples."""

    name, chapter = "q2", "03"
    hints = ("Frame t starts at sample t * frame_step and needs frame_length samples, so the last start "
             "is at most n_samples - frame_length.",
             "Count the starts 0, frame_step, 2 frame_step, ... that are <= n_samples - frame_length; "
             "a signal shorter than one frame gives 0 frames, never a negative number.",
             "1 + (n_samples - frame_length) // frame_step when n_samples >= frame_length, else 0.")

    def reference(self, n_samples: int, frame_length: int, frame_step: int) -> int:
        return 0 if n_samples < frame_length else 1 + (n_samples - frame_length) // frame_step

    def cases(self) -> list[tuple[int, int, int]]:
        return [(16000, 400, 160), (1000, 400, 160), (400, 400, 160), (399, 400, 160), (10, 4, 3),
                (12, 4, 4), (0, 4, 2), (8000, 256, 128)]


class ConcatFusionHead(FunctionQuestion):
    """Forward pass of a concat-fusion head in NumPy: y = softmax([I; A] W + b), one row per example."""

    name, chapter = "q3", "03"
    rtol, atol = 1e-6, 1e-9
    hints = ("Concatenate image then audio features along axis 1: (N, Di + Da). The order matters: "
             "W's first Di rows belong to the image.",
             "logits = fused @ W + b has shape (N, K). Softmax is taken over the classes (axis=1), so each "
             "row sums to 1.",
             "Subtract each row's maximum before np.exp, or large logits overflow to inf and give NaN; "
             "it does not change the result.")

    def reference(self, image_feats: np.ndarray, audio_feats: np.ndarray, W: np.ndarray,
                  b: np.ndarray) -> np.ndarray:
        logits = np.concatenate([image_feats, audio_feats], axis=1) @ W + b  # (N, K)
        logits = logits - logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        return e / e.sum(axis=1, keepdims=True)

    def cases(self) -> list[tuple[np.ndarray, ...]]:
        rng = np.random.default_rng(30)
        out = []
        for n, di, da, k, scale in ((5, 4, 3, 10, 1.0), (1, 2, 2, 3, 1.0), (4, 3, 5, 4, 400.0)):
            out.append((rng.normal(size=(n, di)), rng.normal(size=(n, da)), scale * rng.normal(size=(di + da, k)),
                        rng.normal(size=k)))
        return out


class AccuracyAndMacroF1(FunctionQuestion):
    """Accuracy and macro-averaged F1 of predicted labels: a tuple (accuracy, macro_f1)."""

    name, chapter = "q4", "03"
    hints = ("Accuracy is the fraction of positions where y_pred equals y_true.",
             "Macro F1: compute F1 = 2 P R / (P + R) for each class on its own, then take the plain mean over "
             "classes, so a rare class counts as much as a common one. 'micro' or 'weighted' averages are "
             "different numbers.",
             "The classes are every label that occurs in y_true or in y_pred (np.union1d), as in scikit-learn: "
             "a class that is predicted but never true has F1 0 and still counts in the mean.",
             "sklearn.metrics has accuracy_score and f1_score(y_true, y_pred, average='macro', zero_division=0); "
             "a class that is never predicted has precision 0/0, which counts as 0.")

    def reference(self, y_true: np.ndarray, y_pred: np.ndarray) -> tuple[float, float]:
        return (float(accuracy_score(y_true, y_pred)),
                float(f1_score(y_true, y_pred, average="macro", zero_division=0)))

    def cases(self) -> list[tuple[np.ndarray, np.ndarray]]:
        rng = np.random.default_rng(4)
        imbalanced = np.array([0] * 12 + [1] * 3 + [2] * 5)
        guess = imbalanced.copy()
        guess[[12, 13, 15, 16]] = 0  # the rare class is mostly missed
        never_predicted = (np.array([0, 1, 2, 2, 1, 0]), np.array([0, 1, 1, 1, 1, 0]))  # class 2 never predicted
        never_true = (np.array([0, 0, 1, 1, 1, 0]), np.array([0, 2, 1, 1, 0, 0]))  # class 2 predicted, never true
        y = rng.integers(0, 10, size=60)
        noisy = np.where(rng.random(60) < 0.3, rng.integers(0, 10, size=60), y)
        return [(imbalanced, guess), never_predicted, never_true, (y, noisy)]


q1 = StandardiseWithTrainStats()
q2 = CountFrames()
q3 = ConcatFusionHead()
q4 = AccuracyAndMacroF1()
