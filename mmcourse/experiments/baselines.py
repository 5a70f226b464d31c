"""Quick baselines on AV digits (chapter 02): each modality alone, and the two fused.

Every method is a scikit-learn logistic regression on standardised features,
fitted in about a second on a CPU and deterministic there:

- ``image``: the 784 pixels of the (degraded) image;
- ``audio``: the frames x 13 MFCCs of the (noisy) clip, flattened;
- ``early``: both vectors side by side, F = [I; A] (early fusion);
- ``late_mean`` and ``late_sum_log``: the image and audio models' class
  probabilities combined after the fact (late fusion), see ``late_fusion``.

Fits run with one BLAS thread: these problems are too small to gain from
more, and on a busy 2-core machine OpenBLAS threads that wait by spinning
made the same fit ten times slower in our measurements.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from mmcourse.data import AVDigits, AVSplit

LATE_RULES = ("mean", "sum_log")
METHODS = ("image", "audio", "early", "late_mean", "late_sum_log")
DEFAULT_C = 1e-3  # picked on the validation split among 3e-4 ... 3e-2 (best for early fusion)


def _check_split(split: AVSplit, name: str = "split") -> None:
    if not isinstance(split, AVSplit):
        raise ValueError(f"{name} must be an AVSplit (e.g. load_av_digits().train), got {type(split).__name__}")


def modality_features(split: AVSplit) -> dict[str, np.ndarray]:
    """One vector per example and modality.

    Returns {'image': (N, 784) pixels, 'audio': (N, frames * 13) MFCCs,
    'early': (N, 784 + frames * 13), the two concatenated}, all float32.
    """
    _check_split(split)
    n = len(split)
    image = split.images.reshape(n, -1)  # (N, 28 * 28)
    audio = split.audio.reshape(n, -1)  # (N, frames * 13)
    return {"image": image, "audio": audio, "early": np.concatenate([image, audio], axis=1)}


def _check_labels(y: np.ndarray, n: int, name: str, other: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{name} must be a 1-D array of integer classes, got {y.dtype} {y.shape}")
    if len(y) != n:
        raise ValueError(f"{name} must have one entry per row of {other} ({n}), got {len(y)}")
    return y


def fit_logistic(X_train: np.ndarray, y_train: np.ndarray, C: float = DEFAULT_C, max_iter: int = 300) -> Pipeline:
    """Standardise features, then multinomial logistic regression: X (N, D), y (N,) -> a fitted Pipeline.

    ``C`` is the inverse strength of the L2 penalty (smaller: simpler model).
    The L-BFGS solver is deterministic, so there is no seed to set.
    """
    X_train = np.asarray(X_train)
    if X_train.ndim != 2 or not np.issubdtype(X_train.dtype, np.number) or len(X_train) == 0:
        raise ValueError(f"X_train must be a non-empty numeric array of shape (N, D), got {X_train.dtype} "
                         f"{X_train.shape}")
    y_train = _check_labels(y_train, len(X_train), "y_train", "X_train")
    if not (isinstance(C, (int, float)) and not isinstance(C, bool) and C > 0):
        raise ValueError(f"C must be a positive number, got {C!r}")
    model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=max_iter))
    with threadpool_limits(limits=1, user_api="blas"):
        model.fit(X_train, y_train)
    return model


def _check_probs(probs: np.ndarray, name: str) -> np.ndarray:
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2:
        raise ValueError(f"{name} must have shape (N, K): one row of class probabilities per example, "
                         f"got {probs.shape}")
    if not np.all(np.isfinite(probs)) or np.any(probs < 0) or not np.allclose(probs.sum(axis=1), 1.0, atol=1e-4):
        raise ValueError(f"{name} must hold probabilities (>= 0, each row summing to 1), not scores or logits")
    return probs


def late_fusion(prob_a: np.ndarray, prob_b: np.ndarray, rule: str = "mean",
                weights: tuple[float, float] = (1.0, 1.0)) -> np.ndarray:
    """Combine two models' class probabilities (N, K) into fused probabilities (N, K); (w_a, w_b) = weights.

    - ``rule='mean'``: p = (w_a p_a + w_b p_b) / (w_a + w_b), the (weighted) average (sum rule).
    - ``rule='sum_log'``: log p = w_a log p_a + w_b log p_b + const, i.e.
      p ∝ p_a^w_a p_b^w_b, renormalised so that each row sums to 1. With the
      default weights this is the product rule p ∝ p_a p_b of naive Bayes,
      exact when the modalities are independent given the class.
    """
    prob_a, prob_b = _check_probs(prob_a, "prob_a"), _check_probs(prob_b, "prob_b")
    if prob_a.shape != prob_b.shape:
        raise ValueError(f"prob_a and prob_b must have the same shape (N, K), got {prob_a.shape} and "
                         f"{prob_b.shape}" + (" (the batch sizes differ)" if len(prob_a) != len(prob_b) else ""))
    w_a, w_b = _check_weights(weights)
    if rule == "mean":
        return (w_a * prob_a + w_b * prob_b) / (w_a + w_b)
    if rule == "sum_log":
        tiny = np.finfo(np.float64).tiny  # keeps log(0) finite: a zero probability stays (almost) zero
        scores = w_a * np.log(np.maximum(prob_a, tiny)) + w_b * np.log(np.maximum(prob_b, tiny))  # (N, K)
        scores -= scores.max(axis=1, keepdims=True)  # for a stable exp
        fused = np.exp(scores)
        return fused / fused.sum(axis=1, keepdims=True)
    raise ValueError(f"rule must be one of {LATE_RULES}, got {rule!r}")


def _check_weights(weights: tuple[float, float]) -> tuple[float, float]:
    try:
        w_a, w_b = (float(w) for w in weights)
    except (TypeError, ValueError):
        raise ValueError(f"weights must be a pair of numbers (w_a, w_b), got {weights!r}") from None
    if not (np.isfinite(w_a) and np.isfinite(w_b)) or w_a < 0 or w_b < 0 or w_a + w_b == 0:
        raise ValueError(f"weights must be two finite numbers >= 0, not both 0, got {weights!r}")
    return w_a, w_b


@dataclass(frozen=True)
class FusionBaselines:
    """Logistic regressions fitted on one training split: one per modality, one on both (early fusion)."""

    image: Pipeline
    audio: Pipeline
    early: Pipeline

    def predict_proba(self, split: AVSplit) -> dict[str, np.ndarray]:
        """Class probabilities (N, 10) of every method in ``METHODS`` on ``split``."""
        features = modality_features(split)
        with threadpool_limits(limits=1, user_api="blas"):
            probs = {name: getattr(self, name).predict_proba(features[name]) for name in ("image", "audio", "early")}
        for rule in LATE_RULES:
            probs[f"late_{rule}"] = late_fusion(probs["image"], probs["audio"], rule)
        return probs

    def predict(self, split: AVSplit) -> dict[str, np.ndarray]:
        """Predicted classes (N,) of every method in ``METHODS`` on ``split``."""
        return {name: probs.argmax(axis=1) for name, probs in self.predict_proba(split).items()}


def fit_baselines(train: AVSplit, C: float = DEFAULT_C) -> FusionBaselines:
    """Fit the image-only, audio-only and early-fusion logistic regressions on ``train``."""
    features = modality_features(train)
    return FusionBaselines(**{name: fit_logistic(features[name], train.labels, C) for name in ("image", "audio", "early")})


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Fraction of predictions equal to the labels: (N,), (N,) -> float in [0, 1]."""
    y_true = np.asarray(y_true)
    if y_true.ndim != 1 or len(y_true) == 0:
        raise ValueError(f"y_true must be a non-empty 1-D array of labels, got shape {y_true.shape}")
    y_pred = _check_labels(y_pred, len(y_true), "y_pred", "y_true")
    return float(np.mean(y_true == y_pred))


def evaluate_fusion(av: AVDigits, C: float = DEFAULT_C, split: str = "test") -> dict[str, float]:
    """Accuracy on ``av[split]`` of every method in ``METHODS``, each fitted on ``av.train``."""
    if not isinstance(av, AVDigits):
        raise ValueError(f"av must be an AVDigits (from load_av_digits()), got {type(av).__name__}")
    if split not in ("train", "val", "test"):
        raise ValueError(f"split must be 'train', 'val' or 'test', got {split!r}")
    predictions = fit_baselines(av.train, C).predict(av[split])
    return {name: accuracy(av[split].labels, predictions[name]) for name in METHODS}


def _check_correct(correct: np.ndarray, name: str) -> np.ndarray:
    correct = np.asarray(correct)
    if correct.ndim != 1 or correct.dtype != bool or len(correct) == 0:
        raise ValueError(f"{name} must be a non-empty 1-D boolean array (True where the prediction is right), "
                         f"got {correct.dtype} {correct.shape}")
    return correct


def complementarity(correct_a: np.ndarray, correct_b: np.ndarray) -> float:
    """Fraction of examples that exactly one of two models gets right: (N,) bool, (N,) bool -> float.

    These are the examples where combining the two can help; where both are
    wrong, no fusion rule can pick the right class from their top answers.
    """
    correct_a, correct_b = _check_correct(correct_a, "correct_a"), _check_correct(correct_b, "correct_b")
    if len(correct_a) != len(correct_b):
        raise ValueError(f"correct_a and correct_b must have the same length (one entry per example), "
                         f"got {len(correct_a)} and {len(correct_b)}")
    return float(np.mean(correct_a != correct_b))


def per_class_accuracy(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int = 10) -> np.ndarray:
    """Accuracy within each true class: (N,), (N,) -> (n_classes,); NaN for a class with no example."""
    y_true = np.asarray(y_true)
    y_true = _check_labels(y_true, len(y_true) if y_true.ndim else 0, "y_true", "y_pred")
    y_pred = _check_labels(y_pred, len(y_true), "y_pred", "y_true")
    if np.any((y_true < 0) | (y_true >= n_classes)):
        raise ValueError(f"y_true must hold classes in [0, {n_classes}), got values from {y_true.min()} "
                         f"to {y_true.max()}")
    totals = np.bincount(y_true, minlength=n_classes)  # (n_classes,)
    hits = np.bincount(y_true[y_true == y_pred], minlength=n_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, hits / np.maximum(totals, 1), np.nan)


def class_means(features: np.ndarray, labels: np.ndarray, n_classes: int = 10) -> np.ndarray:
    """Mean feature vector of each class: (N, D), (N,) -> (n_classes, D).

    The pairs of AV digits are aligned by class, so the class means of two
    modalities are aligned too: row k of each describes digit k.
    """
    features = np.asarray(features)
    if features.ndim != 2:
        raise ValueError(f"features must have shape (N, D), got {features.shape}")
    labels = _check_labels(labels, len(features), "labels", "features")
    missing = sorted(set(range(n_classes)) - set(labels.tolist()))
    if missing:
        raise ValueError(f"labels must contain every class in [0, {n_classes}); missing {missing}")
    return np.stack([features[labels == k].mean(axis=0) for k in range(n_classes)])

