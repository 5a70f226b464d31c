"""A Bradley–Terry reward model in Keras: how much a caption suits an image (chapter 13).

Twin of ``mmcourse.torch_models.reward`` (same class, layer names and
weight shapes); diff the two files to see what differs between the
frameworks. As in RLHF, the reward model starts from a pretrained network:
mini_clip (chapter 09), frozen, embeds the image and the caption; a small
head, trained on preference pairs, turns the two embeddings into one
number, the reward r(image, caption)::

    image (B, E), caption (B, E): unit embeddings of the frozen encoder
    [image ; caption ; image * caption] -> fc_1, ReLU -> fc_2  (B,)   the reward

Trained with :func:`bradley_terry_loss`: the probability that the chosen
caption beats the rejected one is σ(r_chosen − r_rejected). Only
differences of rewards are learned, so a reward of 0 means nothing on its own.

Name mapping (:func:`copy_weights_from_torch`): torch ``fc_1.weight``
(W, 3 E) -> Keras ``fc_1/kernel`` (3 E, W), transposed, and the bias as it
is; the same for ``fc_2``.
"""
from __future__ import annotations

import numpy as np

from mmcourse.env import import_tensorflow
from mmcourse.feedback import RewardConfig
from mmcourse.keras_models._weights import conv_and_dense_weights, require_layers, set_weights_checked

import_tensorflow()  # silences TensorFlow's start-up log lines before keras loads it
import keras  # noqa: E402
from keras import layers, ops  # noqa: E402


def bradley_terry_loss(r_chosen, r_rejected):
    """Mean of −log σ(r_chosen − r_rejected) over the B pairs (B,): Bradley–Terry's negative log-likelihood."""
    return -ops.mean(ops.log_sigmoid(r_chosen - r_rejected))


class RewardModel(keras.Model):
    """``call(image (B, E), caption (B, E))`` -> rewards (B,): a two-layer head on the pair's embeddings."""

    def __init__(self, config: RewardConfig, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.fc_1 = layers.Dense(config.width, name="fc_1")
        self.fc_2 = layers.Dense(1, name="fc_2")

    def call(self, image, caption):
        E = self.config.embed_dim
        if len(image.shape) != 2 or image.shape[1] != E or tuple(caption.shape) != tuple(image.shape):
            raise ValueError(f"image and caption must both be (B, {E}) embeddings, got {tuple(image.shape)} and "
                             f"{tuple(caption.shape)}")
        hidden = ops.relu(self.fc_1(ops.concatenate([image, caption, image * caption], axis=1)))  # (B, W)
        return ops.squeeze(self.fc_2(hidden), axis=1)  # (B,)


def copy_weights_from_torch(model: RewardModel, torch_model) -> RewardModel:
    """Copy a torch ``RewardModel``'s weights into the Keras twin ``model`` (built on first call); returns it."""
    require_layers(torch_model, ("fc_1", "fc_2"), "a torch RewardModel")
    empty = np.zeros((1, model.config.embed_dim), "float32")
    model(empty, empty)  # build
    set_weights_checked(model, conv_and_dense_weights(torch_model, (), ("fc_1", "fc_2")))
    return model


__all__ = ["RewardModel", "bradley_terry_loss", "copy_weights_from_torch"]
