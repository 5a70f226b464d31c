"""Exercises of chapter 13: learning from feedback (REINFORCE, Bradley–Terry, the KL per token, DPO)."""
from __future__ import annotations

import numpy as np
from scipy.special import expit, log_softmax, softmax

from mmcourse.exercises.core import FunctionQuestion


def _log_sigmoid(x: np.ndarray) -> np.ndarray:
    return -np.logaddexp(0.0, -x)


class ReinforceGradient(FunctionQuestion):
    """``reinforce_gradient(logits, actions, rewards, baseline)``: the REINFORCE estimate of ∇ E[R], (K,).

    A softmax policy over K actions, π = softmax(logits); N actions were
    sampled from it and earned ``rewards``. The estimate is
    (1/N) Σ_i (R_i − b) ∇ log π(a_i), and for a softmax
    ∇_logits log π(a) = onehot(a) − π.
    """

    name, chapter = "q1", "13"
    hints = ("Work out ∇ log π(a) first: log π(a) = logits[a] − log Σ_j exp(logits[j]); its derivative is 1 at a "
             "(from the first term) minus π_j at every j (from the second).",
             "Each sample contributes (R_i − b) · (onehot(a_i) − π); the estimate is the mean over the N samples, "
             "not the sum.",
             "pi = scipy.special.softmax(logits); onehot = np.eye(len(logits))[actions]; "
             "return ((rewards - baseline)[:, None] * (onehot - pi)).mean(axis=0)")
    rtol = 1e-7

    def reference(self, logits, actions, rewards, baseline):
        pi = softmax(logits)
        onehot = np.eye(len(logits))[actions]  # (N, K)
        return ((rewards - baseline)[:, None] * (onehot - pi)).mean(axis=0)

    def cases(self):
        rng = np.random.default_rng(13)
        found = []
        for k, n, b in ((4, 6, 0.5), (3, 1, 0.0), (5, 10, 2.0)):
            found.append((rng.normal(size=k), rng.integers(k, size=n), rng.normal(size=n) + 1.0, b))
        found.append((np.zeros(3), np.array([0, 0, 2]), np.array([1.0, 1.0, 1.0]), 1.0))  # R = b: no signal
        return found

    def near_misses(self):
        def estimate(use_baseline=True, sign=1.0, reduce=np.mean, minus_pi=True):
            def wrong(logits, actions, rewards, baseline):
                pi = softmax(logits)
                score = np.eye(len(logits))[actions] - (pi if minus_pi else 0.0)
                advantage = rewards - (baseline if use_baseline else 0.0)
                return sign * reduce(advantage[:, None] * score, axis=0)
            return wrong

        return ((estimate(use_baseline=False), "the baseline is not subtracted: weight each sample by R - b"),
                (estimate(sign=-1.0), "the sign is flipped: ∇ log π(a) = onehot(a) - π, not π - onehot(a)"),
                (estimate(reduce=np.sum), "that is the sum over the samples; the estimate is their mean"),
                (estimate(minus_pi=False), "the -π term of ∇ log softmax is missing: log π(a) also depends on the "
                                           "other logits through the normaliser"))


class BradleyTerry(FunctionQuestion):
    """``preference_probability(r_chosen, r_rejected)``: P(chosen ≻ rejected) = σ(r_chosen − r_rejected), (N,).

    Rewards can be large (a reward model's scale is arbitrary): compute it
    without overflow, e.g. with ``scipy.special.expit``.
    """

    name, chapter = "q2", "13"
    hints = ("Bradley–Terry: P(a beats b) = exp(r_a) / (exp(r_a) + exp(r_b)). Divide top and bottom by exp(r_a).",
             "That is 1 / (1 + exp(-(r_a - r_b))) = σ(r_a - r_b): only the difference matters. exp(1000) overflows, "
             "so do not compute the exponentials of the rewards themselves.",
             "return scipy.special.expit(r_chosen - r_rejected)")
    rtol = 1e-9

    def reference(self, r_chosen, r_rejected):
        return expit(r_chosen - r_rejected)

    def cases(self):
        rng = np.random.default_rng(2)
        return [(rng.normal(size=5), rng.normal(size=5)), (np.array([0.0, 3.0]), np.array([0.0, 3.0])),  # ties: 1/2
                (np.array([1000.0, -1000.0, 5.0]), np.array([999.0, -990.0, 5.0 + 1e-9])),
                (rng.normal(size=3) * 10, rng.normal(size=3) * 10)]

    def near_misses(self):
        def ratio(rc, rr):
            with np.errstate(all="ignore"):
                return np.exp(rc) / (np.exp(rc) + np.exp(rr))

        return ((lambda rc, rr: expit(rr - rc), "the sign is flipped: that is the probability that the rejected "
                                                "caption wins"),
                (ratio, "exp of a large reward overflows (exp(1000) is inf): use σ(r_chosen - r_rejected)"),
                (lambda rc, rr: np.tanh(rc - rr), "tanh is not the logistic function: use σ(x) = 1 / (1 + e^-x)"),
                (lambda rc, rr: expit(rc) - expit(rr) + 0.5, "σ is applied to each reward separately; it takes "
                                                             "their difference"))

    def _diagnosis(self, got, args):
        if isinstance(got, np.ndarray) and got.dtype.kind == "f" and not np.isfinite(got).all():
            return self.near_misses()[1][1]  # NaN from inf / inf: the exponentials overflowed
        return super()._diagnosis(got, args)


class TokenKL(FunctionQuestion):
    """``kl_per_token(logits, ref_logits)``: KL(π ‖ π_ref) at each of T positions, (T,), from logits (T, V).

    KL_t = Σ_v π_t(v) (log π_t(v) − log π_ref,t(v)), π_t = softmax of row t
    of ``logits``, π_ref,t of ``ref_logits``: the penalty that keeps the
    fine-tuned policy near the one it started from.
    """

    name, chapter = "q3", "13"
    hints = ("Turn both rows of logits into log-probabilities first (scipy.special.log_softmax over the vocabulary "
             "axis); logits themselves are not log-probabilities.",
             "The weights are the policy's probabilities π = exp(log π), not the reference's: KL is not symmetric. Sum "
             "over the vocabulary (the last axis), one number per position.",
             "logp = log_softmax(logits, axis=-1); ref = log_softmax(ref_logits, axis=-1); "
             "return (np.exp(logp) * (logp - ref)).sum(axis=-1)")
    rtol = 1e-7
    atol = 1e-12

    def reference(self, logits, ref_logits):
        logp, ref = log_softmax(logits, axis=-1), log_softmax(ref_logits, axis=-1)
        return (np.exp(logp) * (logp - ref)).sum(axis=-1)

    def cases(self):
        rng = np.random.default_rng(3)
        same = rng.normal(size=(2, 5))
        return [(rng.normal(size=(4, 6)), rng.normal(size=(4, 6))), (same, same + 7.0),  # shifted logits: KL 0
                (rng.normal(size=(1, 3)) * 4, rng.normal(size=(1, 3))),
                (rng.normal(size=(5, 5)), rng.normal(size=(5, 5)))]

    def near_misses(self):
        def kl(p_logits, q_logits):
            logp, ref = log_softmax(p_logits, axis=-1), log_softmax(q_logits, axis=-1)
            return (np.exp(logp) * (logp - ref)).sum(axis=-1)

        return ((lambda a, b: kl(b, a), "that is KL(π_ref ‖ π): weight by the policy's probabilities, not the "
                                        "reference's"),
                (lambda a, b: (softmax(a, axis=-1) * (a - b)).sum(axis=-1),
                 "logits are used as log-probabilities: take log_softmax of each row first"),
                (lambda a, b: kl(a, b).sum() * np.ones(len(a)), "every position holds the total over positions: sum "
                                                                "over the vocabulary axis only"),
                (lambda a, b: (np.exp(log_softmax(a, axis=-1)) * (log_softmax(a, axis=-1) - log_softmax(b, axis=-1)))
                 .mean(axis=-1), "that is the mean over the vocabulary; KL is the sum"))


class DPOLoss(FunctionQuestion):
    """``dpo_loss(pi_chosen, pi_rejected, ref_chosen, ref_rejected, beta)``: DPO's loss, a float.

    The inputs (N,) are sequence log-probabilities of the chosen and the
    rejected replies under the policy and the frozen reference. The loss is
    the mean over the N pairs of
    −log σ(β [(log π(y_w) − log π_ref(y_w)) − (log π(y_l) − log π_ref(y_l))]).
    """

    name, chapter = "q4", "13"
    hints = ("First the margin: how much more the policy raised the chosen reply than the rejected one, each "
             "measured against the reference: (pi_chosen - ref_chosen) - (pi_rejected - ref_rejected).",
             "Then −log σ(β · margin), averaged over the pairs. −log σ(x) = log(1 + e^-x) = np.logaddexp(0, -x), "
             "which does not overflow.",
             "margin = (pi_chosen - ref_chosen) - (pi_rejected - ref_rejected); "
             "return float(np.mean(np.logaddexp(0.0, -beta * margin)))")
    rtol = 1e-9

    def reference(self, pi_chosen, pi_rejected, ref_chosen, ref_rejected, beta):
        margin = (pi_chosen - ref_chosen) - (pi_rejected - ref_rejected)
        return float(np.mean(-_log_sigmoid(beta * margin)))

    def cases(self):
        rng = np.random.default_rng(4)
        found = []
        for n, beta in ((6, 0.1), (1, 0.5), (4, 2.0)):
            found.append((-rng.uniform(5, 50, n), -rng.uniform(5, 50, n), -rng.uniform(5, 50, n),
                          -rng.uniform(5, 50, n), beta))
        same = -rng.uniform(5, 50, 3)
        found.append((same, same - 1.0, same, same - 1.0, 0.1))  # the policy is the reference: log 2
        return found

    def near_misses(self):
        def loss(use_ref=True, swap=False, use_beta=True, reduce=np.mean):
            def wrong(pw, pl, rw, rl, beta):
                if swap:
                    pw, pl, rw, rl = pl, pw, rl, rw
                margin = (pw - (rw if use_ref else 0.0)) - (pl - (rl if use_ref else 0.0))
                return float(reduce(-_log_sigmoid((beta if use_beta else 1.0) * margin)))
            return wrong

        return ((loss(use_ref=False), "the reference's log-probabilities are missing: DPO compares the policy's "
                                      "change against the reference, not its raw log-probabilities"),
                (loss(swap=True), "chosen and rejected are swapped: this loss pushes the rejected reply up"),
                (loss(use_beta=False), "β is missing: the margin is multiplied by beta before σ"),
                (loss(reduce=np.sum), "that is the sum over the pairs; take the mean"))


q1 = ReinforceGradient()
q2 = BradleyTerry()
q3 = TokenKL()
q4 = DPOLoss()
