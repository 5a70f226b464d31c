"""Chapter 03 exercises reject realistic mistakes with a message that points at the mistake."""

import numpy as np
import pytest
from sklearn.metrics import f1_score

from mmcourse.exercises import ch03


def _message(question, answer) -> str:
    feedback = question.evaluate(answer)
    assert not feedback.correct, "a wrong answer was accepted"
    return feedback.message


def test_q1_rejects_test_statistics_and_pooled_statistics():
    def own_statistics(train, test):
        return ((train - train.mean(0)) / train.std(0), (test - test.mean(0)) / test.std(0))

    def pooled_statistics(train, test):
        both = np.concatenate([train, test])
        return (train - both.mean(0)) / both.std(0), (test - both.mean(0)) / both.std(0)

    def sample_std(train, test):
        mean, std = train.mean(0), train.std(0, ddof=1)
        return (train - mean) / std, (test - mean) / std

    assert "item 1 of the returned value" in _message(ch03.q1, own_statistics)
    assert "values are off" in _message(ch03.q1, pooled_statistics)
    assert "values are off" in _message(ch03.q1, sample_std)
    assert "tuple of 2 items" in _message(ch03.q1, lambda train, test: (train - train.mean(0)) / train.std(0))


def test_q2_rejects_ceil_division_a_missing_plus_one_and_negative_counts():
    assert "is not right" in _message(ch03.q2, lambda n, length, step: n // step)
    assert "is not right" in _message(ch03.q2, lambda n, length, step: (n - length) // step)
    negative = _message(ch03.q2, lambda n, length, step: 1 + (n - length) // step)  # -1 for an empty signal
    assert "(-1) is not right (for inputs 0, 4, 2)" in negative
    assert "whole number" in _message(ch03.q2, lambda n, length, step: max(0, 1 + (n - length) / step))


def test_q3_rejects_swapped_modalities_softmax_over_the_batch_and_unstable_softmax():
    def swapped(image, audio, W, b):
        logits = np.concatenate([audio, image], axis=1) @ W + b
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def over_batch(image, audio, W, b):
        logits = np.concatenate([image, audio], axis=1) @ W + b
        e = np.exp(logits - logits.max(axis=0, keepdims=True))
        return e / e.sum(axis=0, keepdims=True)

    def unstable(image, audio, W, b):
        e = np.exp(np.concatenate([image, audio], axis=1) @ W + b)
        return e / e.sum(axis=1, keepdims=True)

    def logits_only(image, audio, W, b):
        return np.concatenate([image, audio], axis=1) @ W + b

    assert "values are off" in _message(ch03.q3, swapped)
    assert "values are off" in _message(ch03.q3, over_batch)
    with np.errstate(over="ignore", invalid="ignore"):
        assert "NaN or inf" in _message(ch03.q3, unstable)
    assert "values are off" in _message(ch03.q3, logits_only)


def test_q4_rejects_micro_and_weighted_f1_and_a_swapped_tuple():
    def micro(y_true, y_pred):
        return float(np.mean(y_true == y_pred)), float(f1_score(y_true, y_pred, average="micro"))

    def weighted(y_true, y_pred):
        return (float(np.mean(y_true == y_pred)),
                float(f1_score(y_true, y_pred, average="weighted", zero_division=0)))

    def swapped(y_true, y_pred):
        return float(f1_score(y_true, y_pred, average="macro", zero_division=0)), float(np.mean(y_true == y_pred))

    assert "item 1 of the returned value" in _message(ch03.q4, micro)
    assert "item 1 of the returned value" in _message(ch03.q4, weighted)
    assert "item 0 of the returned value" in _message(ch03.q4, swapped)


def test_q4_rejects_a_macro_f1_over_the_true_labels_only():
    def true_labels_only(y_true, y_pred):
        macro_f1 = f1_score(y_true, y_pred, labels=np.unique(y_true), average="macro", zero_division=0)
        return float(np.mean(y_true == y_pred)), float(macro_f1)

    message = _message(ch03.q4, true_labels_only)
    assert "item 1 of the returned value" in message and "is not right" in message


def test_q4_accepts_a_numpy_implementation():
    def by_hand(y_true, y_pred):
        scores = []
        for c in np.union1d(y_true, y_pred):
            tp = np.sum((y_pred == c) & (y_true == c))
            fp, fn = np.sum((y_pred == c) & (y_true != c)), np.sum((y_pred != c) & (y_true == c))
            scores.append(2 * tp / (2 * tp + fp + fn))
        return float(np.mean(y_true == y_pred)), float(np.mean(scores))

    assert ch03.q4.evaluate(by_hand).correct


def test_every_case_runs_fast_and_the_references_are_what_the_text_says():
    assert ch03.q2.reference(16000, 400, 160) == 98
    probs = ch03.q3.reference(*ch03.q3.cases()[2])
    assert np.all(np.isfinite(probs)) and np.allclose(probs.sum(axis=1), 1.0)
    accuracy, macro_f1 = ch03.q4.reference(*ch03.q4.cases()[0])
    assert accuracy == pytest.approx(16 / 20) and macro_f1 < accuracy  # the rare class pulls macro-F1 down
