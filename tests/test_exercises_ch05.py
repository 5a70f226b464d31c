"""Chapter 05 exercises reject realistic mistakes with a message that points at the mistake."""
import numpy as np
import pytest

from mmcourse.exercises import ch05
from mmcourse.numpy_nn import sigmoid


def _message(question, answer) -> str:
    feedback = question.evaluate(answer)
    assert not feedback.correct, "a wrong answer was accepted"
    return feedback.message


# q1: one RNN step
def test_q1_rejects_a_step_without_tanh_or_with_sigmoid():
    assert "values are off" in _message(ch05.q1, lambda x, h, W, U, b: x @ W + h @ U + b)
    assert "values are off" in _message(ch05.q1, lambda x, h, W, U, b: sigmoid(x @ W + h @ U + b))


def test_q1_rejects_swapped_or_transposed_weights():
    assert "raised ValueError" in _message(ch05.q1, lambda x, h, W, U, b: np.tanh(x @ U + h @ W + b))
    assert "values are off" in _message(ch05.q1, lambda x, h, W, U, b: np.tanh(x @ W + h @ U.T + b))


def test_q1_rejects_a_function_that_keeps_only_the_last_row():
    assert "wrong shape" in _message(ch05.q1, lambda x, h, W, U, b: np.tanh(x @ W + h @ U + b)[-1])


# q2: one LSTM step
def _lstm(order="ifgo", squash_c=True, use_input_gate=True, swap=False):
    def step(x, h, c, Wx, Wh, b):
        blocks = dict(zip(order, np.split(x @ Wx + h @ Wh + b, 4, axis=1)))
        i, f, g, o = sigmoid(blocks["i"]), sigmoid(blocks["f"]), np.tanh(blocks["g"]), sigmoid(blocks["o"])
        c_new = f * c + (i * g if use_input_gate else g)
        h_new = o * np.tanh(c_new) if squash_c else o * c_new
        return (c_new, h_new) if swap else (h_new, c_new)
    return step


def test_q2_accepts_the_gate_by_gate_version():
    assert ch05.q2.evaluate(_lstm()).correct


def test_q2_rejects_the_ifog_gate_order_of_some_papers():
    assert "item 0 of the returned value has the right shape but" in _message(ch05.q2, _lstm(order="ifog"))


def test_q2_rejects_a_cell_update_without_the_input_gate():
    assert "values are off" in _message(ch05.q2, _lstm(use_input_gate=False))


def test_q2_rejects_h_without_tanh_of_the_cell():
    message = _message(ch05.q2, _lstm(squash_c=False))
    assert "item 0 of the returned value" in message and "values are off" in message


def test_q2_rejects_returning_c_before_h():
    assert "item 0 of the returned value" in _message(ch05.q2, _lstm(swap=True))


def test_q2_rejects_returning_only_h():
    assert "should be a tuple of 2 items" in _message(ch05.q2, lambda *args: _lstm()(*args)[0])


# q3: BPTT through one step
def test_q3_rejects_forgetting_the_tanh_derivative():
    message = _message(ch05.q3, lambda dh, h_new, h_prev, U: (dh @ U.T, h_prev.T @ dh))
    assert "item 0 of the returned value" in message and "values are off" in message


def test_q3_rejects_taking_tanh_of_the_output_again():
    def twice(dh, h_new, h_prev, U):
        da = dh * (1 - np.tanh(h_new) ** 2)
        return da @ U.T, h_prev.T @ da

    assert "values are off" in _message(ch05.q3, twice)


def test_q3_rejects_a_missing_transpose_of_u():
    def no_transpose(dh, h_new, h_prev, U):
        da = dh * (1 - h_new**2)
        return da @ U, h_prev.T @ da

    assert "item 0 of the returned value has the right shape but" in _message(ch05.q3, no_transpose)


def test_q3_rejects_the_transposed_weight_gradient():
    def transposed(dh, h_new, h_prev, U):
        da = dh * (1 - h_new**2)
        return da @ U.T, da.T @ h_prev

    assert "item 1 of the returned value has the right shape but" in _message(ch05.q3, transposed)


def test_q3_rejects_a_per_example_weight_gradient():
    def per_example(dh, h_new, h_prev, U):
        da = dh * (1 - h_new**2)
        return da @ U.T, h_prev[:, :, None] * da[:, None, :]  # (N, H, H): not summed over the batch

    assert "item 1 of the returned value has the wrong shape" in _message(ch05.q3, per_example)


# q4: skip-gram negative-sampling loss
def test_q4_rejects_the_wrong_sign_for_the_negatives():
    def same_sign(v_c, u_o, u_neg):
        return float(-np.log(sigmoid(u_o @ v_c)) - np.log(sigmoid(u_neg @ v_c)).sum())

    assert "is not right" in _message(ch05.q4, same_sign)


def test_q4_rejects_averaging_the_negatives():
    def averaged(v_c, u_o, u_neg):
        return float(np.logaddexp(0, -(u_o @ v_c)) + np.logaddexp(0, u_neg @ v_c).mean())

    assert "is not right" in _message(ch05.q4, averaged)


def test_q4_rejects_the_log_likelihood_instead_of_the_loss():
    def likelihood(v_c, u_o, u_neg):
        return -float(np.logaddexp(0, -(u_o @ v_c)) + np.logaddexp(0, u_neg @ v_c).sum())

    assert "is not right" in _message(ch05.q4, likelihood)


def test_q4_accepts_the_textbook_formula_with_logs_of_sigmoids():
    def textbook(v_c, u_o, u_neg):
        return float(-np.log(sigmoid(u_o @ v_c)) - np.log(sigmoid(-(u_neg @ v_c))).sum())

    assert ch05.q4.evaluate(textbook).correct


def test_q4_rejects_returning_every_term_instead_of_their_sum():
    def terms(v_c, u_o, u_neg):
        return np.r_[np.logaddexp(0, -(u_o @ v_c)), np.logaddexp(0, u_neg @ v_c)]

    assert "should be a number" in _message(ch05.q4, terms)


# q5: nearest neighbours by cosine similarity
def test_q5_rejects_ranking_by_the_raw_dot_product():
    def dot(emb, query_id, k):
        sims = emb @ emb[query_id]
        sims[query_id] = -np.inf
        return np.argsort(-sims)[:k]

    assert "values are off" in _message(ch05.q5, dot)


def test_q5_rejects_keeping_the_query_itself():
    def with_itself(emb, query_id, k):
        unit = emb / np.linalg.norm(emb, axis=1, keepdims=True)
        return np.argsort(-(unit @ unit[query_id]))[:k]

    assert "values are off" in _message(ch05.q5, with_itself)


def test_q5_rejects_the_least_similar_words():
    def ascending(emb, query_id, k):
        unit = emb / np.linalg.norm(emb, axis=1, keepdims=True)
        sims = unit @ unit[query_id]
        sims[query_id] = np.inf
        return np.argsort(sims)[:k]

    assert "values are off" in _message(ch05.q5, ascending)


def test_q5_rejects_euclidean_distance_on_unnormalised_vectors():
    def euclidean(emb, query_id, k):
        dist = np.linalg.norm(emb - emb[query_id], axis=1)
        dist[query_id] = np.inf
        return np.argsort(dist)[:k]

    assert "values are off" in _message(ch05.q5, euclidean)


def test_q5_rejects_similarities_instead_of_ids():
    def similarities(emb, query_id, k):
        unit = emb / np.linalg.norm(emb, axis=1, keepdims=True)
        sims = unit @ unit[query_id]
        sims[query_id] = -np.inf
        return np.sort(sims)[::-1][:k]

    assert "should hold integers" in _message(ch05.q5, similarities)
