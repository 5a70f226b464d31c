"""Chapter 09 exercises accept the course's own functions and reject realistic mistakes, saying what is wrong."""
import numpy as np
import pytest
import torch

from mmcourse.exercises import ch09
from mmcourse.numpy_nn.contrastive import info_nce_forward, similarity_logits
from mmcourse.torch_models.clip import clip_loss

QUESTIONS = [ch09.q1, ch09.q2, ch09.q3, ch09.q4, ch09.q5]


def _message(question, answer) -> str:
    with np.errstate(all="ignore"):
        feedback = question.evaluate(answer)
    assert not feedback.correct, "a wrong answer was accepted"
    return feedback.message


def _unit(x, axis=-1):
    return x / np.linalg.norm(x, axis=axis, keepdims=True)


@pytest.mark.parametrize("question", QUESTIONS, ids=lambda q: q.name)
def test_every_question_accepts_its_reference_and_flags_each_near_miss(question):
    assert question.evaluate(question.reference).correct
    for wrong, advice in question.near_misses():
        assert advice in _message(question, wrong)


@pytest.mark.parametrize("question", QUESTIONS, ids=lambda q: q.name)
def test_no_crash_on_junk(question):
    assert question.evaluate(None).status == "unattempted"
    assert "pass your function itself" in _message(question, 3.0)
    assert "raised ZeroDivisionError" in _message(question, lambda *args: 1 / 0)


def test_q1_accepts_the_course_similarity_at_scale_one():
    assert ch09.q1.evaluate(lambda i, t: _unit(i) @ _unit(t).T).correct
    n_equal = [args for args in ch09.q1.cases() if args[0].shape[0] == args[1].shape[0]]
    for image, text in n_equal:  # the course's logits at t = 0 are the cosines
        np.testing.assert_allclose(similarity_logits(image, text, 0.0), ch09.q1.reference(image, text))


def test_q1_rejects_a_torch_tensor_with_advice():
    message = _message(ch09.q1, lambda i, t: torch.from_numpy(_unit(i) @ _unit(t).T))
    assert "torch.Tensor" in message and ".numpy()" in message


def test_q2_reference_equals_numpy_and_torch_losses():
    for image, text, t in ch09.q2.cases():
        expected = ch09.q2.reference(image, text, t)
        assert expected == info_nce_forward(image, text, t)[0]
        got = clip_loss(torch.from_numpy(image), torch.from_numpy(text), torch.tensor(t, dtype=torch.float64))
        assert abs(float(got) - expected) < 1e-10


def test_q2_rejects_a_tensor_loss_and_one_off_rounding():
    assert "should be a number, got a torch.Tensor" in _message(
        ch09.q2, lambda i, t, s: torch.tensor(info_nce_forward(i, t, s)[0]))
    assert "is not right" in _message(ch09.q2, lambda i, t, s: round(info_nce_forward(i, t, s)[0], 3))


def test_q3_a_constant_model_gets_no_credit_below_n_and_full_credit_at_n():
    constant = np.full((4, 4), 0.25)
    assert ch09.q3.reference(constant, 1) == 0.0 and ch09.q3.reference(constant, 3) == 0.0
    assert ch09.q3.reference(constant, 4) == 1.0


def test_q3_hand_cases():
    tied = np.array([[0.5, 0.5, 0.1], [0.2, 0.9, 0.9], [0.3, 0.1, 0.7]])
    assert ch09.q3.reference(tied, 1) == pytest.approx(1 / 3)  # only row 2 is alone at the top
    assert ch09.q3.reference(tied, 2) == 1.0
    assert ch09.q3.reference(np.eye(5), 1) == 1.0


def test_q3_rejects_a_percentage():
    assert "is not right" in _message(ch09.q3, lambda s, k: 100 * ch09.q3.reference(s, k))


def test_q4_rejects_float_ids_and_scores():
    message = _message(ch09.q4, lambda i, c: np.argmax(_unit(i) @ _unit(c).T, axis=1).astype(float))
    assert "integer class indices, got dtype float64" in message
    assert "not the similarity scores" in _message(ch09.q4, lambda i, c: _unit(i) @ _unit(c).T)


def test_q4_dot_products_differ_from_cosines_on_the_first_case():
    image, classes = ch09.q4.cases()[0]
    assert (np.argmax(image @ classes.T, axis=1) != ch09.q4.reference(image, classes)).sum() >= 2


def test_q5_rows_are_unit_and_the_message_names_the_lengths():
    for (prompts,) in ch09.q5.cases():
        np.testing.assert_allclose(np.linalg.norm(ch09.q5.reference(prompts), axis=1), 1.0)
    assert "not 1" in _message(ch09.q5, lambda e: 2 * ch09.q5.reference(e))
