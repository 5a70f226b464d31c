"""Exercises of chapter 07: the training project (early stopping, metrics, padding, fusion shapes), in NumPy."""
from __future__ import annotations

import numpy as np

from mmcourse.exercises.core import FunctionQuestion


class EarlyStoppingRule(FunctionQuestion):
    """Given a val-loss history, the epoch at which early stopping stops and the best epoch (both from 1)."""

    name, chapter = "q1", "07"
    hints = ("Walk through the losses with a running best (start at infinity) and a counter `wait` of epochs "
             "without improvement. Epochs are numbered from 1.",
             "An epoch improves only if loss < best - min_delta, strictly (a tie is no improvement): then "
             "best = loss, best_epoch = epoch, wait = 0. "
             "Otherwise wait += 1, and when wait >= patience you stop at this epoch.",
             "If the rule never fires, training runs to the end: stop_epoch = len(val_losses). "
             "Return (stop_epoch, best_epoch) as a tuple of two ints.")

    def reference(self, val_losses, patience, min_delta):
        best, best_epoch, wait = np.inf, 0, 0
        for epoch, loss in enumerate(val_losses, start=1):
            if loss < best - min_delta:
                best, best_epoch, wait = loss, epoch, 0
            else:
                wait += 1
                if wait >= patience:
                    return epoch, best_epoch
        return len(val_losses), best_epoch

    def cases(self):
        rng = np.random.default_rng(7)
        noisy = 1.0 / np.arange(1, 21) + rng.normal(scale=0.03, size=20)
        return [(np.array([1.0, 0.8, 0.7, 0.72, 0.71, 0.69, 0.75, 0.8]), 2, 0.0),
                (np.array([1.0, 0.8, 0.7, 0.72, 0.71, 0.69, 0.75, 0.8]), 3, 0.0),
                (np.array([1.0, 0.95, 0.93, 0.92, 0.915]), 2, 0.02),
                (np.array([0.5, 0.4, 0.3, 0.2]), 1, 0.0),
                (np.array([1.0, 0.75, 0.8, 0.9]), 2, 0.25),  # 0.75 == 1.0 - 0.25 exactly: a tie, no improvement
                (noisy, 3, 0.005)]


class MacroF1(FunctionQuestion):
    """Macro-averaged F1 from a confusion matrix (rows: true class, columns: predicted)."""

    name, chapter = "q2", "07"
    hints = ("For class k: true positives are cm[k, k]; precision = cm[k, k] / (column k sum: everything "
             "predicted as k); recall = cm[k, k] / (row k sum: everything that truly is k).",
             "F1_k = 2 P_k R_k / (P_k + R_k), taken as 0 where P_k + R_k = 0 (or a sum is 0). Macro-F1 is the "
             "plain mean of F1_k over the K classes, each class counting the same, however rare.",
             "np.diag(cm), cm.sum(axis=0) and cm.sum(axis=1) give all K at once; np.divide(a, b, out=np.zeros_like(a), "
             "where=b > 0) divides without warnings.")

    def reference(self, cm):
        cm = np.asarray(cm, dtype=np.float64)
        tp = np.diag(cm)
        precision = np.divide(tp, cm.sum(axis=0), out=np.zeros_like(tp), where=cm.sum(axis=0) > 0)
        recall = np.divide(tp, cm.sum(axis=1), out=np.zeros_like(tp), where=cm.sum(axis=1) > 0)
        f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros_like(tp),
                       where=precision + recall > 0)
        return float(f1.mean())

    def cases(self):
        rng = np.random.default_rng(3)
        skewed = rng.integers(0, 5, size=(5, 5)) + np.diag([40, 3, 10, 1, 25])
        return [(np.array([[5, 1], [2, 7]]),), (rng.integers(0, 9, size=(4, 4)) + 8 * np.eye(4, dtype=int),),
                (skewed,), (np.array([[3, 0, 0], [2, 0, 0], [1, 0, 4]]),)]


class PadTruncate(FunctionQuestion):
    """Token-id lists of any lengths -> (N, max_len) int64: pad with 0 at the end, keep only the first max_len."""

    name, chapter = "q3", "07"
    hints = ("Start from np.zeros((len(sequences), max_len), dtype=np.int64): 0 is the <pad> id.",
             "For row i, take seq = sequences[i][:max_len] (the first tokens: a question's start matters) and "
             "write it into out[i, :len(seq)].")

    def reference(self, sequences, max_len):
        out = np.zeros((len(sequences), max_len), dtype=np.int64)
        for row, seq in zip(out, sequences):
            seq = list(seq)[:max_len]
            row[: len(seq)] = seq
        return out

    def cases(self):
        rng = np.random.default_rng(5)
        random_lists = [list(rng.integers(2, 30, size=n)) for n in (3, 8, 1, 12, 6)]
        return [([[4, 7, 2], [9], [3, 3, 3, 3, 3, 5]], 4), (random_lists, 6), ([[5, 6, 7]], 3), (random_lists, 1)]


class PoolThenConcat(FunctionQuestion):
    """The fix of the source's fusion: global-average-pool a conv map (B, H, W, C), then concat a vector (B, D)."""

    name, chapter = "q4", "07"
    hints = ("A (B, H, W, C) map cannot be concatenated with a (B, D) vector: first average it over the two "
             "spatial axes H and W, which leaves one number per channel: (B, C).",
             "feature_map.mean(axis=(1, 2)) is global average pooling; then np.concatenate([pooled, "
             "question_vec], axis=1) gives (B, C + D), image features first.")

    def reference(self, feature_map, question_vec):
        pooled = feature_map.mean(axis=(1, 2))  # (B, C)
        return np.concatenate([pooled, question_vec], axis=1)  # (B, C + D)

    def cases(self):
        rng = np.random.default_rng(11)
        return [(rng.normal(size=(2, 4, 4, 3)), rng.normal(size=(2, 5))),
                (rng.normal(size=(3, 2, 5, 6)), rng.normal(size=(3, 2))),
                (rng.normal(size=(1, 7, 7, 1)), rng.normal(size=(1, 4)))]


class AccuracyPerType(FunctionQuestion):
    """Accuracy of predictions on each question type, in the order of ``type_names``."""

    name, chapter = "q5", "07"
    hints = ("Build a boolean array `correct = predicted == answers`, then for each name in type_names select "
             "the examples of that type with a mask `question_types == name`.",
             "Return np.array([correct[question_types == name].mean() for name in type_names]): one accuracy per "
             "type, in the order given (not sorted, not the overall accuracy).")

    def reference(self, predicted, answers, question_types, type_names):
        correct = predicted == answers
        return np.array([correct[question_types == name].mean() for name in type_names])

    def cases(self):
        rng = np.random.default_rng(2)
        names = ("colour", "shape", "count", "exists", "size", "position")
        out = []
        for n in (30, 200):
            kinds = np.array(names)[np.r_[np.arange(6), rng.integers(0, 6, size=n - 6)]]
            answers = rng.integers(0, 16, size=n)
            predicted = np.where(rng.random(n) < 0.6, answers, rng.integers(0, 16, size=n))
            out.append((predicted, answers, kinds, names))
        return out


q1 = EarlyStoppingRule()
q2 = MacroF1()
q3 = PadTruncate()
q4 = PoolThenConcat()
q5 = AccuracyPerType()
