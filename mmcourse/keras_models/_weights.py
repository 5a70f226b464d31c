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


def flattened_dense_weights(torch_dense, height: int, width: int, channels: int) -> list[np.ndarray]:
    """Keras [kernel (H*W*C, units), bias] for a torch Linear that reads a flattened (C, H, W) conv map.

    torch flattens the map in C, H, W order, Keras in H, W, C order, so the
    same row index means a different pixel-channel: the rows are reordered
    as well as transposed.
    """
    dense = torch_dense.weight.detach().cpu().numpy()  # (units, C*H*W), each row in C, H, W order
    if dense.shape[1] != channels * height * width:
        raise ValueError(f"the torch dense layer takes {dense.shape[1]} inputs but the Keras model's conv map "
                         f"has {height} x {width} x {channels}; build both with the same arguments")
    units = dense.shape[0]
    kernel = dense.reshape(units, channels, height, width).transpose(2, 3, 1, 0).reshape(-1, units)  # (H*W*C, units)
    return [kernel, torch_dense.bias.detach().cpu().numpy()]
