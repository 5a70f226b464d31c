"""Chapter 08 exercises reject realistic mistakes with a message that points at the mistake."""
import math
import time

import numpy as np
import pytest
import torch

from mmcourse import numpy_nn
from mmcourse.exercises import ch08
from mmcourse.torch_models.gpt import top_p_filter

QUESTIONS = [ch08.q1, ch08.q2, ch08.q3, ch08.q4, ch08.q5, ch08.q6]


def _message(question, answer) -> str:
    with np.errstate(all="ignore"):  # some wrong answers overflow on purpose
        feedback = question.evaluate(answer)
    assert not feedback.correct, "a wrong answer was accepted"
    return feedback.message


def _softmax(z, axis=-1):
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _tril(T):
    return np.tril(np.ones((T, T), dtype=bool))


# -- q1: the causal mask --------------------------------------------------------------------------------------------
def test_q1_accepts_the_library_mask_and_an_index_comparison():
    assert ch08.q1.evaluate(numpy_nn.causal_mask).correct
    assert ch08.q1.evaluate(lambda T: np.arange(T)[None, :] <= np.arange(T)[:, None]).correct


def test_q1_rejects_the_transpose_a_missing_diagonal_and_a_swapped_mask():
    assert "see later keys (the future)" in _message(ch08.q1, lambda T: _tril(T).T)
    assert "the diagonal is False" in _message(ch08.q1, lambda T: np.tril(np.ones((T, T), dtype=bool), -1))
    assert "True and False are swapped" in _message(ch08.q1, lambda T: ~_tril(T))


def test_q1_rejects_numbers_instead_of_bools_naming_the_dtype():
    assert "right 0/1 pattern but dtype int64" in _message(ch08.q1, lambda T: _tril(T).astype(np.int64))
    assert "right 0/1 pattern but dtype float64" in _message(ch08.q1, lambda T: np.tril(np.ones((T, T))))
    assert "see later keys" in _message(ch08.q1, lambda T: np.triu(np.ones((T, T))))  # wrong pattern: that first


def test_q1_rejects_an_additive_mask():
    message = _message(ch08.q1, lambda T: np.where(_tril(T), 0.0, -np.inf))
    assert "additive mask" in message and "boolean mask" in message


def test_q1_rejects_a_squeezed_mask_for_one_position():
    assert "wrong shape: expected (1, 1), got ()" in _message(ch08.q1, lambda T: _tril(T).squeeze())


def test_q1_asks_for_numpy_instead_of_a_torch_mask():
    assert "torch.Tensor of shape (4, 4). Convert it" in _message(
        ch08.q1, lambda T: torch.ones(T, T, dtype=torch.bool).tril())


# -- q2: attention weights --------------------------------------------------------------------------------------------
def _weights(q, k, mask=None, scale=None, axis=-1, mask_after=False, stable=True):
    scores = q @ k.T * (1 / math.sqrt(q.shape[1]) if scale is None else scale)
    if mask is not None and not mask_after:
        scores = np.where(mask, scores, -np.inf)
    e = np.exp(scores - scores.max(axis=axis, keepdims=True)) if stable else np.exp(scores)
    weights = e / e.sum(axis=axis, keepdims=True)
    return np.where(mask, weights, 0.0) if mask is not None and mask_after else weights


def test_q2_accepts_the_weights_of_the_library_attention():
    def library(q, k, mask=None):
        _, cache = numpy_nn.scaled_dot_product_attention(q, k, np.zeros((len(k), 1)), mask)
        return cache.weights

    assert ch08.q2.evaluate(library).correct


def test_q2_rejects_a_missing_scale_and_a_division_by_d():
    assert "the scores are not scaled" in _message(ch08.q2, lambda q, k, mask=None: _weights(q, k, mask, scale=1.0))
    assert "divided by d" in _message(ch08.q2, lambda q, k, mask=None: _weights(q, k, mask, scale=1 / q.shape[1]))


def test_q2_rejects_a_softmax_over_the_queries():
    assert "runs over the queries (axis 0)" in _message(ch08.q2, lambda q, k, mask=None: _weights(q, k, mask, axis=0))


def test_q2_rejects_masking_after_the_softmax_without_renormalising():
    message = _message(ch08.q2, lambda q, k, mask=None: _weights(q, k, mask, mask_after=True))
    assert "zeroed after the softmax" in message and "no longer sum to 1" in message


def test_q2_rejects_an_ignored_or_inverted_mask():
    assert "should be exactly 0" in _message(ch08.q2, lambda q, k, mask=None: _weights(q, k))
    assert "True means the query *may* attend" in _message(
        ch08.q2, lambda q, k, mask=None: _weights(q, k, None if mask is None else ~mask))


def test_q2_rejects_a_softmax_that_overflows_on_large_scores():
    message = _message(ch08.q2, lambda q, k, mask=None: _weights(q, k, mask, stable=False))
    assert "NaN or inf" in message and "overflows" in message and "subtract each row's maximum" in message


def test_q2_reports_a_mask_argument_without_a_default_and_torch_weights():
    assert "raised TypeError" in _message(ch08.q2, lambda q, k: _weights(q, k))
    assert "torch.Tensor of shape (4, 4)" in _message(
        ch08.q2, lambda q, k, mask=None: torch.softmax(torch.from_numpy(q @ k.T) / math.sqrt(q.shape[1]), -1))


# -- q3: the nucleus filter -------------------------------------------------------------------------------------------
def _nucleus(logits, p, rule="ge", ties=True, ascending=False, stable=True, fill=-np.inf, probabilities=False):
    """A learner's top-p filter: sort, add up, cut; each flag is a known mistake."""
    order = np.argsort(logits, kind="stable") if ascending else np.argsort(-logits, kind="stable")
    probs = _softmax(logits) if stable else np.exp(logits) / np.exp(logits).sum()
    total = np.cumsum(probs[order])
    if rule == "ge":
        n = int(np.argmax(total >= p)) + 1 if (total >= p).any() else len(logits)
    elif rule == "gt":
        n = int(np.argmax(total > p)) + 1 if (total > p).any() else len(logits)
    elif rule == "argmax_ge":  # no fallback when rounding leaves the total below p = 1
        n = int(np.argmax(total >= p)) + 1
    else:  # "lt": stops before the token that crosses p
        n = int((total < p).sum())
    keep = np.zeros(len(logits), dtype=bool)
    keep[order[:n]] = True
    if ties and n:
        keep |= probs >= probs[order[n - 1]]
    return np.where(keep, probs, 0.0) if probabilities else np.where(keep, logits, fill)


def test_q3_reference_is_the_torch_filter_of_the_course():
    rng = np.random.default_rng(0)
    cases = ch08.q3.cases() + [(rng.normal(size=20) * 2, p) for p in (0.3, 0.5, 0.95)]
    for logits, p in cases:
        theirs = top_p_filter(torch.from_numpy(logits), p).numpy()
        np.testing.assert_array_equal(ch08.q3.reference(logits, p), theirs)


def test_q3_boundary_case_is_exact_in_floating_point():
    logits, p = ch08.q3.cases()[1]
    assert np.cumsum(np.sort(_softmax(logits))[::-1])[1] == p == 0.75  # 0.5 + 0.25 hits p exactly
    assert np.isfinite(ch08.q3.reference(logits, p)).sum() == 2


def test_q3_accepts_sort_add_cut_with_ties():
    assert ch08.q3.evaluate(_nucleus).correct


def test_q3_rejects_a_strict_cumulative_comparison():
    message = _message(ch08.q3, lambda logits, p: _nucleus(logits, p, rule="gt"))
    assert "keeps too many tokens" in message and "exactly to p already completes the nucleus" in message


def test_q3_rejects_excluding_the_token_that_crosses_p():
    message = _message(ch08.q3, lambda logits, p: _nucleus(logits, p, rule="lt"))
    assert "keeps too few tokens" in message and "makes the total reach p belongs to the nucleus" in message


def test_q3_rejects_dropping_the_top_token_for_a_tiny_p():
    def drops_top(logits, p):
        return _nucleus(logits, p) if p > 0.01 else np.full_like(logits, -np.inf)  # "cumsum < p" keeps nothing

    assert "keeps no token at all: the most probable token is always kept" in _message(ch08.q3, drops_top)


def test_q3_rejects_a_cut_that_ignores_ties_at_the_boundary():
    message = _message(ch08.q3, lambda logits, p: _nucleus(logits, p, ties=False))
    assert "keeps too few tokens" in message and "equals that of the least probable kept token" in message


def test_q3_rejects_losing_tokens_to_rounding_when_p_is_one():
    message = _message(ch08.q3, lambda logits, p: _nucleus(logits, p, rule="argmax_ge"))
    assert "(for inputs shape (5,), 1.0)" in message and "with p = 1 every token is kept" in message


def test_q3_rejects_probabilities_instead_of_logits():
    assert "look like probabilities" in _message(ch08.q3, lambda logits, p: _nucleus(logits, p, probabilities=True))


def test_q3_rejects_an_ascending_sort():
    message = _message(ch08.q3, lambda logits, p: _nucleus(logits, p, ascending=True, ties=False))
    assert "keeps the wrong tokens" in message and "the least probable ones" in message


def test_q3_rejects_an_overflowing_softmax_and_a_large_negative_instead_of_inf():
    assert "exp(710) overflows" in _message(ch08.q3, lambda logits, p: _nucleus(logits, p, stable=False))
    assert "exactly -inf" in _message(ch08.q3, lambda logits, p: _nucleus(logits, p, fill=-1e9))


def test_q3_rejects_changed_kept_logits_and_nan_without_crashing():
    assert "kept values are off" in _message(ch08.q3, lambda logits, p: _nucleus(logits, p) / 2)
    assert "NaN or +inf" in _message(ch08.q3, lambda logits, p: np.full_like(logits, np.nan))
    assert "NaN where a filtered token should be -inf" in _message(
        ch08.q3, lambda logits, p: np.where(np.isfinite(_nucleus(logits, p)), logits, np.nan))
    assert "should hold float logits" in _message(ch08.q3, lambda logits, p: np.isfinite(_nucleus(logits, p)))
    assert "torch.Tensor of shape (8,). Convert it" in _message(
        ch08.q3, lambda logits, p: top_p_filter(torch.from_numpy(logits), p))
    assert "wrong shape: expected (8,), got (1, 8)" in _message(ch08.q3, lambda logits, p: _nucleus(logits, p)[None])


# -- q4: one step with a KV cache -------------------------------------------------------------------------------------
def _step(x_t, w_q, w_k, w_v, cache_k, cache_v, mistake=None):
    q, k, v = x_t @ w_q, x_t @ w_k, x_t @ w_v
    new_k, new_v = np.vstack([cache_k, k]), np.vstack([cache_v, v])
    if mistake == "attend_before_append":
        out = _softmax(cache_k @ q / math.sqrt(len(q))) @ cache_v
    elif mistake == "only_the_new_key":
        out = _softmax(np.array([k @ q / math.sqrt(len(q))])) @ v[None]
    elif mistake == "no_scale":
        out = _softmax(new_k @ q) @ new_v
    else:
        out = _softmax(new_k @ q / math.sqrt(len(q))) @ new_v
    if mistake == "old_caches":
        return out, cache_k, cache_v
    return out, new_k, new_v


def test_q4_reference_step_by_step_equals_full_causal_attention():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(7, 6))  # (T, D)
    w_q, w_k, w_v = (rng.normal(size=(6, 4)) for _ in range(3))  # (D, d)
    full, _ = numpy_nn.scaled_dot_product_attention(x @ w_q, x @ w_k, x @ w_v, numpy_nn.causal_mask(len(x)))
    cache_k, cache_v = np.zeros((0, 4)), np.zeros((0, 4))  # the first step: nothing cached
    for t in range(len(x)):
        out, cache_k, cache_v = ch08.q4.reference(x[t], w_q, w_k, w_v, cache_k, cache_v)
        np.testing.assert_allclose(out, full[t], rtol=1e-10)
    np.testing.assert_allclose(cache_k, x @ w_k, rtol=1e-12)
    np.testing.assert_allclose(cache_v, x @ w_v, rtol=1e-12)


def test_q4_cases_start_from_an_empty_cache_and_have_d_model_unlike_d():
    shapes = [(len(case[4]), case[1].shape) for case in ch08.q4.cases()]
    assert (0, (6, 4)) in shapes and any(d_model != d for _, (d_model, d) in shapes)


def test_q4_accepts_a_correct_step():
    assert ch08.q4.evaluate(_step).correct


@pytest.mark.parametrize(("mistake", "fragment"), [
    ("attend_before_append", "out ignores the new token"),
    ("only_the_new_key", "attends only to the new token"),
    ("no_scale", "not scaled by 1/√d"),
    ("old_caches", "item 1 of the returned value has the wrong shape: expected (4, 4), got (3, 4)"),
])
def test_q4_rejects_a_known_mistake(mistake, fragment):
    assert fragment in _message(ch08.q4, lambda *args: _step(*args, mistake=mistake))


def test_q4_names_old_caches_and_prepended_rows():
    assert "the returned caches are the old ones" in _message(ch08.q4, lambda *a: _step(*a, mistake="old_caches"))

    def prepended(x_t, w_q, w_k, w_v, cache_k, cache_v):
        out, _, _ = _step(x_t, w_q, w_k, w_v, cache_k, cache_v)
        return out, np.vstack([x_t @ w_k, cache_k]), np.vstack([x_t @ w_v, cache_v])

    assert "should be the last rows of the caches" in _message(ch08.q4, prepended)


def test_q4_rejects_a_list_and_reports_a_crash_on_the_empty_first_cache():
    assert "should be a tuple of 3 items, got a list" in _message(ch08.q4, lambda *a: list(_step(*a)))

    def no_empty_cache(x_t, w_q, w_k, w_v, cache_k, cache_v):
        if len(cache_k) == 0:
            return _step(x_t, w_q, w_k, w_v, cache_k, cache_v, mistake="attend_before_append")
        return _step(x_t, w_q, w_k, w_v, cache_k, cache_v)

    assert "raised ValueError: zero-size array" in _message(ch08.q4, no_empty_cache)  # the max of no scores


# -- q5: perplexity -------------------------------------------------------------------------------------------------
def _mean_loss(losses, lengths=None):
    weights = np.ones_like(losses) if lengths is None else lengths
    return np.sum(losses * weights) / np.sum(weights)


def test_q5_accepts_a_token_weighted_mean_and_np_average():
    assert ch08.q5.evaluate(lambda losses, lengths=None: math.exp(_mean_loss(losses, lengths))).correct
    assert ch08.q5.evaluate(lambda losses, lengths=None: np.exp(np.average(losses, weights=lengths))).correct


def test_q5_rejects_averaging_perplexities_and_an_unweighted_mean():
    assert "mean of per-sequence perplexities" in _message(
        ch08.q5, lambda losses, lengths=None: float(np.mean(np.exp(losses))))
    message = _message(ch08.q5, lambda losses, lengths=None: float(np.exp(np.mean(losses))))
    assert "(for inputs shape (3,), shape (3,))" in message and "weight each mean loss by its length" in message


def test_q5_rejects_base_two_and_a_loss_in_nats():
    assert "base of the perplexity is e, not 2" in _message(
        ch08.q5, lambda losses, lengths=None: 2 ** _mean_loss(losses, lengths))
    assert "mean loss in nats, not the perplexity" in _message(ch08.q5, _mean_loss)


def test_q5_rejects_a_torch_number_and_nan():
    assert "torch.Tensor of shape ()" in _message(
        ch08.q5, lambda losses, lengths=None: torch.tensor(math.exp(_mean_loss(losses, lengths))))
    assert "is nan" in _message(ch08.q5, lambda losses, lengths=None: float("nan"))


# -- q6: bits per character -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("wrong", "fragment"), [
    (lambda loss, n_tokens, n_chars: loss * n_tokens / n_chars, "that is nats per character"),
    (lambda loss, n_tokens, n_chars: loss * n_tokens / n_chars * math.log(2), "goes the wrong way"),
    (lambda loss, n_tokens, n_chars: loss / math.log(2), "that is bits per token"),
    (lambda loss, n_tokens, n_chars: loss * n_chars / (n_tokens * math.log(2)), "ratio is upside down"),
    (lambda loss, n_tokens, n_chars: math.log2(loss), "is not right"),
])
def test_q6_rejects_a_wrong_conversion(wrong, fragment):
    assert fragment in _message(ch08.q6, wrong)


def test_q6_accepts_log2_of_e():
    assert ch08.q6.evaluate(lambda loss, n_tokens, n_chars: loss * n_tokens / n_chars * math.log2(math.e)).correct


# -- every question -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("question", QUESTIONS, ids=[q.name for q in QUESTIONS])
def test_reference_is_accepted_and_cases_are_cheap(question):
    start = time.perf_counter()
    assert question.evaluate(question.reference).correct
    assert time.perf_counter() - start < 0.5


def _raises(*args):
    raise ValueError("shapes do not match")


def _not_attempted(*args):
    raise NotImplementedError()


@pytest.mark.parametrize("question", QUESTIONS, ids=[q.name for q in QUESTIONS])
def test_placeholders_crashes_and_non_functions_get_kind_feedback(question):
    for unattempted in (None, _not_attempted):
        feedback = question.evaluate(unattempted)
        assert feedback.status == "unattempted" and "not attempted yet" in feedback.message
    assert "raised ValueError: shapes do not match" in _message(question, _raises)
    assert "pass your function itself" in _message(question, question.reference(*question.cases()[0]))
    assert "Call " + question.name + ".hint()" in _message(question, lambda *args: "an answer")


@pytest.mark.parametrize("question", QUESTIONS, ids=[q.name for q in QUESTIONS])
def test_feedback_never_shows_the_expected_values(question):
    args = question.cases()[0]
    expected = question.reference(*args)
    first = expected[0] if isinstance(expected, tuple) else expected
    wrong = (lambda *a: (first * 3 + 1,) + expected[1:]) if isinstance(expected, tuple) else (lambda *a: first * 3 + 1)
    message = _message(question, wrong)
    shown = np.ravel(first)[np.isfinite(np.ravel(first).astype(float))][:5]
    for value in shown:
        if not isinstance(value, (bool, np.bool_)):
            assert f"{value:.4f}"[:6] not in message, (value, message)


@pytest.mark.parametrize("question", QUESTIONS, ids=[q.name for q in QUESTIONS])
def test_two_or_three_hints_end_close_to_code(question):
    assert 2 <= len(question.hints) <= 3
    assert "np." in question.hints[-1], "the last, most specific hint should be close to code"
    assert "np." not in question.hints[0], "the first hint should point at the idea, not the code"


@pytest.mark.parametrize("question", QUESTIONS, ids=[q.name for q in QUESTIONS])
def test_solution_prints_the_cell_of_the_solution_notebook(question, capsys):
    question.solution()
    out = capsys.readouterr().out
    assert f"from mmcourse.exercises.ch08 import {question.name}" in out
    assert f"{question.name}.check(" in out
