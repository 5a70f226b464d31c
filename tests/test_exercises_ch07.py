"""Chapter 07 exercises reject realistic mistakes with a message that points at the mistake."""

import numpy as np
import pytest

from mmcourse.exercises import ch07


def _message(question, answer) -> str:
    feedback = question.evaluate(answer)
    assert not feedback.correct, "a wrong answer was accepted"
    return feedback.message


def test_q1_rejects_ignoring_min_delta_counting_from_zero_and_resetting_on_any_change():
    def no_min_delta(losses, patience, min_delta):
        return ch07.q1.reference(losses, patience, 0.0)

    def from_zero(losses, patience, min_delta):
        stop, best = ch07.q1.reference(losses, patience, min_delta)
        return stop - 1, best - 1

    def stop_one_late(losses, patience, min_delta):
        return ch07.q1.reference(losses, patience + 1, min_delta)

    assert "is not right" in _message(ch07.q1, no_min_delta)
    assert "is not right" in _message(ch07.q1, from_zero)
    assert "is not right" in _message(ch07.q1, stop_one_late)
    assert "should be a tuple of 2 items" in _message(ch07.q1, lambda losses, p, d: int(np.argmin(losses)) + 1)


def test_q1_rejects_counting_a_tie_with_best_minus_min_delta_as_an_improvement():
    def tie_improves(losses, patience, min_delta):
        best, best_epoch, wait = np.inf, 0, 0
        for epoch, loss in enumerate(losses, start=1):
            if loss <= best - min_delta:
                best, best_epoch, wait = loss, epoch, 0
            else:
                wait += 1
                if wait >= patience:
                    return epoch, best_epoch
        return len(losses), best_epoch

    assert "is not right (for inputs shape (4,), 2, 0.25)" in _message(ch07.q1, tie_improves)


def test_q2_rejects_micro_f1_swapped_axes_weighting_and_nan_from_empty_classes():
    def accuracy(cm):
        return float(np.trace(cm) / np.sum(cm))

    def mean_precision(cm):
        cm = np.asarray(cm, dtype=float)
        return float(np.mean(np.diag(cm) / np.maximum(cm.sum(axis=0), 1)))

    def weighted(cm):
        cm = np.asarray(cm, dtype=float)
        tp, p, r = np.diag(cm), cm.sum(axis=0), cm.sum(axis=1)
        f1 = np.divide(2 * tp, p + r, out=np.zeros_like(tp), where=p + r > 0)
        return float(np.sum(f1 * r) / r.sum())

    def with_nan(cm):
        cm = np.asarray(cm, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            precision, recall = np.diag(cm) / cm.sum(axis=0), np.diag(cm) / cm.sum(axis=1)
            return float(np.mean(2 * precision * recall / (precision + recall)))

    for wrong in (accuracy, mean_precision, weighted):
        assert "is not right" in _message(ch07.q2, wrong)
    assert "nan" in _message(ch07.q2, with_nan).lower()


def test_q3_rejects_padding_at_the_front_keeping_the_last_tokens_and_float_arrays():
    def pad_front(sequences, max_len):
        out = np.zeros((len(sequences), max_len), dtype=np.int64)
        for row, seq in zip(out, sequences):
            seq = list(seq)[:max_len]
            if seq:
                row[-len(seq):] = seq
        return out

    def keep_last(sequences, max_len):
        out = np.zeros((len(sequences), max_len), dtype=np.int64)
        for row, seq in zip(out, sequences):
            seq = list(seq)[-max_len:]
            row[: len(seq)] = seq
        return out

    assert "values are off" in _message(ch07.q3, pad_front)
    assert "values are off" in _message(ch07.q3, keep_last)
    assert "should hold integers" in _message(ch07.q3, lambda s, m: ch07.q3.reference(s, m).astype(float))
    assert "wrong shape" in _message(ch07.q3, lambda s, m: ch07.q3.reference(s, m + 1))


def test_q4_rejects_flattening_pooling_the_wrong_axes_and_the_wrong_order():
    assert "wrong shape" in _message(ch07.q4, lambda fm, q: np.concatenate([fm.reshape(len(fm), -1), q], axis=1))
    assert "wrong shape" in _message(ch07.q4, lambda fm, q: np.concatenate([fm.mean(axis=(2, 3)), q], axis=1))
    assert "values are off" in _message(ch07.q4, lambda fm, q: np.concatenate([q, fm.mean(axis=(1, 2))], axis=1))
    assert "values are off" in _message(ch07.q4, lambda fm, q: np.concatenate([fm.max(axis=(1, 2)), q], axis=1))
    assert "raised ValueError" in _message(ch07.q4, lambda fm, q: np.concatenate([fm, q], axis=-1))


def test_q5_rejects_the_overall_accuracy_sorted_types_and_error_rates():
    def overall(predicted, answers, kinds, names):
        return np.full(len(names), np.mean(predicted == answers))

    def sorted_names(predicted, answers, kinds, names):
        return ch07.q5.reference(predicted, answers, kinds, tuple(sorted(names)))

    def error_rate(predicted, answers, kinds, names):
        return 1 - ch07.q5.reference(predicted, answers, kinds, names)

    for wrong in (overall, sorted_names, error_rate):
        assert "values are off" in _message(ch07.q5, wrong)
    assert "should be a NumPy array" in _message(ch07.q5, lambda p, a, k, n: list(ch07.q5.reference(p, a, k, n)))
