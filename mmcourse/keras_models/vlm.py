"""A small vision-language model in Keras: LLaVA's recipe at toy scale (chapter 10).

Twin of ``mmcourse.torch_models.vlm`` (same class names, layer names and
weight shapes); diff the two files to see what differs between the
frameworks. A frozen image encoder turns each image into a grid of N
visual tokens; only what comes after it is trained::

    images (B, H, W, 3) -> frozen encoder -> features (B, N, D)     a √N x √N grid, row by row
    features -> pool_tokens (optional) -> (B, n, D)                 average √N/√n x √N/√n cells
             -> projector -> visual tokens (B, n, C)                LayerNorm, then Dense or Dense-GELU-Dense
    [visual tokens ; wte(prompt + response)] + wpe -> GPT -> logits (B, n + T, V); the last T are returned

- The encoder is not part of this model: being frozen, its features are
  computed once per image and every method here starts from them.
  :class:`PatchTokens` is the simplest encoder, with no weights at all: the
  image cut into patches (channels-last images in, the torch twin's tokens out).
- The GPT is the chapter-08 twin; the visual tokens go in as its ``prefix``,
  get position embeddings 0 .. n - 1 and the text continues at n, so
  n + T <= block_size.
- Calling the model gives the text positions' logits, so it trains with
  ``compile(loss=SparseCategoricalCrossentropy(from_logits=True, ignore_class=-100))``;
  greedy generation with the KV cache is taught on the torch twin.

Name mapping (:func:`copy_weights_from_torch`), C = n_embd::

    torch                              Keras (layer attributes / weight)
    projector.ln.weight, .bias (D,)    projector/ln/gamma, beta (D,)
    projector.fc_1.weight (C, D)       projector/fc_1/kernel (D, C), transposed; bias (C,)
    projector.fc_2.weight (C, C)       projector/fc_2/kernel (C, C), transposed; bias (C,)   ("mlp" only)
    gpt.*                              gpt/* as in ``keras_models.gpt``
"""
from __future__ import annotations


from mmcourse.env import import_tensorflow
from mmcourse.keras_models.gpt import GPT, _linear, _norm
from mmcourse.keras_models.gpt import copy_weights_from_torch as copy_gpt_weights_from_torch
from mmcourse.vlm import PROJECTORS, check_sizes, grid_side

import_tensorflow()  # silences TensorFlow's start-up log lines before keras loads it
import keras  # noqa: E402
from keras import layers, ops  # noqa: E402


def pool_tokens(features, n_tokens: int):
    """Average a √N x √N grid of tokens (B, N, D), row by row, down to √n x √n: returns (B, n_tokens, D).

    √n must divide √N; each output token is the mean of a √N/√n square of
    input tokens (N = 16 -> n = 4 averages 2 x 2 blocks).
    """
    B, N, D = ops.shape(features)
    side, out = grid_side(N, "the features' N"), grid_side(n_tokens, "n_tokens")
    if side % out:
        raise ValueError(f"n_tokens = {n_tokens} must be a grid whose side divides the features' {side} x {side}")
    k = side // out
    grid = ops.reshape(features, (B, out, k, out, k, D))  # (B, rows, k, cols, k, D)
    return ops.reshape(ops.mean(grid, axis=(2, 4)), (B, n_tokens, D))  # (B, n, D)


class PatchTokens(layers.Layer):
    """The simplest frozen image encoder: images (B, H, W, 3) -> patches (B, (H/p)(W/p), 3 p²), row by row.

    No weights: each token is a patch's pixels, channel by channel (the
    torch twin's order), as Fuyu feeds patches straight into its projector.
    """

    def __init__(self, patch_size: int = 8, **kwargs):
        super().__init__(**kwargs)
        if isinstance(patch_size, bool) or not isinstance(patch_size, int) or patch_size < 1:
            raise ValueError(f"patch_size must be a positive int, got {patch_size!r}")
        self.patch_size = patch_size

    def call(self, images):
        p = self.patch_size
        if len(images.shape) != 4 or images.shape[3] != 3 or images.shape[1] % p or images.shape[2] % p:
            raise ValueError(f"images must be (B, H, W, 3) with H and W multiples of patch_size = {p}, "
                             f"got {tuple(images.shape)}")
        B, H, W, C = ops.shape(images)
        patches = ops.reshape(images, (B, H // p, p, W // p, p, C))  # (B, H/p, p, W/p, p, C)
        patches = ops.transpose(patches, (0, 1, 3, 5, 2, 4))  # (B, H/p, W/p, C, p, p)
        return ops.reshape(patches, (B, (H // p) * (W // p), C * p * p))  # (B, N, 3 p²)


class Projector(layers.Layer):
    """Visual features (B, n, D) -> decoder embeddings (B, n, C): ln, then fc_1 ("linear") or fc_1, GELU, fc_2 ("mlp").

    The LayerNormalization ``ln`` puts every encoder on the same footing: a
    contrastive encoder's ReLU features can be a hundred times smaller than
    the decoder's token embeddings, which a projector at its initial scale
    would drown in its own bias.
    """

    def __init__(self, in_dim: int, out_dim: int, kind: str = "mlp", **kwargs):
        super().__init__(**kwargs)
        if kind not in PROJECTORS:
            raise ValueError(f"kind must be one of {PROJECTORS}, got {kind!r}")
        self.kind = kind
        self.ln = layers.LayerNormalization(epsilon=1e-5, name="ln")
        self.ln.build((None, in_dim))
        self.fc_1 = layers.Dense(out_dim, name="fc_1")
        self.fc_1.build((None, in_dim))
        self.fc_2 = layers.Dense(out_dim, name="fc_2") if kind == "mlp" else None
        if self.fc_2 is not None:
            self.fc_2.build((None, out_dim))
        self.built = True  # every weight exists already: Keras need not call build()

    def call(self, x):
        x = self.fc_1(self.ln(x))  # (B, n, D) -> (B, n, C)
        if self.fc_2 is None:
            return x
        return self.fc_2(keras.activations.gelu(x, approximate=False))  # (B, n, C)


class VisionLanguageModel(keras.Model):
    """Projector + GPT: calling it on (features (B, N, D), idx (B, T)) gives logits (B, T, V).

    ``feature_dim`` is the encoder's D; ``n_visual`` pools the encoder's N
    tokens to that many (None keeps all N); ``projector`` is "linear" or "mlp".
    """

    def __init__(self, gpt: GPT, feature_dim: int, projector: str = "mlp", n_visual: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(gpt, GPT) or not gpt.config.causal:
            raise ValueError(f"gpt must be a causal Keras GPT (chapter 08), got {type(gpt).__name__}")
        check_sizes(feature_dim, n_visual)
        self.feature_dim = feature_dim
        self.n_visual = n_visual
        self.projector = Projector(feature_dim, gpt.config.n_embd, projector, name="projector")
        self.gpt = gpt
        self.built = True  # every weight exists already: Keras need not call build()

    def visual_tokens(self, features):
        """Encoder features (B, N, D) -> the decoder's visual prefix (B, n, C): pooled if n_visual is set, projected."""
        if len(features.shape) != 3 or features.shape[2] != self.feature_dim:
            raise ValueError(f"features must be (B, N, D = {self.feature_dim}), got {tuple(features.shape)}")
        if self.n_visual is not None and self.n_visual != features.shape[1]:
            features = pool_tokens(features, self.n_visual)  # (B, n, D)
        return self.projector(features)  # (B, n, C)

    def call(self, inputs, training: bool = False):
        """(features (B, N, D), idx (B, T)) -> logits (B, T, V) of the text idx after the visual tokens."""
        features, idx = inputs
        prefix = self.visual_tokens(features)  # (B, n, C)
        logits = self.gpt(idx, training=training, prefix=prefix)  # (B, n + T, V)
        return logits[:, prefix.shape[1]:]  # (B, T, V): the text positions


def copy_weights_from_torch(model: VisionLanguageModel, torch_model) -> None:
    """Load the weights of a torch ``VisionLanguageModel`` into its Keras twin ``model``, in place.

    The projector's LayerNorm weights copy as they are, its linear weights are transposed (torch (out, in), Keras
    (in, out)); the GPT's go through ``keras_models.gpt.copy_weights_from_torch``.
    Every projector shape is checked before any weight is set.
    """
    if not (hasattr(torch_model, "projector") and hasattr(torch_model, "gpt")):
        raise ValueError(f"torch_model must be a VisionLanguageModel with a projector and a gpt, "
                         f"got {type(torch_model).__name__}")
    if torch_model.projector.kind != model.projector.kind:
        raise ValueError(f"the torch projector is {torch_model.projector.kind!r} but the Keras one is "
                         f"{model.projector.kind!r}; build both with the same arguments")
    names = ("fc_1", "fc_2") if model.projector.kind == "mlp" else ("fc_1",)
    weights = {"ln": _norm(torch_model.projector.ln)} | {name: _linear(getattr(torch_model.projector, name))
                                                         for name in names}
    for name, arrays in weights.items():
        wanted = [tuple(w.shape) for w in getattr(model.projector, name).weights]
        if wanted != [a.shape for a in arrays]:
            raise ValueError(f"projector layer {name!r}: the Keras model wants weights of shapes {wanted}, the "
                             f"torch model gives {[a.shape for a in arrays]}; build both with the same arguments")
    copy_gpt_weights_from_torch(model.gpt, torch_model.gpt)
    for name, arrays in weights.items():
        getattr(model.projector, name).set_weights(arrays)
