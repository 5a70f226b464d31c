"""Chapter 13 exercises accept correct answers, reject realistic mistakes, and agree with torch."""
import numpy as np
import pytest
import torch
from torch.nn import functional as F

from exercise_cells import wrong_message as _message
from mmcourse.exercises import ch13
from mmcourse.experiments import feedback as fb
from mmcourse.numpy_nn.gradcheck import numerical_gradient, relative_error



def test_q1_equals_the_gradient_of_torchs_reinforce_surrogate():
    def with_torch(logits, actions, rewards, baseline):
        theta = torch.tensor(logits, requires_grad=True)
        logp = F.log_softmax(theta, dim=0)[torch.from_numpy(actions)]  # (N,)
        ascent = -fb.reinforce_loss(logp, torch.from_numpy(rewards), baseline)  # its gradient: the estimate
        ascent.backward()
        return theta.grad.numpy()

    assert ch13.q1.evaluate(with_torch).correct


def test_q1_with_every_action_weighted_by_pi_is_the_exact_gradient():
    rng = np.random.default_rng(0)
    logits, rewards = rng.normal(size=4), rng.normal(size=4)
    pi = np.exp(logits) / np.exp(logits).sum()
    exact = numerical_gradient(lambda: float(np.exp(logits) @ rewards / np.exp(logits).sum()), logits)
    by_hand = sum(p * ch13.q1.reference(logits, np.array([a]), rewards[[a]], 0.0) for a, p in enumerate(pi))
    assert relative_error(exact, by_hand) < 1e-7


def test_q2_equals_torch_and_is_one_half_on_a_tie():
    def with_torch(rc, rr):
        return torch.sigmoid(torch.from_numpy(rc) - torch.from_numpy(rr)).numpy()

    assert ch13.q2.evaluate(with_torch).correct
    assert ch13.q2.reference(np.array([2.0]), np.array([2.0])).tolist() == [0.5]


def test_q3_equals_torch_kl_div_and_the_module():
    def with_torch(logits, ref_logits):
        logp, ref = F.log_softmax(torch.from_numpy(logits), -1), F.log_softmax(torch.from_numpy(ref_logits), -1)
        return F.kl_div(ref, logp, log_target=True, reduction="none").sum(-1).numpy()

    assert ch13.q3.evaluate(with_torch).correct
    assert ch13.q3.evaluate(lambda a, b: fb.token_kl(torch.from_numpy(a), torch.from_numpy(b)).numpy()).correct


def test_q4_equals_the_module_and_is_log_two_when_the_policy_is_the_reference():
    assert ch13.q4.evaluate(lambda *args: fb.dpo_loss(*map(torch.from_numpy, args[:4]), args[4]).item()).correct
    same = np.array([-10.0, -20.0])
    assert ch13.q4.reference(same, same - 3, same, same - 3, 0.1) == pytest.approx(np.log(2))
