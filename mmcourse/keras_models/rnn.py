"""A recurrent sequence classifier in Keras for variable-length MFCC sequences (chapter 05).

Twin of ``mmcourse.torch_models.rnn`` (same arguments and defaults, same
layer names ``rnn`` and ``head``). The model ends in a softmax, so
``predict`` returns probabilities; :func:`logits_model` stops at ``head``::

    x (B, T, D) -> Masking(0) -> SimpleRNN / LSTM / GRU -> h at the last unmasked step (B, H)
               -> head: logits = h W + b (B, n_classes) -> softmax

Variable lengths: ``Masking(mask_value=0.0)`` marks every time step whose
features are *all* exactly zero as padding, and the recurrent layer skips
masked steps, carrying its state over them, so its output is the state at
each sequence's last real step, as the torch twin's gather. The input shape
is (None, D), so one model takes batches of any length. The price of the
convention: a real frame of all zeros would be skipped too. Standardised
MFCCs are never exactly zero in all 13 coefficients, but raw features
sometimes are (silence): standardise before padding.

Weight layouts differ from torch (:func:`rnn_layer_weights_from_torch`):
Keras stores (in, out) kernels and one bias (a GRU with ``reset_after=True``
stores two, as a (2, 3H) array); its GRU gate order is z, r, h where torch
has r, z, n.
"""
from __future__ import annotations

import numpy as np

from mmcourse.env import import_tensorflow
from mmcourse.keras_models._weights import require_layers, set_weights_checked
from mmcourse.numpy_nn.convert import linear_weights_from_torch

import_tensorflow()  # silences TensorFlow's start-up log lines before keras loads it
import keras  # noqa: E402
from keras import layers  # noqa: E402

CELLS = {"rnn": layers.SimpleRNN, "lstm": layers.LSTM, "gru": layers.GRU}
_TORCH_NAMES = {"RNN": "rnn", "LSTM": "lstm", "GRU": "gru"}


def build_sequence_classifier(n_features: int = 13, hidden_size: int = 64, n_classes: int = 10,
                              cell: str = "lstm") -> keras.Model:
    """Masking, one recurrent layer, a dense head: x (B, T, n_features) zero-padded -> probabilities (B, n_classes)."""
    if cell not in CELLS:
        raise ValueError(f"cell must be one of {sorted(CELLS)}, got {cell!r}")
    x = keras.Input(shape=(None, n_features), name="x")  # any number of steps T
    h = layers.Masking(mask_value=0.0, name="mask")(x)  # all-zero steps are padding
    h = CELLS[cell](hidden_size, name="rnn")(h)  # (B, H): the state at the last unmasked step
    logits = layers.Dense(n_classes, name="head")(h)  # (B, n_classes)
    probs = layers.Softmax(name="softmax")(logits)
    return keras.Model(inputs=x, outputs=probs, name=f"{cell}_classifier")


def logits_model(model: keras.Model) -> keras.Model:
    """A model sharing ``model``'s layers that stops at ``head``: x -> logits (B, n_classes)."""
    return keras.Model(inputs=model.input, outputs=model.get_layer("head").output)


def _numpy(tensor) -> np.ndarray:
    """A torch parameter as a NumPy array (detached, on the CPU)."""
    return tensor.detach().cpu().numpy()


def _rz_to_zr(a: np.ndarray) -> np.ndarray:
    """Reorder gate blocks on the last axis from torch's r, z, n to Keras's z, r, h."""
    r, z, n = np.split(a, 3, axis=-1)
    return np.concatenate([z, r, n], axis=-1)


def rnn_layer_weights_from_torch(module) -> list[np.ndarray]:
    """torch ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` (one layer, one direction) -> arrays for Keras ``set_weights``.

    - kernel (D, k·H) = weight_ih_l0ᵀ and recurrent kernel (H, k·H) = weight_hh_l0ᵀ:
      torch stores (out, in), Keras (in, out).
    - SimpleRNN and LSTM: bias (k·H,) = b_ih + b_hh (only their sum is ever used).
      The LSTM gate order is the same (torch i, f, g, o; Keras i, f, c, o).
    - GRU: the blocks are reordered from torch r, z, n to Keras z, r, h, and the
      bias is (2, 3H): row 0 b_ih, row 1 b_hh, both needed because the reset
      gate multiplies h W_hn + b_hn (Keras ``reset_after=True``).
    """
    kind = _TORCH_NAMES.get(type(module).__name__)
    if kind is None:
        raise ValueError(f"module must be a torch nn.RNN, nn.LSTM or nn.GRU, got {type(module).__name__}")
    if module.num_layers != 1 or module.bidirectional or not module.bias:
        raise ValueError(f"module must have one layer, one direction and biases, got {module!r}")
    if kind == "rnn" and module.nonlinearity != "tanh":
        raise ValueError(f"module must use nonlinearity='tanh' like Keras SimpleRNN, got {module.nonlinearity!r}")
    kernel, recurrent = _numpy(module.weight_ih_l0).T, _numpy(module.weight_hh_l0).T  # (D, kH), (H, kH)
    b_ih, b_hh = _numpy(module.bias_ih_l0), _numpy(module.bias_hh_l0)
    if kind == "gru":
        return [_rz_to_zr(kernel), _rz_to_zr(recurrent), _rz_to_zr(np.stack([b_ih, b_hh]))]
    return [kernel, recurrent, b_ih + b_hh]


def copy_weights_from_torch(model: keras.Model, torch_model) -> None:
    """Load the weights of a torch ``SequenceClassifier`` into its Keras twin ``model``, in place.

    The recurrent layer goes through :func:`rnn_layer_weights_from_torch`; the
    head is a Dense layer, whose torch weight (out, in) is transposed. Every
    shape is checked before any weight is set, so a mismatch leaves ``model``
    as it was.
    """
    require_layers(torch_model, ("rnn", "head"), "a SequenceClassifier")
    torch_kind = _TORCH_NAMES.get(type(torch_model.rnn).__name__)
    keras_kind = {layer: name for name, layer in CELLS.items()}.get(type(model.get_layer("rnn")))
    if torch_kind != keras_kind:
        raise ValueError(f"the torch model has cell {torch_kind!r} but the Keras model has cell {keras_kind!r}; "
                         "build both with the same arguments")
    weights = {"rnn": rnn_layer_weights_from_torch(torch_model.rnn),
               "head": list(linear_weights_from_torch(torch_model.head))}
    set_weights_checked(model, weights)
