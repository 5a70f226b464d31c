"""Chapter 12 exercises accept correct answers in several styles and reject realistic mistakes."""
import numpy as np
from rapidfuzz.distance import Levenshtein

from exercise_cells import wrong_message as _message
from mmcourse.exercises import ch12
from mmcourse.experiments import audio



def test_references_equal_the_course_functions_and_rapidfuzz():
    assert ch12.q1.evaluate(audio.collapse).correct
    assert ch12.q2.evaluate(audio.greedy_decode).correct
    assert ch12.q3.evaluate(audio.edit_distance).correct
    assert ch12.q3.evaluate(Levenshtein.distance).correct
    assert ch12.q4.evaluate(lambda s, snr: audio.snr_to_noise_scale(snr, float(np.mean(s ** 2)))).correct


def test_q1_by_hand_keeps_a_repeat_split_by_a_blank():
    assert ch12.q1.reference([3, 3, 10, 3, 5, 5, 10], 10) == [3, 3, 5]
    assert ch12.q1.reference([2, 2, 2, 2], 10) == [2]


def test_label_answers_may_be_arrays_or_tuples_but_not_floats_or_strings():
    assert ch12.q1.evaluate(lambda p, b: np.array(ch12.q1.reference(p, b), dtype=np.int64)).correct
    assert ch12.q2.evaluate(lambda lp, b: tuple(ch12.q2.reference(lp, b))).correct
    assert "ints, not floats" in _message(ch12.q1, lambda p, b: [float(x) for x in ch12.q1.reference(p, b)])
    assert "a list of token ids" in _message(ch12.q2, lambda lp, b: "".join(map(str, ch12.q2.reference(lp, b))))


def test_q2_cases_include_a_tie_and_a_blank_between_repeats():
    (peaky, _), _, (tie, blank), *_ = ch12.q2.cases()
    assert ch12.q2.reference(peaky, 10) == [4, 4, 7]
    assert ch12.q2.reference(tie, blank) == []


def test_q3_and_q4_reject_floats_that_are_off():
    assert "whole number" in _message(ch12.q3, lambda a, b: ch12.q3.reference(a, b) + 0.5)
    assert "is not right" in _message(ch12.q4, lambda s, snr: 2 * ch12.q4.reference(s, snr))
