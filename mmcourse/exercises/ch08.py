"""Exercises of chapter 08: transformers (causal mask, attention, nucleus sampling, KV cache, perplexity)."""
from __future__ import annotations

import math

import numpy as np

from mmcourse.exercises.core import FunctionQuestion, _convert_advice, _describe, compare


def _softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    z = z - z.max(axis=axis, keepdims=True)  # exp of large scores would overflow
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def _attend(q: np.ndarray, k: np.ndarray, mask: np.ndarray | None = None, scale: float | None = None) -> np.ndarray:
    """softmax(q kᵀ · scale) with masked scores at -inf, for q (Tq, d) and k (Tk, d): (Tq, Tk)."""
    scores = q @ k.T * (1 / math.sqrt(q.shape[-1]) if scale is None else scale)  # (Tq, Tk)
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    return _softmax(scores, axis=-1)


class CausalMask(FunctionQuestion):
    """``causal_mask(T)``: the (T, T) bool mask of a decoder, True where query t may attend to key s (s <= t).

    Row t is the query position, column s the key position; the diagonal is
    True (a token sees itself). The dtype is bool: not 0/1 numbers, not the
    additive 0/-inf form. T = 1 gives a (1, 1) array.
    """

    name, chapter = "q1", "08"
    hints = ("Row t is query position t, column s is key position s. A decoder may look at the past and at "
             "itself, never at the future.",
             "mask[t, s] is True exactly when s <= t: the diagonal and everything below it. The dtype must be "
             "bool, not 0/1 numbers and not an additive mask of 0 and -inf.",
             "np.tril(np.ones((T, T), dtype=bool)), or compare the index grids: "
             "np.arange(T)[None, :] <= np.arange(T)[:, None]")

    def reference(self, T):
        return np.tril(np.ones((T, T), dtype=bool))

    def cases(self):
        return [(4,), (1,), (7,), (2,)]  # T = 1: a (1, 1) mask, not a scalar or a row

    def near_misses(self):
        return ((lambda T: np.triu(np.ones((T, T), dtype=bool)),
                 "the True entries lie above the diagonal: that lets query t see later keys (the future)"),
                (lambda T: np.tril(np.ones((T, T), dtype=bool), -1),
                 "the diagonal is False, but a token may attend to itself (s = t)"),
                (lambda T: ~np.tril(np.ones((T, T), dtype=bool)),
                 "True and False are swapped: True means the query *may* attend to the key"))

    def _diagnosis(self, got, args):
        if isinstance(got, np.ndarray) and got.dtype.kind in "iuf" and np.isin(got, (0, 1)).all():
            got = got.astype(bool)  # a 0/1 mask: name its pattern's mistake first
        return super()._diagnosis(got, args)

    def _mismatch(self, got, expected, args):
        if isinstance(got, np.ndarray) and got.dtype.kind == "f" and np.isneginf(got).any():
            return ("the returned value holds -inf: that is an additive mask (0 or -inf, added to the scores). "
                    "This exercise asks for a boolean mask, True where the query may attend")
        if isinstance(got, np.ndarray) and got.dtype.kind == "f":  # 0.0/1.0: compare the pattern, then the dtype
            expected = expected.astype(got.dtype)
        problem = super()._mismatch(got, expected, args)
        if problem is None and got.dtype != np.bool_:
            return (f"the returned value has the right 0/1 pattern but dtype {got.dtype}: a mask should have "
                    f"dtype bool (True = may attend)")
        return problem


class AttentionWeights(FunctionQuestion):
    """``attention_weights(q, k, mask=None)``: A = softmax(q kᵀ / √d) over the keys, (Tq, Tk).

    q is (Tq, d), k is (Tk, d); ``mask`` is None or a (Tq, Tk) bool array,
    True = may attend, with at least one True per row. Masked weights are
    exactly 0 and every row sums to 1. Some cases have scores in the
    thousands: a softmax that does not subtract the row maximum overflows.
    """

    name, chapter = "q2", "08"
    hints = ("The scores are q @ k.T, shape (Tq, Tk), divided by √d where d is the width of q and k. Each row "
             "(one query) becomes a probability distribution over the keys with a softmax along the last axis.",
             "Mask before the softmax: set the scores where the mask is False to -inf, so that exp gives exactly 0 "
             "and the other weights of the row still sum to 1. Zeroing weights after the softmax breaks the sum.",
             "Subtract each row's maximum before np.exp, or large scores overflow to inf and inf / inf = NaN: "
             "s = q @ k.T / np.sqrt(q.shape[1]); s = np.where(mask, s, -np.inf) if mask is given; "
             "e = np.exp(s - s.max(axis=1, keepdims=True)); return e / e.sum(axis=1, keepdims=True)")
    rtol = 1e-6

    def reference(self, q, k, mask=None):
        return _attend(q, k, mask)

    def cases(self):
        rng = np.random.default_rng(8)
        padding = np.array([[True, True, True, False, False]] * 3)  # the last two keys are padding
        causal = np.tril(np.ones((5, 5), dtype=bool))
        return [(rng.normal(size=(4, 8)), rng.normal(size=(4, 8))),  # no mask
                (rng.normal(size=(3, 4)), rng.normal(size=(5, 4)), padding),  # cross-attention: Tq != Tk
                (rng.normal(size=(5, 16)), rng.normal(size=(5, 16)), causal),
                (rng.normal(size=(5, 2)) * 40, rng.normal(size=(5, 2)) * 40, causal),  # scores in the thousands
                (rng.normal(size=(2, 3)) * 30, rng.normal(size=(6, 3)) * 30)]

    def near_misses(self):
        def after_softmax(q, k, mask=None):
            weights = _attend(q, k)
            return weights if mask is None else np.where(mask, weights, 0.0)

        def wrong_axis(q, k, mask=None):
            scores = q @ k.T / math.sqrt(q.shape[1])
            scores = scores if mask is None else np.where(mask, scores, -np.inf)
            return _softmax(scores, axis=0)

        return ((lambda q, k, mask=None: _attend(q, k, mask, scale=1.0),
                 "the scores are not scaled: divide q kᵀ by √d, d being the width of q and k"),
                (lambda q, k, mask=None: _attend(q, k, mask, scale=1 / q.shape[1]),
                 "the scores are divided by d; the scale of scaled dot-product attention is 1/√d"),
                (wrong_axis, "the softmax runs over the queries (axis 0): each row, one query's weights over the "
                             "keys, should sum to 1"),
                (after_softmax, "the masked weights are zeroed after the softmax, so the rows no longer sum to 1: "
                                "mask the scores before the softmax"),
                (lambda q, k, mask=None: _attend(q, k),
                 "keys where the mask is False get weight: their weights should be exactly 0"),
                (lambda q, k, mask: _attend(q, k, ~mask),
                 "the weight goes to the keys where the mask is False: True means the query *may* attend"))

    def _diagnosis(self, got, args):
        advice = super()._diagnosis(got, args)
        if advice or not isinstance(got, np.ndarray) or got.dtype.kind != "f" or np.isfinite(got).all():
            return advice
        scores = args[0] @ args[1].T / math.sqrt(args[0].shape[1])
        if np.abs(scores).max() > 700:
            return (f"the scores of this case reach {np.abs(scores).max():.0f} and exp(710) overflows to inf: "
                    f"subtract each row's maximum score before the exp (the softmax does not change)")
        return None


class TopPFilter(FunctionQuestion):
    """``top_p_filter(logits, p)``: nucleus filter of logits (V,), p in (0, 1]; returns logits (V,).

    The nucleus is the smallest set of most probable tokens whose
    probabilities sum to >= p (a token that brings the total exactly to p
    completes it). The most probable token is always kept; every token whose
    probability equals that of the least probable kept token is kept too
    (ties are all in or all out); p = 1 keeps every token. Kept logits are
    returned unchanged, the others as -inf. The course's torch version is
    ``mmcourse.torch_models.gpt.top_p_filter``.
    """

    name, chapter = "q3", "08"
    hints = ("Work with probabilities, softmax(logits), but return logits: unchanged for the tokens you keep, "
             "minus infinity for the others. Sort the probabilities from the most to the least probable.",
             "Add up the sorted probabilities until the total reaches p (>= p): the token that makes it reach p is "
             "in the nucleus, the next ones are not. The most probable token is always kept, and every token whose "
             "probability equals that of the least probable kept token is kept too (ties).",
             "Sort the logits in descending order, take the softmax of that (subtract the max first: some logits "
             "are large), and count the tokens whose total probability ranked *before* them is still < p: "
             "before = np.concatenate([[0.0], np.cumsum(probs)[:-1]]). That count n is at least 1. Keep every "
             "token whose logit is >= the n-th largest: np.where(logits >= ordered[n - 1], logits, -np.inf).")

    def reference(self, logits, p):
        ordered = np.sort(logits)[::-1]  # (V,), most probable first
        probs = _softmax(ordered)
        before = np.concatenate([[0.0], np.cumsum(probs)[:-1]])  # probability ranked above each token
        n_keep = int((before < p).sum())  # >= 1: nothing is ranked above the top token
        return np.where(logits >= ordered[n_keep - 1], logits, -np.inf)

    def cases(self):
        rng = np.random.default_rng(80)
        return [(rng.normal(size=8) / 2, 0.6),
                (np.log(np.array([0.125, 0.25, 0.5, 0.125])), 0.75),  # 0.5 + 0.25 is exactly p: two tokens
                (np.log(np.array([0.1, 0.4, 0.2, 0.1, 0.2])), 0.5),  # 0.4 + 0.2 crosses p; the other 0.2 ties
                (np.log(np.array([0.125, 0.5, 0.25, 0.125])), 0.8),  # the two 0.125 tie at the boundary
                (rng.normal(size=10), 0.001),  # tiny p: only the top token
                (rng.normal(size=12) + 800, 0.6),  # large logits: exp overflows without the max
                (np.random.default_rng(23).normal(size=5), 1.0)]  # p = 1: the cumulative sum ends below 1.0

    def _mismatch(self, got, expected, args):
        logits, _ = args
        if not isinstance(got, np.ndarray):
            return f"the returned value should be a NumPy array, got {_describe(got)}." + _convert_advice(got)
        if got.shape != expected.shape:
            return f"the returned value has the wrong shape: expected {expected.shape}, got {got.shape}"
        if got.dtype.kind != "f":
            return f"the returned value should hold float logits (-inf for filtered tokens), got dtype {got.dtype}"
        kept = np.isfinite(expected)
        if np.isfinite(got).all() and got.min() >= 0 and got.max() <= 1 and np.abs(logits - 0.5).max() > 0.5:
            return ("the returned values look like probabilities: return the logits themselves, unchanged for the "
                    "kept tokens and -inf for the others")
        bad = np.isnan(got) | np.isposinf(got)
        if bad[kept].any():
            where = int(np.flatnonzero(bad & kept)[0])
            return f"the returned value contains NaN or +inf ({int(bad.sum())} entries, the first at index {where})"
        got_kept = got > -np.inf  # NaN counts as not kept here; it is reported below
        if not got_kept.any():
            return "the returned value keeps no token at all: the most probable token is always kept"
        missing, extra = kept & ~got_kept, ~kept & got_kept
        if missing.any() and extra.any():
            return "the returned value keeps the wrong tokens"
        if missing.any():
            return (f"the returned value keeps too few tokens: {int(missing.sum())} token(s) of the nucleus are -inf, "
                    f"the first at index {int(np.flatnonzero(missing)[0])}")
        if extra.any():
            if np.all(got[extra] <= -1e4):
                return "filtered tokens should be exactly -inf (-np.inf), not a large negative number"
            return (f"the returned value keeps too many tokens: {int(extra.sum())} token(s) outside the nucleus are "
                    f"not -inf, the first at index {int(np.flatnonzero(extra)[0])}")
        close = np.isclose(got[kept], expected[kept], rtol=self.rtol, atol=self.atol)
        if not close.all():
            where = int(np.flatnonzero(kept)[np.flatnonzero(~close)[0]])
            return (f"the right tokens are kept, but {int((~close).sum())} of {int(kept.sum())} kept values are off, "
                    f"the first at index {where}: kept logits should be returned unchanged")
        if np.isnan(got).any():
            return "the returned value contains NaN where a filtered token should be -inf"
        return None

    def _diagnosis(self, got, args):
        logits, p = args
        notes = []
        if isinstance(got, np.ndarray) and got.shape == logits.shape and got.dtype.kind == "f":
            kept, got_kept = np.isfinite(self.reference(logits, p)), got > -np.inf
            missing, extra = kept & ~got_kept, ~kept & got_kept
            ordered = np.sort(logits)[::-1]
            probs = _softmax(ordered)
            smallest = logits[kept].min()  # the logit of the least probable kept token
            ascending = np.argsort(logits)  # least probable first
            from_least = np.zeros_like(kept)
            from_least[ascending[:np.argmax(np.cumsum(_softmax(logits)[ascending]) >= p) + 1]] = True
            if np.isnan(got).any():
                pass  # reported as such; no guess about the tokens
            elif extra.any() and not missing.any() and np.any(np.cumsum(probs) == p):
                notes.append("a token that brings the total exactly to p already completes the nucleus "
                             "(>= p, not > p)")
            elif not np.isneginf(got).any():
                pass  # probabilities or no filtering at all: the message says it
            elif missing.any() and extra.any() and np.array_equal(got_kept, from_least):
                notes.append("the kept tokens are the least probable ones: sort from the most probable down")
            elif missing.any() and p >= 1:
                notes.append("with p = 1 every token is kept (rounding can leave a cumulative sum a hair below 1.0)")
            elif missing.any() and np.all(logits[missing] == smallest) and (got_kept & (logits == smallest)).any():
                notes.append("a token whose probability equals that of the least probable kept token is kept too")
            elif missing.any():
                notes.append("the token whose probability makes the total reach p belongs to the nucleus "
                             "(and the most probable token always does)")
        if np.abs(logits).max() > 700:
            notes.append("the logits of this case are around 800 and exp(710) overflows to inf: subtract the "
                         "largest logit before the exp")
        return "; ".join(notes) or None


class KVCacheStep(FunctionQuestion):
    """``kv_cache_step(x_t, W_q, W_k, W_v, cache_k, cache_v)`` -> (out, cache_k, cache_v): one cached decoding step.

    x_t (D,) is the new token; W_q, W_k, W_v are (D, d); the caches (T, d)
    hold the keys and values of the T earlier positions (T = 0 at the first
    step). Project q, k, v = x_t W, append k and v as the last rows (T + 1, d),
    attend with q over every cached key, scaled by 1/√d: out (d,) equals
    causal attention over the whole sequence at its last position.
    """

    name, chapter = "q4", "08"
    hints = ("Project the new token: q = x_t @ W_q, k = x_t @ W_k, v = x_t @ W_v, each (d,). The caches hold the "
             "keys and values of the earlier positions, one row per position.",
             "Append first, then attend: the new token attends to all earlier positions *and* to itself. "
             "The new caches are (T + 1, d), the new row last; the cache of the first step is empty, (0, d).",
             "cache_k = np.vstack([cache_k, k]); cache_v = np.vstack([cache_v, v]); "
             "s = cache_k @ q / np.sqrt(len(q)); w = np.exp(s - s.max()); w /= w.sum(); "
             "return w @ cache_v, cache_k, cache_v")
    rtol = 1e-6

    def reference(self, x_t, w_q, w_k, w_v, cache_k, cache_v):
        q, k, v = x_t @ w_q, x_t @ w_k, x_t @ w_v  # (d,) each
        cache_k, cache_v = np.vstack([cache_k, k]), np.vstack([cache_v, v])  # (T + 1, d)
        weights = _softmax(cache_k @ q / math.sqrt(len(q)))  # (T + 1,): the new token attends to itself too
        return weights @ cache_v, cache_k, cache_v

    def cases(self):
        rng = np.random.default_rng(800)
        found = []
        for t, d_model, d in ((3, 6, 4), (0, 6, 4), (5, 8, 3), (1, 5, 5)):  # t = 0: the first step, empty cache
            x = rng.normal(size=(t + 1, d_model))  # the earlier tokens and the new one, last
            w_q, w_k, w_v = (rng.normal(size=(d_model, d)) for _ in range(3))
            found.append((x[t], w_q, w_k, w_v, x[:t] @ w_k, x[:t] @ w_v))  # caches as earlier steps left them
        return found

    def near_misses(self):
        def attend_then_append(x_t, w_q, w_k, w_v, cache_k, cache_v):
            q = x_t @ w_q
            out = _softmax(cache_k @ q / math.sqrt(len(q))) @ cache_v
            return out, np.vstack([cache_k, x_t @ w_k]), np.vstack([cache_v, x_t @ w_v])

        def only_new(x_t, w_q, w_k, w_v, cache_k, cache_v):
            return x_t @ w_v, np.vstack([cache_k, x_t @ w_k]), np.vstack([cache_v, x_t @ w_v])

        def unscaled(x_t, w_q, w_k, w_v, cache_k, cache_v):
            cache_k, cache_v = np.vstack([cache_k, x_t @ w_k]), np.vstack([cache_v, x_t @ w_v])
            return _softmax(cache_k @ (x_t @ w_q)) @ cache_v, cache_k, cache_v

        def old_caches(*args):
            return self.reference(*args)[0], args[4], args[5]

        def prepended(x_t, w_q, w_k, w_v, cache_k, cache_v):
            out, _, _ = self.reference(x_t, w_q, w_k, w_v, cache_k, cache_v)
            return out, np.vstack([x_t @ w_k, cache_k]), np.vstack([x_t @ w_v, cache_v])

        return ((attend_then_append, "out ignores the new token: append its key and value to the caches first, "
                                     "then attend over all of them"),
                (only_new, "out attends only to the new token; it should attend to every cached position"),
                (unscaled, "the scores q·k are not scaled by 1/√d"),
                (old_caches, "the returned caches are the old ones: return them with the new key and value appended"),
                (prepended, "the new key and value should be the last rows of the caches (they are in time order)"))


class Perplexity(FunctionQuestion):
    """``perplexity(losses_nats, lengths=None)``: exp of the mean cross-entropy per token, a float.

    Without ``lengths``, losses_nats (N,) holds one loss per token (natural
    log). With ``lengths`` (N,) ints, entry i is the mean loss of sequence i
    over lengths[i] tokens: the mean is weighted by the lengths, so every token
    counts once.
    """

    name, chapter = "q5", "08"
    hints = ("Perplexity is e to the power of the average cross-entropy per token, with the loss in nats "
             "(natural log): average first, exponentiate last.",
             "Without lengths, each entry of losses_nats is one token's loss. With lengths, entry i is the mean loss "
             "of sequence i over lengths[i] tokens, so a long sequence should count more: every token counts once.",
             "mean = np.sum(losses_nats * lengths) / np.sum(lengths) (or np.mean(losses_nats) without lengths); "
             "return float(np.exp(mean))")
    rtol = 1e-7

    def reference(self, losses_nats, lengths=None):
        weights = np.ones_like(losses_nats) if lengths is None else lengths
        return float(np.exp(np.sum(losses_nats * weights) / np.sum(weights)))

    def cases(self):
        rng = np.random.default_rng(8000)
        return [(rng.uniform(0.2, 3.0, size=20),),  # one loss per token
                (np.array([1.2, 2.5, 0.8]), np.array([10, 3, 50])),  # per-sequence means of unequal lengths
                (np.array([2.0, 1.0, 1.5, 3.0]), np.array([8, 8, 8, 8])),
                (np.array([0.7]), np.array([7])),
                (rng.uniform(0.5, 4.0, size=6), rng.integers(1, 100, size=6))]

    def near_misses(self):
        def mean_loss(losses_nats, lengths=None):
            weights = np.ones_like(losses_nats) if lengths is None else lengths
            return float(np.sum(losses_nats * weights) / np.sum(weights))

        return ((lambda losses_nats, lengths=None: float(np.mean(np.exp(losses_nats))),
                 "that is the mean of per-sequence perplexities: average the losses first, exponentiate last"),
                (lambda losses_nats, lengths=None: float(np.exp(np.mean(losses_nats))),
                 "the sequences are averaged as equals: weight each mean loss by its length, so every token "
                 "counts once"),
                (lambda losses_nats, lengths=None: 2 ** mean_loss(losses_nats, lengths),
                 "the losses are in nats (natural log), so the base of the perplexity is e, not 2"),
                (mean_loss, "that is the mean loss in nats, not the perplexity"))


class BitsPerChar(FunctionQuestion):
    """``bits_per_char_from_nats(loss_nats, n_tokens, n_chars)``: bits per character, a float.

    loss_nats is the mean cross-entropy per token (natural log) over a text
    of n_tokens tokens that spells n_chars characters.
    """

    name, chapter = "q6", "08"
    hints = ("Two conversions: from nats to bits, and from per token to per character.",
             "1 nat = 1/ln 2 ≈ 1.443 bits (log2 x = ln x / ln 2). A text of n_tokens tokens costs "
             "loss_nats · n_tokens nats in total; spread that over its n_chars characters.",
             "loss_nats * n_tokens / (n_chars * np.log(2))")
    rtol = 1e-7

    def reference(self, loss_nats, n_tokens, n_chars):
        return loss_nats * n_tokens / (n_chars * math.log(2))

    def cases(self):
        return [(1.35, 4000, 4000),  # a character-level model: one token per character
                (3.1, 250, 1000),  # subword tokens of about 4 characters
                (0.9, 5000, 21000),
                (2.0, 3, 7)]

    def near_misses(self):
        return ((lambda loss, n_tokens, n_chars: loss * n_tokens / n_chars,
                 "that is nats per character: convert nats to bits"),
                (lambda loss, n_tokens, n_chars: loss * n_tokens / n_chars * math.log(2),
                 "the nats-to-bits conversion goes the wrong way: a bit is ln 2 ≈ 0.693 nats"),
                (lambda loss, n_tokens, n_chars: loss / math.log(2),
                 "that is bits per token: spread the loss of the n_tokens tokens over the n_chars characters"),
                (lambda loss, n_tokens, n_chars: loss * n_chars / (n_tokens * math.log(2)),
                 "the token-to-character ratio is upside down"))


q1 = CausalMask()
q2 = AttentionWeights()
q3 = TopPFilter()
q4 = KVCacheStep()
q5 = Perplexity()
q6 = BitsPerChar()
