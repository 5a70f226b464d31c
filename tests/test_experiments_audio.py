"""Chapter 12's experiments: decoding, edit distance, scores, short training in both frameworks, the noise sweep."""
import itertools
import math

import numpy as np
import pytest
import torch
from rapidfuzz.distance import Levenshtein

from mmcourse.data.digit_strings import BLANK, DigitStrings
from mmcourse.experiments import audio
from mmcourse.torch_models.acoustic import CNNClassifier, CTCModel

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_collapse_merges_runs_then_drops_blanks():
    assert audio.collapse([1, 1, BLANK, 1, 2, 2, BLANK]) == [1, 1, 2]
    assert audio.collapse([BLANK, BLANK]) == []
    assert audio.collapse([3, BLANK, 3, 3]) == [3, 3]
    assert audio.greedy_decode(np.log(np.eye(11)[[4, 4, BLANK, 7]] + 1e-9)) == [4, 7]


def _best_labelling(log_probs, blank):
    """The most probable labelling by brute force: every path's probability added to the labelling it collapses to."""
    totals = {}
    for path in itertools.product(range(log_probs.shape[1]), repeat=len(log_probs)):
        key = tuple(audio.collapse(path, blank))
        totals[key] = totals.get(key, 0.0) + math.exp(sum(log_probs[t, k] for t, k in enumerate(path)))
    return list(max(totals, key=totals.get))


@pytest.mark.parametrize("seed", range(5))
def test_prefix_beam_search_finds_the_most_probable_labelling(seed):
    log_probs = np.log(np.random.default_rng(seed).dirichlet(np.ones(3) * 0.7, size=6))  # (T=6, C=3), blank 2
    assert audio.prefix_beam_search(log_probs, beam_width=64, blank=2) == _best_labelling(log_probs, 2)


def test_beam_search_beats_greedy_where_one_labelling_has_many_paths():
    log_probs = np.log(np.array([[0.4, 0.6], [0.4, 0.6]]))  # label 0 or the blank (1) on each of 2 frames
    assert audio.greedy_decode(log_probs, blank=1) == []  # the best path "- -" has p = 0.36
    assert audio.prefix_beam_search(log_probs, blank=1) == [0]  # "0" has 3 paths: 0.16 + 0.24 + 0.24 = 0.64


def test_prefix_beam_search_refuses_bad_arguments():
    with pytest.raises(ValueError, match="log_probs must be"):
        audio.prefix_beam_search(np.zeros((4, 5)), blank=5)
    with pytest.raises(ValueError, match="beam_width must be a positive int"):
        audio.prefix_beam_search(np.zeros((4, 11)), beam_width=0)


def test_edit_distance_equals_rapidfuzz_levenshtein():
    rng = np.random.default_rng(0)
    for _ in range(200):
        a, b = rng.integers(0, 4, rng.integers(0, 7)).tolist(), rng.integers(0, 4, rng.integers(0, 7)).tolist()
        assert audio.edit_distance(a, b) == Levenshtein.distance(a, b)
    assert audio.edit_distance([1, 2, 3], []) == 3 and audio.edit_distance([], []) == 0


def test_score_gives_exact_match_and_digit_error_rate():
    data = DigitStrings(features=np.zeros((2, 3, 13), np.float32), lengths=np.array([3, 3]),
                        targets=np.array([[1, 2, BLANK], [3, 4, 5]]), target_lengths=np.array([2, 3]))
    scores = audio.score([[1, 2], [3, 5]], data)  # right; one digit deleted
    assert scores == {"exact_match": 0.5, "digit_error_rate": 1 / 5}
    with pytest.raises(ValueError, match="one prediction per string"):
        audio.score([[1, 2]], data)


def test_snr_to_noise_scale():
    assert audio.snr_to_noise_scale(0.0) == 1.0
    assert math.isclose(audio.snr_to_noise_scale(20.0), 0.1)
    assert math.isclose(audio.snr_to_noise_scale(-10.0, signal_power=4.0), 2 * math.sqrt(10))
    with pytest.raises(ValueError, match="signal_power must be > 0"):
        audio.snr_to_noise_scale(0.0, signal_power=0.0)


def test_classifier_training_lowers_the_loss_and_is_seeded():
    clips = audio.clip_arrays("val")
    losses = []
    for _ in range(2):
        torch.manual_seed(0)
        model = CNNClassifier()
        losses.append(audio.train_classifier(model, clips, steps=30, batch_size=32, progress=False))
    assert losses[0] == losses[1] and np.mean(losses[0][-5:]) < np.mean(losses[0][:5])
    assert 0.0 <= audio.accuracy(model, clips) <= 1.0
    with pytest.raises(ValueError, match="steps must be a positive int"):
        audio.train_classifier(model, clips, steps=0)


def test_torch_and_keras_ctc_training_give_the_same_losses():
    from mmcourse.keras_models import acoustic as keras_acoustic

    torch.manual_seed(0)
    net, model = CTCModel(channels=8, units=6), keras_acoustic.CTCModel(channels=8, units=6)
    keras_acoustic.copy_weights_from_torch(model, net)  # before either trains
    evaluation = audio.test_strings(20)
    history = audio.train_ctc(net, steps=3, batch_size=4, decay=True, eval_data=evaluation, eval_every=1,
                              progress=False)
    keras_losses = audio.train_ctc_keras(model, steps=3, batch_size=4, decay=True, progress=False)
    # the same batches, weights, loss convention, clipping and learning-rate schedule: the same losses
    np.testing.assert_allclose(history.loss, keras_losses, rtol=1e-4)
    assert history.eval_steps == [1, 2, 3] and 0 <= history.blank_share[0] <= 1 and len(history.exact_match) == 3
    assert len(audio.ctc_log_probs(net, evaluation)) == 20


def test_noise_sweep_scores_every_model_at_every_snr():
    config = audio.AVSweepConfig(snrs_db=(10.0, -10.0), steps=3, batch_size=16)
    sweep = audio.noise_sweep(config, progress=False)
    assert sweep.snrs_db == (10.0, -10.0) and set(sweep.accuracy) == set(audio.AV_MODELS)
    assert all(len(v) == 2 and all(0 <= a <= 1 for a in v) for v in sweep.accuracy.values())
    assert sweep.accuracy["image only"][0] == sweep.accuracy["image only"][1]  # it never hears the audio
    assert set(sweep.dead_microphone) == set(sweep.dead_camera) == set(audio.AV_MODELS)
    with pytest.raises(ValueError, match="model_name must be one of"):
        audio.train_av_model("video only", config)
