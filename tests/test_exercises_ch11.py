"""Chapter 11 exercises accept correct answers and reject realistic mistakes; references equal torch and the package."""
import numpy as np
import pytest
import torch

from mmcourse import generative
from exercise_cells import wrong_message as _message
from mmcourse.exercises import ch11



def test_q1_equals_torch_binary_cross_entropy_with_logits():
    def with_torch(real, fake):
        bce = torch.nn.functional.binary_cross_entropy_with_logits
        r, f = torch.from_numpy(real), torch.from_numpy(fake)
        d = bce(r, torch.ones_like(r)) + bce(f, torch.zeros_like(f))
        return float(d), float(bce(f, torch.ones_like(f)))

    assert ch11.q1.evaluate(with_torch).correct


def test_q1_a_coin_flipping_discriminator_costs_log_4_and_log_2():
    d_loss, g_loss = ch11.q1.reference(np.zeros(3), np.zeros(5))
    assert d_loss == pytest.approx(2 * np.log(2)) and g_loss == pytest.approx(np.log(2))


def test_q1_rejects_an_unstable_formula_that_overflows():
    def naive(real, fake):
        d = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
        return float(-np.log(d(real)).mean() - np.log(1 - d(fake)).mean()), float(-np.log(d(fake)).mean())

    assert "inf" in _message(ch11.q1, naive) or "not right" in _message(ch11.q1, naive)


def test_q2_and_q3_equal_the_package_functions():
    x0, t, noise, betas = ch11.q2.cases()[0]
    ab = np.cumprod(1 - betas)[t].reshape(-1, 1, 1, 1)
    np.testing.assert_allclose(ch11.q2.reference(x0, t, noise, betas), generative.q_sample(x0, noise, ab))
    for x_t, eps, step, betas, z in ch11.q3.cases():
        np.testing.assert_allclose(ch11.q3.reference(x_t, eps, step, betas, z),
                                   generative.ddpm_step(x_t, eps, step, generative.Schedule(betas), z), atol=1e-12)


def test_q3_accepts_torch_tensors_converted_back():
    def with_torch(x_t, eps, t, betas, z):
        out = generative.ddpm_step(torch.from_numpy(x_t), torch.from_numpy(eps), t, generative.Schedule(betas),
                                   torch.from_numpy(z))
        return out.numpy()

    assert ch11.q3.evaluate(with_torch).correct


def test_q4_by_hand_and_equal_to_the_package():
    assert ch11.q4.reference(np.zeros(2), np.diag([1.0, 4.0]), np.ones(2), np.diag([4.0, 1.0])) == pytest.approx(4.0)
    for args in ch11.q4.cases():
        assert ch11.q4.reference(*args) == pytest.approx(generative.frechet_distance(*args), abs=1e-8)
