"""The CLIP loss in Keras: symmetric InfoNCE in four lines, and the learnable temperature (chapter 09).

Twin of ``mmcourse.torch_models.clip`` (same names, same formula); diff the
two files to see what differs between the frameworks. The equation, with
shapes, is in :mod:`mmcourse.numpy_nn.contrastive`, whose hand-written
gradient the tests compare with this file's autograd; ``logit_scale`` t is
CLIP's log inverse temperature (exp(t) = 1/τ), learned by :class:`LogitScale`.
"""
from __future__ import annotations

from mmcourse.env import import_tensorflow
from mmcourse.numpy_nn.contrastive import INIT_LOGIT_SCALE, MAX_LOGIT_SCALE

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
