"""Exercises of chapter 05: the mathematics of RNNs (one step, an LSTM cell, BPTT) and Word2Vec."""
from __future__ import annotations

import numpy as np

from mmcourse.exercises.core import FunctionQuestion
from mmcourse.numpy_nn import nearest_neighbours, sigmoid


def _normal(rng: np.random.Generator, *shape: int, scale: float = 1.0) -> np.ndarray:
    return scale * rng.normal(size=shape)


class RnnStep(FunctionQuestion):
    """One step of a vanilla RNN, h_t = tanh(x_t W + h_{t-1} U + b), for a batch."""

    name, chapter = "q1", "05"
    hints = ("x is (N, D) and h is (N, H): one row per sequence. W is (D, H) and U is (H, H), so x @ W and h @ U "
             "are both (N, H).",
             "Add the bias b (H,) to the sum (broadcasting adds it to every row), then squash with np.tanh.",
             "return np.tanh(x @ W + h @ U + b)")

    def reference(self, x, h, W, U, b):
        return np.tanh(x @ W + h @ U + b)

    def cases(self):
        rng = np.random.default_rng(5)
        return [(_normal(rng, 4, 3), _normal(rng, 4, 2), _normal(rng, 3, 2), _normal(rng, 2, 2), _normal(rng, 2)),
                (_normal(rng, 1, 5), _normal(rng, 1, 4), _normal(rng, 5, 4), _normal(rng, 4, 4), _normal(rng, 4)),
                (_normal(rng, 3, 2), _normal(rng, 3, 2), _normal(rng, 2, 2, scale=3.0), _normal(rng, 2, 2),
                 _normal(rng, 2))]


class LstmStep(FunctionQuestion):
    """One LSTM step with the gates stacked i, f, g, o; returns (h_t, c_t)."""

    name, chapter = "q2", "05"
    hints = ("First the pre-activations of all four gates at once: a = x @ Wx + h @ Wh + b, shape (N, 4H). "
             "Split it into four (N, H) blocks in the order i, f, g, o (np.split(a, 4, axis=1)).",
             "i, f and o go through the sigmoid (sigmoid from mmcourse.numpy_nn, or 1 / (1 + np.exp(-a))); the "
             "candidate g goes through tanh.",
             "c_t = f * c + i * g (keep some of the old memory, write some new), then h_t = o * np.tanh(c_t). "
             "Return the pair (h_t, c_t) in that order.")

    def reference(self, x, h, c, Wx, Wh, b):
        i, f, g, o = np.split(x @ Wx + h @ Wh + b, 4, axis=1)  # (N, H) each
        c_new = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        return sigmoid(o) * np.tanh(c_new), c_new

    def cases(self):
        rng = np.random.default_rng(6)
        cases = []
        for n, d, h in [(2, 3, 2), (1, 4, 3), (3, 2, 5)]:
            b = _normal(rng, 4 * h)
            b[h : 2 * h] += 2.0  # a forget gate mostly open, as after training
            cases.append((_normal(rng, n, d), _normal(rng, n, h, scale=0.5), _normal(rng, n, h),
                          _normal(rng, d, 4 * h), _normal(rng, h, 4 * h, scale=0.5), b))
        return cases


class RnnStepBackward(FunctionQuestion):
    """Backpropagation through one tanh step: from dL/dh_t to (dL/dh_{t-1}, dL/dU)."""

    name, chapter = "q3", "05"
    hints = ("h_new = tanh(a) with a = x W + h_prev U + b. Going back through tanh multiplies by its derivative, "
             "which you can write with the output alone: tanh'(a) = 1 - tanh(a)² = 1 - h_new². So "
             "da = dh * (1 - h_new ** 2), elementwise, (N, H).",
             "a depends on h_prev through h_prev @ U, so dL/dh_prev = da @ U.T (N, H); and on U, so "
             "dL/dU = h_prev.T @ da (H, H), summed over the batch by the matrix product.",
             "da = dh * (1 - h_new ** 2); return da @ U.T, h_prev.T @ da")

    def reference(self, dh, h_new, h_prev, U):
        da = dh * (1 - h_new**2)  # (N, H): through tanh
        return da @ U.T, h_prev.T @ da

    def cases(self):
        rng = np.random.default_rng(7)
        return [(_normal(rng, n, h), np.tanh(_normal(rng, n, h, scale=1.5)), np.tanh(_normal(rng, n, h)),
                 _normal(rng, h, h)) for n, h in [(3, 2), (1, 4), (5, 3)]]


class SgnsLoss(FunctionQuestion):
    """The skip-gram negative-sampling loss of one (centre, context, negatives) triple."""

    name, chapter = "q4", "05"
    hints = ("Scores are dot products with the centre vector: s_pos = u_o · v_c (a number) and s_neg = u_neg @ v_c "
             "(K numbers, one per negative word).",
             "The loss is -log σ(s_pos) - Σ_k log σ(-s_neg[k]): the true context should score high, each negative "
             "low (note the minus sign inside the second σ, and that the K terms are summed, not averaged).",
             "-log σ(s) = log(1 + e^(-s)) = np.logaddexp(0, -s), which never overflows: "
             "return float(np.logaddexp(0, -s_pos) + np.logaddexp(0, s_neg).sum())")

    def reference(self, v_c, u_o, u_neg):
        s_pos, s_neg = u_o @ v_c, u_neg @ v_c  # (), (K,)
        return float(np.logaddexp(0, -s_pos) + np.logaddexp(0, s_neg).sum())

    def cases(self):
        rng = np.random.default_rng(8)
        return [(_normal(rng, 5), _normal(rng, 5), _normal(rng, 3, 5)),
                (_normal(rng, 8, scale=0.1), _normal(rng, 8, scale=0.1), _normal(rng, 5, 8, scale=0.1)),
                (_normal(rng, 4, scale=2.0), _normal(rng, 4, scale=2.0), _normal(rng, 1, 4, scale=2.0))]


class MostSimilar(FunctionQuestion):
    """The k nearest words of a query word by cosine similarity, itself excluded."""

    name, chapter = "q5", "05"
    hints = ("Cosine similarity compares directions, not lengths: cos(a, b) = a · b / (‖a‖ ‖b‖). Divide every "
             "row of emb by its norm (np.linalg.norm(emb, axis=1, keepdims=True)) first; then a plain dot product is "
             "the cosine.",
             "sims = unit @ unit[query_id] gives one similarity per word (V,). The query is most similar to "
             "itself: set its entry to -np.inf before ranking.",
             "np.argsort(-sims)[:k] ranks from most to least similar; return those k ids (an integer array).")

    def reference(self, emb, query_id, k):
        return nearest_neighbours(emb, query_id, k)[0]

    def cases(self):
        rng = np.random.default_rng(9)
        cases = []
        for vocab, dim, query, k in [(20, 5, 3, 4), (12, 3, 0, 5), (30, 8, 29, 1)]:
            norms = rng.uniform(0.2, 5.0, size=(vocab, 1))  # word vectors of very different lengths
            cases.append((rng.normal(size=(vocab, dim)) * norms, query, k))
        return cases


q1 = RnnStep()
q2 = LstmStep()
q3 = RnnStepBackward()
q4 = SgnsLoss()
q5 = MostSimilar()
