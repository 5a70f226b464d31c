"""Baselines of chapter 02: feature vectors, late-fusion rules and the AV digits claim, with values."""
import warnings

import numpy as np
import pytest

from mmcourse.experiments.baselines import (METHODS, accuracy, class_means, complementarity, evaluate_fusion, fit_baselines,
                                fit_logistic, late_fusion, modality_features, per_class_accuracy)
from mmcourse.data import AVSplit, load_av_digits

P_A = np.array([[0.6, 0.4], [0.1, 0.9]])
P_B = np.array([[0.2, 0.8], [0.5, 0.5]])


def _tiny_split(n=3, frames=2):
    images = np.arange(n * 28 * 28, dtype=np.float32).reshape(n, 28, 28)
    audio = -np.arange(n * frames * 13, dtype=np.float32).reshape(n, frames, 13)
    return AVSplit(images=images, audio=audio, labels=np.arange(n, dtype=np.int64))


def test_modality_features_flattens_each_modality_row_by_row_and_concatenates_them():
    split = _tiny_split()
    features = modality_features(split)
    assert features["image"].shape == (3, 784) and features["audio"].shape == (3, 26)
    assert features["early"].shape == (3, 810)
    assert features["image"][1, 28] == split.images[1, 1, 0]  # second row of pixels starts at 28
    assert features["audio"][2, 13] == split.audio[2, 1, 0]  # second frame starts at 13
    np.testing.assert_array_equal(features["early"][:, 784:], features["audio"])


def test_modality_features_rejects_something_that_is_not_a_split():
    with pytest.raises(ValueError, match="split must be an AVSplit"):
        modality_features({"images": np.zeros((2, 28, 28))})


def test_late_fusion_mean_is_the_average_of_the_probabilities():
    np.testing.assert_allclose(late_fusion(P_A, P_B, "mean"), [[0.4, 0.6], [0.3, 0.7]])
    np.testing.assert_allclose(late_fusion(P_A, P_B, "mean", weights=(3, 1)), [[0.5, 0.5], [0.2, 0.8]])


def test_late_fusion_sum_log_is_the_renormalised_product():
    # products: [0.12, 0.32] and [0.05, 0.45]; rows sum to 0.44 and 0.5
    np.testing.assert_allclose(late_fusion(P_A, P_B, "sum_log"), [[0.12 / 0.44, 0.32 / 0.44], [0.1, 0.9]])
    # weights are exponents: p_a^2 p_b^0 renormalised is p_a squared, renormalised
    np.testing.assert_allclose(late_fusion(P_A, P_B, "sum_log", weights=(2, 0)),
                               [[0.36 / 0.52, 0.16 / 0.52], [0.01 / 0.82, 0.81 / 0.82]])


def test_late_fusion_sum_log_lets_a_zero_probability_veto_a_class_without_warnings():
    p_a = np.array([[0.0, 0.3, 0.7]])
    p_b = np.array([[0.98, 0.01, 0.01]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fused = late_fusion(p_a, p_b, "sum_log")
    np.testing.assert_allclose(fused, [[0.0, 0.3, 0.7]], atol=1e-12)
    assert late_fusion(p_a, p_b, "mean").argmax() == 0  # the mean rule lets the confident model win instead


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"prob_b": P_B[:1]}, "batch sizes differ"),
    ({"prob_b": np.log(P_B)}, "prob_b must hold probabilities"),
    ({"prob_a": P_A[0]}, "prob_a must have shape"),
    ({"rule": "max"}, "rule must be one of"),
    ({"weights": (0, 0)}, "not both 0"),
    ({"weights": (1, -1)}, "weights must be two finite numbers"),
    ({"weights": 0.5}, "weights must be a pair"),
])
def test_late_fusion_rejects_bad_inputs_naming_the_argument(kwargs, message):
    arguments = {"prob_a": P_A, "prob_b": P_B, **kwargs}
    with pytest.raises(ValueError, match=message):
        late_fusion(**arguments)


def test_complementarity_counts_examples_that_exactly_one_model_gets_right():
    a = np.array([True, True, False, False, True])
    b = np.array([True, False, True, False, False])
    assert complementarity(a, b) == pytest.approx(0.6)
    with pytest.raises(ValueError, match="same length"):
        complementarity(a, b[:4])
    with pytest.raises(ValueError, match="correct_b must be a non-empty 1-D boolean array"):
        complementarity(a, b.astype(int))


def test_accuracy_and_per_class_accuracy_on_hand_made_labels():
    y_true = np.array([0, 0, 1, 1, 1, 3])
    y_pred = np.array([0, 1, 1, 1, 0, 3])
    assert accuracy(y_true, y_pred) == pytest.approx(4 / 6)
    np.testing.assert_allclose(per_class_accuracy(y_true, y_pred, n_classes=4), [0.5, 2 / 3, np.nan, 1.0])
    with pytest.raises(ValueError, match="y_pred must have one entry per row of y_true"):
        accuracy(y_true, y_pred[:-1])
    with pytest.raises(ValueError, match=r"y_true must hold classes in \[0, 3\)"):
        per_class_accuracy(y_true, y_pred, n_classes=3)


def test_class_means_averages_the_rows_of_each_class():
    x = np.array([[0.0, 2.0], [2.0, 4.0], [10.0, 10.0]])
    np.testing.assert_allclose(class_means(x, np.array([1, 1, 0]), n_classes=2), [[10.0, 10.0], [1.0, 3.0]])
    with pytest.raises(ValueError, match=r"missing \[2\]"):
        class_means(x, np.array([1, 1, 0]), n_classes=3)


def test_fit_logistic_is_deterministic_and_validates_its_inputs():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 5))
    y = (x[:, 0] > 0).astype(np.int64)
    first, second = fit_logistic(x, y, C=1.0), fit_logistic(x, y, C=1.0)
    np.testing.assert_array_equal(first[-1].coef_, second[-1].coef_)
    assert accuracy(y, first.predict(x)) > 0.9
    with pytest.raises(ValueError, match="y_train must have one entry per row of X_train"):
        fit_logistic(x, y[:-1])
    with pytest.raises(ValueError, match="C must be a positive number"):
        fit_logistic(x, y, C=0)
    with pytest.raises(ValueError, match="X_train must be a non-empty numeric array"):
        fit_logistic(x[0], y)


@pytest.mark.slow
def test_on_av_digits_neither_modality_is_enough_and_fusion_is():
    av = load_av_digits(seed=0)
    probs = fit_baselines(av.train).predict_proba(av.test)
    assert set(probs) == set(METHODS)
    for p in probs.values():
        np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-6)
    acc = {name: accuracy(av.test.labels, p.argmax(axis=1)) for name, p in probs.items()}
    assert 0.35 < acc["image"] < 0.6 and 0.35 < acc["audio"] < 0.6
    assert acc["early"] >= max(acc["image"], acc["audio"]) + 0.10
    assert acc["late_sum_log"] >= max(acc["image"], acc["audio"]) + 0.10
    assert acc["late_sum_log"] > acc["late_mean"]  # the modalities are independent given the digit


@pytest.mark.slow
def test_evaluate_fusion_gains_from_fusion_on_another_seed_and_checks_its_arguments():
    av = load_av_digits(seed=1)
    acc = evaluate_fusion(av)
    assert list(acc) == list(METHODS)
    assert acc["early"] >= max(acc["image"], acc["audio"]) + 0.10
    assert max(acc["image"], acc["audio"]) < 0.6
    with pytest.raises(ValueError, match="split must be 'train', 'val' or 'test'"):
        evaluate_fusion(av, split="all")
    with pytest.raises(ValueError, match="av must be an AVDigits"):
        evaluate_fusion(av.test)
