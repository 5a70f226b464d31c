"""Loading weights from a torch twin into a Keras model: shared by every ``copy_weights_from_torch``."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from mmcourse.numpy_nn.convert import conv2d_weights_from_torch, conv2d_weights_to_keras, linear_weights_from_torch

if TYPE_CHECKING:  # keras is imported by the model modules, after TensorFlow's quiet import
    import keras


def require_layers(torch_model, names: tuple[str, ...], kind: str) -> None:
    """Raise a ValueError unless ``torch_model`` has every submodule in ``names``."""
    for name in names:
        if not hasattr(torch_model, name):
            raise ValueError(f"torch_model must be {kind} with a layer named {name!r}, "
                             f"got {type(torch_model).__name__}")


def conv_and_dense_weights(torch_model, convs: tuple[str, ...], denses: tuple[str, ...]) -> dict[str, list[np.ndarray]]:
    """Keras weight lists for the named torch Conv2d ((F,C,kh,kw) -> (kh,kw,C,F)) and Linear (transposed) layers."""
    weights = {name: conv2d_weights_to_keras(*conv2d_weights_from_torch(getattr(torch_model, name))) for name in convs}
    weights |= {name: list(linear_weights_from_torch(getattr(torch_model, name))) for name in denses}
    return weights


def set_weights_checked(model: "keras.Model", weights: dict[str, list[np.ndarray]]) -> None:
    """Set each named layer's weights, after checking every shape, so a mismatch changes nothing."""
    for name, arrays in weights.items():
        wanted = [tuple(w.shape) for w in model.get_layer(name).weights]
        if wanted != [a.shape for a in arrays]:
            raise ValueError(f"layer {name!r}: the Keras model wants weights of shapes {wanted}, the torch model "
                             f"gives {[a.shape for a in arrays]}; build both with the same arguments")
    for name, arrays in weights.items():
        model.get_layer(name).set_weights(arrays)
