"""A Bradley–Terry reward model in Keras: how much a caption suits an image (chapter 13).

Twin of ``mmcourse.torch_models.reward`` (same class, layer names and
weight shapes); diff the two files to see what differs between the
frameworks. As in RLHF, the reward model starts from a pretrained network:
mini_clip's image encoder (chapter 09), frozen, gives one visual token per
grid cell. The caption is read the way the preference rule reads it, as
the colour and shape it names in each cell and how often
(``mmcourse.feedback.caption_slots``); what those words should look like
is what the model learns from the preference pairs. Each cell gets a
score, the reward is their sum::

    tokens (B, P, D) -> image            (B, P, W)
    slots (B, P, 3)  -> colour + shape + count embeddings   (B, P, W)
    [image ; text ; image * text] -> fc_1, ReLU -> fc_2  (B, P)  -> sum over cells  (B,)

Trained with :func:`bradley_terry_loss`: the probability that the chosen
caption beats the rejected one is σ(r_chosen − r_rejected). Only
differences of rewards are learned, so a reward of 0 means nothing on its own.

Name mapping (:func:`copy_weights_from_torch`): the embeddings as they are;
torch ``image.weight`` (W, D) -> Keras ``image/kernel`` (D, W), transposed,
and the bias as it is; the same for ``fc_1`` and ``fc_2``.
"""
from __future__ import annotations

import numpy as np

from mmcourse.env import import_tensorflow
from mmcourse.feedback import MAX_COUNT, SLOT_COLOURS, SLOT_SHAPES, RewardConfig
from mmcourse.keras_models._weights import conv_and_dense_weights, require_layers, set_weights_checked

import_tensorflow()  # silences TensorFlow's start-up log lines before keras loads it
import keras  # noqa: E402
from keras import layers, ops  # noqa: E402

_EMBEDDINGS = ("colour", "shape", "count")
_DENSES = ("image", "fc_1", "fc_2")


def bradley_terry_loss(r_chosen, r_rejected):
    """Mean of −log σ(r_chosen − r_rejected) over the B pairs (B,): Bradley–Terry's negative log-likelihood."""
    return -ops.mean(ops.log_sigmoid(r_chosen - r_rejected))


class RewardModel(keras.Model):
    """``call(tokens (B, P, D), slots (B, P, 3))`` -> rewards (B,): a per-cell head, summed over the P cells."""

    def __init__(self, config: RewardConfig, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        W = config.width
        self.colour = layers.Embedding(len(SLOT_COLOURS) + 2, W, name="colour")  # nothing, the colours, another word
        self.shape = layers.Embedding(len(SLOT_SHAPES) + 2, W, name="shape")
        self.count = layers.Embedding(MAX_COUNT + 1, W, name="count")
        self.image = layers.Dense(W, name="image")
        self.fc_1 = layers.Dense(W, name="fc_1")
        self.fc_2 = layers.Dense(1, name="fc_2")

    def call(self, tokens, slots):
        P, D = self.config.n_places, self.config.feature_dim
        if len(tokens.shape) != 3 or tuple(tokens.shape[1:]) != (P, D) or tuple(slots.shape) != (tokens.shape[0], P, 3):
            raise ValueError(f"tokens must be (B, {P}, {D}) and slots (B, {P}, 3), got {tuple(tokens.shape)} and "
                             f"{tuple(slots.shape)}")
        image = self.image(tokens)  # (B, P, W)
        text = self.colour(slots[..., 0]) + self.shape(slots[..., 1]) + self.count(slots[..., 2])  # (B, P, W)
        hidden = ops.relu(self.fc_1(ops.concatenate([image, text, image * text], axis=-1)))  # (B, P, W)
        return ops.sum(ops.squeeze(self.fc_2(hidden), axis=-1), axis=1)  # (B, P) -> (B,)


def copy_weights_from_torch(model: RewardModel, torch_model) -> RewardModel:
    """Copy a torch ``RewardModel``'s weights into the Keras twin ``model`` (built on first call); returns it."""
    require_layers(torch_model, _EMBEDDINGS + _DENSES, "a torch RewardModel")
    P = model.config.n_places
    model(np.zeros((1, P, model.config.feature_dim), "float32"), np.zeros((1, P, 3), "int64"))  # build
    weights = {name: [getattr(torch_model, name).weight.detach().cpu().numpy()] for name in _EMBEDDINGS}
    set_weights_checked(model, weights | conv_and_dense_weights(torch_model, (), _DENSES))
    return model


__all__ = ["RewardModel", "bradley_terry_loss", "copy_weights_from_torch"]
