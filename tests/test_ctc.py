"""The from-scratch CTC loss: equal to torch.nn.CTCLoss and TensorFlow's CTC, gradient-checked, with clear errors."""
import itertools

import numpy as np
import pytest
import torch

from mmcourse.env import import_tensorflow
from mmcourse.numpy_nn.ctc import (ctc_alpha, ctc_beta, ctc_loss_backward, ctc_loss_forward, extend_target,
                                   min_frames)
from mmcourse.numpy_nn.gradcheck import numerical_gradient, relative_error

BLANK = 5  # the last of C = 6 classes, as TensorFlow's v1 kernel requires and as the course's digits use (10 of 11)


def _batch(seed=0, blank=BLANK):
    """Logits (4, 12, 6) float64 and targets with a repeat, a single label, a triple repeat and an empty target."""
    rng = np.random.default_rng(seed)
    logits = 2 * rng.normal(size=(4, 12, 6))
    labels = [label for label in range(6) if label != blank]
    targets = np.array([[labels[1], labels[2], labels[2], labels[3]], [labels[4], 0, 0, 0],
                        [labels[0], labels[0], labels[0], 0], [0, 0, 0, 0]])
    return logits, targets, np.array([12, 7, 10, 5]), np.array([4, 1, 3, 0])


def _torch_losses(logits, targets, logit_lengths, target_lengths, blank):
    """torch's per-sample CTC losses of batch-major logits, and the logits tensor (for gradients)."""
    x = torch.tensor(logits, requires_grad=True)
    losses = torch.nn.CTCLoss(blank=blank, reduction="none")(
        x.log_softmax(-1).transpose(0, 1), torch.tensor(targets), torch.tensor(logit_lengths),
        torch.tensor(target_lengths))  # CTCLoss wants time-major log-probabilities (T, B, C)
    return losses, x


@pytest.mark.parametrize("blank", [0, BLANK])
def test_ctc_loss_and_gradient_equal_torch_in_float64(blank):
    logits, targets, logit_lengths, target_lengths = _batch(blank=blank)
    losses, cache = ctc_loss_forward(logits, targets, logit_lengths, target_lengths, blank)
    expected, x = _torch_losses(logits, targets, logit_lengths, target_lengths, blank)
    assert np.abs(losses - expected.detach().numpy()).max() < 1e-10
    dlosses = np.random.default_rng(1).normal(size=4)
    (expected * torch.tensor(dlosses)).sum().backward()
    assert np.abs(ctc_loss_backward(dlosses, cache) - x.grad.numpy()).max() < 1e-10


def test_ctc_loss_and_gradient_equal_tensorflow_float64_kernel():
    tf = import_tensorflow()
    logits, targets, logit_lengths, target_lengths = (x[:3] for x in _batch())  # TF refuses an empty target
    losses, cache = ctc_loss_forward(logits, targets, logit_lengths, target_lengths, BLANK)
    index = [[b, i] for b in range(3) for i in range(target_lengths[b])]
    labels = tf.SparseTensor(index, [int(targets[b, i]) for b, i in index], targets.shape)
    x = tf.constant(logits.transpose(1, 0, 2))  # (T, B, C) float64; the v1 kernel's blank is the last class
    with tf.GradientTape() as tape:
        tape.watch(x)
        expected = tf.compat.v1.nn.ctc_loss(labels, x, logit_lengths, time_major=True)
    assert expected.dtype == tf.float64
    assert np.abs(losses - expected.numpy()).max() < 1e-6
    dlosses = np.random.default_rng(1).normal(size=3)
    grad = tape.gradient(expected, x, output_gradients=tf.constant(dlosses)).numpy().transpose(1, 0, 2)
    assert np.abs(ctc_loss_backward(dlosses, cache) - grad).max() < 1e-6


def test_ctc_loss_equals_keras_ops_ctc_loss_once_the_blank_is_set():
    import_tensorflow()
    import keras

    logits, targets, logit_lengths, target_lengths = _batch(blank=0)
    losses, _ = ctc_loss_forward(logits, targets, logit_lengths, target_lengths, blank=0)
    expected = np.asarray(keras.ops.ctc_loss(targets, logits, target_lengths, logit_lengths))  # mask_index=0
    assert expected.dtype == np.float64  # but computed in float32 inside: agreement to float32's precision
    assert np.abs(losses - expected).max() / np.abs(losses).max() < 1e-6
    logits, targets, logit_lengths, target_lengths = _batch(blank=BLANK)
    losses, _ = ctc_loss_forward(logits, targets, logit_lengths, target_lengths, BLANK)
    wrong_blank = np.asarray(keras.ops.ctc_loss(targets, logits, target_lengths, logit_lengths))
    right_blank = np.asarray(keras.ops.ctc_loss(targets, logits, target_lengths, logit_lengths, mask_index=BLANK))
    assert np.abs(losses - right_blank).max() / np.abs(losses).max() < 1e-6
    assert np.abs(losses - wrong_blank).max() > 0.1  # the default mask_index=0 is another loss


def test_ctc_gradient_passes_a_numerical_check():
    logits, targets, logit_lengths, target_lengths = _batch(seed=3)
    dlosses = np.random.default_rng(4).normal(size=4)
    _, cache = ctc_loss_forward(logits, targets, logit_lengths, target_lengths, BLANK)
    numerical = numerical_gradient(
        lambda: float(ctc_loss_forward(logits, targets, logit_lengths, target_lengths, BLANK)[0] @ dlosses), logits)
    assert relative_error(numerical, ctc_loss_backward(dlosses, cache)) < 1e-7
    assert np.all(ctc_loss_backward(dlosses, cache)[1, 7:] == 0)  # padded frames get no gradient


def test_ctc_probability_is_the_sum_over_every_path_that_collapses_to_the_target():
    rng = np.random.default_rng(5)
    log_probs = np.log(rng.dirichlet(np.ones(3), size=5))  # (T=5, C=3), blank 0
    target = np.array([1, 1])
    total = 0.0
    for path in itertools.product(range(3), repeat=5):
        merged = [label for t, label in enumerate(path) if label != 0 and (t == 0 or label != path[t - 1])]
        if merged == [1, 1]:
            total += np.exp(sum(log_probs[t, label] for t, label in enumerate(path)))
    alpha, beta = ctc_alpha(log_probs, target, 0), ctc_beta(log_probs, target, 0)
    assert np.isclose(np.exp(np.logaddexp.reduce(alpha[-1, -2:])), total, rtol=1e-12)
    assert np.isclose(np.exp(np.logaddexp.reduce(beta[0, :2])), total, rtol=1e-12)  # β from the start: the same p
    emit = log_probs[:, extend_target(target, 0)]  # α_t(s) β_t(s) / y_t(s) sums to p at every frame
    assert np.allclose(np.exp(np.logaddexp.reduce(alpha + beta - emit, axis=1)), total, rtol=1e-12)


def test_min_frames_counts_a_blank_between_equal_labels():
    assert min_frames(np.array([1, 2, 3])) == 3
    assert min_frames(np.array([1, 1, 1])) == 5
    assert min_frames(np.array([], dtype=np.int64)) == 0
    assert extend_target(np.array([3, 4]), 0).tolist() == [0, 3, 0, 4, 0]


def test_ctc_loss_refuses_bad_inputs_with_clear_messages():
    logits, targets, logit_lengths, target_lengths = _batch()
    with pytest.raises(ValueError, match="3 labels.*needs at least 5"):
        ctc_loss_forward(logits, targets, np.array([12, 7, 4, 5]), target_lengths, BLANK)
    with pytest.raises(ValueError, match=r"targets\[1\] holds the blank"):
        ctc_loss_forward(logits, np.where(targets == targets[1, 0], BLANK, targets), logit_lengths, target_lengths,
                         BLANK)
    with pytest.raises(ValueError, match="blank must be a class index in"):
        ctc_loss_forward(logits, targets, logit_lengths, target_lengths, 6)
    with pytest.raises(ValueError, match="logits must be 3-D"):
        ctc_loss_forward(logits[0], targets, logit_lengths, target_lengths, BLANK)
    with pytest.raises(TypeError, match="targets must be a NumPy array of integers"):
        ctc_loss_forward(logits, targets.tolist(), logit_lengths, target_lengths, BLANK)
    with pytest.raises(ValueError, match="logit_lengths must hold values in"):
        ctc_loss_forward(logits, targets, np.array([13, 7, 10, 5]), target_lengths, BLANK)
    with pytest.raises(ValueError, match="target_lengths must have one row per sequence"):
        ctc_loss_forward(logits, targets, logit_lengths, target_lengths[:3], BLANK)
