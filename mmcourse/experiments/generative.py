"""Chapter 11's training side: a conditional GAN and a guided DDPM, trained on captions, scored by a judge.

- :func:`train_judge` trains a small CNN (:class:`~mmcourse.torch_models.generative.Judge`)
  on real images, with noise added, to tell every attribute a caption
  names (the digit; colour, shape, size, position). It is the instrument:
  :func:`consistency` is the fraction of generated images in which the judge
  sees what the caption asked for, :func:`judge_features` its 64-d features
  for the Fréchet distance (FID's formula in a feature space fitted to our
  data) and for :func:`diversity` (mean distance between two images drawn
  for the same caption: near 0 is mode collapse).
- :func:`train_gan`: the non-saturating GAN losses, Adam(2e-4, β1 = 0.5);
  :func:`train_gan_keras` and :func:`sample_gan_keras` do the same for the Keras twins.
- :func:`train_diffusion`: DDPM's noise-prediction loss (or the clean
  image's, for a denoiser whose target is "x0"), captions replaced by the
  empty caption with probability ``p_uncond`` (classifier-free guidance
  learns both models in one network), an EMA copy for sampling.
- :func:`sample_gan` and :func:`sample_diffusion` (ancestral sampling, x̂_0
  clipped, guidance ``w``) draw images for caption ids; :func:`evaluate`
  draws the fixed evaluation captions of a data set and scores them;
  :func:`guidance_sweep` does it for several w.
- :func:`course_judge`, :func:`train_checkpoint` and :func:`measure_checkpoint`
  serve the course checkpoints (``python -m mmcourse pretrain gan_digits`` etc.).

Fixed step counts, seeded; models train on ``mmcourse.env.device()``.
Importing this module imports torch.
"""
from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch.nn import functional as F
from tqdm.auto import tqdm

from mmcourse import env
from mmcourse.data.text_to_image import CaptionedImages, load_captioned
from mmcourse.generative import (DenoiserConfig, GANConfig, Schedule, cosine_schedule, ddpm_step, frechet_of_features,
                                 guided_noise, posterior_step, q_sample)
from mmcourse.text import Vocabulary
from mmcourse.torch_models.generative import Denoiser, Discriminator, Generator, Judge

GUIDANCE = (0.0, 1.0, 2.0, 4.0)  # the sweep's w
EVAL_PER_CAPTION = {"digits": 30, "shapes": 4}  # samples per evaluation caption: 300 digits, 384 scenes


def _check_positive(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def empty_caption(n: int, max_len: int) -> torch.Tensor:
    """n empty captions (n, max_len): the single word <unk> (id 1), which no real caption holds."""
    ids = torch.zeros(n, max_len, dtype=torch.long)
    ids[:, 0] = Vocabulary.UNK_ID
    return ids


def _noisy(x: torch.Tensor, noise: float, generator: torch.Generator) -> torch.Tensor:
    """x plus Gaussian noise of a random strength in [0, noise] per image."""
    sigma = noise * torch.rand(len(x), 1, 1, 1, generator=generator)  # (B, 1, 1, 1)
    return x + sigma * torch.randn(x.shape, generator=generator)


def train_judge(data: CaptionedImages, steps: int = 200, batch_size: int = 64, lr: float = 2e-3,
                noise: float = 0.3, seed: int = 0, progress: bool = True) -> Judge:
    """A Judge trained on data's real images, noise of strength up to ``noise`` added; a loss per attribute."""
    _check_positive("steps", steps)
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    _, c, size, _ = data.images.shape
    judge = Judge(c, size, tuple(len(v) for v in data.attributes.values()))
    device = env.device()
    judge.to(device).train()
    images = torch.as_tensor(data.images)
    labels = torch.stack([torch.as_tensor(data.labels[k]) for k in data.attributes], dim=1)  # (N, A)
    optimizer = torch.optim.Adam(judge.parameters(), lr=lr)
    for _ in tqdm(range(steps), desc="judge", unit="step", disable=not progress):
        batch = torch.randint(len(images), (batch_size,), generator=generator)
        logits = judge(_noisy(images[batch], noise, generator).to(device))  # (B, sum n)
        loss = sum(F.cross_entropy(part, labels[batch, a].to(device))
                   for a, part in enumerate(logits.split(judge.n_classes, dim=1)))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return judge.eval()


@torch.no_grad()
def judge_predictions(judge: Judge, images: np.ndarray, attributes: Sequence[str]) -> dict[str, np.ndarray]:
    """{attribute: the judge's class (N,) int64} for images (N, C, H, W) in [-1, 1]."""
    device = next(judge.parameters()).device
    logits = judge(torch.as_tensor(images, dtype=torch.float32).to(device)).cpu()
    return {name: part.argmax(1).numpy() for name, part in zip(attributes, logits.split(judge.n_classes, dim=1))}


def consistency(judge: Judge, images: np.ndarray, labels: dict[str, np.ndarray]) -> dict[str, float]:
    """{attribute: the fraction of images (N, C, H, W) whose judged class is the one the caption asked for}."""
    predicted = judge_predictions(judge, images, list(labels))
    return {name: float(np.mean(predicted[name] == labels[name])) for name in labels}


@torch.no_grad()
def judge_features(judge: Judge, images: np.ndarray) -> np.ndarray:
    """The judge's 64-d features (N, 64) of images (N, C, H, W)."""
    device = next(judge.parameters()).device
    return judge.features(torch.as_tensor(images, dtype=torch.float32).to(device)).cpu().numpy()


def diversity(features: np.ndarray, groups: np.ndarray) -> float:
    """Mean Euclidean distance between two different rows of ``features`` (N, d) in the same group, over groups.

    Groups are the captions: images drawn for one caption should differ
    (handwriting), unless the model has collapsed to one mode (then 0).
    """
    groups = np.asarray(groups)
    if len(features) != len(groups):
        raise ValueError(f"features and groups must have one row per image, got {len(features)} and {len(groups)}")
    means = []
    for g in np.unique(groups):
        f = features[groups == g]  # (n, d)
        if len(f) >= 2:
            d = np.sqrt(((f[:, None] - f[None]) ** 2).sum(-1))  # (n, n)
            means.append(d.sum() / (len(f) * (len(f) - 1)))
    return float(np.mean(means))


def _ids(data: CaptionedImages) -> torch.Tensor:
    return torch.as_tensor(data.encode())


def train_gan(generator: Generator, discriminator: Discriminator, data: CaptionedImages, steps: int,
              batch_size: int = 64, lr: float = 2e-4, seed: int = 0, progress: bool = True) -> dict[str, list[float]]:
    """Train a conditional GAN on data's (image, caption) pairs; returns {"d_loss": [...], "g_loss": [...]}.

    Per step: the discriminator learns real pairs -> 1 and (G(z, caption),
    caption) -> 0; then the generator learns to make D call its images
    real (the non-saturating loss -log D(G(z))). Both use Adam(lr, β = (0.5, 0.999)).
    """
    _check_positive("steps", steps)
    torch.manual_seed(seed)
    rng = torch.Generator().manual_seed(seed)
    device = env.device()
    generator.to(device).train()
    discriminator.to(device).train()
    images, ids = torch.as_tensor(data.images), _ids(data)
    opt_g = torch.optim.Adam(generator.parameters(), lr=lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=lr, betas=(0.5, 0.999))
    history = {"d_loss": [], "g_loss": []}
    bar = tqdm(range(steps), desc="GAN", unit="step", disable=not progress)
    for _ in bar:
        batch = torch.randint(len(images), (batch_size,), generator=rng)
        real, caption = images[batch].to(device), ids[batch].to(device)
        z = torch.randn(batch_size, generator.config.z_dim, generator=rng).to(device)
        fake = generator(z, caption)  # (B, C, H, W)
        real_logits, fake_logits = discriminator(real, caption), discriminator(fake.detach(), caption)
        d_loss = (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
                  + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        fooled = discriminator(fake, caption)
        g_loss = F.binary_cross_entropy_with_logits(fooled, torch.ones_like(fooled))
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        history["d_loss"].append(d_loss.item())
        history["g_loss"].append(g_loss.item())
        bar.set_postfix(d=f"{d_loss.item():.2f}", g=f"{g_loss.item():.2f}")
    generator.eval()
    discriminator.eval()
    return history


@torch.no_grad()
def sample_gan(generator: Generator, ids: np.ndarray | torch.Tensor, seed: int = 0,
               batch_size: int = 500) -> np.ndarray:
    """Images (N, C, H, W) in [-1, 1] the generator draws for caption ids (N, L), from seeded noise."""
    generator.eval()
    device = next(generator.parameters()).device
    ids = torch.as_tensor(ids)
    z = torch.randn(len(ids), generator.config.z_dim, generator=torch.Generator().manual_seed(seed))
    return torch.cat([generator(z[i:i + batch_size].to(device), ids[i:i + batch_size].to(device)).cpu()
                      for i in range(0, len(ids), batch_size)]).numpy()


def train_gan_keras(generator, discriminator, data: CaptionedImages, steps: int, batch_size: int = 64,
                    lr: float = 2e-4, seed: int = 0, progress: bool = True) -> dict[str, list[float]]:
    """``train_gan`` for the Keras twins (``mmcourse.keras_models.generative``): the same losses, optimiser and
    batches drawn the same way (from NumPy's generator, so not the torch run's batches)."""
    from mmcourse.env import import_tensorflow

    _check_positive("steps", steps)
    tf = import_tensorflow()
    import keras

    images, ids = data.images.transpose(0, 2, 3, 1), data.encode()  # channels last
    rng = np.random.default_rng(seed)
    opt_g, opt_d = (keras.optimizers.Adam(lr, beta_1=0.5, beta_2=0.999) for _ in range(2))
    bce = keras.losses.BinaryCrossentropy(from_logits=True)

    @tf.function
    def step(real, caption, z):
        with tf.GradientTape() as tape:
            fake = generator((z, caption), training=True)
            real_logits, fake_logits = discriminator((real, caption)), discriminator((fake, caption))
            d_loss = bce(tf.ones_like(real_logits), real_logits) + bce(tf.zeros_like(fake_logits), fake_logits)
        opt_d.apply_gradients(zip(tape.gradient(d_loss, discriminator.trainable_variables),
                                  discriminator.trainable_variables))
        with tf.GradientTape() as tape:
            fooled = discriminator((generator((z, caption), training=True), caption))
            g_loss = bce(tf.ones_like(fooled), fooled)
        opt_g.apply_gradients(zip(tape.gradient(g_loss, generator.trainable_variables), generator.trainable_variables))
        return d_loss, g_loss

    history = {"d_loss": [], "g_loss": []}
    for _ in tqdm(range(steps), desc="GAN (Keras)", unit="step", disable=not progress):
        batch = rng.integers(len(images), size=batch_size)
        z = rng.normal(size=(batch_size, generator.config.z_dim)).astype(np.float32)
        d_loss, g_loss = step(images[batch], ids[batch], z)
        history["d_loss"].append(float(d_loss))
        history["g_loss"].append(float(g_loss))
    return history


def sample_gan_keras(generator, ids: np.ndarray, seed: int = 0) -> np.ndarray:
    """``sample_gan`` for a Keras generator: images (N, C, H, W) in [-1, 1] (channels first, for the judge)."""
    z = torch.randn(len(ids), generator.config.z_dim, generator=torch.Generator().manual_seed(seed)).numpy()
    return np.asarray(generator((z, np.asarray(ids)))).transpose(0, 3, 1, 2)


def _alpha_bar(schedule: Schedule) -> torch.Tensor:
    return torch.as_tensor(schedule.alpha_bar, dtype=torch.float32)


def train_diffusion(denoiser: Denoiser, data: CaptionedImages, steps: int, schedule: Schedule | None = None,
                    batch_size: int = 128, lr: float = 2e-3, p_uncond: float = 0.1, ema: float = 0.995,
                    seed: int = 0, progress: bool = True) -> tuple[Denoiser, list[float]]:
    """Train ``denoiser`` to predict the noise in x_t = √ᾱ_t x_0 + √(1 - ᾱ_t) ε; returns (its EMA copy, losses).

    Each step draws images, steps t uniform in [0, T) and noise ε, replaces
    a fraction ``p_uncond`` of the captions by the empty one, and minimises
    ‖ε - ε̂(x_t, t, caption)‖² (the mean over pixels), or ‖x_0 - x̂_0‖² for
    a denoiser whose ``config.target`` is "x0". The EMA copy
    (θ_ema <- ema θ_ema + (1 - ema) θ after every step) is what samples.
    """
    _check_positive("steps", steps)
    if not 0 <= p_uncond < 1 or not 0 <= ema < 1:
        raise ValueError(f"p_uncond and ema must be in [0, 1), got {p_uncond} and {ema}")
    schedule = schedule or cosine_schedule()
    torch.manual_seed(seed)
    rng = torch.Generator().manual_seed(seed)
    device = env.device()
    denoiser.to(device).train()
    averaged = copy.deepcopy(denoiser).eval()
    images, ids = torch.as_tensor(data.images), _ids(data)
    empty, alpha_bar = empty_caption(batch_size, ids.shape[1]), _alpha_bar(schedule)
    optimizer = torch.optim.Adam(denoiser.parameters(), lr=lr)
    losses = []
    bar = tqdm(range(steps), desc="DDPM", unit="step", disable=not progress)
    for _ in bar:
        batch = torch.randint(len(images), (batch_size,), generator=rng)
        t = torch.randint(schedule.T, (batch_size,), generator=rng)  # (B,)
        noise = torch.randn(images[batch].shape, generator=rng)  # (B, C, H, W)
        x_t = q_sample(images[batch], noise, alpha_bar[t].reshape(-1, 1, 1, 1))
        drop = (torch.rand(batch_size, generator=rng) < p_uncond)[:, None]  # (B, 1)
        caption = torch.where(drop, empty, ids[batch])  # (B, L)
        target = noise if denoiser.config.target == "noise" else images[batch]  # (B, C, H, W)
        loss = F.mse_loss(denoiser(x_t.to(device), t.to(device), caption.to(device)), target.to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            for p_avg, p in zip(averaged.parameters(), denoiser.parameters()):
                p_avg.lerp_(p, 1 - ema)
        losses.append(loss.item())
        bar.set_postfix(loss=f"{losses[-1]:.3f}")
    denoiser.eval()
    return averaged, losses


@torch.no_grad()
def sample_diffusion(denoiser: Denoiser, ids: np.ndarray | torch.Tensor, guidance: float = 2.0,
                     schedule: Schedule | None = None, seed: int = 0, clip: bool = True,
                     progress: bool = False) -> np.ndarray:
    """Images (N, C, H, W) drawn by ancestral sampling for caption ids (N, L), from x_{T-1} ~ N(0, I) down to x_0.

    With ``guidance`` w != 0 every step runs the caption and the empty
    caption in one batch and mixes the two noise predictions (``guided_noise``).
    """
    schedule = schedule or cosine_schedule()
    denoiser.eval()
    device = next(denoiser.parameters()).device
    ids = torch.as_tensor(ids).to(device)
    rng = torch.Generator().manual_seed(seed)
    c, size = denoiser.config.channels, denoiser.config.image_size
    x = torch.randn(len(ids), c, size, size, generator=rng).to(device)  # (N, C, H, W)
    both = torch.cat([ids, empty_caption(len(ids), ids.shape[1]).to(device)]) if guidance else ids  # (2N or N, L)
    for t in tqdm(range(schedule.T - 1, -1, -1), desc="sampling", unit="step", disable=not progress):
        steps = torch.full((len(both),), t, dtype=torch.long, device=device)
        out = denoiser(x.repeat(2, 1, 1, 1) if guidance else x, steps, both)  # ε̂ or x̂_0
        if guidance:
            out = guided_noise(*out.chunk(2), guidance)  # the same mix for x̂_0: ε̂ is affine in x̂_0
        step = ddpm_step if denoiser.config.target == "noise" else posterior_step
        x = step(x, out, t, schedule, torch.randn(x.shape, generator=rng).to(device), clip)
    return x.cpu().numpy()


def evaluation_captions(name: str) -> CaptionedImages:
    """The captions (and the labels they ask for) every model of data set ``name`` is scored on.

    Digits: each word ``EVAL_PER_CAPTION['digits']`` times (300); shapes:
    each of the 96 one-object captions 4 times (384), the 32 held-out ones included.
    """
    data = load_captioned(name, "test" if name == "digits" else "all")
    if name == "digits":
        index = np.concatenate([np.flatnonzero(data.labels["digit"] == d)[:EVAL_PER_CAPTION[name]]
                                for d in range(10)])
    else:
        index = np.repeat(np.arange(len(data)), EVAL_PER_CAPTION[name])
    return data.subset(index)


def real_reference(name: str) -> CaptionedImages:
    """The real images generated ones are compared with: 1,000 test digits, or the 96 one-object scenes."""
    return load_captioned(name, "test" if name == "digits" else "all")


def evaluate(images: np.ndarray, name: str, judge: Judge) -> dict[str, float]:
    """Score images (N, C, H, W) generated for ``evaluation_captions(name)``, in that order.

    Returns the consistency per attribute (for shapes also ``held_out_*``:
    on the 32 captions of held-out colour–shape combinations only), the
    Fréchet distance of the judge's features to the real reference images
    (``frechet``) and the mean within-caption distance (``diversity``).
    """
    wanted = evaluation_captions(name)
    if images.shape != (len(wanted), *wanted.images.shape[1:]):
        raise ValueError(f"images must be {(len(wanted), *wanted.images.shape[1:])}, one per evaluation caption, "
                         f"got {images.shape}")
    scores = consistency(judge, images, wanted.labels)
    if name == "shapes":
        held = np.isin(wanted.captions, load_captioned("shapes", "held_out").captions)
        scores |= {f"held_out_{k}": v for k, v in consistency(judge, images[held],
                                                              {k: v[held] for k, v in wanted.labels.items()}).items()}
    features = judge_features(judge, images)
    scores["frechet"] = frechet_of_features(judge_features(judge, real_reference(name).images), features)
    scores["diversity"] = diversity(features, np.array(wanted.captions))
    return scores


def real_scores(name: str, judge: Judge) -> dict[str, float]:
    """The same scores for real images: digits the 500 evaluation digits themselves (a floor for the Fréchet
    distance from another sample of real digits), shapes the real scene of each caption."""
    return evaluate(evaluation_captions(name).images, name, judge)


def guidance_sweep(denoiser: Denoiser, name: str, judge: Judge, ws: Sequence[float] = GUIDANCE,
                   schedule: Schedule | None = None, seed: int = 0, progress: bool = True) -> list[dict[str, float]]:
    """``evaluate`` of the samples at each guidance w; each dict also holds ``"w"``."""
    ids = evaluation_captions(name).encode()
    return [{"w": float(w)} | evaluate(sample_diffusion(denoiser, ids, w, schedule, seed), name, judge)
            for w in tqdm(ws, desc="guidance", disable=not progress)]


def sampler(model, **kwargs) -> Callable[[np.ndarray], np.ndarray]:
    """ids (N, L) -> images: ``sample_gan`` for a Generator, ``sample_diffusion`` (with kwargs) for a Denoiser."""
    if isinstance(model, Generator):
        return lambda ids: sample_gan(model, ids, **kwargs)
    if isinstance(model, Denoiser):
        return lambda ids: sample_diffusion(model, ids, **kwargs)
    raise ValueError(f"model must be a Generator or a Denoiser, got {type(model).__name__}")


def to_pictures(images: np.ndarray) -> np.ndarray:
    """Images (N, C, H, W) in [-1, 1] -> (N, H, W, C) in [0, 1] for ``mmcourse.plots.image_grid``."""
    return np.clip((images.transpose(0, 2, 3, 1) + 1) / 2, 0, 1)


JUDGE_RECIPE = {"steps": 200, "batch_size": 64, "lr": 2e-3, "noise": 0.3, "seed": 0}


@functools.lru_cache(maxsize=2)
def course_judge(name: str, progress: bool = False) -> Judge:
    """The judge every chapter-11 figure uses for data set ``name``: trained by ``JUDGE_RECIPE`` on real
    images (the 3,500 training digits, or all 96 one-object scenes: the judge is the instrument, not the model
    under test); cached, so it is trained once per session."""
    return train_judge(load_captioned(name, "train" if name == "digits" else "all"), progress=progress,
                       **JUDGE_RECIPE)


def build_model(kind: str, config: dict) -> Generator | Denoiser:
    """A fresh Generator ('gan') or Denoiser ('ddpm') from a checkpoint's config dict."""
    if kind == "gan":
        return Generator(GANConfig(**config))
    if kind == "ddpm":
        return Denoiser(DenoiserConfig(**config))
    raise ValueError(f"kind must be 'gan' or 'ddpm', got {kind!r}")


def train_checkpoint(kind: str, config: dict, recipe: dict, progress: bool = True) -> Generator | Denoiser:
    """Train a course checkpoint's model by its recipe (``recipe["data"]`` names the data set); returns the model
    that samples: the generator, or the denoiser's EMA copy."""
    recipe = dict(recipe)
    data, seed = load_captioned(recipe.pop("data"), "train"), recipe.pop("seed")
    torch.manual_seed(seed)
    model = build_model(kind, config)
    if kind == "gan":
        discriminator = Discriminator(GANConfig(**config))
        train_gan(model, discriminator, data, seed=seed, progress=progress, **recipe)
        return model
    schedule = cosine_schedule(recipe.pop("T"))
    return train_diffusion(model, data, schedule=schedule, seed=seed, progress=progress, **recipe)[0]


def measure_checkpoint(model: Generator | Denoiser, name: str, guidance: float = 2.0, T: int = 100) -> dict[str, float]:
    """``evaluate`` of the model's samples (seed 0) for the evaluation captions of data set ``name``, by its judge."""
    ids = evaluation_captions(name).encode()
    kwargs = {"guidance": guidance, "schedule": cosine_schedule(T)} if isinstance(model, Denoiser) else {}
    return evaluate(sampler(model, seed=0, **kwargs)(ids), name, course_judge(name))


def plot_guidance(sweep: Sequence[dict[str, float]], attribute: str = "digit"):
    """Consistency of ``attribute`` against diversity, one point per guidance w of ``guidance_sweep``; a Figure."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 3.4))
    xs, ys = [r["diversity"] for r in sweep], [r[attribute] for r in sweep]
    ax.plot(xs, ys, "o-")
    for r, x, y in zip(sweep, xs, ys):
        ax.annotate(f"w = {r['w']:g}", (x, y), textcoords="offset points", xytext=(6, -10))
    ax.set_xlabel("diversity (mean distance within a caption)")
    ax.set_ylabel(f"{attribute} consistency")
    ax.set_title("classifier-free guidance: consistency vs diversity")
    fig.tight_layout()
    return fig


def noising_strip(image: np.ndarray, steps: Sequence[int], schedule: Schedule | None = None,
                  seed: int = 0) -> np.ndarray:
    """One image (C, H, W) noised to each t of ``steps`` by q(x_t | x_0): (len(steps), C, H, W), clipped to [-1, 1]."""
    schedule = schedule or cosine_schedule()
    noise = np.random.default_rng(seed).normal(size=image.shape)
    return np.stack([q_sample(image, noise, schedule.alpha_bar[t]) for t in steps]).clip(-1, 1)
