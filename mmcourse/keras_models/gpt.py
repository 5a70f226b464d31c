"""A decoder-only transformer (GPT) in Keras (chapter 08).

Twin of ``mmcourse.torch_models.gpt`` (same ``GPTConfig``, class names,
layer names and weight shapes); diff the two files to see what differs
between the frameworks. Calling the model gives logits, so it trains with
``compile(loss=SparseCategoricalCrossentropy(from_logits=True))``; the KV
cache and sampling are taught on the torch twin::

    idx (B, T) -> wte(idx) + wpe(0 .. T-1) (B, T, C) -> dropout
               -> n_layer blocks h_0 ... h_{n_layer-1}, each pre-LayerNorm:
                      x = x + attn(ln_1(x))    causal multi-head self-attention
                      x = x + mlp(ln_2(x))     c_fc (C -> 4C), GELU, c_proj (4C -> C)
               -> ln_f -> lm_head: logits = x wte^T (B, T, V)

- attn: one Dense ``c_attn`` (C -> 3C) gives queries, keys and values; each
  of the n_head heads computes softmax(q k^T / sqrt(hd) + M) v with
  hd = C / n_head and M = -inf where the key comes after the query.
  With ``GPTConfig(causal=False)`` M = 0: every position sees every other,
  as in BERT, and the same network becomes a masked language model.
- GELU is the tanh approximation, ``gelu(approximate=True)``, the formula
  of torch's ``gelu(approximate="tanh")``; LayerNormalization uses torch's
  epsilon 1e-5 (Keras's default is 1e-3).
- Weight tying: ``lm_head`` is a method that multiplies by the transposed
  ``wte.embeddings``, so there is no separate head weight.

Name mapping (:func:`copy_weights_from_torch`), block i, C = n_embd::

    torch                              Keras (layer attributes / weight)
    wte.weight (V, C)                  wte/embeddings (V, C)
    wpe.weight (block_size, C)         wpe/embeddings (block_size, C)
    h.{i}.ln_1.weight, .bias (C,)      h_{i}/ln_1/gamma, beta (C,)
    h.{i}.attn.c_attn.weight (3C, C)   h_{i}/attn/c_attn/kernel (C, 3C), transposed; bias (3C,)
    h.{i}.attn.c_proj.weight (C, C)    h_{i}/attn/c_proj/kernel (C, C), transposed; bias (C,)
    h.{i}.ln_2.weight, .bias (C,)      h_{i}/ln_2/gamma, beta (C,)
    h.{i}.mlp.c_fc.weight (4C, C)      h_{i}/mlp/c_fc/kernel (C, 4C), transposed; bias (4C,)
    h.{i}.mlp.c_proj.weight (C, 4C)    h_{i}/mlp/c_proj/kernel (4C, C), transposed; bias (C,)
    ln_f.weight, .bias (C,)            ln_f/gamma, beta (C,)
    lm_head.weight (tied to wte)       none (tied to wte)

Prefix embeddings (chapter 10): calling the model with ``prefix`` (B, P, C)
puts those vectors, as they are, in front of the token embeddings, with
position embeddings like tokens; the logits then cover the P + T positions.
"""
from __future__ import annotations

import math
import numpy as np

from mmcourse.env import import_tensorflow
from mmcourse.gpt import GPTConfig
from mmcourse.keras_models._weights import require_layers, set_weights_checked

import_tensorflow()  # silences TensorFlow's start-up log lines before keras loads it
import keras  # noqa: E402
from keras import layers, ops  # noqa: E402


def _dense(units: int, in_dim: int, bias: bool, name: str, std: float = 0.02) -> layers.Dense:
    """A Dense layer with its weights created now: kernel (in_dim, units) ~ N(0, std), bias (units,) = 0."""
    dense = layers.Dense(units, use_bias=bias, kernel_initializer=keras.initializers.RandomNormal(stddev=std),
                         name=name)
    dense.build((None, in_dim))
    return dense


def _layer_norm(n_embd: int, bias: bool, name: str) -> layers.LayerNormalization:
    """A LayerNormalization over the last axis (C,) with torch's epsilon, its weights created now."""
    norm = layers.LayerNormalization(epsilon=1e-5, center=bias, name=name)
    norm.build((None, n_embd))
    return norm


def _embedding(n: int, n_embd: int, name: str) -> layers.Embedding:
    """An Embedding (n, C) ~ N(0, 0.02), its weights created now."""
    embedding = layers.Embedding(n, n_embd, embeddings_initializer=keras.initializers.RandomNormal(stddev=0.02),
                                 name=name)
    embedding.build()
    return embedding


def causal_attention(q, k, v, dropout: layers.Dropout, training: bool = False, causal: bool = True):
    """softmax(q k^T / sqrt(hd) + M) v for q (B, nh, T, hd), the last T of the S positions of k, v (B, nh, S, hd).

    M is -inf where a key's position comes after the query's, 0 elsewhere;
    returns (B, nh, T, hd). ``causal=False`` drops the mask (M = 0):
    bidirectional attention, as in BERT.
    """
    T, S = ops.shape(q)[2], ops.shape(k)[2]
    scores = ops.matmul(q, ops.transpose(k, (0, 1, 3, 2))) / math.sqrt(q.shape[3])  # (B, nh, T, S)
    if causal:
        future = ops.arange(S)[None, :] > ops.arange(S - T, S)[:, None]  # (T, S)
        scores = ops.where(future, float("-inf"), scores)
    weights = ops.softmax(scores, axis=3)  # (B, nh, T, S), rows sum to 1
    return ops.matmul(dropout(weights, training=training), v)  # (B, nh, T, hd)


class CausalSelfAttention(layers.Layer):
    """Multi-head self-attention (causal unless config.causal is False): x (B, T, C) -> (B, T, C)."""

    def __init__(self, config: GPTConfig, **kwargs):
        super().__init__(**kwargs)
        self.n_head = config.n_head
        self.causal = config.causal
        self.c_attn = _dense(3 * config.n_embd, config.n_embd, config.bias, "c_attn")  # q, k, v at once
        self.c_proj = _dense(config.n_embd, config.n_embd, config.bias, "c_proj",
                             std=0.02 / math.sqrt(2 * config.n_layer))
        self.attn_dropout = layers.Dropout(config.dropout)
        self.resid_dropout = layers.Dropout(config.dropout)
        self.built = True  # every weight exists already: Keras need not call build()

    def call(self, x, training: bool = False):
        B, T, C = ops.shape(x)
        q, k, v = ops.split(self.c_attn(x), 3, axis=2)  # 3 x (B, T, C)
        q, k, v = (ops.transpose(ops.reshape(t, (B, T, self.n_head, C // self.n_head)), (0, 2, 1, 3))
                   for t in (q, k, v))  # (B, nh, T, hd)
        y = causal_attention(q, k, v, self.attn_dropout, training, self.causal)  # (B, nh, T, hd)
        y = ops.reshape(ops.transpose(y, (0, 2, 1, 3)), (B, T, C))  # (B, T, nh, hd) -> (B, T, C): heads side by side
        return self.resid_dropout(self.c_proj(y), training=training)


class MLP(layers.Layer):
    """Position-wise feed-forward: c_fc (C -> 4C), GELU (tanh approximation), c_proj (4C -> C)."""

    def __init__(self, config: GPTConfig, **kwargs):
        super().__init__(**kwargs)
        self.c_fc = _dense(4 * config.n_embd, config.n_embd, config.bias, "c_fc")
        self.c_proj = _dense(config.n_embd, 4 * config.n_embd, config.bias, "c_proj",
                             std=0.02 / math.sqrt(2 * config.n_layer))
        self.dropout = layers.Dropout(config.dropout)
        self.built = True  # every weight exists already: Keras need not call build()

    def call(self, x, training: bool = False):
        h = keras.activations.gelu(self.c_fc(x), approximate=True)  # (B, T, 4C)
        return self.dropout(self.c_proj(h), training=training)  # (B, T, C)


class Block(layers.Layer):
    """One pre-LayerNorm transformer block: x + attn(ln_1(x)), then + mlp(ln_2(x)); (B, T, C) -> (B, T, C)."""

    def __init__(self, config: GPTConfig, **kwargs):
        super().__init__(**kwargs)
        self.ln_1 = _layer_norm(config.n_embd, config.bias, "ln_1")
        self.attn = CausalSelfAttention(config, name="attn")
        self.ln_2 = _layer_norm(config.n_embd, config.bias, "ln_2")
        self.mlp = MLP(config, name="mlp")
        self.built = True  # every weight exists already: Keras need not call build()

    def call(self, x, training: bool = False):
        x = x + self.attn(self.ln_1(x), training=training)  # (B, T, C)
        return x + self.mlp(self.ln_2(x), training=training)  # (B, T, C)


class GPT(keras.Model):
    """A decoder-only transformer language model: calling it on idx (B, T) gives logits (B, T, V)."""

    def __init__(self, config: GPTConfig, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.wte = _embedding(config.vocab_size, config.n_embd, "wte")  # token embedding (V, C)
        self.wpe = _embedding(config.block_size, config.n_embd, "wpe")  # learned position embedding (block_size, C)
        self.drop = layers.Dropout(config.dropout, name="drop")
        self.h = [Block(config, name=f"h_{i}") for i in range(config.n_layer)]
        self.ln_f = _layer_norm(config.n_embd, config.bias, "ln_f")
        self.built = True  # every weight exists already: Keras need not call build()

    def lm_head(self, x):
        """Logits x wte^T: (B, T, C) -> (B, T, V), with the token embedding as the output layer (weight tying)."""
        return ops.matmul(x, ops.transpose(self.wte.embeddings))

    def call(self, idx, training: bool = False, prefix=None):
        """idx (B, T) token ids, T <= block_size -> logits (B, T, V); with prefix (B, P, C) in front, (B, P + T, V)."""
        if len(idx.shape) != 2:
            raise ValueError(f"idx must have shape (B, T), got {tuple(idx.shape)}")
        if prefix is not None and (len(prefix.shape) != 3 or prefix.shape[2] != self.config.n_embd):
            raise ValueError(f"prefix must have shape (B, P, C = {self.config.n_embd}), got {tuple(prefix.shape)}")
        n_prefix = 0 if prefix is None else prefix.shape[1]
        if idx.shape[1] is not None and n_prefix + idx.shape[1] > self.config.block_size:
            held = f" after {n_prefix} prefix positions" if n_prefix else ""
            raise ValueError(f"idx has T = {idx.shape[1]} tokens{held}, more than block_size = "
                             f"{self.config.block_size} positions the model has embeddings for")
        x = self.wte(idx)  # (B, T, C)
        if prefix is not None:
            x = ops.concatenate([ops.cast(prefix, x.dtype), x], axis=1)  # (B, P + T, C): the prefix enters as it is
        positions = ops.arange(ops.shape(x)[1])  # (P + T,)
        x = self.drop(x + self.wpe(positions), training=training)  # (B, P + T, C) + (P + T, C) -> (B, P + T, C)
        for block in self.h:
            x = block(x, training=training)
        return self.lm_head(self.ln_f(x))  # (B, T, C) -> (B, T, V)


def _numpy(tensor) -> np.ndarray:
    """A torch parameter as a NumPy array (detached, on the CPU)."""
    return tensor.detach().cpu().numpy()


def _linear(module) -> list[np.ndarray]:
    """torch ``nn.Linear`` -> [kernel (in, out)] + [bias (out,)] if it has one."""
    return [_numpy(module.weight).T] + ([] if module.bias is None else [_numpy(module.bias)])


def _norm(module) -> list[np.ndarray]:
    """torch ``nn.LayerNorm`` -> [gamma (C,)] + [beta (C,)] if it has a bias."""
    return [_numpy(module.weight)] + ([] if module.bias is None else [_numpy(module.bias)])


def copy_weights_from_torch(model: GPT, torch_model) -> None:
    """Load the weights of a torch ``GPT`` into its Keras twin ``model``, in place (mapping in the module docstring).

    Linear weights are transposed (torch (out, in), Keras (in, out));
    embeddings and LayerNorm weights copy as they are. Every shape is
    checked before any weight is set, so a mismatch leaves ``model`` as it was.
    """
    require_layers(torch_model, ("wte", "wpe", "h", "ln_f"), "a GPT")
    if len(torch_model.h) != len(model.h):
        raise ValueError(f"the torch model has n_layer = {len(torch_model.h)} but the Keras model has "
                         f"{len(model.h)}; build both with the same GPTConfig")
    weights = {"wte": [_numpy(torch_model.wte.weight)], "wpe": [_numpy(torch_model.wpe.weight)],
               "ln_f": _norm(torch_model.ln_f)}
    for i, block in enumerate(torch_model.h):  # in the order of Block.weights: ln_1, attn, ln_2, mlp
        weights[f"h_{i}"] = [*_norm(block.ln_1), *_linear(block.attn.c_attn), *_linear(block.attn.c_proj),
                             *_norm(block.ln_2), *_linear(block.mlp.c_fc), *_linear(block.mlp.c_proj)]
    set_weights_checked(model, weights)
