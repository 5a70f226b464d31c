"""Fusion operators in Keras: seven ways to turn per-modality features into one prediction.

Twin of ``mmcourse.torch_models.fusion`` (same class names, constructor
arguments, parameter shapes and outputs); diff the two files. What differs:
Dense kernels are (in, out) here and (out, in) in torch, each layer creates
its weights when it is constructed (as torch does) rather than on its first
call, and ``keras.ops`` stands in for ``torch``. ``copy_weights_torch_to_keras``
loads a torch operator's weights into its Keras twin, after which the two
agree to 1e-5 in float32. Every operator takes a list of M feature tensors
``[f_1, ..., f_M]``, f_i of shape (B, d_i), with the d_i given to the
constructor as ``input_dims``, and returns (B, out_dim):

    ConcatFusion          F = W [f_1; ...; f_M] + b                       (early fusion)
    WeightedSumFusion     F = sum_i w_i (W_i f_i + b_i),  w = softmax(a)
    LateFusion            one head per modality, z_i = W_i f_i + b_i; F = sum_i z_i (summed logits)
                          or F = log(mean_i softmax(z_i)) (averaged probabilities)
    GatedFusion           F = sum_i sigmoid(G_i [f_1; ...; f_M] + c_i) * tanh(W_i f_i + b_i)
    TensorFusion          F = W vec([f_1; 1] x [f_2; 1] x ...) + b     (outer product, TFN)
    LowRankFusion         F = sum_k lambda_k prod_i ([f_i; 1] W_i^(k)) + b  (LMF, rank r)
    CrossAttentionFusion  tokens of each modality attend to the other's, pooled, then W [.; .] + b

``FusionClassifier`` puts a classification head on an operator:
logits = V relu(F) + c. ``LateFusion`` already ends in logits and is
trained as it is.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from mmcourse.env import import_tensorflow
from mmcourse.fusion import LATE_COMBINES, check_dims, check_positive, low_rank_factors

import_tensorflow()  # silences TensorFlow's start-up log lines before keras loads it
import keras  # noqa: E402
from keras import layers, ops  # noqa: E402


def check_inputs(inputs: Sequence, input_dims: Sequence[int]) -> None:
    """Check a list of M feature tensors (B, d_i) against ``input_dims``; the ValueError names the bad one.

    Inside a traced ``fit`` step the batch size is unknown (None) and is
    then not compared.
    """
    if not isinstance(inputs, (list, tuple)) or len(inputs) != len(input_dims):
        raise ValueError(f"inputs must be a list of {len(input_dims)} tensors (one per modality), got "
                         + (f"{len(inputs)}" if isinstance(inputs, (list, tuple)) else type(inputs).__name__))
    for i, (x, d) in enumerate(zip(inputs, input_dims)):
        if not hasattr(x, "shape"):
            raise ValueError(f"inputs[{i}] must be a tensor or an array, got {type(x).__name__}")
        if len(x.shape) != 2 or x.shape[1] != d:
            raise ValueError(f"inputs[{i}] must have shape (B, {d}), got {tuple(x.shape)}")
    batch = inputs[0].shape[0]
    for i, x in enumerate(inputs[1:], start=1):
        if batch is not None and x.shape[0] is not None and x.shape[0] != batch:
            raise ValueError(f"inputs[{i}] has batch size {x.shape[0]} but inputs[0] has {batch}: "
                             "every modality needs one row per example")


def with_ones(x):
    """[x; 1]: (B, d) -> (B, d + 1), a constant 1 appended to each row."""
    return ops.concatenate([x, ops.ones_like(x[:, :1])], axis=1)


def _dense(units: int, in_dim: int, name: str) -> layers.Dense:
    """A Dense layer with its weights created now: kernel (in_dim, units), bias (units,)."""
    dense = layers.Dense(units, name=name)
    dense.build((None, in_dim))
    return dense


class ConcatFusion(layers.Layer):
    """Early fusion: F = W [f_1; ...; f_M] + b, (B, d_1), ..., (B, d_M) -> (B, out_dim)."""

    def __init__(self, input_dims: Sequence[int], out_dim: int, **kwargs):
        super().__init__(**kwargs)
        self.input_dims = check_dims(input_dims)
        self.out_dim = check_positive(out_dim, "out_dim")
        self.proj = _dense(out_dim, sum(self.input_dims), "proj")
        self.built = True  # every weight exists already: Keras need not call build()

    def call(self, inputs):
        check_inputs(inputs, self.input_dims)
        return self.proj(ops.concatenate(list(inputs), axis=1))  # [f_1; ...; f_M]: (B, sum d_i) -> (B, out_dim)


class WeightedSumFusion(layers.Layer):
    """F = sum_i w_i (W_i f_i + b_i) with w = softmax(a): each modality projected to out_dim, then mixed.

    The M logits ``a`` start at 0 (equal weights 1/M) and are learned; the
    softmax keeps the weights positive and summing to 1.
    """

    def __init__(self, input_dims: Sequence[int], out_dim: int, **kwargs):
        super().__init__(**kwargs)
        self.input_dims = check_dims(input_dims)
        self.out_dim = check_positive(out_dim, "out_dim")
        self.proj = [_dense(out_dim, d, f"proj_{i}") for i, d in enumerate(self.input_dims)]
        self.weight_logits = self.add_weight(shape=(len(self.input_dims),), initializer="zeros",
                                             name="weight_logits")  # a: (M,)
        self.built = True  # every weight exists already: Keras need not call build()

    def modality_weights(self):
        """w = softmax(a): (M,), positive, summing to 1."""
        return ops.softmax(self.weight_logits, axis=0)

    def call(self, inputs):
        check_inputs(inputs, self.input_dims)
        projected = ops.stack([proj(x) for proj, x in zip(self.proj, inputs)], axis=1)  # (B, M, out_dim)
        return ops.einsum("m,bmo->bo", self.modality_weights(), projected)  # (B, out_dim)


class LateFusion(layers.Layer):
    """One classifier per modality, combined at the end: (B, d_i) ... -> (B, out_dim) logits.

    Head i gives logits z_i = W_i f_i + b_i (with ``hidden`` > 0, a hidden
    ReLU layer first). ``combine='sum_logits'`` returns sum_i z_i, i.e. the
    product of the heads' probabilities once renormalised;
    ``combine='mean_probs'`` returns log(mean_i softmax(z_i)), the log of the
    averaged probabilities, so that cross-entropy and argmax apply to both.
    """

    def __init__(self, input_dims: Sequence[int], out_dim: int, combine: str = "sum_logits", hidden: int = 0,
                 **kwargs):
        super().__init__(**kwargs)
        self.input_dims = check_dims(input_dims)
        self.out_dim = check_positive(out_dim, "out_dim")
        if combine not in LATE_COMBINES:
            raise ValueError(f"combine must be one of {LATE_COMBINES}, got {combine!r}")
        if isinstance(hidden, bool) or not isinstance(hidden, int) or hidden < 0:
            raise ValueError(f"hidden must be an int >= 0 (0: linear heads), got {hidden!r}")
        self.combine = combine
        self.heads = [[_dense(hidden, d, f"head_{i}_hidden"), _dense(out_dim, hidden, f"head_{i}_out")] if hidden
                      else [_dense(out_dim, d, f"head_{i}_out")] for i, d in enumerate(self.input_dims)]
        self.built = True  # every weight exists already: Keras need not call build()

    @staticmethod
    def _head(head: list[layers.Dense], x):
        for dense in head[:-1]:
            x = ops.relu(dense(x))
        return head[-1](x)

    def call(self, inputs):
        check_inputs(inputs, self.input_dims)
        logits = ops.stack([self._head(head, x) for head, x in zip(self.heads, inputs)], axis=0)  # (M, B, out_dim)
        if self.combine == "sum_logits":
            return ops.sum(logits, axis=0)
        log_probs = ops.log_softmax(logits, axis=2)  # (M, B, out_dim)
        return ops.logsumexp(log_probs, axis=0) - math.log(len(self.input_dims))  # log mean_i p_i


class GatedFusion(layers.Layer):
    """F = sum_i g_i * h_i, h_i = tanh(W_i f_i + b_i), g_i = sigmoid(G_i [f_1; ...; f_M] + c_i).

    A gated multimodal unit (Arevalo et al., 2017): each gate sees every
    modality and decides, feature by feature and example by example, how
    much of its modality's projection to let through. -> (B, out_dim).
    """

    def __init__(self, input_dims: Sequence[int], out_dim: int, **kwargs):
        super().__init__(**kwargs)
        self.input_dims = check_dims(input_dims)
        self.out_dim = check_positive(out_dim, "out_dim")
        self.proj = [_dense(out_dim, d, f"proj_{i}") for i, d in enumerate(self.input_dims)]
        self.gates = [_dense(out_dim, sum(self.input_dims), f"gate_{i}") for i in range(len(self.input_dims))]
        self.built = True  # every weight exists already: Keras need not call build()

    def call(self, inputs):
        check_inputs(inputs, self.input_dims)
        joint = ops.concatenate(list(inputs), axis=1)  # (B, sum d_i)
        return sum(ops.sigmoid(gate(joint)) * ops.tanh(proj(x))  # (B, out_dim) each
                   for gate, proj, x in zip(self.gates, self.proj, inputs))


def outer_with_ones(inputs: Sequence):
    """vec([f_1; 1] x [f_2; 1] x ...): (B, d_1), (B, d_2), ... -> (B, (d_1 + 1)(d_2 + 1)...).

    Row-major order: entry (a, b) of the two-modality product sits at
    a * (d_2 + 1) + b. Thanks to the 1s the product holds every f_1 and f_2
    entry on its own as well as every pairwise product f_1a f_2b.
    """
    fused = with_ones(inputs[0])  # (B, d_1 + 1)
    for x in inputs[1:]:
        outer = ops.einsum("bi,bj->bij", fused, with_ones(x))  # (B, prev, d + 1)
        fused = ops.reshape(outer, (-1, outer.shape[1] * outer.shape[2]))  # (B, prev * (d + 1))
    return fused


class TensorFusion(layers.Layer):
    """Tensor fusion (TFN, Zadeh et al., 2017): F = W vec([f_1; 1] x [f_2; 1] x ...) + b -> (B, out_dim).

    W has out_dim x prod_i (d_i + 1) entries: it grows with the product of
    the modality sizes, which is what low-rank fusion avoids.
    """

    def __init__(self, input_dims: Sequence[int], out_dim: int, **kwargs):
        super().__init__(**kwargs)
        self.input_dims = check_dims(input_dims)
        self.out_dim = check_positive(out_dim, "out_dim")
        self.proj = _dense(out_dim, math.prod(d + 1 for d in self.input_dims), "proj")
        self.built = True  # every weight exists already: Keras need not call build()

    def call(self, inputs):
        check_inputs(inputs, self.input_dims)
        return self.proj(outer_with_ones(inputs))  # (B, prod (d_i + 1)) -> (B, out_dim)


class LowRankFusion(layers.Layer):
    """Low-rank multimodal fusion (LMF, Liu et al., 2018): TFN with W a sum of ``rank`` outer products.

        F = sum_k lambda_k prod_i ([f_i; 1] W_i^(k)) + b,   W_i^(k): (d_i + 1, out_dim)

    (product over modalities element by element). It never builds the outer
    product: the cost is linear in sum_i d_i instead of prod_i d_i. Each
    modality's factors form one (rank, d_i + 1, out_dim) variable made with
    ``add_weight``, so that the layer tracks it and the optimizer trains it.
    """

    def __init__(self, input_dims: Sequence[int], out_dim: int, rank: int = 4, **kwargs):
        super().__init__(**kwargs)
        self.input_dims = check_dims(input_dims)
        self.out_dim = check_positive(out_dim, "out_dim")
        self.rank = check_positive(rank, "rank")
        self.factors = [self.add_weight(shape=(rank, d + 1, out_dim), name=f"factor_{i}",
                                        initializer=keras.initializers.RandomNormal(
                                            stddev=math.sqrt(2.0 / ((d + 1) * out_dim + rank * out_dim))))
                        for i, d in enumerate(self.input_dims)]  # xavier-normal, torch's fans for a 3-D tensor
        self.rank_weights = self.add_weight(shape=(rank,), name="rank_weights",  # lambda: (rank,)
                                            initializer=keras.initializers.RandomNormal(
                                                stddev=math.sqrt(2.0 / (1 + rank))))
        self.bias = self.add_weight(shape=(out_dim,), initializer="zeros", name="bias")
        self.built = True  # every weight exists already: Keras need not call build()

    @classmethod
    def from_tensor_fusion(cls, tensor_fusion: TensorFusion, rank: int) -> LowRankFusion:
        """An LMF of rank ``rank`` approximating a two-modality TensorFusion (exact at full rank)."""
        if not isinstance(tensor_fusion, TensorFusion) or len(tensor_fusion.input_dims) != 2:
            raise ValueError(f"tensor_fusion must be a TensorFusion of two modalities, got {tensor_fusion!r}")
        lmf = cls(tensor_fusion.input_dims, tensor_fusion.out_dim, rank)
        factors = low_rank_factors(np.asarray(tensor_fusion.proj.kernel).T, tensor_fusion.input_dims, rank)
        for factor, array in zip(lmf.factors, factors):
            factor.assign(array)
        lmf.rank_weights.assign(np.ones(rank, dtype=np.float32))
        lmf.bias.assign(np.asarray(tensor_fusion.proj.bias))
        return lmf

    def call(self, inputs):
        check_inputs(inputs, self.input_dims)
        product = 1.0
        for x, factor in zip(inputs, self.factors):
            product = product * ops.einsum("bd,rdo->rbo", with_ones(x), factor)  # (rank, B, out_dim)
        return ops.einsum("r,rbo->bo", self.rank_weights, product) + self.bias  # (B, out_dim)


class CrossAttentionFusion(layers.Layer):
    """Two modalities, each turned into ``n_tokens`` tokens whose queries attend to the other's keys and values.

        [T_i, Q_i, K_i, V_i] = reshape(P_i f_i + p_i): four (B, n, d_model) per modality i
        U_1 = T_1 + O_1 Attn(Q_1, K_2, V_2)   (modality 1 asks, modality 2 answers)
        U_2 = T_2 + O_2 Attn(Q_2, K_1, V_1)
        F = W [mean_t U_1; mean_t U_2] + b: (B, out_dim)

    Attn is multi-head scaled dot-product attention, softmax(Q K^T / sqrt(d_head)) V
    per head. One linear map per modality gives the tokens and their queries,
    keys and values at once: the usual tokens-then-W_q (W_k, W_v) is a linear
    map of a linear map, so it is the same model with more layers.
    """

    def __init__(self, input_dims: Sequence[int], out_dim: int, n_tokens: int = 4, d_model: int = 32,
                 n_heads: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.input_dims = check_dims(input_dims, min_modalities=2, max_modalities=2)
        self.out_dim = check_positive(out_dim, "out_dim")
        self.n_tokens = check_positive(n_tokens, "n_tokens")
        self.d_model = check_positive(d_model, "d_model")
        self.n_heads = check_positive(n_heads, "n_heads")
        if d_model % n_heads:
            raise ValueError(f"d_model ({d_model}) must be divisible by n_heads ({n_heads})")
        self.tokens = [_dense(n_tokens * 4 * d_model, d, f"tokens_{i}") for i, d in enumerate(self.input_dims)]
        self.attn_out = [_dense(d_model, d_model, f"attn_out_{i}") for i in range(2)]
        self.proj = _dense(out_dim, 2 * d_model, "proj")
        self.built = True  # every weight exists already: Keras need not call build()

    def _heads(self, x):
        """(B, n, d_model) -> (B, heads, n, d_head)."""
        x = ops.reshape(x, (-1, self.n_tokens, self.n_heads, self.d_model // self.n_heads))
        return ops.transpose(x, (0, 2, 1, 3))

    def attend(self, q, k, v):
        """Multi-head attention of queries q on keys k and values v, each (B, n, d_model) -> (B, n, d_model)."""
        q, k, v = self._heads(q), self._heads(k), self._heads(v)  # (B, heads, n, d_head)
        scores = ops.matmul(q, ops.transpose(k, (0, 1, 3, 2))) / math.sqrt(q.shape[-1])  # (B, heads, n, n)
        mixed = ops.matmul(ops.softmax(scores, axis=3), v)  # (B, heads, n, d_head)
        return ops.reshape(ops.transpose(mixed, (0, 2, 1, 3)), (-1, self.n_tokens, self.d_model))  # (B, n, d_model)

    def call(self, inputs):
        check_inputs(inputs, self.input_dims)
        (t1, q1, k1, v1), (t2, q2, k2, v2) = (
            ops.split(ops.reshape(tokens(x), (-1, self.n_tokens, 4 * self.d_model)), 4, axis=2)  # 4 x (B, n, d_model)
            for tokens, x in zip(self.tokens, inputs))
        u1 = t1 + self.attn_out[0](self.attend(q1, k2, v2))
        u2 = t2 + self.attn_out[1](self.attend(q2, k1, v1))
        return self.proj(ops.concatenate([ops.mean(u1, axis=1), ops.mean(u2, axis=1)], axis=1))  # (B, out_dim)


FUSIONS = (ConcatFusion, WeightedSumFusion, LateFusion, GatedFusion, TensorFusion, LowRankFusion,
           CrossAttentionFusion)


class FusionClassifier(keras.Model):
    """A fusion operator with a linear head: logits = V relu(F) + c, (B, d_i) ... -> (B, n_classes).

    ``LateFusion`` already returns logits, so it gets no head (its out_dim
    must then be n_classes). Called, as Keras models are, with the list of
    modalities, ``model([f_1, f_2])``; compile it with a loss ``from_logits=True``.
    """

    def __init__(self, fusion: layers.Layer, n_classes: int, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(fusion, FUSIONS):
            raise ValueError(f"fusion must be one of {[f.__name__ for f in FUSIONS]}, got {type(fusion).__name__}")
        n_classes = check_positive(n_classes, "n_classes")
        if isinstance(fusion, LateFusion) and fusion.out_dim != n_classes:
            raise ValueError(f"a LateFusion gives the logits itself: its out_dim ({fusion.out_dim}) must equal "
                             f"n_classes ({n_classes})")
        self.fusion = fusion
        self.head = None if isinstance(fusion, LateFusion) else _dense(n_classes, fusion.out_dim, "head")
        self.built = True  # every weight exists already

    def call(self, inputs):
        """inputs: a list with one (B, d_i) tensor per modality -> logits (B, n_classes)."""
        fused = self.fusion(list(inputs))  # (B, out_dim)
        return fused if self.head is None else self.head(ops.relu(fused))


# -- torch -> Keras weights ---------------------------------------------------------------------------


def _numpy(tensor) -> np.ndarray:
    """A torch tensor as a NumPy array (detached, on the CPU)."""
    return tensor.detach().cpu().numpy()


def _dense_pairs(dense: layers.Dense, linear) -> list[tuple]:
    """(Keras variable, array) pairs loading a torch nn.Linear into a Dense: kernel = W^T, bias = b."""
    return [(dense.kernel, _numpy(linear.weight).T), (dense.bias, _numpy(linear.bias))]


def _pairs_concat(layer: ConcatFusion, module) -> list[tuple]:
    return _dense_pairs(layer.proj, module.proj)


def _pairs_weighted_sum(layer: WeightedSumFusion, module) -> list[tuple]:
    pairs = [(layer.weight_logits, _numpy(module.weight_logits))]
    for dense, linear in zip(layer.proj, module.proj):
        pairs += _dense_pairs(dense, linear)
    return pairs


def _pairs_late(layer: LateFusion, module) -> list[tuple]:
    pairs = []
    for head, sequential in zip(layer.heads, module.heads):
        linears = [m for m in sequential if hasattr(m, "weight")]
        if len(linears) != len(head):
            raise ValueError(f"the torch heads have {len(linears)} linear layers, the Keras heads {len(head)}: "
                             "build both with the same hidden")
        for dense, linear in zip(head, linears):
            pairs += _dense_pairs(dense, linear)
    return pairs


def _pairs_gated(layer: GatedFusion, module) -> list[tuple]:
    pairs = []
    for group in ("proj", "gates"):
        for dense, linear in zip(getattr(layer, group), getattr(module, group)):
            pairs += _dense_pairs(dense, linear)
    return pairs


def _pairs_low_rank(layer: LowRankFusion, module) -> list[tuple]:
    pairs = [(variable, _numpy(factor)) for variable, factor in zip(layer.factors, module.factors)]
    return pairs + [(layer.rank_weights, _numpy(module.rank_weights)), (layer.bias, _numpy(module.bias))]


def _pairs_cross_attention(layer: CrossAttentionFusion, module) -> list[tuple]:
    pairs = _dense_pairs(layer.proj, module.proj)
    for group in ("tokens", "attn_out"):
        for dense, linear in zip(getattr(layer, group), getattr(module, group)):
            pairs += _dense_pairs(dense, linear)
    return pairs


def _pairs_classifier(model: FusionClassifier, module) -> list[tuple]:
    pairs = _weight_pairs(model.fusion, module.fusion)
    return pairs + ([] if model.head is None else _dense_pairs(model.head, module.head))


def _weight_pairs(layer, module) -> list[tuple]:
    if type(layer).__name__ != type(module).__name__:
        raise ValueError(f"keras_layer is a {type(layer).__name__} but torch_module is a {type(module).__name__}: "
                         "copy between twins of the same name")
    copiers = {ConcatFusion: _pairs_concat, WeightedSumFusion: _pairs_weighted_sum, LateFusion: _pairs_late,
               GatedFusion: _pairs_gated, TensorFusion: _pairs_concat, LowRankFusion: _pairs_low_rank,
               CrossAttentionFusion: _pairs_cross_attention, FusionClassifier: _pairs_classifier}
    if type(layer) not in copiers:
        raise ValueError(f"no weight copier for {type(layer).__name__}; expected one of "
                         f"{[c.__name__ for c in copiers]}")
    return copiers[type(layer)](layer, module)


def copy_weights_torch_to_keras(torch_module, keras_layer) -> None:
    """Load the weights of a torch fusion operator (or FusionClassifier) into its Keras twin, in place.

    Dense kernels are transposed (torch stores (out, in) and computes x W^T,
    Keras stores (in, out) and computes x W); other weights copy as they are.
    Every shape is checked before any weight is set, so a mismatch leaves
    ``keras_layer`` as it was.
    """
    pairs = _weight_pairs(keras_layer, torch_module)
    for variable, array in pairs:
        if tuple(variable.shape) != array.shape:
            raise ValueError(f"weight {variable.path!r}: the Keras twin wants shape {tuple(variable.shape)}, the "
                             f"torch module gives {array.shape}; build both with the same arguments")
    n_torch = sum(p.numel() for p in torch_module.parameters())
    if n_torch != sum(array.size for _, array in pairs):
        raise ValueError(f"the torch module has {n_torch} parameters but only "
                         f"{sum(array.size for _, array in pairs)} were matched; build both with the same arguments")
    for variable, array in pairs:
        variable.assign(array)


# -- unimodal encoders for AV digits (the chapter trains them once, then fuses their frozen features) ---------


class ImageEncoder(keras.Model):
    """Small CNN for one (B, 28, 28, 1) image batch: ``features`` (B, units), calling it gives logits (B, n_classes).

        average-pool 2 (28 -> 14: halves the pixel noise, quarters the cost) -> conv 3x3 + ReLU -> max-pool 2
        -> conv 3x3 + ReLU -> max-pool 2 -> flatten (B, 3 * 3 * c2) -> dense + ReLU: features (B, units)
    """

    def __init__(self, n_classes: int = 10, conv_channels: tuple[int, int] = (8, 16), units: int = 32, **kwargs):
        super().__init__(**kwargs)
        c1, c2 = conv_channels
        self.body = keras.Sequential([
            layers.AveragePooling2D(2), layers.Conv2D(c1, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(2),  # (B, 7, 7, c1)
            layers.Conv2D(c2, 3, padding="same", activation="relu"), layers.MaxPooling2D(2),  # (B, 3, 3, c2)
            layers.Flatten(), layers.Dense(units, activation="relu")])  # (B, units)
        self.head = layers.Dense(check_positive(n_classes, "n_classes"))
        self.units = units

    def build(self, input_shape):
        self.body.build(input_shape)
        self.head.build((None, self.units))

    def features(self, images):
        """images (B, 28, 28, 1) -> features (B, units)."""
        if len(images.shape) != 4 or tuple(images.shape[1:]) != (28, 28, 1):
            raise ValueError(f"images must have shape (B, 28, 28, 1), got {tuple(images.shape)}")
        return self.body(images)

    def call(self, images):
        return self.head(self.features(images))  # (B, n_classes)


class AudioEncoder(keras.Model):
    """GRU over MFCC frames (B, T, 13): ``features`` = last hidden state (B, units), calling it gives logits."""

    def __init__(self, n_classes: int = 10, n_coefficients: int = 13, units: int = 32, **kwargs):
        super().__init__(**kwargs)
        self.n_coefficients = n_coefficients
        # reset_after=True (the default) is the gate formula of torch's nn.GRU; unroll=True writes the few
        # time steps out in the graph instead of a loop, which is faster for short sequences such as 4 frames
        self.gru = layers.GRU(units, unroll=True)
        self.head = layers.Dense(check_positive(n_classes, "n_classes"))
        self.units = units

    def build(self, input_shape):
        self.gru.build(input_shape)
        self.head.build((None, self.units))

    def features(self, audio):
        """audio (B, T, 13) -> features (B, units)."""
        if len(audio.shape) != 3 or audio.shape[2] != self.n_coefficients:
            raise ValueError(f"audio must have shape (B, T, {self.n_coefficients}), got {tuple(audio.shape)}")
        return self.gru(audio)

    def call(self, audio):
        return self.head(self.features(audio))  # (B, n_classes)
