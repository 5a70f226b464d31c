"""Exercises of chapter 11: GAN losses, forward noising, one DDPM sampling step, the Fréchet distance."""
from __future__ import annotations

import numpy as np
from scipy.linalg import sqrtm

from mmcourse.exercises.core import FunctionQuestion


def _log_sigmoid(x: np.ndarray) -> np.ndarray:
    """log σ(x) = -log(1 + e^-x), stable for large |x|."""
    return -np.logaddexp(0.0, -x)


class GANLosses(FunctionQuestion):
    """``gan_losses(real_logits, fake_logits)``: the discriminator's and the generator's loss, (d_loss, g_loss).

    The discriminator outputs logits; D(x) = σ(logit) is its probability
    that x is real. With mean binary cross-entropies over the batch:
    d_loss = -mean(log D(real)) - mean(log(1 - D(fake))) and the
    non-saturating generator loss g_loss = -mean(log D(fake)). Return two
    floats. Use log σ(x) = -log(1 + e^(-x)) and log(1 - σ(x)) = log σ(-x)
    (``np.logaddexp``) so that a logit of ±100 gives no inf.
    """

    name, chapter = "q1", "11"
    hints = ("Write log D = log σ(logit) = -np.logaddexp(0, -logit): it never takes the log of 0. "
             "And 1 - σ(x) = σ(-x), so log(1 - D) = log σ(-logit).",
             "The discriminator wants real -> 1 and fake -> 0: two terms. The generator wants its fakes called "
             "real: -mean(log σ(fake_logits)), not mean(log(1 - σ(fake_logits))), which saturates.",
             "ls = lambda x: -np.logaddexp(0, -x); return (float(-ls(real_logits).mean() - ls(-fake_logits).mean()), "
             "float(-ls(fake_logits).mean()))")
    rtol = 1e-7

    def reference(self, real_logits, fake_logits):
        d_loss = -_log_sigmoid(real_logits).mean() - _log_sigmoid(-fake_logits).mean()
        return float(d_loss), float(-_log_sigmoid(fake_logits).mean())

    def cases(self):
        rng = np.random.default_rng(11)
        return [(rng.normal(size=8), rng.normal(size=8)), (np.array([3.0, 2.0]), np.array([-4.0, -1.0, 0.5])),
                (np.array([0.0]), np.array([0.0])),  # a coin-flipping discriminator: both losses log 2 (times 2)
                (np.array([100.0, -100.0]), np.array([-100.0, 50.0]))]  # saturated logits: no inf allowed

    def near_misses(self):
        ls = _log_sigmoid
        return ((lambda r, f: (float(-ls(r).mean() - ls(-f).mean()), float(ls(-f).mean())),
                 "the generator's loss is the saturating one, mean(log(1 - D(fake))); use -mean(log D(fake)), "
                 "whose gradient does not vanish when D easily spots the fakes"),
                (lambda r, f: (float(-ls(-r).mean() - ls(f).mean()), float(-ls(f).mean())),
                 "the discriminator's labels are swapped: real images should be called real (1), fakes 0"),
                (lambda r, f: (float(-ls(r).mean()), float(-ls(f).mean())),
                 "the discriminator's loss misses the fake images' term -mean(log(1 - D(fake)))"),
                (lambda r, f: (float(-np.log(r.clip(1e-12)).mean() - np.log((1 - f).clip(1e-12)).mean()),
                               float(-np.log(f.clip(1e-12)).mean())),
                 "the logits are used as probabilities: pass them through the sigmoid first"),
                (lambda r, f: (float(-ls(r).sum() - ls(-f).sum()), float(-ls(f).sum())),
                 "these are sums over the batch; the losses are means"))


class ForwardNoising(FunctionQuestion):
    """``q_sample(x0, t, noise, betas)``: x_t = √ᾱ_t x0 + √(1 - ᾱ_t) noise, the forward process in one jump.

    ``betas`` (T,) is the noise schedule, steps numbered 0 .. T - 1;
    α_s = 1 - β_s and ᾱ_t = α_0 α_1 ⋯ α_t (step t's noise included). ``t``
    (B,) int holds each image's step; x0 and noise are (B, C, H, W).
    """

    name, chapter = "q2", "11"
    hints = ("ᾱ is a running product: np.cumprod(1 - betas) gives all T of them; index it with t.",
             "ᾱ_t[t] has shape (B,); reshape it to (B, 1, 1, 1) so that it scales each image. Mind the square "
             "roots: the mean is √ᾱ x0 and the standard deviation √(1 - ᾱ), not 1 - ᾱ.",
             "ab = np.cumprod(1 - betas)[t].reshape(-1, 1, 1, 1); return np.sqrt(ab) * x0 + np.sqrt(1 - ab) * noise")

    def reference(self, x0, t, noise, betas):
        ab = np.cumprod(1 - betas)[t].reshape(-1, 1, 1, 1)  # (B, 1, 1, 1)
        return np.sqrt(ab) * x0 + np.sqrt(1 - ab) * noise

    def cases(self):
        rng = np.random.default_rng(12)
        betas = np.linspace(1e-3, 0.2, 20)
        return [(rng.uniform(-1, 1, (4, 1, 3, 3)), np.array([0, 5, 19, 10]), rng.normal(size=(4, 1, 3, 3)), betas),
                (rng.uniform(-1, 1, (2, 3, 2, 2)), np.array([7, 7]), rng.normal(size=(2, 3, 2, 2)), betas[:8]),
                (rng.uniform(-1, 1, (1, 1, 2, 2)), np.array([0]), rng.normal(size=(1, 1, 2, 2)), np.array([0.5]))]

    def near_misses(self):
        def noised(alpha_bar, std=np.sqrt):
            def wrong(x0, t, noise, betas):
                ab = alpha_bar(betas, t).reshape(-1, 1, 1, 1)
                return np.sqrt(ab) * x0 + std(1 - ab) * noise
            return wrong

        return ((noised(lambda b, t: (1 - b)[t]), "that uses α_t of one step; the jump from x0 needs the "
                                                  "product ᾱ_t of every α up to t (np.cumprod)"),
                (noised(lambda b, t: np.concatenate([[1.0], np.cumprod(1 - b)])[t]),
                 "ᾱ is off by one step: ᾱ_t includes step t's own α_t"),
                (noised(lambda b, t: np.cumprod(1 - b)[t], std=lambda v: v),
                 "1 - ᾱ_t is the noise's variance; scale the noise by its square root"),
                (lambda x0, t, noise, betas: noised(lambda b, s: np.cumprod(1 - b)[s])(noise, t, x0, betas),
                 "x0 and the noise are swapped: the image gets √ᾱ_t, the noise √(1 - ᾱ_t)"))


class DDPMStep(FunctionQuestion):
    """``ddpm_step(x_t, eps, t, betas, z)``: one ancestral sampling step x_t -> x_{t-1} (an int t, 0 <= t < T).

    With α = 1 - β, ᾱ_t = α_0 ⋯ α_t and ᾱ_{t-1} = 1 for t = 0: predict the
    clean image x̂0 = (x_t - √(1 - ᾱ_t) eps) / √ᾱ_t and clip it to [-1, 1];
    the mean is μ = β_t √ᾱ_{t-1} / (1 - ᾱ_t) x̂0 + (1 - ᾱ_{t-1}) √α_t / (1 - ᾱ_t) x_t;
    return μ + σ_t z with σ_t² = (1 - ᾱ_{t-1}) / (1 - ᾱ_t) β_t, and μ alone at t = 0.
    """

    name, chapter = "q3", "11"
    hints = ("Compute ab = np.cumprod(1 - betas) and ab_prev = ab[t - 1] if t > 0 else 1.0; every coefficient is "
             "a number, the same for the whole batch.",
             "Clip x̂0 with np.clip(x0, -1, 1) before the mean: without it a noisy early step can predict pixels "
             "of ±30 and the image never recovers. The last step (t = 0) adds no noise.",
             "ab = np.cumprod(1 - betas); prev = ab[t - 1] if t else 1.0; x0 = np.clip((x_t - np.sqrt(1 - ab[t]) "
             "* eps) / np.sqrt(ab[t]), -1, 1); mean = betas[t] * np.sqrt(prev) / (1 - ab[t]) * x0 + (1 - prev) * "
             "np.sqrt(1 - betas[t]) / (1 - ab[t]) * x_t; return mean if t == 0 else mean + np.sqrt((1 - prev) / "
             "(1 - ab[t]) * betas[t]) * z")

    def reference(self, x_t, eps, t, betas, z):
        return _step(x_t, eps, t, betas, z)

    def cases(self):
        rng = np.random.default_rng(13)
        betas = np.linspace(0.01, 0.3, 10)
        shape = (3, 1, 4, 4)
        return [(rng.normal(size=shape), rng.normal(size=shape), t, betas, rng.normal(size=shape))
                for t in (9, 4, 1, 0)]  # the first step from pure noise, middle steps, the last (no noise)

    def near_misses(self):
        return ((lambda *args: _step(*args, clip=False),
                 "x̂0 is not clipped: clip it to [-1, 1], the images' range, before computing the mean"),
                (lambda *args: _step(*args, alpha_power=1.0), "the coefficient of x_t has √α_t, the square root "
                                                              "of α_t = 1 - β_t"),
                (lambda *args: _step(*args, sigma=lambda prev, ab, beta: beta),
                 "σ_t is a standard deviation: take the square root of the variance β̃_t"),
                (lambda *args: _step(*args, sigma=lambda prev, ab, beta: np.sqrt(beta)),
                 "σ_t² = β_t is DDPM's other choice; this exercise asks for the posterior's β̃_t = "
                 "(1 - ᾱ_{t-1}) / (1 - ᾱ_t) β_t"),
                (lambda *args: _step(*args, shift=1), "ᾱ_{t-1} is off by one: it is the product up to step t - 1, "
                                                      "ab[t - 1] (and 1 before the first step)"))


def _step(x_t, eps, t, betas, z, clip=True, alpha_power=0.5, sigma=None, shift=0):
    """The reference DDPM step, with switches for the near misses."""
    ab = np.cumprod(1 - betas)
    prev = ab[t - 1 + shift] if t - 1 + shift >= 0 and t - 1 + shift < len(ab) else 1.0
    x0 = (x_t - np.sqrt(1 - ab[t]) * eps) / np.sqrt(ab[t])
    if clip:
        x0 = np.clip(x0, -1, 1)
    mean = betas[t] * np.sqrt(prev) / (1 - ab[t]) * x0 + (1 - prev) * (1 - betas[t]) ** alpha_power / (1 - ab[t]) * x_t
    if t == 0:
        return mean
    std = np.sqrt((1 - prev) / (1 - ab[t]) * betas[t]) if sigma is None else sigma(prev, ab[t], betas[t])
    return mean + std * z


class FrechetDistance(FunctionQuestion):
    """``frechet_distance(mu_1, cov_1, mu_2, cov_2)``: ‖μ_1 - μ_2‖² + tr(Σ_1 + Σ_2 - 2 (Σ_1 Σ_2)^½), a float.

    The distance between the Gaussians N(μ_1, Σ_1) and N(μ_2, Σ_2) that FID
    fits to two sets of features. (Σ_1 Σ_2)^½ is the matrix square root
    (``scipy.linalg.sqrtm``), of the matrix product; drop the tiny imaginary
    part round-off may leave.
    """

    name, chapter = "q4", "11"
    hints = ("Two terms: the squared distance of the means, np.sum((mu_1 - mu_2) ** 2), and a trace term.",
             "The square root is of the matrix product cov_1 @ cov_2, with scipy.linalg.sqrtm; np.sqrt would take "
             "the root of each entry. Keep only .real of the result.",
             "root = scipy.linalg.sqrtm(cov_1 @ cov_2).real; return float(np.sum((mu_1 - mu_2) ** 2) + "
             "np.trace(cov_1 + cov_2 - 2 * root))")
    rtol = 1e-6
    atol = 1e-8

    def reference(self, mu_1, cov_1, mu_2, cov_2):
        root = np.real(sqrtm(cov_1 @ cov_2))
        return float(np.sum((mu_1 - mu_2) ** 2) + np.trace(cov_1 + cov_2 - 2 * root))

    def cases(self):
        rng = np.random.default_rng(14)

        def covariance(d):
            a = rng.normal(size=(d, d))
            return a @ a.T + 0.1 * np.eye(d)

        found = [(rng.normal(size=d), covariance(d), rng.normal(size=d), covariance(d)) for d in (3, 5)]
        mu, cov = rng.normal(size=4), covariance(4)
        found.append((mu, cov, mu.copy(), cov.copy()))  # the same Gaussian twice: distance 0
        found.append((np.zeros(2), np.diag([1.0, 4.0]), np.ones(2), np.diag([4.0, 1.0])))  # diagonal, by hand 4
        return found

    def near_misses(self):
        def fd(root, factor=2.0, means=True):
            def wrong(mu_1, cov_1, mu_2, cov_2):
                shift = np.sum((mu_1 - mu_2) ** 2) if means else 0.0
                return float(shift + np.trace(cov_1 + cov_2 - factor * root(cov_1, cov_2)))
            return wrong

        product = lambda a, b: np.real(sqrtm(a @ b))  # noqa: E731
        return ((fd(lambda a, b: np.sqrt(np.abs(a @ b))), "np.sqrt takes the root of every entry; the formula "
                                                          "needs the matrix square root, scipy.linalg.sqrtm"),
                (fd(product, factor=1.0), "the cross term is 2 (Σ_1 Σ_2)^½, with the factor 2"),
                (fd(product, means=False), "the distance between the means, ‖μ_1 - μ_2‖², is missing"),
                (lambda m1, c1, m2, c2: float(np.sqrt(fd(product)(m1, c1, m2, c2))),
                 "FID is not square-rooted at the end: it is a squared distance (Fréchet distance²)"),
                (fd(lambda a, b: np.real(sqrtm(a)) @ np.real(sqrtm(b))),
                 "√Σ_1 √Σ_2 equals (Σ_1 Σ_2)^½ only when the two commute; take sqrtm of the product"))


q1 = GANLosses()
q2 = ForwardNoising()
q3 = DDPMStep()
q4 = FrechetDistance()
