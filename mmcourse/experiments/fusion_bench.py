"""The fusion benchmark of chapter 06: every fusion operator on AV digits, in PyTorch and Keras, over seeds.

Done as MultiBench does for its fusion comparisons, but cheaper:

1. per seed and framework, train a unimodal encoder per modality with its
   own linear head (an image CNN, a GRU over the MFCC frames); their test
   accuracies are the single-modality baselines;
2. freeze them and compute their features once: (N, 32) per modality;
3. train only a small fusion head per method on those features
   (``FusionClassifier``: fusion operator + linear head, or ``LateFusion``).

Step 3 costs a fraction of a second per method, which is what lets eight
methods x two frameworks x three seeds run in about a minute on a CPU.
``missing_modalities`` then trains the torch heads with and without
modality dropout and scores them with the image or the audio removed.

Importing this module imports torch; TensorFlow is imported the first time
a Keras model is trained.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from mmcourse import env
from mmcourse.data import AVDigits, load_av_digits
from mmcourse.torch_models import fusion as torch_fusion
from mmcourse.train import predict, train

FRAMEWORKS = ("torch", "keras")
MODALITIES = ("image", "audio")
METHODS = ("concat", "weighted_sum", "late_sum_logits", "late_mean_probs", "gated", "tensor", "low_rank",
           "cross_attention")
CONDITIONS = ("both", "image only", "audio only")


@dataclass(frozen=True)
class BenchConfig:
    """Every size and training setting of the benchmark, with its default, in one place."""

    image_units: int = 32  # image feature width
    audio_units: int = 32  # audio feature width
    fusion_dim: int = 32  # out_dim of the fusion operators (LateFusion: the number of classes)
    rank: int = 4  # LowRankFusion
    n_tokens: int = 4  # CrossAttentionFusion
    d_model: int = 16
    n_heads: int = 2
    image_epochs: int = 3
    audio_epochs: int = 6
    encoder_batch_size: int = 125  # divides the 3,500 training pairs: no odd last batch to retrace for
    encoder_lr: float = 3e-3
    head_epochs: int = 10
    head_batch_size: int = 250
    head_lr: float = 5e-3
    n_classes: int = 10


@dataclass(frozen=True)
class Result:
    """One trained model: test ``accuracy`` in [0, 1], trainable ``n_params``, training wall ``seconds``."""

    method: str
    framework: str
    seed: int
    accuracy: float
    n_params: int
    seconds: float


@dataclass(frozen=True)
class Features:
    """Frozen encoder features of one seed and framework: per split, (image (N, di), audio (N, da)), labels (N,)."""

    inputs: dict[str, tuple[np.ndarray, np.ndarray]]
    labels: dict[str, np.ndarray]

    @property
    def input_dims(self) -> list[int]:
        return [x.shape[1] for x in self.inputs["train"]]


@dataclass
class Benchmark:
    """Everything ``run_benchmark`` measured: ``results`` and the ``features`` per (framework, seed)."""

    results: list[Result] = field(default_factory=list)
    features: dict[tuple[str, int], Features] = field(default_factory=dict)


def modality_dropout_mask(u: np.ndarray, p: float) -> np.ndarray:
    """Which modalities each example keeps: uniforms u (N, M) in [0, 1) -> mask (N, M) float32 of 0s and 1s.

    Modality m of example n is dropped (0) when u[n, m] < p. An example that
    would lose every modality keeps them all: a model cannot learn from
    nothing, and at test time at least one modality is there.
    """
    u = np.asarray(u)
    if u.ndim != 2 or not np.issubdtype(u.dtype, np.floating):
        raise ValueError(f"u must be a float array of shape (N, M), got {u.dtype} {u.shape}")
    if not 0.0 <= p < 1.0:
        raise ValueError(f"p must be in [0, 1), got {p!r}")
    keep = u >= p  # (N, M)
    keep[~keep.any(axis=1)] = True
    return keep.astype(np.float32)


def remove_modality(inputs: Sequence[np.ndarray], condition: str) -> list[np.ndarray]:
    """Features as a model sees them under ``condition`` ('both', 'image only', 'audio only'): removed = zeros."""
    if condition not in CONDITIONS:
        raise ValueError(f"condition must be one of {CONDITIONS}, got {condition!r}")
    keep = {"both": (True, True), "image only": (True, False), "audio only": (False, True)}[condition]
    return [x if kept else np.zeros_like(x) for x, kept in zip(inputs, keep)]


class Batches:
    """Re-iterable mini-batches ((x_1, ..., x_M), y) of torch tensors, reshuffled each pass by its own generator.

    With ``drop_p`` > 0 each training batch goes through modality dropout
    (``modality_dropout_mask``): a dropped modality's features are zeroed.
    """

    def __init__(self, inputs: Sequence[np.ndarray], labels: np.ndarray, batch_size: int, shuffle: bool = False,
                 seed: int = 0, drop_p: float = 0.0):
        self.inputs = [torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)) for x in inputs]
        self.labels = torch.from_numpy(np.asarray(labels, dtype=np.int64))
        if any(len(x) != len(self.labels) for x in self.inputs):
            raise ValueError(f"every input must have one row per label ({len(self.labels)}), got "
                             f"{[len(x) for x in self.inputs]}")
        self.batch_size, self.shuffle, self.drop_p = batch_size, shuffle, drop_p
        self.generator = torch.Generator().manual_seed(seed)  # shuffling and dropout: one seeded stream

    def __iter__(self):
        n = len(self.labels)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        for start in range(0, n, self.batch_size):
            index = order[start:start + self.batch_size]
            xs = [x[index] for x in self.inputs]
            if self.drop_p > 0:
                u = torch.rand((len(index), len(xs)), generator=self.generator, dtype=torch.float64).numpy()
                mask = torch.from_numpy(modality_dropout_mask(u, self.drop_p))  # (B, M)
                xs = [x * mask[:, m:m + 1] for m, x in enumerate(xs)]  # (B, d_m) * (B, 1)
            yield tuple(xs), self.labels[index]


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")


def make_fusion_model(method: str, framework: str, input_dims: Sequence[int], config: BenchConfig = BenchConfig()):
    """The classifier of ``method`` for ``framework``: a FusionClassifier (operator + head) of that framework."""
    _check_method(method)
    if framework not in FRAMEWORKS:
        raise ValueError(f"framework must be one of {FRAMEWORKS}, got {framework!r}")
    if framework == "torch":
        module = torch_fusion
    else:
        from mmcourse.keras_models import fusion as module
    dims, d = list(input_dims), config.fusion_dim
    operators = {
        "concat": lambda: module.ConcatFusion(dims, d),
        "weighted_sum": lambda: module.WeightedSumFusion(dims, d),
        "late_sum_logits": lambda: module.LateFusion(dims, config.n_classes, combine="sum_logits"),
        "late_mean_probs": lambda: module.LateFusion(dims, config.n_classes, combine="mean_probs"),
        "gated": lambda: module.GatedFusion(dims, d),
        "tensor": lambda: module.TensorFusion(dims, d),
        "low_rank": lambda: module.LowRankFusion(dims, d, rank=config.rank),
        "cross_attention": lambda: module.CrossAttentionFusion(dims, d, n_tokens=config.n_tokens,
                                                               d_model=config.d_model, n_heads=config.n_heads),
    }
    return module.FusionClassifier(operators[method](), config.n_classes)


# -- PyTorch -----------------------------------------------------------------------------------------------


def _torch_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _torch_fit(model: torch.nn.Module, batches: Batches, epochs: int, lr: float, device) -> float:
    """Adam on cross-entropy for ``epochs`` passes; returns the wall seconds."""
    start = time.perf_counter()
    train(model, batches, torch.optim.Adam(model.parameters(), lr=lr), epochs, device=device, progress=False)
    return time.perf_counter() - start


def _torch_accuracy(model: torch.nn.Module, inputs: Sequence[np.ndarray], labels: np.ndarray, device) -> float:
    logits, targets = predict(model, Batches(inputs, labels, batch_size=1000), device)
    return float(np.mean(logits.argmax(axis=1) == targets))


def _make_encoder(module, modality: str, config: BenchConfig, n_coefficients: int):
    """(encoder, epochs) of ``modality`` from ``module``, either twin module (same classes, same arguments)."""
    if modality == "image":
        return module.ImageEncoder(config.n_classes, units=config.image_units), config.image_epochs
    return (module.AudioEncoder(config.n_classes, n_coefficients=n_coefficients, units=config.audio_units),
            config.audio_epochs)


def encode_torch(av: AVDigits, seed: int, config: BenchConfig = BenchConfig()
                 ) -> tuple[Features, list[Result]]:
    """Train the torch image and audio encoders on ``av.train``; returns their frozen features and test results."""
    device = env.device()
    arrays = {"image": {s: av[s].images[:, None] for s in ("train", "val", "test")},  # (N, 1, 28, 28)
              "audio": {s: av[s].audio for s in ("train", "val", "test")}}  # (N, T, 13)
    results, features = [], {}
    for m, modality in enumerate(MODALITIES):
        env.seed_everything(seed + 1000 * m)
        encoder, epochs = _make_encoder(torch_fusion, modality, config, av.train.audio.shape[2])
        batches = Batches([arrays[modality]["train"]], av.train.labels, config.encoder_batch_size, True, seed)
        seconds = _torch_fit(encoder, batches, epochs, config.encoder_lr, device)
        accuracy = _torch_accuracy(encoder, [arrays[modality]["test"]], av.test.labels, device)
        results.append(Result(modality, "torch", seed, accuracy, _torch_params(encoder), seconds))
        encoder.eval()
        with torch.no_grad():
            features[modality] = {s: encoder.features(torch.from_numpy(x).to(device)).cpu().numpy()
                                  for s, x in arrays[modality].items()}
    return _features(features, av), results


def _features(features: dict[str, dict[str, np.ndarray]], av: AVDigits) -> Features:
    splits = ("train", "val", "test")
    return Features(inputs={s: (features["image"][s], features["audio"][s]) for s in splits},
                    labels={s: av[s].labels for s in splits})


def train_head_torch(method: str, features: Features, seed: int, config: BenchConfig = BenchConfig(),
                     drop_p: float = 0.0) -> tuple[torch.nn.Module, Result]:
    """Train the torch fusion head of ``method`` on frozen features (with modality dropout ``drop_p``)."""
    device = env.device()
    env.seed_everything(seed)
    model = make_fusion_model(method, "torch", features.input_dims, config)
    batches = Batches(features.inputs["train"], features.labels["train"], config.head_batch_size, True, seed,
                      drop_p)
    seconds = _torch_fit(model, batches, config.head_epochs, config.head_lr, device)
    accuracy = _torch_accuracy(model, features.inputs["test"], features.labels["test"], device)
    return model, Result(method, "torch", seed, accuracy, _torch_params(model), seconds)


# -- Keras -------------------------------------------------------------------------------------------------


def _keras_fit(model, inputs, labels: np.ndarray, epochs: int, batch_size: int, lr: float, seed: int) -> float:
    """Adam on cross-entropy from logits for ``epochs`` passes of a built ``model``; returns the wall seconds.

    Two things keep Keras' fixed costs, which dwarf the training of a small
    head, down: the epochs are one ``tf.data`` pipeline (shuffled anew each
    pass, seeded) that ``fit`` reads as a single long epoch, since each Keras
    epoch builds a new data iterator; and the optimizer makes its slot
    variables before ``fit``, eagerly, since making them while ``fit`` traces
    its step into a graph costs several times more.
    """
    tf = env.import_tensorflow()
    import keras

    start = time.perf_counter()
    steps = -(-len(labels) // batch_size)  # batches per pass
    data = (tf.data.Dataset.from_tensor_slices((inputs, labels))
            .shuffle(len(labels), seed=seed, reshuffle_each_iteration=True).batch(batch_size).repeat(epochs))
    optimizer = keras.optimizers.Adam(lr)
    optimizer.build(model.trainable_variables)
    model.compile(optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  steps_per_execution=steps)
    logger = logging.getLogger("tensorflow")
    level = logger.level
    logger.setLevel(logging.ERROR)  # each new model traces its own graph: TF's "retracing" warning is expected
    try:
        model.fit(data, epochs=1, shuffle=False, verbose=0)  # shuffled above
    finally:
        logger.setLevel(level)
    return time.perf_counter() - start


def _keras_accuracy(model, inputs, labels: np.ndarray) -> float:
    return float(np.mean(np.asarray(model(inputs)).argmax(axis=1) == labels))


def encode_keras(av: AVDigits, seed: int, config: BenchConfig = BenchConfig()
                 ) -> tuple[Features, list[Result]]:
    """Train the Keras image and audio encoders on ``av.train``; returns their frozen features and test results."""
    from mmcourse.keras_models import fusion as keras_fusion

    arrays = {"image": {s: av[s].images[..., None] for s in ("train", "val", "test")},  # (N, 28, 28, 1)
              "audio": {s: av[s].audio for s in ("train", "val", "test")}}  # (N, T, 13)
    results, features = [], {}
    for m, modality in enumerate(MODALITIES):
        env.seed_everything(seed + 1000 * m)
        encoder, epochs = _make_encoder(keras_fusion, modality, config, av.train.audio.shape[2])
        encoder.build((None,) + arrays[modality]["train"].shape[1:])
        seconds = _keras_fit(encoder, arrays[modality]["train"], av.train.labels, epochs,
                             config.encoder_batch_size, config.encoder_lr, seed)
        accuracy = _keras_accuracy(encoder, arrays[modality]["test"], av.test.labels)
        results.append(Result(modality, "keras", seed, accuracy, encoder.count_params(), seconds))
        features[modality] = {s: np.asarray(encoder.features(x)) for s, x in arrays[modality].items()}
    return _features(features, av), results


def train_head_keras(method: str, features: Features, seed: int, config: BenchConfig = BenchConfig()):
    """Train the Keras fusion head of ``method`` on frozen features; returns (model, Result)."""
    env.seed_everything(seed)
    model = make_fusion_model(method, "keras", features.input_dims, config)
    seconds = _keras_fit(model, tuple(features.inputs["train"]), features.labels["train"], config.head_epochs,
                         config.head_batch_size, config.head_lr, seed)
    accuracy = _keras_accuracy(model, list(features.inputs["test"]), features.labels["test"])
    return model, Result(method, "keras", seed, accuracy, model.count_params(), seconds)


# -- the whole benchmark -----------------------------------------------------------------------------------


def run_benchmark(seeds: Sequence[int] = (0, 1, 2), frameworks: Sequence[str] = FRAMEWORKS,
                  methods: Sequence[str] = METHODS, config: BenchConfig = BenchConfig(),
                  progress: bool = True) -> Benchmark:
    """Encoders, then every fusion head, for each seed (the AV digits of ``load_av_digits(seed)``) and framework."""
    for method in methods:
        _check_method(method)
    for framework in frameworks:
        if framework not in FRAMEWORKS:
            raise ValueError(f"frameworks must be drawn from {FRAMEWORKS}, got {framework!r}")
    bench = Benchmark()
    bar = tqdm(total=len(seeds) * len(frameworks) * (len(methods) + 1), desc="models", disable=not progress)
    for seed in seeds:
        av = load_av_digits(seed=seed)
        for framework in frameworks:
            encode, train_head = ((encode_torch, train_head_torch) if framework == "torch"
                                  else (encode_keras, train_head_keras))
            bar.set_postfix(seed=seed, framework=framework)
            features, results = encode(av, seed, config)
            bench.features[framework, seed] = features
            bench.results += results
            bar.update()
            for method in methods:
                bench.results.append(train_head(method, features, seed, config)[1])
                bar.update()
    bar.close()
    return bench


@dataclass(frozen=True)
class Summary:
    """One row of the table: a method in one framework, averaged over seeds (accuracy in percent)."""

    method: str
    framework: str
    mean: float
    std: float
    n_params: int
    seconds: float
    n_seeds: int


def summarise(results: Sequence[Result]) -> list[Summary]:
    """Mean and standard deviation (over seeds) of each (method, framework), in the order first seen."""
    groups: dict[tuple[str, str], list[Result]] = {}
    for result in results:
        groups.setdefault((result.method, result.framework), []).append(result)
    if not groups:
        raise ValueError("results is empty: run the benchmark first")
    return [Summary(method, framework, 100 * float(np.mean([r.accuracy for r in group])),
                    100 * float(np.std([r.accuracy for r in group])), group[0].n_params,
                    float(np.mean([r.seconds for r in group])), len(group))
            for (method, framework), group in groups.items()]


def best_gain(summaries: Sequence[Summary], framework: str) -> tuple[str, float, str, float]:
    """(best single modality, its mean accuracy, best fusion method, its mean accuracy) in ``framework``."""
    rows = [s for s in summaries if s.framework == framework]
    single = max((s for s in rows if s.method in MODALITIES), key=lambda s: s.mean)
    fused = max((s for s in rows if s.method in METHODS), key=lambda s: s.mean)
    return single.method, single.mean, fused.method, fused.mean


def format_table(summaries: Sequence[Summary]) -> str:
    """A text table: one row per method, accuracy (mean ± std over seeds), parameters and seconds per framework."""
    frameworks = list(dict.fromkeys(s.framework for s in summaries))
    by_key = {(s.method, s.framework): s for s in summaries}
    methods = list(dict.fromkeys(s.method for s in summaries))
    header = f"{'method':<17}" + "".join(f"{fw + ' acc %':>15}{'params':>9}{'train s':>9}" for fw in frameworks)
    lines = [header, "-" * len(header)]
    for method in methods:
        line = f"{method:<17}"
        for fw in frameworks:
            s = by_key.get((method, fw))
            line += (f"{s.mean:>9.1f} ± {s.std:<3.1f}{s.n_params:>9,}{s.seconds:>9.2f}" if s
                     else f"{'-':>15}{'-':>9}{'-':>9}")
        lines.append(line)
    return "\n".join(lines)


def missing_modalities(features: Features, seed: int = 0, methods: Sequence[str] = METHODS, drop_p: float = 0.5,
                       config: BenchConfig = BenchConfig(), progress: bool = True
                       ) -> dict[tuple[str, float], dict[str, float]]:
    """Torch heads trained with modality dropout 0 and ``drop_p``, scored with both, only image, only audio.

    Returns {(method, dropout p): {condition: test accuracy}}.
    """
    scores = {}
    device = env.device()
    jobs = [(method, p) for p in (0.0, drop_p) for method in methods]
    for method, p in tqdm(jobs, desc="heads", disable=not progress):
        model, _ = train_head_torch(method, features, seed, config, drop_p=p)
        scores[method, p] = {condition: _torch_accuracy(model, remove_modality(features.inputs["test"], condition),
                                                        features.labels["test"], device)
                             for condition in CONDITIONS}
    return scores


# -- plots (grouped bars; mmcourse.plots.bar_with_errors draws one series) ---------------------------------


def plot_summary(summaries: Sequence[Summary]):
    """Grouped bars: test accuracy (mean ± std over seeds) per method, one bar per framework; returns the Figure."""
    import matplotlib.pyplot as plt

    frameworks = list(dict.fromkeys(s.framework for s in summaries))
    methods = list(dict.fromkeys(s.method for s in summaries))
    by_key = {(s.method, s.framework): s for s in summaries}
    width = 0.8 / len(frameworks)
    fig, ax = plt.subplots(figsize=(10, 3.6))
    for j, framework in enumerate(frameworks):
        rows = [by_key.get((m, framework)) for m in methods]
        x = np.arange(len(methods)) + (j - (len(frameworks) - 1) / 2) * width
        ax.bar(x, [r.mean if r else 0 for r in rows], width, yerr=[r.std if r else 0 for r in rows], capsize=3,
               label=framework)
    single = max((s.mean for s in summaries if s.method in MODALITIES), default=None)
    if single is not None:
        ax.axhline(single, color="grey", linestyle="--", linewidth=1, label="best single modality")
    ax.set_xticks(range(len(methods)), methods, rotation=25, ha="right")
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 100)
    ax.legend(loc="upper left", ncols=3)
    fig.tight_layout()
    return fig


def plot_missing(scores: dict[tuple[str, float], dict[str, float]], unimodal: dict[str, float] | None = None):
    """One panel per training dropout p: accuracy (%) per method with both, only image, only audio; the Figure.

    ``unimodal`` ({'image': accuracy, 'audio': accuracy}, in [0, 1]) draws the
    unimodal encoders' accuracies as dashed lines, in the colours of the
    bars they compare with.
    """
    import matplotlib.pyplot as plt

    methods = list(dict.fromkeys(method for method, _ in scores))
    ps = sorted({p for _, p in scores})
    fig, axes = plt.subplots(1, len(ps), figsize=(6 * len(ps), 3.8), sharey=True, squeeze=False)
    width = 0.8 / len(CONDITIONS)
    colours = {"both": "tab:blue", "image only": "tab:orange", "audio only": "tab:green"}
    for ax, p in zip(axes[0], ps):
        for j, condition in enumerate(CONDITIONS):
            x = np.arange(len(methods)) + (j - 1) * width
            ax.bar(x, [100 * scores[m, p][condition] for m in methods], width, label=condition,
                   color=colours[condition])
        for modality, accuracy in (unimodal or {}).items():
            ax.axhline(100 * accuracy, color=colours[f"{modality} only"], linestyle="--", linewidth=1,
                       label=f"{modality} encoder alone")
        ax.set_xticks(range(len(methods)), methods, rotation=30, ha="right")
        ax.set_title("trained on both modalities" if p == 0 else f"trained with modality dropout p = {p:g}")
        ax.set_ylim(0, 100)
    axes[0][0].set_ylabel("test accuracy (%)")
    fig.legend(*axes[0][0].get_legend_handles_labels(), loc="upper center", ncols=5, fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.9))  # room for the legend above the panels
    return fig
