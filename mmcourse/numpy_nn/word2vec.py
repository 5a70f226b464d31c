"""Skip-gram Word2Vec with negative sampling (SGNS), vectorised over mini-batches.

Each word w has two vectors: v_w = W_in[w] when it is the centre word and
u_w = W_out[w] when it is a context word. For a centre c with true context o
and K negatives n_1..n_K drawn from the unigram distribution raised to 3/4,
the loss is

    ℓ = -log σ(u_o · v_c) - Σ_k log σ(-u_{n_k} · v_c)

(pull the true pair together, push the random ones apart), averaged over the
batch. After training, the rows of W_in are the word embeddings.
"""
from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm

from . import _checks
from .core import sigmoid


def _rng(name: str, rng) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"{name} must be a numpy.random.Generator (np.random.default_rng(seed)), got {type(rng).__name__}")
    return rng


def skipgram_pairs(ids: np.ndarray, window: int, rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
    """All (centre, context) word-id pairs at distance 1..window in the token stream ids (L,).

    With ``rng``, each position's window is drawn uniformly from 1..window, as
    in the original word2vec, so near neighbours are sampled more often than
    far ones; with ``rng=None`` every position uses the full window. Returns
    two int arrays (P,), one loop over the ``window`` offsets, none over tokens.
    """
    _checks.int_array("ids", ids, 1)
    window = _checks.integer("window", window, 1)
    length = ids.shape[0]
    reach = np.full(length, window) if rng is None else _rng("rng", rng).integers(1, window + 1, size=length)  # (L,)
    centres, contexts = [], []
    for offset in range(1, min(window, length - 1) + 1):
        left = np.arange(length - offset)  # positions i with a word at i + offset
        right = left + offset
        fwd = reach[left] >= offset  # centre i sees i + offset
        bwd = reach[right] >= offset  # centre i + offset sees i
        centres += [ids[left[fwd]], ids[right[bwd]]]
        contexts += [ids[right[fwd]], ids[left[bwd]]]
    if not centres:
        return np.empty(0, dtype=ids.dtype), np.empty(0, dtype=ids.dtype)
    return np.concatenate(centres), np.concatenate(contexts)


def negative_sampling_table(ids: np.ndarray, vocab_size: int, power: float = 0.75) -> np.ndarray:
    """Cumulative distribution (vocab_size,) of P(w) ∝ count(w)^power, ready for :func:`sample_negatives`.

    power = 3/4 (word2vec's choice) flattens the unigram distribution: rare
    words are drawn more often than their frequency, "the" less often.
    """
    vocab_size = _checks.integer("vocab_size", vocab_size, 1)
    _checks.int_array("ids", ids, 1, high=vocab_size)
    if ids.size == 0:
        raise ValueError("ids must contain at least one token")
    if isinstance(power, bool) or not isinstance(power, (int, float)) or power < 0:
        raise ValueError(f"power must be a number >= 0, got {power!r}")
    counts = np.bincount(ids, minlength=vocab_size)  # (V,)
    weights = np.where(counts > 0, counts.astype(np.float64) ** power, 0.0)  # 0**0 would give unseen words a share
    cdf = np.cumsum(weights / weights.sum())
    cdf[-1] = 1.0  # rounding must not leave a gap above the last word
    return cdf


def sample_negatives(table: np.ndarray, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Draw word ids of the given shape from the distribution whose CDF is ``table`` (inverse-CDF sampling)."""
    _checks.float_array("table", table, 1, "(vocab_size,)")
    return np.searchsorted(table, _rng("rng", rng).random(shape), side="right")


def sgns_loss_and_grads(
    w_in: np.ndarray, w_out: np.ndarray, centre: np.ndarray, context: np.ndarray, negatives: np.ndarray
) -> tuple[float, tuple[np.ndarray, np.ndarray]]:
    """Mean SGNS loss over a batch and its gradients (dW_in, dW_out), both (V, d) like the weights.

    w_in, w_out (V, d); centre, context (B,) and negatives (B, K) are word
    ids. With s⁺ = u_o·v_c and s⁻_k = u_{n_k}·v_c, dℓ/ds⁺ = σ(s⁺) - 1 and
    dℓ/ds⁻_k = σ(s⁻_k). A word that occurs several times in the batch gets
    the sum of its gradients (``np.add.at``; plain ``+=`` with repeated indices
    would keep only one of them).
    """
    _checks.float_array("w_in", w_in, 2, "(vocab_size, dim)")
    _checks.float_array("w_out", w_out, 2, "(vocab_size, dim)", like=("w_in", w_in))
    _checks.same_shape("w_out", w_out, w_in.shape, "the shape of w_in")
    vocab, dim = w_in.shape
    _checks.int_array("centre", centre, 1, high=vocab)
    _checks.int_array("context", context, 1, high=vocab)
    _checks.same_shape("context", context, centre.shape, "one context per centre")
    _checks.int_array("negatives", negatives, 2, high=vocab)
    if negatives.shape[0] != centre.shape[0]:
        raise ValueError(f"negatives must have shape (B={centre.shape[0]}, K), got {negatives.shape}")
    batch = centre.shape[0]
    if batch == 0:
        raise ValueError("centre must hold at least one word id")
    v = w_in[centre]  # (B, d)
    u_pos = w_out[context]  # (B, d)
    u_neg = w_out[negatives]  # (B, K, d)
    s_pos = np.einsum("bd,bd->b", u_pos, v)  # (B,)
    s_neg = np.einsum("bkd,bd->bk", u_neg, v)  # (B, K)
    # log σ(s) = -log(1 + e^{-s}), stably
    loss = (np.logaddexp(0, -s_pos).sum() + np.logaddexp(0, s_neg).sum()) / batch
    g_pos = (sigmoid(s_pos) - 1) / batch  # (B,) dℓ/ds⁺
    g_neg = sigmoid(s_neg) / batch  # (B, K) dℓ/ds⁻
    dv = g_pos[:, None] * u_pos + np.einsum("bk,bkd->bd", g_neg, u_neg)  # (B, d)
    dw_in = np.zeros_like(w_in)
    np.add.at(dw_in, centre, dv)
    dw_out = np.zeros_like(w_out)
    np.add.at(dw_out, context, g_pos[:, None] * v)
    np.add.at(dw_out, negatives.reshape(-1), (g_neg[:, :, None] * v[:, None, :]).reshape(-1, dim))  # (B*K, d)
    return float(loss), (dw_in, dw_out)


def train_word2vec(
    ids: np.ndarray,
    vocab_size: int,
    dim: int = 50,
    window: int = 2,
    negatives: int = 5,
    epochs: int = 5,
    lr: float = 1.0,
    batch_size: int = 256,
    seed: int = 0,
    progress: bool = True,
    return_losses: bool = False,
) -> np.ndarray | tuple[np.ndarray, list[float]]:
    """Train SGNS by plain SGD on the token stream ids (L,); returns W_in (vocab_size, dim), float32.

    Each epoch shuffles all skip-gram pairs and steps through them in
    batches of ``batch_size``. ``lr`` applies to the batch-*mean* loss, so a
    single pair moves by lr / batch_size: larger batches want larger lr.
    W_in starts uniform in ±0.5/dim and W_out at zero, as in word2vec. With
    ``return_losses=True`` also returns the mean loss of each epoch.
    """
    vocab_size = _checks.integer("vocab_size", vocab_size, 1)
    _checks.int_array("ids", ids, 1, high=vocab_size)
    dim = _checks.integer("dim", dim, 1)
    window = _checks.integer("window", window, 1)
    negatives = _checks.integer("negatives", negatives, 1)
    epochs = _checks.integer("epochs", epochs, 1)
    batch_size = _checks.integer("batch_size", batch_size, 1)
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0:
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    if ids.shape[0] < 2:
        raise ValueError(f"ids must hold at least two tokens to form a pair, got {ids.shape[0]}")
    rng = np.random.default_rng(seed)
    w_in = ((rng.random((vocab_size, dim)) - 0.5) / dim).astype(np.float32)  # (V, d)
    w_out = np.zeros((vocab_size, dim), dtype=np.float32)  # (V, d)
    table = negative_sampling_table(ids, vocab_size)
    losses = []
    bar = tqdm(range(epochs), desc="word2vec", disable=not progress)
    for _ in bar:
        centre, context = skipgram_pairs(ids, window, rng)
        order = rng.permutation(centre.shape[0])
        total, seen = 0.0, 0
        for start in range(0, order.shape[0], batch_size):
            batch = order[start : start + batch_size]
            negs = sample_negatives(table, (batch.shape[0], negatives), rng)  # (B, K)
            loss, (dw_in, dw_out) = sgns_loss_and_grads(w_in, w_out, centre[batch], context[batch], negs)
            w_in -= lr * dw_in
            w_out -= lr * dw_out
            total += loss * batch.shape[0]
            seen += batch.shape[0]
        losses.append(total / seen)
        bar.set_postfix(loss=f"{losses[-1]:.4f}")
    return (w_in, losses) if return_losses else w_in


def nearest_neighbours(emb: np.ndarray, query_id: int, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """The k words whose rows of emb (V, d) have the highest cosine similarity to ``query_id`` (itself excluded).

    Returns (ids (k,), similarities (k,)), most similar first.
    """
    _checks.float_array("emb", emb, 2, "(vocab_size, dim)")
    vocab = emb.shape[0]
    query_id = _checks.integer("query_id", query_id, 0)
    if query_id >= vocab:
        raise ValueError(f"query_id must be < vocab_size {vocab}, got {query_id}")
    k = _checks.integer("k", k, 1)
    if k > vocab - 1:
        raise ValueError(f"k must be <= vocab_size - 1 = {vocab - 1}, got {k}")
    norms = np.linalg.norm(emb, axis=1)  # (V,)
    sims = emb @ emb[query_id] / np.maximum(norms * norms[query_id], np.finfo(emb.dtype).tiny)  # (V,)
    sims[query_id] = -np.inf
    top = np.argsort(-sims, kind="stable")[:k]
    return top, sims[top]
