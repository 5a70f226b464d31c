"""Spoken digit strings: built from one split's clips only, standardised, padded, labelled with what was said."""
import numpy as np
import pytest

from mmcourse.data.digit_strings import BLANK, make_digit_strings, mfcc_statistics, standardise
from mmcourse.data.spoken_digits import load_spoken_digits


def _clip_keys(split):
    return {s.tobytes() for s in load_spoken_digits(split).sequences}


def test_strings_are_clips_of_their_split_end_to_end_with_their_digits():
    data = make_digit_strings("test", 20, seed=3)
    clips = load_spoken_digits("test")
    by_key = {s.tobytes(): (s, label) for s, label in zip(clips.sequences, clips.labels)}
    mean, std = mfcc_statistics()
    for i in range(len(data)):
        frames = data.features[i, :data.lengths[i]] * std + mean  # back to raw MFCCs
        start, said = 0, []
        for digit in data.digits(i):  # the string splits into test clips that say its digits
            match = [s for s, label in by_key.values() if label == digit and len(s) <= len(frames) - start
                     and np.allclose(frames[start:start + len(s)], s, atol=1e-4)]
            assert match
            start += len(match[0])
            said.append(digit)
        assert start == data.lengths[i] and 2 <= len(said) <= 4
        assert np.all(data.features[i, data.lengths[i]:] == 0)
        assert np.all(data.targets[i, data.target_lengths[i]:] == BLANK)


def test_training_and_test_strings_never_share_a_clip():
    assert not _clip_keys("train") & _clip_keys("test")
    data = make_digit_strings("train", 5, seed=0)
    assert data.features.dtype == np.float32 and data.targets.dtype == np.int64
    assert set(data.target_lengths.tolist()) <= {2, 3, 4}


def test_standardised_training_frames_have_mean_0_and_std_1():
    frames = standardise(np.concatenate(load_spoken_digits("train").sequences))
    np.testing.assert_allclose(frames.mean(axis=0), 0, atol=1e-4)
    np.testing.assert_allclose(frames.std(axis=0), 1, atol=1e-4)


def test_strings_are_seeded_and_lengths_follow_the_arguments():
    a, b = make_digit_strings("val", 30, seed=(1, 2)), make_digit_strings("val", 30, seed=(1, 2))
    assert np.array_equal(a.features, b.features) and np.array_equal(a.targets, b.targets)
    assert not np.array_equal(a.targets, make_digit_strings("val", 30, seed=(1, 3)).targets)
    one = make_digit_strings("val", 10, min_digits=1, max_digits=1)
    assert one.targets.shape == (10, 1) and np.all(one.target_lengths == 1)


@pytest.mark.parametrize("kwargs, message", [
    ({"split": "dev", "n": 3}, "split must be one of"),
    ({"split": "test", "n": 0}, "n must be a positive int"),
    ({"split": "test", "n": 3, "min_digits": 3, "max_digits": 2}, "min_digits <= max_digits"),
])
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_digit_strings(**kwargs)
