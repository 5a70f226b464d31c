"""Mini-CLIP in Keras: the symmetric InfoNCE loss, the learnable temperature, two encoders (chapter 09).

Twin of ``mmcourse.torch_models.clip`` (same names, same formula, same
layer names); diff the two files to see what differs between the
frameworks. The equation, with shapes, is in
:mod:`mmcourse.numpy_nn.contrastive`, whose hand-written gradient the tests
compare with this file's autograd; ``logit_scale`` t is CLIP's log inverse
temperature (exp(t) = 1/τ), learned by :class:`LogitScale`. Sizes come from
:class:`mmcourse.clip.CLIPConfig`; images are channels last, Keras's layout::

    images (B, 32, 32, 3) in [0, 1] -> [conv 3x3 + ReLU -> max-pool 2] x 4 -> (B, 2, 2, D)
        -> tokens (B, 4, D): one visual token per grid cell, in reading order
        -> flatten (B, 4 D) -> proj -> image embedding (B, E)
    word ids (B, L), 0 = <pad> at the end -> embedding (mask_zero) (B, L, word_dim)
        -> bidirectional GRU (B, L, text_width) -> mean over the true words -> proj -> text embedding (B, E)

The model is trained in the torch twin; :func:`copy_weights_from_torch`
loads its weights here (the tests check the embeddings agree to 1e-5).
Torch's GRU gates are r, z, n and Keras's z, r, h; with
``reset_after=True`` (Keras's default) the two compute the same recurrence.
"""
from __future__ import annotations

import numpy as np

from mmcourse.clip import GRID, IMAGE_SIZE, CLIPConfig
from mmcourse.env import import_tensorflow
from mmcourse.numpy_nn.contrastive import INIT_LOGIT_SCALE, MAX_LOGIT_SCALE
from mmcourse.numpy_nn.convert import conv2d_weights_from_torch, conv2d_weights_to_keras, linear_weights_from_torch

import_tensorflow()  # silences TensorFlow's start-up log lines before keras loads it
import keras  # noqa: E402
from keras import layers, ops  # noqa: E402


def clip_loss(image_emb, text_emb, logit_scale):
    """L = ½ [CE(Z, diag) + CE(Zᵀ, diag)], Z = exp(t) Î T̂ᵀ, for image_emb, text_emb (N, D); returns a scalar.

    ``logit_scale`` t is a scalar tensor in the embeddings' dtype, e.g.
    ``LogitScale()()``. Written as open_clip's ``ClipLoss``, which is given
    exp(t) instead.
    """
    if len(image_emb.shape) != 2 or tuple(image_emb.shape) != tuple(text_emb.shape):
        raise ValueError(f"image_emb and text_emb must both be (N, D), row n of each is pair n; "
                         f"got {tuple(image_emb.shape)} and {tuple(text_emb.shape)}")
    image_emb, text_emb = ops.normalize(image_emb, axis=1), ops.normalize(text_emb, axis=1)  # (N, D), unit rows
    logits = ops.exp(logit_scale) * image_emb @ ops.transpose(text_emb)  # (N, N)
    labels = ops.arange(ops.shape(logits)[0])  # (N,): the diagonal
    ce = keras.losses.sparse_categorical_crossentropy  # -log softmax(row)[label] per row: (N,)
    return (ops.mean(ce(labels, logits, from_logits=True))
            + ops.mean(ce(labels, ops.transpose(logits), from_logits=True))) / 2


class LogitScale(layers.Layer):
    """CLIP's learnable log inverse temperature t: one scalar, starting at log(1/0.07); returns min(t, log 100).

    Storing log τ⁻¹ keeps the scale exp(t) positive whatever the optimiser
    does. The clamp keeps exp(t) <= 100, as CLIP does; it is applied here,
    in the forward pass, where open_clip clamps the parameter in place after
    each optimiser step. The value used is the same; the difference is that
    here no gradient reaches t while it is above log 100. Keras layers take
    one argument, so ``inputs`` is accepted and ignored: call ``LogitScale()()``.
    """

    def __init__(self, init: float = INIT_LOGIT_SCALE, max_value: float = MAX_LOGIT_SCALE, **kwargs):
        super().__init__(**kwargs)
        self.max_value = max_value
        self.logit_scale = self.add_weight(shape=(), initializer=keras.initializers.Constant(float(init)),
                                           name="logit_scale")  # t: ()
        self.built = True  # the weight exists already: Keras need not call build()

    def call(self, inputs=None):
        return ops.minimum(self.logit_scale, self.max_value)  # ()


def _check_images(images) -> None:
    """Raise a ValueError unless images is a float tensor (B, 32, 32, 3)."""
    shape, dtype = tuple(getattr(images, "shape", ())), str(getattr(images, "dtype", ""))
    if "float" not in dtype or len(shape) != 4 or shape[1:] != (IMAGE_SIZE, IMAGE_SIZE, 3):
        raise ValueError(f"images must be a float tensor (B, {IMAGE_SIZE}, {IMAGE_SIZE}, 3) in [0, 1], channels "
                         f"last, got {type(images).__name__} {dtype} {shape}")


def text_lengths(ids, vocab_size: int):
    """The number of true words (B,) of word ids (B, L) padded with 0 at the end (checked: rank and dtype)."""
    shape, dtype = tuple(getattr(ids, "shape", ())), str(getattr(ids, "dtype", ""))
    if "int" not in dtype or len(shape) != 2 or shape[1] == 0:
        raise ValueError(f"ids must be an integer tensor (B, L) of word ids, got {type(ids).__name__} {dtype} "
                         f"{shape}")
    return ops.sum(ops.cast(ops.not_equal(ids, 0), "float32"), axis=1)  # (B,)


def _built(layer: layers.Layer, input_shape: tuple) -> layers.Layer:
    """``layer`` with its weights created now, for inputs of ``input_shape``."""
    layer.build(input_shape)
    return layer


class ImageEncoder(layers.Layer):
    """A small CNN: images (B, 32, 32, 3) -> ``tokens`` (B, 4, D) -> ``call``: image embedding (B, E)."""

    def __init__(self, config: CLIPConfig, **kwargs):
        super().__init__(**kwargs)
        c0, c1, c2, c3, c4 = 3, *config.channels
        size = IMAGE_SIZE
        self.conv1 = _built(layers.Conv2D(c1, 3, padding="same", name="conv1"), (None, size, size, c0))
        self.conv2 = _built(layers.Conv2D(c2, 3, padding="same", name="conv2"), (None, size // 2, size // 2, c1))
        self.conv3 = _built(layers.Conv2D(c3, 3, padding="same", name="conv3"), (None, size // 4, size // 4, c2))
        self.conv4 = _built(layers.Conv2D(c4, 3, padding="same", name="conv4"), (None, size // 8, size // 8, c3))
        self.pool = layers.MaxPooling2D(2, name="pool")
        self.proj = _built(layers.Dense(config.embed_dim, name="proj"), (None, GRID * GRID * c4))
        self.n_tokens, self.token_dim = GRID * GRID, c4

    def tokens(self, images):
        """images (B, 32, 32, 3) in [0, 1] -> visual tokens (B, 4, D), token n = grid cell n in reading order."""
        _check_images(images)
        x = images
        for conv in (self.conv1, self.conv2, self.conv3, self.conv4):
            x = self.pool(ops.relu(conv(x)))  # (B, H/2, W/2, C): 32 -> 16 -> 8 -> 4 -> 2
        return ops.reshape(x, (-1, self.n_tokens, self.token_dim))  # (B, 2, 2, D) -> (B, 4, D)

    def call(self, images):
        """images (B, 32, 32, 3) -> image embedding (B, E): the tokens flattened (B, 4 D), then projected."""
        return self.proj(ops.reshape(self.tokens(images), (-1, self.n_tokens * self.token_dim)))


class TextEncoder(layers.Layer):
    """Word ids (B, L), 0-padded at the end -> bidirectional GRU -> mean over true words -> text embedding (B, E)."""

    def __init__(self, config: CLIPConfig, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size = config.vocab_size
        self.embedding = _built(layers.Embedding(config.vocab_size, config.word_dim, mask_zero=True,
                                                 name="embedding"), (None, None))
        self.gru = _built(layers.Bidirectional(layers.GRU(config.text_width // 2, return_sequences=True),
                                               name="gru"), (None, None, config.word_dim))
        self.proj = _built(layers.Dense(config.embed_dim, name="proj"), (None, config.text_width))

    def call(self, ids):
        lengths = text_lengths(ids, self.vocab_size)  # (B,)
        true = ops.cast(ops.not_equal(ids, 0), "float32")[:, :, None]  # (B, L, 1)
        states = self.gru(self.embedding(ids), mask=ops.not_equal(ids, 0))  # (B, L, W)
        mean = ops.sum(states * true, axis=1) / lengths[:, None]  # (B, L, W) -> (B, W); padded steps left out
        return self.proj(mean)  # (B, E)


class MiniCLIP(keras.Model):
    """Image and text encoders into one space, and the temperature: ``call((images, ids))`` -> (image_emb, text_emb, t).

    Embeddings come out unnormalised, as in CLIP: :func:`clip_loss`
    normalises them.
    """

    def __init__(self, config: CLIPConfig, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.image_encoder = ImageEncoder(config, name="image_encoder")
        self.text_encoder = TextEncoder(config, name="text_encoder")
        self.logit_scale = LogitScale(name="logit_scale")

    def encode_image(self, images):
        """images (B, 32, 32, 3) in [0, 1] -> image embeddings (B, E)."""
        return self.image_encoder(images)

    def encode_text(self, ids):
        """word ids (B, L), 0-padded at the end -> text embeddings (B, E)."""
        return self.text_encoder(ids)

    def call(self, inputs):
        """(images (B, 32, 32, 3), ids (B, L)) -> image_emb (B, E), text_emb (B, E), logit_scale t ()."""
        images, ids = inputs
        if images.shape[0] != ids.shape[0]:
            raise ValueError(f"images and ids must hold the same B pairs, got {images.shape[0]} and {ids.shape[0]}")
        return self.encode_image(images), self.encode_text(ids), self.logit_scale()


def _gru_direction(gru, suffix: str) -> list[np.ndarray]:
    """One direction of a torch bidirectional ``nn.GRU`` -> Keras GRU [kernel (D, 3H), recurrent (H, 3H), bias (2, 3H)].

    Transposed ((out, in) -> (in, out)) and gate blocks reordered r, z, n -> z, r, h.
    """
    def zr(a: np.ndarray) -> np.ndarray:
        r, z, n = np.split(a, 3, axis=-1)
        return np.concatenate([z, r, n], axis=-1)

    w_ih, w_hh, b_ih, b_hh = (getattr(gru, f"{name}_l0{suffix}").detach().cpu().numpy()
                              for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
    return [zr(w_ih.T), zr(w_hh.T), zr(np.stack([b_ih, b_hh]))]


def copy_weights_from_torch(model: MiniCLIP, torch_model) -> None:
    """Load the weights of a torch ``MiniCLIP`` into its Keras twin ``model``, in place.

    Conv weights (F, C, kh, kw) -> (kh, kw, C, F), linear weights
    transposed, the GRU as :func:`_gru_direction` says (forward, then
    backward). Every shape is checked before any weight is set, so a
    mismatch leaves ``model`` as it was.
    """
    image, text = torch_model.image_encoder, torch_model.text_encoder
    if not hasattr(text, "gru"):
        raise ValueError(f"torch_model must be a MiniCLIP with the GRU TextEncoder, got text encoder "
                         f"{type(text).__name__}")
    pairs = [(getattr(model.image_encoder, name), conv2d_weights_to_keras(*conv2d_weights_from_torch(
        getattr(image, name)))) for name in ("conv1", "conv2", "conv3", "conv4")]
    pairs += [(model.image_encoder.proj, list(linear_weights_from_torch(image.proj))),
              (model.text_encoder.embedding, [text.embedding.weight.detach().cpu().numpy()]),
              (model.text_encoder.gru, _gru_direction(text.gru, "") + _gru_direction(text.gru, "_reverse")),
              (model.text_encoder.proj, list(linear_weights_from_torch(text.proj))),
              (model.logit_scale, [torch_model.logit_scale.logit_scale.detach().cpu().numpy()])]
    for layer, arrays in pairs:
        wanted = [tuple(w.shape) for w in layer.weights]
        if wanted != [a.shape for a in arrays]:
            raise ValueError(f"layer {layer.name!r}: the Keras model wants weights of shapes {wanted}, the torch "
                             f"model gives {[a.shape for a in arrays]}; build both with the same CLIPConfig")
    for layer, arrays in pairs:
        layer.set_weights(arrays)
