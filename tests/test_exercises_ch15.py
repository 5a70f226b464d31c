"""Chapter 15 exercises accept correct answers in several styles and reject realistic mistakes."""
import numpy as np
import pytest
import torch

from exercise_cells import wrong_message as _message
from mmcourse.exercises import ch15
from mmcourse.experiments import applications


def test_q1_equals_the_course_recall_at_k():
    for retrieved, relevant, k in ch15.q1.cases():
        assert ch15.q1.reference(retrieved, relevant, k) == applications.recall_at_k(retrieved, relevant, k)


def test_q1_rejects_a_percentage():
    assert "is not right" in _message(ch15.q1, lambda r, a, k: 100 * ch15.q1.reference(r, a, k))


def test_q2_equals_torch_cosine_similarity_and_keeps_ties_in_order():
    def with_torch(query, corpus, k):
        rows, one = torch.from_numpy(corpus), torch.from_numpy(query)[None]  # (N, D), (1, D)
        similarity = torch.nn.functional.cosine_similarity(rows, one, dim=1)  # (N,)
        return torch.sort(-similarity, stable=True).indices[:k].numpy()

    assert ch15.q2.evaluate(with_torch).correct
    query, corpus, k = ch15.q2.cases()[0]
    assert ch15.q2.reference(query, corpus, k).tolist() == [0, 1, 4]  # three rows tie at cosine 1: corpus order


def test_q2_rejects_float_indices_and_a_list():
    assert "should be integers" in _message(ch15.q2, lambda q, c, k: ch15.q2.reference(q, c, k).astype(float))
    assert "NumPy array" in _message(ch15.q2, lambda q, c, k: ch15.q2.reference(q, c, k).tolist())


def test_q3_equals_torch_weighted_mean_and_plain_mean_for_equal_clients():
    def with_torch(weights, n):
        share = torch.as_tensor(n, dtype=torch.float64)
        return (share[:, None] * torch.from_numpy(weights)).sum(0).div(share.sum()).numpy()

    assert ch15.q3.evaluate(with_torch).correct
    weights, n = ch15.q3.cases()[0]
    np.testing.assert_allclose(ch15.q3.reference(weights, n), weights.mean(axis=0))


def test_q4_equals_opacus_style_clipping_and_keeps_short_rows():
    def with_torch(grads, max_norm):
        g = torch.from_numpy(grads)
        return (g * (max_norm / (g.norm(dim=1, keepdim=True) + 1e-6)).clamp(max=1.0)).numpy()

    assert ch15.q4.evaluate(with_torch).correct
    out = ch15.q4.reference(np.array([[3.0, 4.0], [0.3, 0.4]]), 1.0)
    np.testing.assert_allclose(out, [[0.6, 0.8], [0.3, 0.4]])


def test_q5_matches_sampled_noise():
    rng = np.random.default_rng(0)
    sigma, c, b = 1.1, 0.5, 64
    noise = rng.normal(0.0, sigma * c, size=200_000) / b  # noise on the sum, then averaged over the batch
    assert noise.std() == pytest.approx(ch15.q5.reference(sigma, c, b), rel=0.01)


def test_q5_rejects_an_array():
    assert "return one number" in _message(ch15.q5, lambda s, c, b: np.full(3, s * c / b))
