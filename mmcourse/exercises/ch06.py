"""Exercises of chapter 06: fusion operators, written in NumPy."""
from __future__ import annotations

import numpy as np

from mmcourse.exercises.core import FunctionQuestion


def _softmax(z: np.ndarray, axis: int) -> np.ndarray:
    z = z - z.max(axis=axis, keepdims=True)  # exp of large logits would overflow
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def _log_softmax(z: np.ndarray, axis: int) -> np.ndarray:
    z = z - z.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


def _with_ones(x: np.ndarray) -> np.ndarray:
    return np.concatenate([x, np.ones((len(x), 1))], axis=1)


class WeightedSum(FunctionQuestion):
    """The forward pass of WeightedSumFusion: project each modality, then mix with softmax weights."""

    name, chapter = "q1", "06"
    hints = ("Project first: g_1 = f1 @ w1 + b1 and g_2 = f2 @ w2 + b2 are both (N, D), whatever d1 and d2 are. "
             "Then turn the two logits a into weights w = softmax(a) and return w[0] * g_1 + w[1] * g_2.",
             "exp(1000) overflows to inf: subtract a.max() from a before the exp (softmax does not change when "
             "the same number is subtracted from every logit).",
             "w = np.exp(a - a.max()); w = w / w.sum(); return w[0] * (f1 @ w1 + b1) + w[1] * (f2 @ w2 + b2)")

    def reference(self, f1, f2, w1, b1, w2, b2, a):
        w = _softmax(a, axis=0)
        return w[0] * (f1 @ w1 + b1) + w[1] * (f2 @ w2 + b2)

    def cases(self):
        rng = np.random.default_rng(6)
        found = []
        for n, d1, d2, d, a in ((4, 3, 5, 2, [0.0, 0.0]), (5, 2, 2, 3, [2.0, -1.0]), (1, 4, 1, 4, [-0.3, 1.2]),
                                (3, 2, 3, 2, [1000.0, 999.0])):  # the last: a naive exp overflows
            found.append((rng.normal(size=(n, d1)), rng.normal(size=(n, d2)), rng.normal(size=(d1, d)),
                          rng.normal(size=d), rng.normal(size=(d2, d)), rng.normal(size=d), np.array(a)))
        return found


class LowRankForward(FunctionQuestion):
    """The forward pass of low-rank multimodal fusion (LMF) for two modalities."""

    name, chapter = "q2", "06"
    hints = ("Append a 1 to every row of each modality: z_1 = [f_1; 1] is (N, d_1 + 1). Then "
             "h_i = z_i W_i^(k) for every rank k gives (rank, N, out) per modality.",
             "Multiply the two modalities' (rank, N, out) arrays element by element, then sum over the rank "
             "with the weights lambda_k, then add the bias. Summing over the rank before multiplying is a "
             "different (wrong) model.",
             "z1 = np.concatenate([f1, np.ones((len(f1), 1))], axis=1); h1 = np.einsum('nd,rdo->rno', z1, factor1); "
             "likewise h2; return np.einsum('r,rno->no', rank_weights, h1 * h2) + bias")

    def reference(self, f1, f2, factor1, factor2, rank_weights, bias):
        h1 = np.einsum("nd,rdo->rno", _with_ones(f1), factor1)  # (rank, N, out)
        h2 = np.einsum("nd,rdo->rno", _with_ones(f2), factor2)
        return np.einsum("r,rno->no", rank_weights, h1 * h2) + bias

    def cases(self):
        rng = np.random.default_rng(60)
        found = []
        for n, d1, d2, rank, out in ((4, 3, 2, 2, 5), (1, 2, 4, 3, 2), (6, 5, 5, 1, 3)):
            found.append((rng.normal(size=(n, d1)), rng.normal(size=(n, d2)), rng.normal(size=(rank, d1 + 1, out)),
                          rng.normal(size=(rank, d2 + 1, out)), rng.normal(size=rank), rng.normal(size=out)))
        return found


class LateFusionRules(FunctionQuestion):
    """Fused probabilities of two classifiers: the normalised product and the mean."""

    name, chapter = "q3", "06"
    hints = ("Turn each modality's logits into log-probabilities with a log-softmax over the classes (axis 1), "
             "and into probabilities with a softmax.",
             "Product rule: add the two log-softmaxes, then softmax the sum so each row sums to 1 again "
             "(softmax(log p_1 + log p_2) = p_1 p_2 / sum(p_1 p_2)). Mean rule: (softmax(z_1) + softmax(z_2)) / 2. "
             "Averaging the logits first is a third rule, not the mean of probabilities.",
             "Subtract each row's max before exp: log_softmax(z) = z - m - log(sum(exp(z - m)))")

    def reference(self, logits_image, logits_audio):
        product = _softmax(_log_softmax(logits_image, 1) + _log_softmax(logits_audio, 1), axis=1)
        mean = (_softmax(logits_image, 1) + _softmax(logits_audio, 1)) / 2
        return product, mean

    def cases(self):
        rng = np.random.default_rng(600)
        return [(rng.normal(size=(5, 4)) * 2, rng.normal(size=(5, 4)) * 2),
                (np.array([[0.0, -1.7, -2.8]]), np.array([[-3.9, -0.5, -0.9]])),  # the two rules pick different classes
                (rng.normal(size=(3, 10)) * 3, rng.normal(size=(3, 10))),
                (np.array([[800.0, 0.0, 790.0]]), np.array([[0.0, 10.0, 5.0]]))]  # naive exp overflows


class TensorFusionFeatures(FunctionQuestion):
    """vec([f_1; 1] outer [f_2; 1]) per example, the input of a tensor-fusion layer."""

    name, chapter = "q4", "06"
    hints = ("Append a 1 to every row of f1 and of f2 first: (N, d1 + 1) and (N, d2 + 1).",
             "The outer product of row n is the (d1 + 1, d2 + 1) matrix z1[n, a] * z2[n, b]; flatten it row by "
             "row (C order), so that entry (a, b) lands at a * (d2 + 1) + b.",
             "np.einsum('na,nb->nab', z1, z2).reshape(len(f1), -1)")

    def reference(self, f1, f2):
        return np.einsum("na,nb->nab", _with_ones(f1), _with_ones(f2)).reshape(len(f1), -1)

    def cases(self):
        rng = np.random.default_rng(6000)
        return [(rng.normal(size=(3, 2)), rng.normal(size=(3, 3))),
                (rng.normal(size=(1, 4)), rng.normal(size=(1, 1))),
                (rng.normal(size=(5, 3)), rng.normal(size=(5, 3)))]


class ModalityDropoutMask(FunctionQuestion):
    """Which modalities each training example keeps under modality dropout."""

    name, chapter = "q5", "06"
    hints = ("Modality m of example n is dropped when u[n, m] < p, so it is kept when u[n, m] >= p.",
             "A row where every modality is dropped must keep them all: find such rows with .any(axis=1) and "
             "set them to all ones.",
             "keep = u >= p; keep[~keep.any(axis=1)] = True; return keep.astype(np.float32)")

    def reference(self, u, p):
        keep = u >= p
        keep[~keep.any(axis=1)] = True
        return keep.astype(np.float32)

    def cases(self):
        rng = np.random.default_rng(60000)
        return [(rng.random((8, 2)), 0.5), (np.array([[0.1, 0.2], [0.7, 0.1], [0.3, 0.9]]), 0.5),
                (np.array([[0.5, 0.25], [0.75, 0.5], [0.25, 0.125]]), 0.5),  # u == p exactly: kept
                (rng.random((6, 3)), 0.3), (rng.random((4, 2)), 0.0)]

    def _problem(self, answer):
        if callable(answer):
            for u, p in self.cases():
                got = answer(u.copy(), p)
                if isinstance(got, np.ndarray) and got.dtype.kind != "f":
                    return (f"the mask should hold floats (1.0 kept, 0.0 dropped), got dtype {got.dtype} "
                            f"(for inputs shape {u.shape}, {p!r}): convert it with .astype(np.float32)")
        return super()._problem(answer)


q1 = WeightedSum()
q2 = LowRankForward()
q3 = LateFusionRules()
q4 = TensorFusionFeatures()
q5 = ModalityDropoutMask()
