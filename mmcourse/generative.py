"""Framework-free pieces of chapter 11's text-to-image models: configs, the DDPM equations, the Fréchet distance.

The torch models (``mmcourse.torch_models.generative``) and their Keras twins
share the configs; the diffusion equations below are written with plain
arithmetic, so the same function runs on NumPy arrays and on torch tensors
(the sampler in ``mmcourse.experiments.generative`` calls them)::

    forward noising   q(x_t | x_0) = N(√ᾱ_t x_0, (1 - ᾱ_t) I)            x_t = √ᾱ_t x_0 + √(1 - ᾱ_t) ε
    predicted x_0     x̂_0 = (x_t - √(1 - ᾱ_t) ε̂) / √ᾱ_t, clipped to [-1, 1]
    one step back     x_{t-1} = μ̃_t(x̂_0, x_t) + σ_t z,  μ̃_t = β_t √ᾱ_{t-1} / (1 - ᾱ_t) x̂_0
                                                          + (1 - ᾱ_{t-1}) √α_t / (1 - ᾱ_t) x_t,
                      σ_t² = β̃_t = (1 - ᾱ_{t-1}) / (1 - ᾱ_t) β_t, and no noise at t = 0
    guidance          ε̃ = (1 + w) ε̂(x_t, caption) - w ε̂(x_t, empty caption)

with α_t = 1 - β_t and ᾱ_t = α_1 ⋯ α_t; steps are numbered 0 .. T - 1 here
(step 0 is the last one, as the sampler counts down).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


TARGETS = ("noise", "x0")


def _positive_int(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def _check_image(channels: int, image_size: int) -> None:
    _positive_int("channels", channels)
    _positive_int("image_size", image_size)
    if image_size % 4:
        raise ValueError(f"image_size must be a multiple of 4 (two 2x up-samplings), got {image_size}")


@dataclass(frozen=True)
class GANConfig:
    """A conditional GAN: captions of ``vocab_size`` words -> images (channels, image_size, image_size).

    The generator maps noise (z_dim) and the caption vector (word_dim) to a
    (2 width, s, s) map, s = image_size / 4, then up-samples twice with
    transposed convolutions; the discriminator mirrors it with strided convolutions.
    """

    vocab_size: int
    channels: int = 1
    image_size: int = 16
    word_dim: int = 32
    z_dim: int = 32
    width: int = 32

    def __post_init__(self):
        for name in ("vocab_size", "word_dim", "z_dim", "width"):
            _positive_int(name, getattr(self, name))
        _check_image(self.channels, self.image_size)


@dataclass(frozen=True)
class DenoiserConfig:
    """A DDPM denoiser: (noisy image, step t, caption) -> the predicted noise or clean image, an MLP of residual blocks.

    ``target`` is what the network predicts: "noise" (DDPM's ε) or "x0"
    (the clean image; the same model, since ε̂ = (x_t - √ᾱ_t x̂_0) / √(1 - ᾱ_t),
    but an MLP narrower than the image cannot carry the noise through its
    ``width`` units, and can carry a clean image of a small data set).
    """

    vocab_size: int
    channels: int = 1
    image_size: int = 16
    word_dim: int = 32
    width: int = 256
    n_blocks: int = 3
    target: str = "noise"

    def __post_init__(self):
        for name in ("vocab_size", "word_dim", "width", "n_blocks"):
            _positive_int(name, getattr(self, name))
        _check_image(self.channels, self.image_size)
        if self.target not in TARGETS:
            raise ValueError(f"target must be one of {TARGETS}, got {self.target!r}")
        if self.width % 2:
            raise ValueError(f"width must be even (the sinusoidal time embedding pairs sines and cosines), "
                             f"got {self.width}")


@dataclass(frozen=True)
class Schedule:
    """A noise schedule of T steps: betas, alphas = 1 - betas, alpha_bar (cumulative products), all (T,) float64."""

    betas: np.ndarray

    @property
    def T(self) -> int:
        return len(self.betas)

    @property
    def alphas(self) -> np.ndarray:
        return 1.0 - self.betas

    @property
    def alpha_bar(self) -> np.ndarray:
        return np.cumprod(self.alphas)

    @property
    def alpha_bar_prev(self) -> np.ndarray:
        """ᾱ_{t-1}, with ᾱ before the first step = 1."""
        return np.concatenate([[1.0], self.alpha_bar[:-1]])


def cosine_schedule(T: int = 100, s: float = 0.008, max_beta: float = 0.999) -> Schedule:
    """Nichol & Dhariwal's cosine schedule: ᾱ(t) ∝ cos²((t/T + s) / (1 + s) · π/2), betas capped at max_beta."""
    _positive_int("T", T)
    f = np.cos((np.arange(T + 1) / T + s) / (1 + s) * np.pi / 2) ** 2  # (T + 1,)
    return Schedule(np.minimum(1 - f[1:] / f[:-1], max_beta))


def linear_schedule(T: int = 100, beta_1: float = 1e-4, beta_T: float = 0.02) -> Schedule:
    """Ho et al.'s linear schedule: betas evenly spaced from beta_1 to beta_T (their values are for T = 1000)."""
    _positive_int("T", T)
    return Schedule(np.linspace(beta_1, beta_T, T))


def q_sample(x0, noise, alpha_bar_t):
    """x_t = √ᾱ_t x_0 + √(1 - ᾱ_t) ε: x0 and noise (B, ...), alpha_bar_t a float or broadcastable, e.g. (B, 1, 1, 1)."""
    return alpha_bar_t ** 0.5 * x0 + (1 - alpha_bar_t) ** 0.5 * noise


def predict_x0(x_t, eps, alpha_bar_t):
    """The clean image the predicted noise implies: x̂_0 = (x_t - √(1 - ᾱ_t) ε̂) / √ᾱ_t."""
    return (x_t - (1 - alpha_bar_t) ** 0.5 * eps) / alpha_bar_t ** 0.5


def guided_noise(eps_cond, eps_uncond, w: float):
    """Classifier-free guidance: (1 + w) ε̂(x_t, caption) - w ε̂(x_t, empty); w = 0 is the plain conditional model."""
    return (1 + w) * eps_cond - w * eps_uncond


def _check_step(t, schedule: Schedule) -> None:
    if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or not 0 <= t < schedule.T:
        raise ValueError(f"t must be an int in [0, T = {schedule.T}), got {t!r}")


def posterior_step(x_t, x0, t: int, schedule: Schedule, noise, clip: bool = True):
    """One ancestral step x_t -> x_{t-1} ~ q(x_{t-1} | x_t, x̂_0) from a predicted clean image x0 (module docstring).

    x_t, x0 and noise share one shape (NumPy arrays or torch tensors); t is
    the step, 0 <= t < T, the same for the whole batch. With ``clip`` x0 is
    clipped to [-1, 1], the data's range, before it is used.
    """
    _check_step(t, schedule)
    beta, alpha = float(schedule.betas[t]), float(schedule.alphas[t])
    ab, ab_prev = float(schedule.alpha_bar[t]), float(schedule.alpha_bar_prev[t])
    if clip:
        x0 = x0.clip(-1, 1)
    mean = beta * ab_prev ** 0.5 / (1 - ab) * x0 + (1 - ab_prev) * alpha ** 0.5 / (1 - ab) * x_t
    if t == 0:
        return mean
    return mean + ((1 - ab_prev) / (1 - ab) * beta) ** 0.5 * noise


def ddpm_step(x_t, eps, t: int, schedule: Schedule, noise, clip: bool = True):
    """One ancestral step x_t -> x_{t-1} from the predicted noise eps: ``posterior_step`` of its x̂_0."""
    _check_step(t, schedule)
    return posterior_step(x_t, predict_x0(x_t, eps, float(schedule.alpha_bar[t])), t, schedule, noise, clip)


def frechet_distance(mu_1: np.ndarray, cov_1: np.ndarray, mu_2: np.ndarray, cov_2: np.ndarray) -> float:
    """‖μ_1 - μ_2‖² + tr(Σ_1 + Σ_2 - 2 (Σ_1 Σ_2)^½): the Fréchet distance of two Gaussians (FID's formula)."""
    import warnings

    from scipy.linalg import LinAlgWarning, sqrtm

    mu_1, mu_2 = np.asarray(mu_1, dtype=np.float64), np.asarray(mu_2, dtype=np.float64)
    cov_1, cov_2 = np.atleast_2d(cov_1).astype(np.float64), np.atleast_2d(cov_2).astype(np.float64)
    d = len(mu_1)
    if mu_1.shape != mu_2.shape or mu_1.ndim != 1 or cov_1.shape != (d, d) or cov_2.shape != (d, d):
        raise ValueError(f"mu_1, mu_2 must be (d,) and cov_1, cov_2 (d, d) for one d, got {mu_1.shape}, "
                         f"{mu_2.shape}, {cov_1.shape}, {cov_2.shape}")
    with warnings.catch_warnings():  # a feature that is always 0 makes Σ singular: its root is still fine
        warnings.simplefilter("ignore", LinAlgWarning)
        root = sqrtm(cov_1 @ cov_2)
    root = root.real if np.iscomplexobj(root) else root  # tiny imaginary parts from round-off
    return float(np.sum((mu_1 - mu_2) ** 2) + np.trace(cov_1 + cov_2 - 2 * root))


def frechet_of_features(real: np.ndarray, generated: np.ndarray) -> float:
    """The Fréchet distance of Gaussians fitted to two feature sets (N, d) and (M, d): mean and covariance each."""
    real, generated = np.asarray(real, dtype=np.float64), np.asarray(generated, dtype=np.float64)
    if real.ndim != 2 or generated.ndim != 2 or real.shape[1] != generated.shape[1] or min(len(real),
                                                                                           len(generated)) < 2:
        raise ValueError(f"real and generated must be (N, d) and (M, d) with N, M >= 2, got {real.shape} and "
                         f"{generated.shape}")
    return frechet_distance(real.mean(0), np.cov(real, rowvar=False), generated.mean(0),
                            np.cov(generated, rowvar=False))
