"""Chapter 12's experiments: spoken-digit classifiers, a CTC digit-string recogniser, audio-visual fusion under noise.

- Single digits: :func:`clip_arrays` pads the standardised MFCCs of one
  split; :func:`train_classifier` trains a classifier of
  ``mmcourse.torch_models.acoustic`` for a fixed number of steps and
  :func:`accuracy` scores it.
- Digit strings: :func:`train_ctc` trains a ``CTCModel`` with
  ``torch.nn.CTCLoss`` (and :func:`train_ctc_keras` its Keras twin with
  ``keras.ops.ctc_loss``); :func:`greedy_decode` and
  :func:`prefix_beam_search` turn per-frame log-probabilities into digits;
  :func:`edit_distance` and :func:`score` give the sequence exact match
  and the digit error rate.
- Audio-visual: :func:`noise_sweep` trains AV digits classifiers (audio
  alone, image alone, fused, fused with modality dropout) on audio
  degraded at random signal-to-noise ratios, then scores them at each SNR
  of a sweep and with a dead microphone or camera.

Importing this module imports torch; TensorFlow only in the Keras functions.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from mmcourse import env
from mmcourse.data.digit_strings import BLANK, DigitStrings, make_digit_strings, pad_sequences, standardise
from mmcourse.data.spoken_digits import load_spoken_digits

# -- single digits -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Clips:
    """Padded single-digit clips of one split: features (N, T, 13) float32, lengths (N,), labels (N,) int64."""

    features: np.ndarray
    lengths: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


def clip_arrays(split: str) -> Clips:
    """The clips of ``split``, standardised with the training clips' statistics and zero-padded."""
    clips = load_spoken_digits(split)
    features, lengths = pad_sequences([standardise(s) for s in clips.sequences])
    return Clips(features, lengths, clips.labels)


def _tensors(features: np.ndarray, lengths: np.ndarray, index: np.ndarray, device) -> tuple[torch.Tensor, ...]:
    """Rows ``index`` of padded features, cut to their longest length: (B, T_max, 13) and (B,) on ``device``."""
    lengths = lengths[index]
    batch = features[index, :int(lengths.max())]
    return torch.from_numpy(batch).to(device), torch.from_numpy(lengths).to(device)


def _check_steps(steps: int, batch_size: int, n: int | None = None) -> None:
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 1 <= batch_size <= (n or batch_size):
        raise ValueError(f"batch_size must be an int in [1, {n or 'inf'}], got {batch_size!r}")


def train_classifier(model: nn.Module, clips: Clips, steps: int, batch_size: int = 64, lr: float = 3e-3,
                     seed: int = 0, progress: bool = True) -> list[float]:
    """Adam on cross-entropy for ``steps`` random batches of ``clips``, the learning rate decayed from ``lr`` to 0
    along a cosine; returns the loss of every step."""
    _check_steps(steps, batch_size, len(clips))
    device = env.device()
    model.to(device).train()
    rng = np.random.default_rng(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    labels = torch.from_numpy(clips.labels).to(device)
    losses = []
    for _ in tqdm(range(steps), desc="steps", disable=not progress):
        index = rng.choice(len(clips), batch_size, replace=False)
        loss = nn.functional.cross_entropy(model(*_tensors(clips.features, clips.lengths, index, device)),
                                           labels[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
    return losses


@torch.no_grad()
def accuracy(model: nn.Module, clips: Clips, batch_size: int = 300) -> float:
    """Share of ``clips`` whose argmax logit is the digit said."""
    device = env.device()
    model.to(device).eval()
    predictions = [model(*_tensors(clips.features, clips.lengths, np.arange(i, min(i + batch_size, len(clips))),
                                   device)).argmax(dim=1).cpu().numpy() for i in range(0, len(clips), batch_size)]
    return float(np.mean(np.concatenate(predictions) == clips.labels))


# -- CTC: training -----------------------------------------------------------------------------------------


@dataclass
class CTCHistory:
    """The loss of every step, and at every ``eval_every`` steps the greedy scores and the share of blank frames."""

    loss: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    exact_match: list[float] = field(default_factory=list)
    digit_error_rate: list[float] = field(default_factory=list)
    blank_share: list[float] = field(default_factory=list)


def _ctc_batch(data: DigitStrings, device) -> tuple[torch.Tensor, ...]:
    """(features (B, T, 13), lengths (B,), targets (B, S), target lengths (B,)) of every string, on ``device``."""
    return tuple(torch.from_numpy(x).to(device) for x in (data.features, data.lengths, data.targets,
                                                           data.target_lengths))


def _cosine(k: int, steps: int) -> float:
    """The factor of the learning rate after k of ``steps`` steps: (1 + cos(π k / steps)) / 2, from 1 to 0."""
    return 0.5 * (1 + math.cos(math.pi * min(k, steps) / steps))


def training_batch(batch_size: int, seed: int, step: int) -> DigitStrings:
    """Batch ``step`` of a training run with ``seed``: ``batch_size`` fresh strings of training clips."""
    return make_digit_strings("train", batch_size, seed=(seed, step))


def train_ctc(model: nn.Module, steps: int, batch_size: int = 32, lr: float = 3e-3, clip: float = 5.0, seed: int = 0,
              decay: bool = False, eval_data: DigitStrings | None = None, eval_every: int = 50,
              progress: bool = True) -> CTCHistory:
    """Adam on ``CTCLoss(blank=10, zero_infinity=True)`` for ``steps`` batches, gradient norm clipped to ``clip``.

    Every step draws fresh strings of training clips (:func:`training_batch`),
    so the model never sees the same string twice but only ever hears the
    2,100 training clips. With ``decay`` the learning rate falls from ``lr``
    to 0 along a cosine over the ``steps``; without, it stays at ``lr``.
    With ``eval_data`` the greedy exact match, digit error rate and share of
    frames whose argmax is the blank are measured every ``eval_every`` steps
    (a model that has not learned yet outputs blanks only).
    """
    _check_steps(steps, batch_size)
    device = env.device()
    model.to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda k: _cosine(k, steps) if decay else 1.0)
    ctc = nn.CTCLoss(blank=BLANK, zero_infinity=True)  # 'mean': each loss divided by its target length
    history = CTCHistory()
    for step in tqdm(range(1, steps + 1), desc="steps", disable=not progress):
        features, lengths, targets, target_lengths = _ctc_batch(training_batch(batch_size, seed, step), device)
        log_probs = model(features, lengths).log_softmax(dim=-1).transpose(0, 1)  # (T, B, 11): time-major
        loss = ctc(log_probs, targets, lengths, target_lengths)
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        schedule.step()
        history.loss.append(loss.item())
        if eval_data is not None and step % eval_every == 0:
            _record(history, step, ctc_log_probs(model, eval_data), eval_data)
            model.train()
    return history


def _record(history: CTCHistory, step: int, log_probs: list[np.ndarray], data: DigitStrings) -> None:
    """Append the greedy scores on ``data`` and the share of frames whose argmax is the blank to ``history``."""
    scores = score([greedy_decode(lp) for lp in log_probs], data)
    history.eval_steps.append(step)
    history.exact_match.append(scores["exact_match"])
    history.digit_error_rate.append(scores["digit_error_rate"])
    history.blank_share.append(float(np.mean(np.concatenate([lp.argmax(axis=1) for lp in log_probs]) == BLANK)))


@torch.no_grad()
def ctc_log_probs(model: nn.Module, data: DigitStrings, batch_size: int = 250) -> list[np.ndarray]:
    """Per-frame log-probabilities of every string: a list of N arrays (T_i, 11), padding cut off."""
    device = env.device()
    model.to(device).eval()
    out = []
    for start in range(0, len(data), batch_size):
        index = np.arange(start, min(start + batch_size, len(data)))
        features, lengths = _tensors(data.features, data.lengths, index, device)
        log_probs = model(features, lengths).log_softmax(dim=-1).cpu().numpy()  # (B, T_max, 11)
        out += [lp[:n] for lp, n in zip(log_probs, data.lengths[index])]
    return out


def train_ctc_keras(model, steps: int, batch_size: int = 32, lr: float = 3e-3, clip: float = 5.0, seed: int = 0,
                    decay: bool = False, progress: bool = True) -> list[float]:
    """The same recipe as :func:`train_ctc` for the Keras twin, with ``keras.ops.ctc_loss``; returns the step losses.

    ``keras.ops.ctc_loss`` takes batch-major logits and returns one loss per
    string; its blank is ``mask_index`` (default 0: we set 10). Each loss is
    divided by its target length and averaged, which is torch's 'mean'.
    The batches are those of :func:`train_ctc` with the same ``seed``.
    """
    tf = env.import_tensorflow()
    import keras

    _check_steps(steps, batch_size)
    rate = keras.optimizers.schedules.CosineDecay(lr, decay_steps=steps) if decay else lr  # as train_ctc's
    optimizer = keras.optimizers.Adam(rate, global_clipnorm=clip)
    optimizer.build(model.trainable_variables)

    @tf.function(reduce_retracing=True)
    def step(features, lengths, targets, target_lengths):
        with tf.GradientTape() as tape:
            logits = model(features, lengths)  # (B, T, 11)
            losses = keras.ops.ctc_loss(targets, logits, target_lengths, lengths, mask_index=BLANK)  # (B,)
            loss = tf.reduce_mean(losses / tf.cast(target_lengths, losses.dtype))
        optimizer.apply(tape.gradient(loss, model.trainable_variables), model.trainable_variables)
        return loss

    losses = []
    for k in tqdm(range(1, steps + 1), desc="steps", disable=not progress):
        batch = training_batch(batch_size, seed, k)
        losses.append(float(step(batch.features, batch.lengths.astype(np.int32), batch.targets.astype(np.int32),
                                 batch.target_lengths.astype(np.int32))))
    return losses


# -- CTC: decoding and scoring -----------------------------------------------------------------------------


def collapse(path: Sequence[int], blank: int = BLANK) -> list[int]:
    """CTC's collapse rule B: merge runs of the same label, then drop blanks ([1, 1, -, 1, 2, 2] -> [1, 1, 2])."""
    out, previous = [], None
    for label in path:
        if label != previous and label != blank:
            out.append(int(label))
        previous = label
    return out


def greedy_decode(log_probs: np.ndarray, blank: int = BLANK) -> list[int]:
    """Best path decoding: the argmax label of every frame of log_probs (T, C), collapsed."""
    return collapse(np.asarray(log_probs).argmax(axis=1).tolist(), blank)


def _logsumexp(a: float, b: float) -> float:
    """log(e^a + e^b) for Python floats (faster than NumPy's on scalars)."""
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    high, low = (a, b) if a > b else (b, a)
    return high + math.log1p(math.exp(low - high))


def prefix_beam_search(log_probs: np.ndarray, beam_width: int = 8, blank: int = BLANK) -> list[int]:
    """The most probable labelling among ``beam_width`` prefixes kept per frame, from log_probs (T, C).

    Greedy decoding follows the single best *path*; a labelling's
    probability sums over all its paths, which greedy decoding never adds
    up. Prefix beam search keeps, for each candidate prefix, the log
    probability of the frames so far ending in a blank (p_b) and in its last
    label (p_nb), extends every prefix by every label at each frame, and
    keeps the ``beam_width`` most probable. A label equal to the prefix's
    last one extends the prefix only after a blank; without a blank it is
    the same label held longer.
    """
    log_probs = np.asarray(log_probs, dtype=np.float64)
    if log_probs.ndim != 2 or not 0 <= blank < log_probs.shape[1]:
        raise ValueError(f"log_probs must be (T, C) with the blank {blank} among its C labels, got {log_probs.shape}")
    if isinstance(beam_width, bool) or not isinstance(beam_width, int) or beam_width < 1:
        raise ValueError(f"beam_width must be a positive int, got {beam_width!r}")
    beams: dict[tuple[int, ...], tuple[float, float]] = {(): (0.0, -math.inf)}  # prefix -> (log p_b, log p_nb)
    for row in log_probs.tolist():
        grown: dict[tuple[int, ...], list[float]] = {}

        def add(prefix: tuple[int, ...], which: int, value: float) -> None:
            entry = grown.setdefault(prefix, [-math.inf, -math.inf])
            entry[which] = _logsumexp(entry[which], value)

        for prefix, (p_b, p_nb) in beams.items():
            total = _logsumexp(p_b, p_nb)
            add(prefix, 0, total + row[blank])  # a blank: the prefix stays, now ending in a blank
            for label, p in enumerate(row):
                if label == blank:
                    continue
                if prefix and label == prefix[-1]:
                    add(prefix, 1, p_nb + p)  # the last label held: still the same prefix
                    add(prefix + (label,), 1, p_b + p)  # after a blank: the label again
                else:
                    add(prefix + (label,), 1, total + p)
        ranked = sorted(grown.items(), key=lambda item: _logsumexp(*item[1]), reverse=True)
        beams = {prefix: (p_b, p_nb) for prefix, (p_b, p_nb) in ranked[:beam_width]}
    return list(max(beams, key=lambda prefix: _logsumexp(*beams[prefix])))


def edit_distance(a: Sequence[int], b: Sequence[int]) -> int:
    """Levenshtein distance: the fewest insertions, deletions and substitutions that turn ``a`` into ``b``."""
    previous = list(range(len(b) + 1))  # row i - 1 of the table: distances from a[:i - 1] to b[:j]
    for i, x in enumerate(a, start=1):
        current = [i]
        for j, y in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def score(predictions: Sequence[Sequence[int]], data: DigitStrings) -> dict[str, float]:
    """Sequence exact match and digit error rate (summed edit distances / digits said) of one prediction per string."""
    if len(predictions) != len(data):
        raise ValueError(f"need one prediction per string ({len(data)}), got {len(predictions)}")
    references = [data.digits(i) for i in range(len(data))]
    errors = sum(edit_distance(list(p), r) for p, r in zip(predictions, references))
    return {"exact_match": float(np.mean([list(p) == r for p, r in zip(predictions, references)])),
            "digit_error_rate": errors / int(data.target_lengths.sum())}


def evaluate_ctc(model: nn.Module, data: DigitStrings, beam_width: int = 8, progress: bool = False
                 ) -> dict[str, float]:
    """Exact match and digit error rate of greedy decoding and of prefix beam search on ``data``."""
    log_probs = ctc_log_probs(model, data)
    greedy = score([greedy_decode(lp) for lp in log_probs], data)
    beam = score([prefix_beam_search(lp, beam_width) for lp in tqdm(log_probs, desc="beam search",
                                                                    disable=not progress)], data)
    return {f"greedy_{k}": v for k, v in greedy.items()} | {f"beam_{k}": v for k, v in beam.items()}


def plot_ctc_history(history: CTCHistory):
    """Loss per step (left) and, per evaluation, greedy exact match and the share of blank frames (right)."""
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.2))
    left.plot(np.arange(1, len(history.loss) + 1), history.loss, linewidth=0.8)
    left.set_xlabel("step")
    left.set_ylabel("CTC loss (per target digit)")
    right.plot(history.eval_steps, history.blank_share, marker="o", label="frames decoded as blank")
    right.plot(history.eval_steps, history.exact_match, marker="o", label="strings exactly right (greedy)")
    right.set_xlabel("step")
    right.set_ylim(0, 1)
    right.legend(loc="center right")
    fig.tight_layout()
    return fig


def plot_posteriors(log_probs: np.ndarray, digits: Sequence[int]):
    """Per-frame probabilities of the blank and of each digit for one string (T, 11): CTC's spikes."""
    import matplotlib.pyplot as plt

    probs = np.exp(log_probs)
    fig, ax = plt.subplots(figsize=(10, 2.8))
    ax.plot(probs[:, BLANK], color="lightgrey", linewidth=2, label="blank")
    for digit in range(BLANK):
        if probs[:, digit].max() > 0.2:
            ax.plot(probs[:, digit], label=f"digit {digit}")
    ax.set_xlabel("frame")
    ax.set_ylabel("probability")
    ax.set_title(f"said: {' '.join(map(str, digits))}")
    ax.legend(loc="center left", bbox_to_anchor=(1, 0.5), fontsize=8)
    fig.tight_layout()
    return fig


# -- audio-visual digits under noise -----------------------------------------------------------------------


def snr_to_noise_scale(snr_db: float | np.ndarray, signal_power: float = 1.0) -> float | np.ndarray:
    """Standard deviation of Gaussian noise that puts a signal of mean power ``signal_power`` at ``snr_db`` dB.

    SNR = 10 log10(P_signal / P_noise) and P_noise = σ², so σ = sqrt(P_signal / 10^(SNR / 10)).
    Standardised MFCCs have power 1 per coefficient: 0 dB is noise as strong as the signal.
    An array of SNRs gives an array of scales.
    """
    if not signal_power > 0:
        raise ValueError(f"signal_power must be > 0, got {signal_power!r}")
    scale = np.sqrt(signal_power / 10 ** (np.asarray(snr_db, dtype=np.float64) / 10))
    return float(scale) if scale.ndim == 0 else scale


AV_MODELS = ("audio only", "image only", "fused", "fused + modality dropout")
SNRS_DB = (20.0, 10.0, 5.0, 0.0, -5.0, -10.0)


@dataclass(frozen=True)
class AVSweepConfig:
    """The AV data, the noise and the training recipe of :func:`noise_sweep`, with defaults in one place."""

    snrs_db: tuple[float, ...] = SNRS_DB  # the sweep; training draws an SNR uniformly from its range per example
    audio_frames: int = 20  # frames kept per clip (most clips are 10-27 frames)
    image_components: int = 4  # images rebuilt from 4 principal components, as in AV digits
    image_noise: float = 0.5
    steps: int = 150
    batch_size: int = 125
    lr: float = 3e-3
    drop_p: float = 0.3  # modality dropout: each modality zeroed with this probability (never both)
    seed: int = 0


def _av_data(config: AVSweepConfig):
    from mmcourse.data import load_av_digits

    return load_av_digits(seed=config.seed, image_components=config.image_components,
                          image_noise=config.image_noise, audio_frames=config.audio_frames, audio_noise=0.0)


def _keep_masks(model_name: str, batch: int, drop_p: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Which examples keep their image and their audio (B, 1, 1, 1) and (B, 1, 1), as 0/1 floats."""
    from mmcourse.experiments.fusion_bench import modality_dropout_mask

    if model_name == "fused + modality dropout":
        keep = modality_dropout_mask(rng.random((batch, 2)), drop_p)  # (B, 2): never both dropped
    else:
        keep = np.ones((batch, 2), dtype=np.float32)
        keep[:, 0] = model_name != "audio only"
        keep[:, 1] = model_name != "image only"
    return keep[:, 0, None, None, None], keep[:, 1, None, None]


def train_av_model(model_name: str, config: AVSweepConfig = AVSweepConfig(), av=None, progress: bool = True):
    """An ``AVFusionNet`` trained as ``model_name`` (one of :data:`AV_MODELS`) on noisy AV digits audio.

    Every training example gets Gaussian noise at an SNR drawn uniformly
    from the sweep's range, fresh each step; 'audio only' and 'image only'
    see the other modality as zeros, the fused models see both, and
    'fused + modality dropout' loses one of the two (never both) with
    probability ``drop_p`` each.
    """
    from mmcourse.torch_models.av_fusion import AVFusionNet

    if model_name not in AV_MODELS:
        raise ValueError(f"model_name must be one of {AV_MODELS}, got {model_name!r}")
    av = _av_data(config) if av is None else av
    device = env.device()
    rng = np.random.default_rng([config.seed, AV_MODELS.index(model_name)])
    torch.manual_seed(config.seed)
    model = AVFusionNet(audio_shape=(config.audio_frames, 13)).to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    low, high = min(config.snrs_db), max(config.snrs_db)
    for _ in tqdm(range(config.steps), desc=model_name, disable=not progress):
        index = rng.choice(len(av.train), config.batch_size, replace=False)
        scales = snr_to_noise_scale(rng.uniform(low, high, config.batch_size))[:, None, None]  # σ per example
        audio = av.train.audio[index] + scales * rng.standard_normal(av.train.audio[index].shape)
        keep_image, keep_audio = _keep_masks(model_name, config.batch_size, config.drop_p, rng)
        images = torch.from_numpy((av.train.images[index, None] * keep_image).astype(np.float32)).to(device)
        audio = torch.from_numpy((audio * keep_audio).astype(np.float32)).to(device)
        loss = nn.functional.cross_entropy(model(images, audio), torch.from_numpy(av.train.labels[index]).to(device))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


@torch.no_grad()
def av_accuracy(model: nn.Module, images: np.ndarray, audio: np.ndarray, labels: np.ndarray) -> float:
    """Test accuracy of an AVFusionNet on images (N, 28, 28) and audio (N, frames, 13)."""
    device = env.device()
    logits = model(torch.from_numpy(images[:, None].astype(np.float32)).to(device),
                   torch.from_numpy(audio.astype(np.float32)).to(device))
    return float(np.mean(logits.argmax(dim=1).cpu().numpy() == labels))


@dataclass(frozen=True)
class NoiseSweep:
    """Test accuracy per model and SNR (``accuracy[name]`` follows ``snrs_db``) and, for each model,
    with a dead microphone (audio zeros) and a dead camera (image zeros), clean audio."""

    snrs_db: tuple[float, ...]
    accuracy: dict[str, list[float]]
    dead_microphone: dict[str, float]
    dead_camera: dict[str, float]


def noise_sweep(config: AVSweepConfig = AVSweepConfig(), progress: bool = True) -> NoiseSweep:
    """Train every model of :data:`AV_MODELS` and score each at every SNR of the sweep (same noise for all)."""
    av = _av_data(config)
    test = av.test
    noise = np.random.default_rng([config.seed, 99]).standard_normal(test.audio.shape)  # one draw, scaled per SNR
    accuracy, dead_mic, dead_cam = {}, {}, {}
    for name in AV_MODELS:
        model = train_av_model(name, config, av, progress)
        images = np.zeros_like(test.images) if name == "audio only" else test.images
        accuracy[name] = []
        for snr in config.snrs_db:
            audio = test.audio + snr_to_noise_scale(snr) * noise  # (N, frames, 13)
            accuracy[name].append(av_accuracy(model, images, np.zeros_like(audio) if name == "image only" else audio,
                                              test.labels))
        dead_mic[name] = av_accuracy(model, test.images, np.zeros_like(test.audio), test.labels)
        dead_cam[name] = av_accuracy(model, np.zeros_like(test.images), test.audio, test.labels)
    return NoiseSweep(tuple(config.snrs_db), accuracy, dead_mic, dead_cam)


def plot_noise_sweep(sweep: NoiseSweep):
    """Test accuracy (%) against the audio's SNR (dB, falling to the right) for every model; returns the Figure."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    styles = {"audio only": ("tab:green", "o"), "image only": ("tab:orange", "s"), "fused": ("tab:blue", "^"),
              "fused + modality dropout": ("tab:purple", "v")}
    for name, values in sweep.accuracy.items():
        colour, marker = styles[name]
        ax.plot(sweep.snrs_db, 100 * np.asarray(values), color=colour, marker=marker, label=name)
    ax.invert_xaxis()  # noisier to the right
    ax.set_xlabel("audio SNR (dB): noisier to the right")
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 100)
    ax.legend(loc="lower left")
    fig.tight_layout()
    return fig


# -- the course checkpoint ``ctc_digits`` ------------------------------------------------------------------


def test_strings(n: int = 1000, seed: int = 0) -> DigitStrings:
    """The fixed test set of chapter 12 and of ``ctc_digits``: ``n`` strings of test clips only."""
    return make_digit_strings("test", n, seed=seed)


def train_ctc_checkpoint(config: dict, recipe: dict, progress: bool = True) -> nn.Module:
    """A fresh ``CTCModel(**config)`` trained by :func:`train_ctc` with ``recipe`` (steps, batch_size, lr, clip, seed,
    decay)."""
    from mmcourse.torch_models.acoustic import CTCModel

    torch.manual_seed(recipe["seed"])
    model = CTCModel(**config)
    train_ctc(model, recipe["steps"], recipe["batch_size"], recipe["lr"], recipe["clip"], recipe["seed"],
              recipe["decay"], progress=progress)
    return model


def measure_ctc_checkpoint(model: nn.Module, n_test: int, test_seed: int, beam_width: int) -> dict[str, float]:
    """Greedy and beam-search exact match and digit error rate on :func:`test_strings` (``n_test``, ``test_seed``)."""
    return evaluate_ctc(model, test_strings(n_test, test_seed), beam_width)
