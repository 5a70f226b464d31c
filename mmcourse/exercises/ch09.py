"""Exercises of chapter 09: contrastive learning (similarity matrix, InfoNCE, recall@k, zero-shot, prompt ensemble)."""
from __future__ import annotations

import math

import numpy as np

from mmcourse.exercises.core import FunctionQuestion
from mmcourse.numpy_nn.contrastive import INIT_LOGIT_SCALE, MAX_LOGIT_SCALE, info_nce_forward


def _unit(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return x / np.linalg.norm(x, axis=axis, keepdims=True)


def _log_softmax(z: np.ndarray, axis: int) -> np.ndarray:
    z = z - z.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


def _pairs(rng: np.random.Generator, n: int, d: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """n matching pairs (n, d): texts are the images plus noise, with rows of very different lengths."""
    image = rng.normal(size=(n, d)) * rng.uniform(0.1, 10.0, size=(n, 1))
    text = (image / np.linalg.norm(image, axis=1, keepdims=True) + noise * rng.normal(size=(n, d)))
    return image, text * rng.uniform(0.1, 10.0, size=(n, 1))


class SimilarityMatrix(FunctionQuestion):
    """``similarity_matrix(image_emb, text_emb)``: cosine similarities S (N, M), S[i, j] = cos(image i, text j).

    image_emb is (N, D), text_emb (M, D), one embedding per row; N and M may
    differ. Each row is divided by its own length first, so a long vector
    counts no more than a short one pointing the same way.
    """

    name, chapter = "q1", "09"
    hints = ("cos(a, b) = a·b / (‖a‖ ‖b‖). Make every row a unit vector, then a single matrix product gives "
             "every dot product at once.",
             "Normalise along the feature axis: divide each row by np.linalg.norm(x, axis=1, keepdims=True). "
             "The result has one row per image and one column per text: (N, D) @ (D, M).",
             "i = image_emb / np.linalg.norm(image_emb, axis=1, keepdims=True); t = the same for text_emb; "
             "return i @ t.T")

    def reference(self, image_emb, text_emb):
        return _unit(image_emb) @ _unit(text_emb).T

    def cases(self):
        rng = np.random.default_rng(9)
        image, text = _pairs(rng, 5, 8, 0.5)
        return [(image, text),
                (rng.normal(size=(3, 4)) * [[1.0], [50.0], [0.02]], rng.normal(size=(6, 4))),  # N != M
                (rng.normal(size=(4, 16)), rng.normal(size=(4, 16)) * 30.0)]

    def near_misses(self):
        return ((lambda i, t: i @ t.T, "these are dot products: divide each row by its length first (cosine)"),
                (lambda i, t: _unit(i, 0) @ _unit(t, 0).T,
                 "the columns (features) are normalised; normalise each row (each embedding) instead"),
                (lambda i, t: _unit(t) @ _unit(i).T, "rows and columns are swapped: row i should be image i"),
                (lambda i, t: _unit(i) @ t.T, "only the images are normalised; the texts need it too"),
                (lambda i, t: i @ _unit(t).T, "only the texts are normalised; the images need it too"))


class InfoNCE(FunctionQuestion):
    """``info_nce(image_emb, text_emb, logit_scale)``: CLIP's symmetric loss, a float.

    Row n of image_emb (N, D) and row n of text_emb (N, D) are a pair.
    Z = exp(logit_scale) · cos(image i, text j) is (N, N); the loss is the
    mean of two cross-entropies with the diagonal as labels: each image
    classifying the texts (the rows of Z) and each text classifying the
    images (the columns). ``logit_scale`` t is the log inverse temperature.
    """

    name, chapter = "q2", "09"
    hints = ("Start from the cosine similarity matrix of q1 and multiply it by exp(logit_scale): t is stored as "
             "the log of 1/τ, so the scale is e^t.",
             "Image i's text is text i: the correct 'class' of row i is column i. The cross-entropy of a row is "
             "-log softmax(row)[i], averaged over the N rows. Do the same down the columns, then average the two.",
             "z = np.exp(logit_scale) * cosine matrix; log-softmax with the maximum subtracted: "
             "lr = z - z.max(1, keepdims=True); lr -= np.log(np.exp(lr).sum(1, keepdims=True)); the same with "
             "axis 0 gives lc; return float(-(np.diag(lr).mean() + np.diag(lc).mean()) / 2)")
    rtol = 1e-7

    def reference(self, image_emb, text_emb, logit_scale):
        return info_nce_forward(image_emb, text_emb, logit_scale)[0]

    def cases(self):
        rng = np.random.default_rng(90)
        image, text = _pairs(rng, 6, 8, 0.8)
        lopsided = rng.normal(size=(5, 4)), rng.normal(size=(5, 4))  # the two directions give different losses
        return [(image, text, INIT_LOGIT_SCALE),
                (*lopsided, 1.0),
                (*_pairs(rng, 2, 3, 1.0), 0.0),  # N = 2, scale e^0 = 1
                (*_pairs(rng, 8, 16, 0.3), MAX_LOGIT_SCALE)]  # logits up to 100

    def near_misses(self):
        def loss(rows: bool, cols: bool, scale=math.exp, normalise=True, reduce=np.mean):
            def wrong(i, t, s):
                if normalise:
                    i, t = _unit(i), _unit(t)
                z = scale(s) * (i @ t.T)
                parts = [-reduce(np.diag(_log_softmax(z, axis))) for axis, use in ((1, rows), (0, cols)) if use]
                return float(sum(parts) / len(parts))
            return wrong

        return ((loss(True, False), "that is only the image→text half (the rows): average it with the "
                                    "text→image half (the columns)"),
                (loss(False, True), "that is only the text→image half (the columns): average it with the "
                                    "image→text half (the rows)"),
                (loss(True, True, scale=lambda s: s), "the similarities are multiplied by logit_scale itself; "
                                                      "t is log(1/τ), so the scale is exp(t)"),
                (loss(True, True, scale=lambda s: math.exp(-s)), "the similarities are divided by exp(t); "
                                                                 "multiply by exp(t) = 1/τ"),
                (loss(True, True, normalise=False), "the embeddings are not normalised: the logits should be "
                                                    "cosines times the scale"),
                (loss(True, True, reduce=np.sum), "the cross-entropies are summed over the batch; take the mean"))


class RecallAtK(FunctionQuestion):
    """``recall_at_k(similarity, k)``: image→text recall@k from similarity (N, N), a float in [0, 1].

    Row i is query i; its one correct item is column i. The rank of the
    correct item is 1 + the number of OTHER items in the row scoring at least
    as high (ties count against the query, so a model that scores everything
    the same gets no credit). recall@k is the fraction of queries whose rank
    is <= k.
    """

    name, chapter = "q3", "09"
    hints = ("For each row, compare every score with the row's correct score, the diagonal entry.",
             "rank = 1 + the number of other columns with a score >= the correct one: count with >= and subtract "
             "the correct item itself. A tie is a miss when k is too small to hold both.",
             "correct = np.diag(similarity)[:, None]; rank = (similarity >= correct).sum(axis=1); "
             "return float(np.mean(rank <= k))")

    def reference(self, similarity, k):
        rank = (similarity >= np.diag(similarity)[:, None]).sum(axis=1)  # counts the item itself: 1 + the others
        return float(np.mean(rank <= k))

    def cases(self):
        rng = np.random.default_rng(900)
        noisy = np.eye(10) * 0.8 + rng.normal(size=(10, 10)) * 0.5
        tied = np.array([[0.5, 0.5, 0.1], [0.2, 0.9, 0.9], [0.3, 0.1, 0.7]])  # rows 0 and 1 tie with a wrong item
        return [(noisy, 1), (noisy, 5), (noisy.T.copy(), 3), (tied, 1), (tied, 2),
                (np.full((4, 4), 0.25), 1), (np.full((4, 4), 0.25), 4), (noisy, 10)]

    def near_misses(self):
        def ranks(similarity, strict=False):
            correct = np.diag(similarity)[:, None]
            return 1 + ((similarity > correct) if strict else (similarity >= correct)).sum(axis=1) - (0 if strict else 1)

        return ((lambda s, k: float(np.mean(ranks(s, strict=True) <= k)),
                 "ties are counted in the query's favour (with > instead of >=, or by sorting, which breaks ties by "
                 "position): an item scoring the same as the correct one must count as ranked above it"),
                (lambda s, k: float(np.mean(ranks(s.T) <= k)),
                 "that is text→image recall (the columns); rank the items along each row"),
                (lambda s, k: float(np.mean(ranks(s) < k)), "rank <= k counts as a hit: rank k is still in the top k"))


class ZeroShot(FunctionQuestion):
    """``zero_shot_predict(image_emb, class_emb)``: the class of each image, (N,) integers.

    image_emb is (N, D); class_emb (C, D) holds one text embedding per class
    (e.g. of "a photo of a {class}"). Each image gets the class whose
    embedding has the highest cosine similarity with it; a tie goes to the
    lower class index, as np.argmax does. Class embeddings may have very
    different lengths.
    """

    name, chapter = "q4", "09"
    hints = ("Zero-shot classification is retrieval: score every class text against every image with the cosine "
             "similarity of q1 and take the best class for each image.",
             "The similarity matrix is (N, C), one row per image; take the argmax along axis 1. Dot products "
             "without normalising favour the longest class embedding.",
             "return np.argmax(similarity_matrix(image_emb, class_emb), axis=1)")

    def reference(self, image_emb, class_emb):
        return np.argmax(_unit(image_emb) @ _unit(class_emb).T, axis=1)

    def cases(self):
        rng = np.random.default_rng(9000)
        classes = rng.normal(size=(4, 6)) * np.array([[0.2], [1.0], [8.0], [2.0]])  # class 2 is long
        images = classes[rng.integers(0, 4, size=12)] / 3 + 0.6 * rng.normal(size=(12, 6))
        tie = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 2.0]])  # the last image is equally close to both classes
        return [(images, classes), (tie, np.array([[3.0, 0.0], [0.0, 0.5]])),
                (rng.normal(size=(5, 3)), rng.normal(size=(7, 3)) * rng.uniform(0.1, 5, size=(7, 1)))]

    def near_misses(self):
        return ((lambda i, c: np.argmax(i @ c.T, axis=1),
                 "the scores are dot products, which favour the longest class embedding: use cosine similarity"),
                (lambda i, c: np.argmax(_unit(i) @ _unit(c).T, axis=0),
                 "the argmax runs over the images (axis 0): each image (row) needs its best class"),
                (lambda i, c: (_unit(i) @ _unit(c).T).shape[1] - 1 - np.argmax((_unit(i) @ _unit(c).T)[:, ::-1], axis=1),
                 "a tie goes to the higher class index: let it go to the lower one, as np.argmax does"))

    def _mismatch(self, got, expected, args):
        if isinstance(got, np.ndarray) and got.shape == expected.shape and got.dtype.kind == "f" \
                and np.isfinite(got).all():
            return (f"the returned value should hold integer class indices, got dtype {got.dtype}: a class index "
                    f"is a position, not a score")
        if isinstance(got, np.ndarray) and got.ndim == 2:
            return (f"the returned value has shape {got.shape}: return one class index per image, "
                    f"shape {expected.shape}, not the similarity scores")
        return super()._mismatch(got, expected, args)


class PromptEnsemble(FunctionQuestion):
    """``ensemble_classes(prompt_emb)``: one unit embedding per class from several prompts, (C, D).

    prompt_emb is (C, P, D): class c's text embedded with P prompt templates
    ("a {c}", "a picture of a {c}", ...). As CLIP does: normalise every
    prompt embedding, average over the P prompts, then normalise the mean.
    """

    name, chapter = "q5", "09"
    hints = ("Three steps, in order: make each of the C × P prompt embeddings a unit vector, average the P "
             "embeddings of each class, make the average a unit vector again.",
             "The prompts are axis 1 and the features axis 2. Normalising first lets each prompt count equally; "
             "normalising last makes the class vectors comparable by cosine (and by dot product).",
             "u = prompt_emb / np.linalg.norm(prompt_emb, axis=2, keepdims=True); m = u.mean(axis=1); "
             "return m / np.linalg.norm(m, axis=1, keepdims=True)")

    def reference(self, prompt_emb):
        return _unit(_unit(prompt_emb).mean(axis=1))

    def cases(self):
        rng = np.random.default_rng(90000)
        base = rng.normal(size=(4, 1, 8))
        return [(base + 0.5 * rng.normal(size=(4, 3, 8)) * rng.uniform(0.1, 10, size=(4, 3, 1)),),
                (rng.normal(size=(2, 5, 4)) * np.array([1.0, 30.0, 1.0, 0.1, 1.0])[None, :, None],),
                (rng.normal(size=(3, 1, 6)) * 4.0,)]  # one prompt: the class embedding is that prompt's direction

    def near_misses(self):
        return ((lambda e: _unit(e.mean(axis=1)), "the prompts are averaged before they are normalised, so a long "
                                                  "embedding outweighs the others: normalise each prompt first"),
                (lambda e: _unit(e).mean(axis=1), "the average of unit vectors is shorter than 1: normalise it again"),
                (lambda e: e.mean(axis=1), "normalise each prompt embedding first, and the average at the end"),
                (lambda e: _unit(_unit(e).mean(axis=0)), "the average runs over the classes (axis 0); average the "
                                                         "prompts of each class (axis 1)"))

    def _mismatch(self, got, expected, args):
        problem = super()._mismatch(got, expected, args)
        if problem and isinstance(got, np.ndarray) and got.shape == expected.shape and np.isfinite(got).all():
            lengths = np.linalg.norm(got, axis=1)
            if not np.allclose(lengths, 1.0, atol=1e-6):
                return problem + f" (the rows have lengths between {lengths.min():.3g} and {lengths.max():.3g}, not 1)"
        return problem


q1 = SimilarityMatrix()
q2 = InfoNCE()
q3 = RecallAtK()
q4 = ZeroShot()
q5 = PromptEnsemble()
