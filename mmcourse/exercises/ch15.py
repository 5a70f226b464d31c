"""Exercises of chapter 15: retrieval (recall@k, cosine top-k), federated averaging, per-example clipping, DP noise."""
from __future__ import annotations

import numpy as np

from mmcourse.exercises.core import FunctionQuestion, _describe


class RecallAtK(FunctionQuestion):
    """``recall_at_k(retrieved, relevant, k)``: the share of questions whose right passage is in the top k, a float.

    ``retrieved[i]`` lists passage ids for question i, best first (it may
    hold more than k); ``relevant[i]`` is the id of the passage that answers
    question i. Only the first k of each list count.
    """

    name, chapter = "q1", "15"
    hints = ("For each question, cut its list to the first k ids and ask whether the right id is among them.",
             "The first k items of a list are row[:k] (k items: indices 0 to k - 1). Average the True/False "
             "values over the questions.",
             "return float(np.mean([answer in row[:k] for row, answer in zip(retrieved, relevant)]))")
    rtol = 1e-12

    def reference(self, retrieved, relevant, k):
        return float(np.mean([answer in list(row)[:k] for row, answer in zip(retrieved, relevant)]))

    def cases(self):
        retrieved = [["pass", "for", "while"], ["try", "raise", "with"], ["types", "typesmapping", "dict"],
                     ["global", "nonlocal", "calls"], ["unary", "power", "binary"]]
        relevant = ["pass", "raise", "typesmapping", "calls", "binary"]
        return [(retrieved, relevant, 3), (retrieved, relevant, 2), (retrieved, relevant, 1),
                ([["a", "b"], ["b", "a"]], ["b", "b"], 1)]

    def near_misses(self):
        def recall(cut):
            return lambda retrieved, relevant, k: float(np.mean(
                [answer in list(row)[:cut(k)] for row, answer in zip(retrieved, relevant)]))

        return ((recall(lambda k: k + 1), "one passage too many: the top k are row[:k], not row[:k + 1]"),
                (recall(lambda k: k - 1), "one passage too few: the top k are row[:k], which holds k items"),
                (recall(lambda k: 1), "only the first passage is checked: recall@k looks at the first k"),
                (lambda retrieved, relevant, k: float(sum(a in list(r)[:k] for r, a in zip(retrieved, relevant))),
                 "that is the number of questions answered; return the share (divide by the number of questions)"))


class CosineTopK(FunctionQuestion):
    """``top_k(query, corpus, k)``: the indices (k,) int64 of the k corpus rows most cosine-similar to query.

    query (D,), corpus (N, D), neither normalised. Best first; rows with
    equal similarity keep the corpus order (the lower index first), as a
    stable sort does.
    """

    name, chapter = "q2", "15"
    hints = ("Cosine similarity is the dot product of unit vectors: divide the query and every corpus row by its "
             "length (np.linalg.norm(..., axis=1, keepdims=True) for the rows) before the product.",
             "Sort the negated similarities with np.argsort(-s, kind='stable'): highest first, and a tie keeps "
             "the lower index first. Then keep k.",
             "s = (corpus / np.linalg.norm(corpus, axis=1, keepdims=True)) @ (query / np.linalg.norm(query)); "
             "return np.argsort(-s, kind='stable')[:k]")

    def reference(self, query, corpus, k):
        similarity = (corpus / np.linalg.norm(corpus, axis=1, keepdims=True)) @ (query / np.linalg.norm(query))
        return np.argsort(-similarity, kind="stable")[:k].astype(np.int64)

    def cases(self):
        rng = np.random.default_rng(15)
        ties = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0], [3.0, 3.0], [0.5, 0.0]])  # rows 0, 1, 4 point the same way
        long_rows = rng.normal(size=(8, 5)) * rng.uniform(0.1, 10.0, size=(8, 1))  # lengths differ a lot
        return [(np.array([1.0, 0.0]), ties, 3), (np.array([1.0, 0.0]), ties, 4), (rng.normal(size=5), long_rows, 3),
                (rng.normal(size=5), long_rows, 8), (rng.normal(size=5), long_rows, 1)]

    def near_misses(self):
        def unit(rows):
            return rows / np.linalg.norm(rows, axis=1, keepdims=True)

        return ((lambda q, c, k: np.argsort(-(c @ q), kind="stable")[:k],
                 "that ranks by the dot product: long rows win. Divide each row by its length (cosine similarity)"),
                (lambda q, c, k: np.argsort(unit(c) @ q)[::-1][:k],
                 "a tie goes to the higher index (argsort ascending, then reversed): keep the corpus order on a "
                 "tie, with np.argsort(-s, kind='stable')"),
                (lambda q, c, k: np.argsort(unit(c) @ q, kind="stable")[:k],
                 "those are the least similar rows: sort the similarities from highest to lowest"),
                (lambda q, c, k: np.argsort(-(unit(c) @ q), kind="stable")[:k + 1],
                 "one row too many: return k indices"))

    def _mismatch(self, got, expected, args):
        if isinstance(got, np.ndarray) and got.shape == expected.shape and got.dtype.kind == "f" \
                and np.isfinite(got).all():
            return f"the indices should be integers, got dtype {got.dtype}"
        return super()._mismatch(got, expected, args)


class FedAvg(FunctionQuestion):
    """``fedavg(client_weights, n_samples)``: federated averaging of C clients' weights, an array (P,).

    client_weights (C, P): each client's parameters after its local
    training; n_samples (C,) int: how many examples each client trained on.
    The server's new weights are the average weighted by the clients'
    shares of the data: Σ_c n_c w_c / Σ_c n_c (McMahan et al., 2017).
    """

    name, chapter = "q3", "15"
    hints = ("A client with twice the data counts twice: weight each row of client_weights by its n_samples.",
             "The weights n_c / Σ n must add up to 1, so the result stays on the scale of the clients' weights. "
             "n_samples is int: turn it into floats before dividing.",
             "share = np.asarray(n_samples, dtype=float) / np.sum(n_samples); return share @ client_weights")

    def reference(self, client_weights, n_samples):
        share = np.asarray(n_samples, dtype=np.float64) / np.sum(n_samples)  # (C,), sums to 1
        return share @ client_weights  # (P,)

    def cases(self):
        rng = np.random.default_rng(150)
        return [(rng.normal(size=(3, 6)), np.array([100, 100, 100])), (rng.normal(size=(3, 6)), np.array([500, 50, 5])),
                (rng.normal(size=(2, 4)), np.array([1, 3])), (rng.normal(size=(1, 3)), np.array([7])),
                (rng.normal(size=(4, 5)), np.array([10, 0, 30, 60]))]

    def near_misses(self):
        return ((lambda w, n: w.mean(axis=0),
                 "that is the plain mean: every client counts the same. Weight each by its number of examples"),
                (lambda w, n: np.asarray(n, dtype=float) @ w / len(n),
                 "divided by the number of clients: divide by the total number of examples, Σ n_c"),
                (lambda w, n: np.asarray(n, dtype=float) @ w,
                 "the weighted sum is not normalised: divide by Σ n_c so the shares add up to 1"),
                (lambda w, n: (n // np.sum(n)) @ w,
                 "integer division: n // Σ n is 0 for every client with less than all the data. Divide as floats"))


class ClipPerExample(FunctionQuestion):
    """``clip_per_example(grads, max_norm)``: each example's gradient clipped to L2 norm at most max_norm.

    grads (B, P): one row per example (DP-SGD computes them one by one).
    Row i is multiplied by min(1, max_norm / ‖g_i‖): a row already shorter
    than max_norm is unchanged, a longer one is shrunk onto the sphere.
    Returns (B, P). (Opacus divides by ‖g_i‖ + 1e-6; the difference is far
    below the checker's tolerance.)
    """

    name, chapter = "q4", "15"
    hints = ("The norm is per row: np.linalg.norm(grads, axis=1, keepdims=True) has shape (B, 1).",
             "Clip the scale factor, not the values: factor = min(1, max_norm / norm), so short rows keep their "
             "length and no gradient is made longer.",
             "norms = np.linalg.norm(grads, axis=1, keepdims=True); "
             "return grads * np.minimum(1.0, max_norm / norms)")
    rtol = 1e-5

    def reference(self, grads, max_norm):
        norms = np.linalg.norm(grads, axis=1, keepdims=True)  # (B, 1)
        return grads * np.minimum(1.0, max_norm / norms)

    def cases(self):
        rng = np.random.default_rng(151)
        grads = rng.normal(size=(6, 4)) * np.array([[0.1], [0.5], [1.0], [2.0], [5.0], [20.0]])
        return [(grads, 1.0), (grads, 3.0), (rng.normal(size=(3, 10)), 0.5), (np.array([[3.0, 4.0], [0.3, 0.4]]), 1.0)]

    def near_misses(self):
        def norms(g):
            return np.linalg.norm(g, axis=1, keepdims=True)

        return ((lambda g, c: g * min(1.0, c / np.linalg.norm(g)),
                 "the whole batch was clipped as one vector: DP-SGD bounds each example's gradient, row by row"),
                (lambda g, c: np.clip(g, -c, c),
                 "each value was clipped: clip the row's L2 norm instead (scale the whole row)"),
                (lambda g, c: g * (c / norms(g)),
                 "every row was scaled to norm max_norm: short rows must stay as they are (min(1, ...))"),
                (lambda g, c: g * np.minimum(1.0, c / np.linalg.norm(g, axis=0, keepdims=True)),
                 "the norm was taken down the columns (axis=0): each example is a row, use axis=1"))


class NoiseStd(FunctionQuestion):
    """``noise_std(noise_multiplier, max_norm, batch_size)``: the std of DP-SGD's noise on the *averaged* gradient.

    DP-SGD adds N(0, (σ C)²) noise to the *sum* of the B clipped
    per-example gradients (σ the noise multiplier, C the clipping norm),
    then divides by B to average. Return the noise's standard deviation
    after the division, a float.
    """

    name, chapter = "q5", "15"
    hints = ("The noise is added to the sum, whose std is σ·C. What does dividing by B do to a standard deviation?",
             "Dividing a random variable by B divides its standard deviation by B (its variance by B²).",
             "return noise_multiplier * max_norm / batch_size")
    rtol = 1e-12

    def reference(self, noise_multiplier, max_norm, batch_size):
        return float(noise_multiplier * max_norm / batch_size)

    def cases(self):
        return [(1.0, 1.0, 64), (1.1, 0.5, 256), (0.8, 2.0, 1), (4.0, 1.0, 1000)]

    def near_misses(self):
        return ((lambda s, c, b: s * c, "that is the noise on the sum; the average divides it by the batch size"),
                (lambda s, c, b: s / b, "the clipping norm is missing: the noise scales with σ times C"),
                (lambda s, c, b: s * c / np.sqrt(b),
                 "divided by √B: that is how the std of an average of B independent draws shrinks, but here one "
                 "draw of noise is added to the sum and the sum is divided by B"),
                (lambda s, c, b: (s * c / b) ** 2, "that is the variance; return the standard deviation"))

    def _mismatch(self, got, expected, args):
        if isinstance(got, np.ndarray) and got.size > 1:
            return f"return one number (the standard deviation), got {_describe(got)}"
        return super()._mismatch(got, expected, args)


q1 = RecallAtK()
q2 = CosineTopK()
q3 = FedAvg()
q4 = ClipPerExample()
q5 = NoiseStd()
