"""Chapter 01 exercises reject realistic mistakes with a message that points at the mistake."""
from collections import Counter

import numpy as np
import pytest

from mmcourse.exercises import ch01


def _message(question, answer) -> str:
    feedback = question.evaluate(answer)
    assert not feedback.correct, "a wrong answer was accepted"
    return feedback.message


def test_q1_rejects_counts_that_drop_missing_classes():
    assert "wrong shape: expected (10,), got (8,)" in _message(ch01.q1, lambda labels, k: np.bincount(labels))
    assert "wrong shape" in _message(ch01.q1, lambda labels, k: np.unique(labels, return_counts=True)[1])
    assert "should hold integers" in _message(
        ch01.q1, lambda labels, k: np.histogram(labels, bins=k, range=(0, k))[0].astype(float))


def test_q1_names_nan_before_the_integer_dtype():
    message = _message(ch01.q1, lambda labels, k: np.full(k, np.nan))
    assert "the returned value contains NaN or inf (10 entries, the first at index (0,)) (for inputs shape (40,), 10)" in message


def test_q1_accepts_a_histogram_with_one_bin_per_class():
    assert ch01.q1.evaluate(lambda labels, k: np.histogram(labels, bins=k, range=(0, k))[0]).correct


def test_q2_rejects_integer_division_and_linspace():
    assert "values are off" in _message(ch01.q2, lambda n, hop, sr: np.arange(n) * (hop // sr))
    assert "values are off" in _message(ch01.q2, lambda n, hop, sr: np.linspace(0, n * hop / sr, n))
    assert "should be a NumPy array" in _message(ch01.q2, lambda n, hop, sr: [t * hop / sr for t in range(n)])


def test_q3_rejects_walking_the_colour_list_instead_of_the_caption():
    def by_colour_list(caption):
        return tuple(colour for colour in ch01.COLOUR_WORDS if colour in caption)

    def as_set(caption):
        return tuple(sorted({w for w in caption.split() if w in ch01.COLOUR_WORDS}))

    assert "is not right" in _message(ch01.q3, by_colour_list)  # ('green', 'blue') for a blue-then-green caption
    assert "tuple of 3 items" in _message(ch01.q3, as_set)  # drops the repeated 'red'
    assert "tuple of" in _message(ch01.q3, lambda c: [w for w in c.split() if w in ch01.COLOUR_WORDS])


def test_q4_rejects_peeking_at_the_test_answers():
    def peeks(train, test):
        (answer, _), = Counter(test.tolist()).most_common(1)
        return float(np.mean(test == answer))

    assert "(0.75) is not right" in _message(ch01.q4, peeks)


def test_q4_rejects_the_answer_or_the_count_instead_of_the_accuracy():
    def returns_answer(train, test):
        return Counter(train.tolist()).most_common(1)[0][0]

    def returns_count(train, test):
        (answer, _), = Counter(train.tolist()).most_common(1)
        return int(np.sum(test == answer))

    assert "should be a number, got a str" in _message(ch01.q4, returns_answer)
    assert "is not right" in _message(ch01.q4, returns_count)


def test_q4_cases_have_one_most_common_training_answer_and_one_case_where_peeking_differs():
    peeking_differs = False
    for train, test in ch01.q4.cases():
        counts = Counter(train.tolist()).most_common()
        assert len(counts) == 1 or counts[0][1] > counts[1][1], "a tie would make the expected answer arbitrary"
        peeking_differs |= Counter(test.tolist()).most_common(1)[0][0] != counts[0][0]
    assert peeking_differs
