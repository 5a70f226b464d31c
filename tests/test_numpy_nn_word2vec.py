"""Skip-gram with negative sampling: pairs, sampling, and embeddings that find the topics of a corpus."""
import numpy as np
import pytest

import mmcourse.numpy_nn as nn


def two_topic_corpus(seed=0, docs=200, length=20, per_topic=10):
    """Token ids of `docs` documents, each drawing all its words from one topic: ids 0-9 or ids 10-19."""
    rng = np.random.default_rng(seed)
    topic = rng.integers(0, 2, size=docs)
    return (topic[:, None] * per_topic + rng.integers(0, per_topic, size=(docs, length))).reshape(-1)  # (docs*length,)


def pair_set(centre, context):
    return sorted(zip(centre.tolist(), context.tolist()))


def test_skipgram_pairs_with_full_window_lists_every_neighbour_both_ways():
    ids = np.array([10, 11, 12, 13])
    assert pair_set(*nn.skipgram_pairs(ids, 1)) == [(10, 11), (11, 10), (11, 12), (12, 11), (12, 13), (13, 12)]
    centre, _ = nn.skipgram_pairs(ids, 2)
    assert centre.shape == (10,)  # 3 pairs at distance 1 and 2 at distance 2, each both ways


def test_skipgram_pairs_with_rng_draw_a_subset_favouring_near_words():
    ids = np.arange(2000) % 50
    full = nn.skipgram_pairs(ids, 4)[0].shape[0]
    sampled = nn.skipgram_pairs(ids, 4, np.random.default_rng(0))[0].shape[0]
    # a window drawn from 1..4 keeps a pair at distance k with probability (5 - k)/4: 10/16 of all pairs
    assert sampled / full == pytest.approx(10 / 16, abs=0.02)


def test_negative_sampling_follows_unigram_to_the_three_quarters():
    ids = np.array([0] * 16 + [1] * 1 + [3] * 81)
    table = nn.negative_sampling_table(ids, 4)
    expected = np.array([16, 1, 0, 81]) ** 0.75 / (16**0.75 + 1 + 81**0.75)
    np.testing.assert_allclose(np.diff(table, prepend=0.0), expected)
    draws = nn.sample_negatives(table, (200_000,), np.random.default_rng(0))
    np.testing.assert_allclose(np.bincount(draws, minlength=4) / draws.size, expected, atol=0.005)
    assert not np.any(draws == 2)  # a word that never occurs is never drawn


def test_sgns_loss_at_zero_output_vectors_is_log_two_per_term():
    """With W_out = 0 every score is 0 and σ(0) = 1/2: the loss is (1 + K) log 2."""
    centre, context, negatives = np.array([0, 1]), np.array([2, 3]), np.zeros((2, 5), dtype=int)
    loss, _ = nn.sgns_loss_and_grads(np.ones((6, 3)), np.zeros((6, 3)), centre, context, negatives)
    assert loss == pytest.approx(6 * np.log(2))


def test_word2vec_puts_words_of_the_same_topic_together_and_the_loss_falls():
    ids = two_topic_corpus()
    emb, losses = nn.train_word2vec(
        ids, 20, dim=16, window=2, negatives=5, epochs=5, lr=1.0, batch_size=128, seed=0, progress=False, return_losses=True
    )
    assert emb.shape == (20, 16) and emb.dtype == np.float32
    unit = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    cos = unit @ unit.T  # (20, 20)
    same = np.equal.outer(np.arange(20) // 10, np.arange(20) // 10)
    within, across = cos[same & ~np.eye(20, dtype=bool)], cos[~same]
    assert within.mean() > 0.9
    assert across.mean() < 0.5
    assert within.min() > across.max()  # every same-topic pair is closer than every cross-topic pair
    for word in range(20):
        neighbours, sims = nn.nearest_neighbours(emb, word, k=9)
        topic = set(range(10)) if word < 10 else set(range(10, 20))
        assert set(neighbours.tolist()) == topic - {word}
        assert np.all(np.diff(sims) <= 0)
    assert losses[0] < 6 * np.log(2)  # below the loss at initialisation already after one epoch
    assert losses[-1] < 0.8 * losses[0]
    assert all(later <= earlier + 0.05 for earlier, later in zip(losses, losses[1:]))


def test_word2vec_is_reproducible_for_a_seed():
    ids = two_topic_corpus(docs=20)
    a = nn.train_word2vec(ids, 20, dim=4, epochs=1, seed=3, progress=False)
    b = nn.train_word2vec(ids, 20, dim=4, epochs=1, seed=3, progress=False)
    np.testing.assert_array_equal(a, b)


def test_nearest_neighbours_ranks_by_cosine_not_by_length():
    emb = np.array([[1.0, 0.0], [10.0, 1.0], [0.5, 0.5], [0.0, -3.0]])
    ids, sims = nn.nearest_neighbours(emb, 0, k=3)
    np.testing.assert_array_equal(ids, [1, 2, 3])
    np.testing.assert_allclose(sims, [10 / np.sqrt(101), 1 / np.sqrt(2), 0.0])
