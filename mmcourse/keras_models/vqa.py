"""Shape-scene VQA model in Keras: a small CNN reads the image, an Embedding + LSTM reads the question.

Twin of ``mmcourse.torch_models.vqa`` (same layer names, arguments and
defaults). This is the source text's two-input example done right:

- the conv map (B, 4, 4, c3) is flattened to a VECTOR before the
  concatenation (the source joined a 4-D map with a 2-D vector, which raises);
- question ids go through ``Embedding(mask_zero=True)`` before the LSTM (the
  source fed integer ids to the LSTM as if id 17 were the number 17); the
  mask makes the LSTM stop at each question's last true token, as
  ``pack_padded_sequence`` does in the torch twin;
- images are 32 x 32, not 224 x 224.

    images (B, 32, 32, 3) -> [conv 3x3 + ReLU -> max-pool 2] x 3 -> flatten -> dense + ReLU -> I (B, image_units)
    question_ids (B, L)   -> embedding (mask_zero) -> LSTM -> Q (B, lstm_units)
    F = [I; Q] -> dense + ReLU (B, fusion_units) -> head (B, n_answers) -> softmax
"""
from __future__ import annotations

from mmcourse.data.shape_scenes import ANSWERS
from mmcourse.env import import_tensorflow
from mmcourse.keras_models._weights import (conv_and_dense_weights, flattened_dense_weights, require_layers,
                                            set_weights_checked)

import_tensorflow()  # silences TensorFlow's start-up log lines before keras loads it
import keras  # noqa: E402
from keras import layers  # noqa: E402

IMAGE_SIZE = 32


def build_vqa_model(vocab_size: int, max_len: int = 8, n_answers: int = len(ANSWERS),
                    image_size: int = IMAGE_SIZE, conv_channels: tuple[int, int, int] = (8, 16, 32),
                    image_units: int = 128, embedding_dim: int = 16, lstm_units: int = 32,
                    fusion_units: int = 128) -> keras.Model:
    """Inputs {"images": (B, H, W, 3) in [0, 1], "question_ids": (B, max_len) int} -> probabilities (B, n_answers)."""
    if vocab_size < 2:
        raise ValueError(f"vocab_size must be at least 2 (<pad> and <unk>), got {vocab_size}")
    if image_size % 8:
        raise ValueError(f"image_size must be a multiple of 8 (three 2x2 poolings), got {image_size}")
    c1, c2, c3 = conv_channels
    images = keras.Input(shape=(image_size, image_size, 3), name="images")
    question_ids = keras.Input(shape=(max_len,), dtype="int32", name="question_ids")
    x = layers.Conv2D(c1, 3, padding="same", activation="relu", name="image_conv1")(images)
    x = layers.MaxPooling2D(2, name="image_pool1")(x)  # (B, H/2, W/2, c1)
    x = layers.Conv2D(c2, 3, padding="same", activation="relu", name="image_conv2")(x)
    x = layers.MaxPooling2D(2, name="image_pool2")(x)  # (B, H/4, W/4, c2)
    x = layers.Conv2D(c3, 3, padding="same", activation="relu", name="image_conv3")(x)
    x = layers.MaxPooling2D(2, name="image_pool3")(x)  # (B, H/8, W/8, c3): still 4-D
    x = layers.Flatten(name="image_flatten")(x)  # (B, H/8 * W/8 * c3): now a vector, and it keeps WHERE
    x = layers.Dense(image_units, activation="relu", name="image_dense")(x)  # I (B, image_units)
    q = layers.Embedding(vocab_size, embedding_dim, mask_zero=True, name="question_embedding")(question_ids)
    q = layers.LSTM(lstm_units, name="question_lstm")(q)  # Q (B, lstm_units), state after the last true token
    fused = layers.Concatenate(name="fusion")([x, q])  # F = [I; Q]: (B, image_units + lstm_units)
    h = layers.Dense(fusion_units, activation="relu", name="fusion_dense")(fused)
    logits = layers.Dense(n_answers, name="head")(h)  # (B, n_answers)
    probs = layers.Softmax(name="softmax")(logits)  # y = softmax(W h + b)
    return keras.Model(inputs={"images": images, "question_ids": question_ids}, outputs=probs, name="vqa")


def copy_weights_from_torch(model: keras.Model, torch_model) -> None:
    """Load the weights of a torch ``VQANet`` into its Keras twin ``model``, in place.

    Conv2D kernels (F, C, kh, kw) -> (kh, kw, C, F); Dense layers transposed,
    ``image_dense``'s rows also reordered from torch's (C, H, W) flattening
    to Keras's (H, W, C); the Embedding table as it is; the LSTM through
    ``rnn_layer_weights_from_torch`` (same gate order i, f, g, o; the two
    torch biases summed). Every shape is checked before any weight is set.
    """
    from mmcourse.keras_models.rnn import rnn_layer_weights_from_torch

    convs = ("image_conv1", "image_conv2", "image_conv3")
    require_layers(torch_model, (*convs, "image_dense", "question_embedding", "question_lstm", "fusion_dense", "head"),
                   "a VQANet")
    weights = conv_and_dense_weights(torch_model, convs, ("fusion_dense", "head"))
    _, height, width, channels = model.get_layer("image_pool3").output.shape
    weights["image_dense"] = flattened_dense_weights(torch_model.image_dense, height, width, channels)
    weights["question_embedding"] = [torch_model.question_embedding.weight.detach().cpu().numpy()]
    weights["question_lstm"] = rnn_layer_weights_from_torch(torch_model.question_lstm)
    set_weights_checked(model, weights)


def build_naive_model(image_size: int = 224, max_len: int = 100, n_answers: int = 10) -> keras.Model:
    """The source text's example as written: a 4-D conv map concatenated with a 2-D LSTM output. Raises ValueError."""
    images = keras.Input(shape=(image_size, image_size, 3))
    text = keras.Input(shape=(max_len, 1))  # raw ids as one float each; the source's (100,) would not even reach here
    image_pool = layers.MaxPooling2D(2)(layers.Conv2D(64, 3, activation="relu")(images))  # (B, 111, 111, 64)
    text_lstm = layers.LSTM(64)(text)  # (B, 64)
    fused = layers.concatenate([image_pool, text_lstm])  # 4-D with 2-D: ValueError
    return keras.Model(inputs=[images, text], outputs=layers.Dense(n_answers, activation="softmax")(fused))
