"""Chapter 06 exercises reject realistic mistakes with a message that points at the mistake."""
import numpy as np
import pytest

from mmcourse.exercises import ch06


def _message(question, answer) -> str:
    feedback = question.evaluate(answer)
    assert not feedback.correct, "a wrong answer was accepted"
    return feedback.message


def _softmax(z, axis):
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _with_ones(x):
    return np.concatenate([x, np.ones((len(x), 1))], axis=1)


def test_q1_rejects_raw_logits_as_weights_and_forgotten_biases():
    assert "values are off" in _message(ch06.q1, lambda f1, f2, w1, b1, w2, b2, a:
                                        a[0] * (f1 @ w1 + b1) + a[1] * (f2 @ w2 + b2))
    assert "values are off" in _message(ch06.q1, lambda f1, f2, w1, b1, w2, b2, a:
                                        _softmax(a, 0)[0] * (f1 @ w1) + _softmax(a, 0)[1] * (f2 @ w2))


def test_q1_rejects_a_softmax_that_overflows():
    def naive(f1, f2, w1, b1, w2, b2, a):
        w = np.exp(a) / np.exp(a).sum()  # inf / inf for a = [1000, 999]
        return w[0] * (f1 @ w1 + b1) + w[1] * (f2 @ w2 + b2)

    with np.errstate(over="ignore", invalid="ignore"):
        assert "NaN" in _message(ch06.q1, naive)


def test_q1_rejects_weights_normalised_by_their_sum_instead_of_a_softmax():
    def sum_normalised(f1, f2, w1, b1, w2, b2, a):
        w = a / a.sum()  # 0 / 0 for equal logits a = [0, 0]
        return w[0] * (f1 @ w1 + b1) + w[1] * (f2 @ w2 + b2)

    with np.errstate(invalid="ignore"):
        assert "NaN" in _message(ch06.q1, sum_normalised)


def test_q2_rejects_summing_the_ranks_before_the_product():
    def sum_first(f1, f2, w1, w2, lam, bias):
        h1 = np.einsum("nd,rdo->no", _with_ones(f1), w1)
        h2 = np.einsum("nd,rdo->no", _with_ones(f2), w2)
        return lam.sum() * h1 * h2 + bias

    assert "values are off" in _message(ch06.q2, sum_first)


def test_q2_rejects_a_prepended_one_and_a_missing_one():
    def prepended(f1, f2, w1, w2, lam, bias):
        z1 = np.concatenate([np.ones((len(f1), 1)), f1], axis=1)
        z2 = np.concatenate([np.ones((len(f2), 1)), f2], axis=1)
        h1, h2 = np.einsum("nd,rdo->rno", z1, w1), np.einsum("nd,rdo->rno", z2, w2)
        return np.einsum("r,rno->no", lam, h1 * h2) + bias

    def no_ones(f1, f2, w1, w2, lam, bias):
        h1, h2 = np.einsum("nd,rdo->rno", f1, w1), np.einsum("nd,rdo->rno", f2, w2)
        return np.einsum("r,rno->no", lam, h1 * h2) + bias

    assert "values are off" in _message(ch06.q2, prepended)
    assert "raised ValueError" in _message(ch06.q2, no_ones)  # einsum: operands do not match


def test_q3_rejects_averaged_logits_and_an_unnormalised_product():
    def mean_of_logits(z1, z2):
        return _softmax(z1 + z2, 1), _softmax((z1 + z2) / 2, 1)

    def unnormalised(z1, z2):
        p1, p2 = _softmax(z1, 1), _softmax(z2, 1)
        return p1 * p2, (p1 + p2) / 2

    assert "item 1 of the returned value has the right shape" in _message(ch06.q3, mean_of_logits)
    assert "item 0 of the returned value has the right shape" in _message(ch06.q3, unnormalised)


def test_q3_rejects_returning_only_one_rule():
    assert "tuple of 2 items" in _message(ch06.q3, lambda z1, z2: _softmax(z1 + z2, 1))


def test_q4_rejects_forgotten_ones_prepended_ones_and_column_order():
    def no_ones(f1, f2):
        return np.einsum("na,nb->nab", f1, f2).reshape(len(f1), -1)

    def prepended(f1, f2):
        z1 = np.concatenate([np.ones((len(f1), 1)), f1], axis=1)
        z2 = np.concatenate([np.ones((len(f2), 1)), f2], axis=1)
        return np.einsum("na,nb->nab", z1, z2).reshape(len(f1), -1)

    def column_order(f1, f2):
        return np.einsum("na,nb->nba", _with_ones(f1), _with_ones(f2)).reshape(len(f1), -1)

    assert "wrong shape: expected (3, 12), got (3, 6)" in _message(ch06.q4, no_ones)
    assert "values are off" in _message(ch06.q4, prepended)
    assert "values are off" in _message(ch06.q4, column_order)


def test_q5_rejects_an_inverted_mask_and_rows_with_nothing_kept():
    assert "values are off" in _message(ch06.q5, lambda u, p: (u < p).astype(np.float32))
    assert "values are off" in _message(ch06.q5, lambda u, p: (u >= p).astype(np.float32))


def test_q5_rejects_dropping_where_u_equals_p():
    def strict(u, p):
        keep = u > p
        keep[~keep.any(axis=1)] = True
        return keep.astype(np.float32)

    assert "values are off" in _message(ch06.q5, strict)


def test_q5_rejects_a_boolean_or_integer_mask_naming_the_dtype():
    def mask(u, p):
        keep = u >= p
        keep[~keep.any(axis=1)] = True
        return keep

    assert "should hold floats (1.0 kept, 0.0 dropped), got dtype bool" in _message(ch06.q5, mask)
    assert "got dtype int64" in _message(ch06.q5, lambda u, p: mask(u, p).astype(np.int64))
    assert ch06.q5.evaluate(lambda u, p: mask(u, p).astype(np.float64)).correct


@pytest.mark.parametrize("question", [ch06.q1, ch06.q2, ch06.q3, ch06.q4, ch06.q5], ids=lambda q: q.name)
def test_reference_is_accepted_and_cases_are_cheap(question):
    import time

    start = time.perf_counter()
    assert question.evaluate(question.reference).correct
    assert time.perf_counter() - start < 0.5
