"""The symmetric InfoNCE (CLIP) loss: NumPy equals torch and Keras, its gradient equals autograd and finite differences.

Tolerances: float64 to 1e-10, float32 to 1e-5; relative error of the
central-difference gradient check below 1e-6. The properties that make it
CLIP's loss (aligned pairs cost nothing, identical rows cost ln N, images
and texts play symmetric roles, only directions matter) are checked on all
three implementations.
"""
import math

import mmcourse  # noqa: F401  (environment defaults before the frameworks load)
import numpy as np
import pytest
import torch

import mmcourse.numpy_nn as nn
from mmcourse.env import import_tensorflow
from mmcourse.numpy_nn import numerical_gradient, relative_error
from mmcourse.numpy_nn.contrastive import INIT_LOGIT_SCALE, MAX_LOGIT_SCALE
from mmcourse.torch_models import clip as torch_clip

tf = import_tensorflow()
from mmcourse.keras_models import clip as keras_clip  # noqa: E402  (after TensorFlow, so its start-up lines stay silent)

DTYPES = [np.float64, np.float32]
TOL = {np.float64: 1e-10, np.float32: 1e-5}
GRADCHECK = 1e-6
N, D = 5, 7


def embeddings(rng, dtype=np.float64, n=N, d=D):
    """Random image and text embeddings (N, D), text n correlated with image n as in a trained model."""
    image = rng.standard_normal((n, d))
    text = image + 0.8 * rng.standard_normal((n, d))
    return (3 * image).astype(dtype), (0.5 * text).astype(dtype)  # norms far from 1: the normalisation matters


def numpy_loss(image, text, t):
    return nn.info_nce_forward(image, text, t)[0]


def torch_loss(image, text, t):
    return torch_clip.clip_loss(torch.tensor(image), torch.tensor(text), torch.tensor(t, dtype=torch.float64)).item()


def keras_loss(image, text, t):
    return float(keras_clip.clip_loss(tf.constant(image), tf.constant(text), tf.constant(t, dtype=image.dtype)))


LOSSES = [pytest.param(f, id=f.__name__.split("_")[0]) for f in (numpy_loss, torch_loss, keras_loss)]


# ---------------------------------------------------------------- equal to the frameworks


@pytest.mark.parametrize("dtype", DTYPES)
def test_info_nce_loss_and_gradients_match_torch_autograd(dtype):
    image, text = embeddings(np.random.default_rng(0), dtype)
    loss, cache = nn.info_nce_forward(image, text, INIT_LOGIT_SCALE)
    d_image, d_text, d_t = nn.info_nce_backward(cache)
    image_t, text_t = torch.tensor(image, requires_grad=True), torch.tensor(text, requires_grad=True)
    t_t = torch.tensor(INIT_LOGIT_SCALE, dtype=image_t.dtype, requires_grad=True)
    loss_t = torch_clip.clip_loss(image_t, text_t, t_t)
    loss_t.backward()
    assert d_image.dtype == d_text.dtype == dtype and d_image.shape == d_text.shape == (N, D)
    assert loss == pytest.approx(loss_t.item(), rel=TOL[dtype], abs=TOL[dtype])
    np.testing.assert_allclose(d_image, image_t.grad.numpy(), rtol=TOL[dtype], atol=TOL[dtype])
    np.testing.assert_allclose(d_text, text_t.grad.numpy(), rtol=TOL[dtype], atol=TOL[dtype])
    assert d_t == pytest.approx(t_t.grad.item(), rel=TOL[dtype], abs=TOL[dtype])
    np.testing.assert_allclose(cache.logits, math.exp(INIT_LOGIT_SCALE) * torch.cosine_similarity(
        image_t[:, None], text_t[None], dim=2).detach().numpy(), rtol=TOL[dtype], atol=TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_info_nce_loss_and_gradients_match_keras(dtype):
    image, text = embeddings(np.random.default_rng(1), dtype)
    loss, cache = nn.info_nce_forward(image, text, 1.5)
    d_image, d_text, d_t = nn.info_nce_backward(cache)
    image_k, text_k, t_k = tf.Variable(image), tf.Variable(text), tf.Variable(1.5, dtype=image.dtype)
    with tf.GradientTape() as tape:
        loss_k = keras_clip.clip_loss(image_k, text_k, t_k)
    grads_k = tape.gradient(loss_k, [image_k, text_k, t_k])
    assert loss_k.dtype == dtype  # TensorFlow computes in float64 when given float64
    assert loss == pytest.approx(float(loss_k), rel=TOL[dtype], abs=TOL[dtype])
    np.testing.assert_allclose(d_image, grads_k[0].numpy(), rtol=TOL[dtype], atol=TOL[dtype])
    np.testing.assert_allclose(d_text, grads_k[1].numpy(), rtol=TOL[dtype], atol=TOL[dtype])
    assert d_t == pytest.approx(float(grads_k[2]), rel=TOL[dtype], abs=TOL[dtype])


def test_similarity_logits_are_scaled_cosines_and_the_cache_keeps_them():
    image, text = embeddings(np.random.default_rng(2))
    logits = nn.similarity_logits(image, text, MAX_LOGIT_SCALE)
    cosines = (image @ text.T) / np.outer(np.linalg.norm(image, axis=1), np.linalg.norm(text, axis=1))
    np.testing.assert_allclose(logits, 100 * cosines, rtol=1e-12)
    np.testing.assert_allclose(nn.info_nce_forward(image, text, MAX_LOGIT_SCALE)[1].logits, logits, rtol=1e-15)


def test_info_nce_backward_passes_gradient_check():
    image, text = embeddings(np.random.default_rng(3))
    t = np.array(0.7)  # a 0-d array, so numerical_gradient can nudge it
    _, cache = nn.info_nce_forward(image, text, float(t))
    d_image, d_text, d_t = nn.info_nce_backward(cache)
    loss = lambda: nn.info_nce_forward(image, text, float(t))[0]  # noqa: E731
    assert relative_error(numerical_gradient(loss, image), d_image) < GRADCHECK
    assert relative_error(numerical_gradient(loss, text), d_text) < GRADCHECK
    assert relative_error(numerical_gradient(loss, t), np.array(d_t)) < GRADCHECK


# ---------------------------------------------------------------- what makes it CLIP's loss


@pytest.mark.parametrize("loss", LOSSES)
def test_aligned_well_separated_pairs_with_a_large_scale_cost_nothing(loss):
    directions = np.eye(N, D)  # pair n points along axis n: cos = 1 with its partner, 0 with the others
    lengths = np.arange(1.0, N + 1)[:, None]
    assert loss(lengths * directions, directions / lengths, MAX_LOGIT_SCALE) < 1e-30  # ln(1 + (N-1) e^-100)


@pytest.mark.parametrize("loss", LOSSES)
def test_identical_rows_cost_ln_n(loss):
    rng = np.random.default_rng(4)
    lengths = np.arange(1.0, N + 1)[:, None]
    image = lengths * rng.standard_normal(D)  # every image has the same direction, and every text:
    text = np.tile(rng.standard_normal(D), (N, 1))  # Z is constant, each softmax uniform, each CE ln N
    assert loss(image, text, MAX_LOGIT_SCALE) == pytest.approx(math.log(N), abs=1e-12)


@pytest.mark.parametrize("loss", LOSSES)
def test_swapping_images_and_texts_gives_the_same_loss(loss):
    image, text = embeddings(np.random.default_rng(5))
    assert loss(text, image, 2.0) == pytest.approx(loss(image, text, 2.0), rel=1e-13)


def test_swapping_images_and_texts_swaps_the_gradients():
    image, text = embeddings(np.random.default_rng(5))
    d_image, d_text, d_t = nn.info_nce_backward(nn.info_nce_forward(image, text, 2.0)[1])
    d_text_swapped, d_image_swapped, d_t_swapped = nn.info_nce_backward(nn.info_nce_forward(text, image, 2.0)[1])
    np.testing.assert_allclose(d_image_swapped, d_image, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(d_text_swapped, d_text, rtol=1e-12, atol=1e-15)
    assert d_t_swapped == pytest.approx(d_t, rel=1e-12)


@pytest.mark.parametrize("loss", LOSSES)
def test_scaling_an_embedding_row_does_not_change_the_loss(loss):
    image, text = embeddings(np.random.default_rng(6))
    scaled_image, scaled_text = image.copy(), text.copy()
    scaled_image[1] *= 40.0
    scaled_text[3] *= 1e-3
    assert loss(scaled_image, scaled_text, 2.0) == pytest.approx(loss(image, text, 2.0), rel=1e-13)


def test_gradient_has_no_component_along_each_row():
    image, text = embeddings(np.random.default_rng(7))
    d_image, d_text, _ = nn.info_nce_backward(nn.info_nce_forward(image, text, 2.0)[1])
    np.testing.assert_allclose((d_image * image).sum(axis=1), 0, atol=1e-15)  # radial directions change nothing
    np.testing.assert_allclose((d_text * text).sum(axis=1), 0, atol=1e-15)


def test_huge_scale_stays_finite():
    image, text = embeddings(np.random.default_rng(8))
    loss, cache = nn.info_nce_forward(image, text, 600.0)  # logits up to e^600 ≈ 1e260
    assert math.isfinite(loss) and all(np.isfinite(g).all() for g in nn.info_nce_backward(cache))


# ---------------------------------------------------------------- the learnable temperature


def test_logit_scale_twins_start_at_clip_init_and_clamp_at_100():
    torch_scale, keras_scale = torch_clip.LogitScale(), keras_clip.LogitScale()
    assert torch_scale().item() == pytest.approx(math.log(1 / 0.07), rel=1e-7)
    assert float(keras_scale()) == pytest.approx(math.log(1 / 0.07), rel=1e-7)
    assert [p.shape for p in torch_scale.parameters()] == [()] and len(keras_scale.trainable_weights) == 1
    with torch.no_grad():
        torch_scale.logit_scale.fill_(10.0)
    keras_scale.logit_scale.assign(10.0)
    assert math.exp(torch_scale().item()) == pytest.approx(100, rel=1e-6)
    assert math.exp(float(keras_scale())) == pytest.approx(100, rel=1e-6)


def test_logit_scale_is_learned_through_clip_loss():
    image, text = (torch.tensor(e, dtype=torch.float32) for e in embeddings(np.random.default_rng(9)))
    scale = torch_clip.LogitScale()
    torch_clip.clip_loss(image, text, scale()).backward()
    _, cache = nn.info_nce_forward(image.numpy(), text.numpy(), INIT_LOGIT_SCALE)
    assert scale.logit_scale.grad.item() == pytest.approx(nn.info_nce_backward(cache)[2], rel=1e-5)


# ---------------------------------------------------------------- errors name the argument


def bad(rows, cols=D, dtype=np.float64):
    return np.ones((rows, cols), dtype=dtype)


def with_value(value, row=2):
    x = np.random.default_rng(10).standard_normal((N, D))
    x[row] = value
    return x


ERRORS = [
    pytest.param(lambda: nn.info_nce_forward(bad(N), bad(N + 1), 1.0), ValueError,
                 r"text_emb must have shape \(5, 7\) \(\(N, D\) like image_emb.*got \(6, 7\)", id="batch-differs"),
    pytest.param(lambda: nn.info_nce_forward(bad(N), bad(N, D + 1), 1.0), ValueError,
                 r"text_emb must have shape \(5, 7\).*got \(5, 8\)", id="width-differs"),
    pytest.param(lambda: nn.similarity_logits(bad(1), bad(1), 1.0), ValueError,
                 r"image_emb must hold N >= 2 pairs .* got shape \(1, 7\)", id="one-pair"),
    pytest.param(lambda: nn.info_nce_forward(bad(N)[0], bad(N), 1.0), ValueError,
                 r"image_emb must be 2-D \(N, D\), got shape \(7,\)", id="image-1d"),
    pytest.param(lambda: nn.info_nce_forward(with_value(np.nan), bad(N), 1.0), ValueError,
                 r"image_emb must be finite, got NaN or inf in row 2", id="image-nan"),
    pytest.param(lambda: nn.info_nce_forward(bad(N), with_value(np.inf, row=4), 1.0), ValueError,
                 r"text_emb must be finite, got NaN or inf in row 4", id="text-inf"),
    pytest.param(lambda: nn.info_nce_forward(bad(N), with_value(0.0, row=3), 1.0), ValueError,
                 r"text_emb row 3 has norm 0", id="text-zero-row"),
    pytest.param(lambda: nn.info_nce_forward(with_value(0.0, row=0), bad(N), 1.0), ValueError,
                 r"image_emb row 0 has norm 0", id="image-zero-row"),
    pytest.param(lambda: nn.info_nce_forward(bad(N), bad(N), float("nan")), ValueError,
                 r"logit_scale must be finite and at most 709.8 .* got nan", id="scale-nan"),
    pytest.param(lambda: nn.info_nce_forward(bad(N, dtype=np.float32), bad(N, dtype=np.float32), 100.0), ValueError,
                 r"logit_scale must be finite and at most 88.72 .* finite float32.*got 100.0", id="scale-overflows"),
    pytest.param(lambda: nn.info_nce_forward(bad(N), bad(N), np.array(1.0)), TypeError,
                 r"logit_scale must be a real number", id="scale-array"),
    pytest.param(lambda: nn.info_nce_forward(bad(N), bad(N, dtype=np.float32), 1.0), TypeError,
                 r"text_emb has dtype float32 but image_emb has dtype float64", id="mixed-dtypes"),
    pytest.param(lambda: torch_clip.clip_loss(torch.ones(N, D), torch.ones(N + 1, D), torch.tensor(1.0)), ValueError,
                 r"image_emb and text_emb must both be \(N, D\).*got \(5, 7\) and \(6, 7\)", id="torch-batch-differs"),
    pytest.param(lambda: keras_clip.clip_loss(bad(N), bad(N + 1), 1.0), ValueError,
                 r"image_emb and text_emb must both be \(N, D\).*got \(5, 7\) and \(6, 7\)", id="keras-batch-differs"),
]


@pytest.mark.parametrize("call, error, message", ERRORS)
def test_bad_inputs_raise_errors_that_name_the_argument(call, error, message):
    with pytest.raises(error, match=message):
        call()
