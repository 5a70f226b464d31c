"""Text-to-image models in Keras (chapter 11): a conditional GAN, a DDPM noise predictor and a judge.

Twin of ``mmcourse.torch_models.generative`` (same class names, layer
names and weight shapes); diff the two files to see what differs between
the frameworks. Images are (B, H, W, C) in [-1, 1], Keras's channels-last
layout; captions are word ids (B, L), <pad> = 0. Every model reads the
caption through its own :class:`TextEncoder`, so a new combination of
known words is a new point between known ones, not an unknown class::

    TextEncoder      ids (B, L) -> the mean of the words' embeddings (B, E), pads skipped
    Generator        [z (B, Z); text (B, E)] -> fc -> (B, s, s, 2w) -> up_1 (B, 2s, 2s, w) -> up_2, tanh (B, H, W, C)
    Discriminator    x -> down_1 -> down_2 -> φ(x) (B, F);  logit = fc(φ) + <proj(φ), text>   (projection discriminator)
    Denoiser         c = fc_time(sin/cos(t)) + fc_text(text); fc_in(x) + c -> blocks (each reads c) -> fc_out -> ε̂
    Judge            conv_1, pool, conv_2, pool, fc -> features (B, 64) -> head -> logits of every attribute

s = H / 4; up_* are the transposed convolutions (kernel 4, stride 2,
"same" padding, torch's padding 1) that double a map's side. Where a map
is flattened or unflattened (fc, φ, the denoiser's pixels) it goes through
torch's (C, H, W) order, so the dense weights copy from torch unchanged.

The embedding's initialiser matters: torch's ``nn.Embedding`` starts N(0, 1),
Keras's ``Embedding`` uniform in ±0.05, 30 times smaller. With the Keras
default a GAN generator learns to ignore its caption (chapter 11 measures
it), so ``embedding_init="normal"`` (N(0, 1)) is the default here;
``"uniform"`` gives Keras's own.

Name mapping (:func:`copy_weights_from_torch`; every torch layer path, e.g.
``blocks.0.fc_1``, names the Keras layer ``blocks[0].fc_1``)::

    torch                                    Keras
    Linear weight (out, in), bias            Dense kernel (in, out), transposed; bias
    Conv2d / ConvTranspose2d weight          Conv2D kernel (kh, kw, C, F) / Conv2DTranspose kernel (kh, kw, out, in),
        (F, C, kh, kw) / (in, out, kh, kw)       both weight.transpose(2, 3, 1, 0); bias
    Embedding, LayerNorm                     Embedding, LayerNormalization: as they are
"""
from __future__ import annotations

import math

import numpy as np

from mmcourse.env import import_tensorflow
from mmcourse.generative import DenoiserConfig, GANConfig

import_tensorflow()  # silences TensorFlow's start-up log lines before keras loads it
import keras  # noqa: E402
from keras import layers, ops  # noqa: E402

JUDGE_FEATURES = 64
EMBEDDING_INITS = ("normal", "uniform")  # N(0, 1) as torch, or Keras's default uniform in ±0.05


def _built(layer, shape):
    layer.build(shape)
    return layer


def _chw_flat(h):
    """(B, h, w, c) -> (B, c h w): flattened in torch's (C, H, W) order."""
    return ops.reshape(ops.transpose(h, (0, 3, 1, 2)), (ops.shape(h)[0], -1))


class TextEncoder(layers.Layer):
    """Word ids (B, L) -> caption vectors (B, E): the mean of the embeddings of the words that are not <pad> (id 0).

    ``wte`` starts N(0, 1) (``embedding_init="normal"``, torch's default) or
    uniform in ±0.05 (``"uniform"``, Keras's default); a caption of pads only gives zeros.
    """

    def __init__(self, vocab_size: int, dim: int, embedding_init: str = "normal", **kwargs):
        super().__init__(**kwargs)
        if embedding_init not in EMBEDDING_INITS:
            raise ValueError(f"embedding_init must be one of {EMBEDDING_INITS}, got {embedding_init!r}")
        self.vocab_size = vocab_size
        init = keras.initializers.RandomNormal(0.0, 1.0) if embedding_init == "normal" else "uniform"
        self.wte = _built(layers.Embedding(vocab_size, dim, embeddings_initializer=init, name="wte"), (None, None))
        self.built = True

    def call(self, ids):
        mask = ops.expand_dims(ops.cast(ops.not_equal(ids, 0), "float32"), -1)  # (B, L, 1)
        return ops.sum(self.wte(ids) * mask, axis=1) / ops.maximum(ops.sum(mask, axis=1), 1.0)  # (B, E)


class Generator(keras.Model):
    """Calling it on (noise z (B, z_dim), caption ids (B, L)) gives images (B, H, W, C) in [-1, 1]."""

    def __init__(self, config: GANConfig, embedding_init: str = "normal", **kwargs):
        super().__init__(**kwargs)
        self.config = config
        c, s = config.width, config.image_size // 4
        self.text = TextEncoder(config.vocab_size, config.word_dim, embedding_init, name="text")
        self.fc = _built(layers.Dense(2 * c * s * s, name="fc"), (None, config.z_dim + config.word_dim))
        self.up_1 = _built(layers.Conv2DTranspose(c, 4, strides=2, padding="same", name="up_1"), (None, s, s, 2 * c))
        self.up_2 = _built(layers.Conv2DTranspose(config.channels, 4, strides=2, padding="same", name="up_2"),
                           (None, 2 * s, 2 * s, c))
        self.built = True

    def call(self, inputs, training: bool = False):
        z, ids = inputs
        s = self.config.image_size // 4
        h = ops.relu(self.fc(ops.concatenate([z, self.text(ids)], axis=1)))  # (B, 2w s s)
        h = ops.transpose(ops.reshape(h, (-1, 2 * self.config.width, s, s)), (0, 2, 3, 1))  # (B, s, s, 2w)
        h = ops.relu(self.up_1(h))  # (B, 2s, 2s, w)
        return ops.tanh(self.up_2(h))  # (B, H, W, C)


class Discriminator(keras.Model):
    """Calling it on (images (B, H, W, C), caption ids (B, L)) gives logits (B,): real and matching, or not."""

    def __init__(self, config: GANConfig, embedding_init: str = "normal", **kwargs):
        super().__init__(**kwargs)
        self.config = config
        c, s, size = config.width, config.image_size // 4, config.image_size
        self.text = TextEncoder(config.vocab_size, config.word_dim, embedding_init, name="text")
        self.down_1 = _built(layers.Conv2D(c, 4, strides=2, padding="same", name="down_1"),
                             (None, size, size, config.channels))
        self.down_2 = _built(layers.Conv2D(2 * c, 4, strides=2, padding="same", name="down_2"),
                             (None, size // 2, size // 2, c))
        self.fc = _built(layers.Dense(1, name="fc"), (None, 2 * c * s * s))
        self.proj = _built(layers.Dense(config.word_dim, use_bias=False, name="proj"), (None, 2 * c * s * s))
        self.built = True

    def call(self, inputs, training: bool = False):
        x, ids = inputs
        h = ops.leaky_relu(self.down_1(x), 0.2)  # (B, H/2, W/2, w)
        h = _chw_flat(ops.leaky_relu(self.down_2(h), 0.2))  # (B, 2w s s)
        return self.fc(h)[:, 0] + ops.sum(self.proj(h) * self.text(ids), axis=1)  # (B,)


def timestep_embedding(t, dim: int):
    """Steps t (B,) -> (B, dim): [sin(t f_k), cos(t f_k)] with frequencies f_k = 10000^(-k / (dim/2)), k < dim/2."""
    half = dim // 2
    freqs = ops.exp(-math.log(10000.0) * ops.arange(half, dtype="float32") / half)  # (dim/2,)
    angles = ops.cast(t, "float32")[:, None] * freqs[None]  # (B, dim/2)
    return ops.concatenate([ops.sin(angles), ops.cos(angles)], axis=1)  # (B, dim)


class ResidualBlock(layers.Layer):
    """(h (B, W), condition c (B, W)) -> h + fc_2(SiLU(fc_1(SiLU(ln(h))) + fc_cond(c))): c carries the step and caption."""

    def __init__(self, width: int, **kwargs):
        super().__init__(**kwargs)
        self.ln = _built(layers.LayerNormalization(epsilon=1e-5, name="ln"), (None, width))
        self.fc_1 = _built(layers.Dense(width, name="fc_1"), (None, width))
        self.fc_cond = _built(layers.Dense(width, name="fc_cond"), (None, width))
        self.fc_2 = _built(layers.Dense(width, name="fc_2"), (None, width))
        self.built = True

    def call(self, h, c):
        return h + self.fc_2(ops.silu(self.fc_1(ops.silu(self.ln(h))) + self.fc_cond(c)))


class Denoiser(keras.Model):
    """Calling it on (noisy images x_t (B, H, W, C), steps t (B,), caption ids (B, L)) gives ε̂ (B, H, W, C).

    Or the predicted clean image x̂_0, for ``config.target == "x0"``. The
    output is a linear read-out of the residual stream (see the torch twin).
    """

    def __init__(self, config: DenoiserConfig, embedding_init: str = "normal", **kwargs):
        super().__init__(**kwargs)
        self.config = config
        pixels, w = config.channels * config.image_size ** 2, config.width
        self.text = TextEncoder(config.vocab_size, config.word_dim, embedding_init, name="text")
        self.fc_in = _built(layers.Dense(w, name="fc_in"), (None, pixels))
        self.fc_time = _built(layers.Dense(w, name="fc_time"), (None, w))
        self.fc_text = _built(layers.Dense(w, name="fc_text"), (None, config.word_dim))
        self.blocks = [ResidualBlock(w, name=f"block_{i}") for i in range(config.n_blocks)]
        self.fc_out = _built(layers.Dense(pixels, name="fc_out"), (None, w))
        self.built = True

    def call(self, inputs, training: bool = False):
        x, t, ids = inputs
        c, size = self.config.channels, self.config.image_size
        if len(x.shape) != 4 or tuple(x.shape[1:]) != (size, size, c):
            raise ValueError(f"x must be (B, {size}, {size}, {c}), got {tuple(x.shape)}")
        cond = self.fc_time(timestep_embedding(t, self.config.width)) + self.fc_text(self.text(ids))  # (B, W)
        h = self.fc_in(_chw_flat(x)) + cond  # (B, W)
        for block in self.blocks:
            h = block(h, ops.silu(cond))  # (B, W)
        eps = ops.reshape(self.fc_out(h), (-1, c, size, size))  # (B, C, H, W): read linearly off the residual stream
        return ops.transpose(eps, (0, 2, 3, 1))  # (B, H, W, C)


class Judge(keras.Model):
    """A CNN classifier of real images: images (B, H, W, C) -> logits (B, sum of the attributes' class counts)."""

    def __init__(self, channels: int, image_size: int, n_classes: tuple[int, ...], **kwargs):
        super().__init__(**kwargs)
        self.n_classes = tuple(n_classes)
        self.conv_1 = _built(layers.Conv2D(16, 3, padding="same", name="conv_1"),
                             (None, image_size, image_size, channels))
        self.conv_2 = _built(layers.Conv2D(32, 3, padding="same", name="conv_2"),
                             (None, image_size // 2, image_size // 2, 16))
        self.fc = _built(layers.Dense(JUDGE_FEATURES, name="fc"), (None, 32 * (image_size // 4) ** 2))
        self.head = _built(layers.Dense(sum(self.n_classes), name="head"), (None, JUDGE_FEATURES))
        self.built = True

    def features(self, x):
        h = ops.max_pool(ops.relu(self.conv_1(x)), 2)  # (B, H/2, W/2, 16)
        h = ops.max_pool(ops.relu(self.conv_2(h)), 2)  # (B, H/4, W/4, 32)
        return ops.relu(self.fc(_chw_flat(h)))  # (B, 64)

    def call(self, x, training: bool = False):
        return self.head(self.features(x))  # (B, sum(n_classes))


def _keras_weights(module) -> list[np.ndarray]:
    """A torch leaf layer's weights in Keras's layout (module docstring's table)."""
    weight = module.weight.detach().cpu().numpy()
    kind = type(module).__name__
    if kind in ("Conv2d", "ConvTranspose2d"):
        weight = weight.transpose(2, 3, 1, 0)
    elif kind == "Linear":
        weight = weight.T
    elif kind not in ("Embedding", "LayerNorm"):
        raise ValueError(f"no Keras twin for a torch {kind}")
    bias = [] if getattr(module, "bias", None) is None else [module.bias.detach().cpu().numpy()]
    return [np.ascontiguousarray(weight), *bias]


def _keras_layer(model, path: str):
    """The Keras layer at a torch module path: 'blocks.0.fc_1' -> model.blocks[0].fc_1."""
    layer = model
    for part in path.split("."):
        layer = layer[int(part)] if part.isdigit() else getattr(layer, part, None)
        if layer is None:
            raise ValueError(f"the Keras model has no layer {path!r}; build both with the same arguments")
    return layer


def copy_weights_from_torch(model: keras.Model, torch_model) -> None:
    """Load the weights of a torch Generator, Discriminator, Denoiser or Judge into its Keras twin, in place.

    Every shape is checked before any weight is set, so a mismatch changes nothing.
    """
    if type(torch_model).__name__ != type(model).__name__:
        raise ValueError(f"torch_model must be the torch twin of a Keras {type(model).__name__}, "
                         f"got {type(torch_model).__name__}")
    leaves = {name: m for name, m in torch_model.named_modules() if not list(m.children())
              and any(True for _ in m.parameters())}
    weights = {name: _keras_weights(m) for name, m in leaves.items()}
    for name, arrays in weights.items():
        wanted = [tuple(w.shape) for w in _keras_layer(model, name).weights]
        if wanted != [a.shape for a in arrays]:
            raise ValueError(f"layer {name!r}: the Keras model wants weights of shapes {wanted}, the torch model "
                             f"gives {[a.shape for a in arrays]}; build both with the same arguments")
    for name, arrays in weights.items():
        _keras_layer(model, name).set_weights(arrays)
