"""Exercises of chapter 02: core concepts (representation, alignment, fusion, complementarity)."""
from __future__ import annotations

import numpy as np

from mmcourse.experiments.baselines import complementarity, late_fusion
from mmcourse.exercises.core import FunctionQuestion


def _probabilities(rng: np.random.Generator, n: int, k: int, sharpness: float) -> np.ndarray:
    """Random class probabilities (n, k), each row summing to 1; larger sharpness, more confident rows."""
    scores = sharpness * rng.normal(size=(n, k))
    scores -= scores.max(axis=1, keepdims=True)
    probs = np.exp(scores)
    return probs / probs.sum(axis=1, keepdims=True)


class ConcatFusion(FunctionQuestion):
    """Early fusion: concatenate image and audio features along the feature axis."""

    name, chapter = "q1", "02"
    hints = ("Features are (N, D_image) and (N, D_audio): one row per example. The result keeps one row per "
             "example and is (N, D_image + D_audio).",
             "np.concatenate takes a list of arrays and an axis; which axis holds the features?",
             "np.concatenate([image_feats, audio_feats], axis=1)")

    def reference(self, image_feats, audio_feats):
        return np.concatenate([image_feats, audio_feats], axis=1)

    def cases(self):
        rng = np.random.default_rng(0)
        return [(rng.normal(size=(4, 3)), rng.normal(size=(4, 3))),
                (rng.normal(size=(4, 3)), rng.normal(size=(4, 5))),
                (rng.normal(size=(1, 2)), rng.normal(size=(1, 1)))]


class WeightedSumFusion(FunctionQuestion):
    """Weighted-sum fusion F = sum_i w_i f_i with w = softmax(scores)."""

    name, chapter = "q2", "02"
    hints = ("features is (M, N, D): M modalities, each already mapped to the same D features. scores is (M,), "
             "one number per modality; turn it into weights that are positive and sum to 1 first.",
             "softmax: w = exp(s - max(s)) / sum(exp(s - max(s))); subtracting the max changes nothing but "
             "avoids overflow.",
             "Then F = sum over i of w[i] * features[i]: np.tensordot(w, features, axes=1), or "
             "(w[:, None, None] * features).sum(axis=0).")

    def reference(self, features, scores):
        w = np.exp(scores - scores.max())
        w = w / w.sum()  # (M,)
        return np.tensordot(w, features, axes=1)  # (N, D)

    def cases(self):
        rng = np.random.default_rng(1)
        return [(rng.normal(size=(2, 5, 3)), np.array([0.5, -1.0])),
                (rng.normal(size=(3, 4, 6)), np.array([2.0, 0.0, 1.0])),
                (rng.normal(size=(2, 1, 4)), np.array([800.0, 799.0])),
                (rng.normal(size=(1, 3, 2)), np.array([-3.0]))]


class ProductRule(FunctionQuestion):
    """Late fusion by summing log-probabilities (the product rule), renormalised."""

    name, chapter = "q3", "02"
    hints = ("Summing log-probabilities is multiplying probabilities: score_k = log p_a[k] + log p_b[k] for "
             "each example (row) and class k.",
             "The result must again be probabilities: each row positive and summing to 1. Exponentiate the "
             "summed logs and divide each row by its sum (axis=1, keepdims=True).",
             "A row of p_a * p_b can be tiny; subtract each row's maximum score before np.exp to stay away "
             "from 0 / 0.")

    def reference(self, prob_a, prob_b):
        return late_fusion(prob_a, prob_b, rule="sum_log")

    def cases(self):
        rng = np.random.default_rng(2)
        return [(_probabilities(rng, 5, 4, 1.0), _probabilities(rng, 5, 4, 1.0)),
                (_probabilities(rng, 3, 10, 3.0), _probabilities(rng, 3, 10, 0.3)),
                (np.array([[0.9, 0.1, 0.0], [0.2, 0.5, 0.3]]), np.array([[0.5, 0.2, 0.3], [0.2, 0.5, 0.3]]))]


class ExactlyOneRight(FunctionQuestion):
    """Complementarity: the fraction of examples that exactly one of two models gets right."""

    name, chapter = "q4", "02"
    hints = ("correct_a and correct_b are boolean arrays (N,): True where that model's prediction is right.",
             "'Exactly one' means one is True and the other False; both True or both False do not count.",
             "np.mean(correct_a != correct_b) (or np.logical_xor) gives the fraction as a float.")

    def reference(self, correct_a, correct_b):
        return complementarity(correct_a, correct_b)

    def cases(self):
        rng = np.random.default_rng(3)
        return [(rng.random(8) < 0.5, rng.random(8) < 0.5),
                (np.array([True, True, False, False]), np.array([True, False, True, False])),
                (rng.random(1000) < 0.5, rng.random(1000) < 0.45),
                (np.array([True, True]), np.array([True, True]))]


q1 = ConcatFusion()
q2 = WeightedSumFusion()
q3 = ProductRule()
q4 = ExactlyOneRight()
