"""Chapter 02 exercises reject realistic mistakes with a message that points at the mistake."""
import numpy as np

from mmcourse.exercises import ch02


def _message(question, answer) -> str:
    feedback = question.evaluate(answer)
    assert not feedback.correct, "a wrong answer was accepted"
    return feedback.message


def test_q1_rejects_concatenating_along_the_example_axis_and_stacking():
    assert "wrong shape: expected (4, 6), got (8, 3)" in _message(
        ch02.q1, lambda image, audio: np.concatenate([image, audio], axis=0))
    assert "wrong shape" in _message(ch02.q1, lambda image, audio: np.stack([image, audio]))
    assert "values are off" in _message(ch02.q1, lambda image, audio: np.concatenate([audio, image], axis=1))
    assert ch02.q1.evaluate(lambda image, audio: np.hstack([image, audio])).correct


def test_q2_rejects_raw_scores_as_weights_an_unweighted_mean_and_an_overflowing_softmax():
    def raw_scores(features, scores):
        return np.tensordot(scores, features, axes=1)

    def plain_mean(features, scores):
        return features.mean(axis=0)

    def naive_softmax(features, scores):
        weights = np.exp(scores) / np.exp(scores).sum()
        return np.tensordot(weights, features, axes=1)

    assert "values are off" in _message(ch02.q2, raw_scores)
    assert "values are off" in _message(ch02.q2, plain_mean)
    with np.errstate(over="ignore", invalid="ignore"):
        assert "NaN or inf" in _message(ch02.q2, naive_softmax)


def test_q3_rejects_an_unnormalised_product_the_mean_rule_and_log_scores():
    assert "values are off" in _message(ch02.q3, lambda a, b: a * b)
    assert "values are off" in _message(ch02.q3, lambda a, b: (a + b) / 2)

    def log_scores(a, b):
        return np.log(a) + np.log(b)

    assert "values are off" in _message(ch02.q3, log_scores)

    def via_logs(a, b):
        with np.errstate(divide="ignore"):
            scores = np.log(a) + np.log(b)
        scores = scores - scores.max(axis=1, keepdims=True)
        return np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)

    assert ch02.q3.evaluate(via_logs).correct


def test_q4_rejects_at_least_one_both_and_a_count():
    assert "is not right" in _message(ch02.q4, lambda a, b: float(np.mean(a | b)))
    assert "is not right" in _message(ch02.q4, lambda a, b: float(np.mean(a & b)))
    assert "is not right" in _message(ch02.q4, lambda a, b: int(np.sum(a != b)))
    assert ch02.q4.evaluate(lambda a, b: float(np.mean(np.logical_xor(a, b)))).correct


def test_every_question_has_at_least_two_hints_and_its_chapter_and_name():
    for name in ("q1", "q2", "q3", "q4"):
        question = getattr(ch02, name)
        assert (question.name, question.chapter) == (name, "02") and len(question.hints) >= 2
