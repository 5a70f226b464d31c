"""Attention from scratch equals torch and Keras (float64 to 1e-10, float32 to 1e-5) and passes gradient checks.

The pitfalls these tests pin down:

* mask conventions: ours, Keras's ``attention_mask`` and torch's
  ``F.scaled_dot_product_attention(attn_mask=...)`` are True = may attend;
  ``nn.MultiheadAttention``'s ``attn_mask`` and ``key_padding_mask`` are
  True = may *not* attend, so they get ``~mask``.
* weight layouts: torch packs Wq, Wk, Wv as rows of ``in_proj_weight``
  (3D, D) and computes x Wᵀ; Keras keeps the heads as an axis, kernels
  (D, heads, head_dim) and output kernel (heads, head_dim, D).
* every bias is random (torch starts them at zero), so a bias in the wrong
  place cannot hide.
"""
import mmcourse  # noqa: F401  (environment defaults before the frameworks load)
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import mmcourse.numpy_nn as nn
from mmcourse.env import import_tensorflow
from mmcourse.numpy_nn import numerical_gradient, relative_error

tf = import_tensorflow()
import keras  # noqa: E402  (after TensorFlow, so its start-up lines stay silent)

DTYPES = [np.float64, np.float32]
TOL = {np.float64: 1e-10, np.float32: 1e-5}
GRADCHECK = 1e-6
N, TQ, TK, D, HEADS = 2, 4, 5, 6, 2


def assert_close(actual, expected, dtype):
    expected = expected.detach().numpy() if isinstance(expected, torch.Tensor) else np.asarray(expected)
    assert actual.dtype == dtype
    np.testing.assert_allclose(actual, expected, rtol=TOL[dtype], atol=TOL[dtype])


def leaf(a):
    return torch.tensor(a, requires_grad=True)


def random_mask(rng, shape):
    """A random boolean mask (True = may attend) with at least one True per row."""
    mask = rng.random(shape) < 0.6
    mask[..., 0] |= ~mask.any(axis=-1)
    return mask


def random_params(rng, dtype, d=D):
    shapes = {name: (d, d) if name[0] == "W" else (d,) for name in nn.attention.PARAM_NAMES}
    return {name: (0.5 * rng.standard_normal(shape)).astype(dtype) for name, shape in shapes.items()}


# ---------------------------------------------------------------- scaled dot-product attention


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("masking", ["none", "random", "causal", "padding", "no-head-axis"])
def test_sdpa_forward_and_backward_match_torch(dtype, masking):
    rng = np.random.default_rng(0)
    lead = (N,) if masking == "no-head-axis" else (N, 3)
    tk = TQ if masking == "causal" else TK
    q = rng.standard_normal((*lead, TQ, 8)).astype(dtype)
    k = rng.standard_normal((*lead, tk, 8)).astype(dtype)
    v = rng.standard_normal((*lead, tk, 3)).astype(dtype)  # dv != d
    mask, torch_kwargs = None, {}
    if masking in ("random", "no-head-axis"):
        mask = random_mask(rng, (*lead, TQ, tk))
        torch_kwargs = {"attn_mask": torch.tensor(mask)}
    elif masking == "causal":
        mask, torch_kwargs = nn.causal_mask(TQ), {"is_causal": True}
    elif masking == "padding":
        mask = nn.padding_mask(np.array([2, 5]), tk)  # (N, 1, 1, Tk)
        torch_kwargs = {"attn_mask": torch.tensor(mask)}
    out, cache = nn.scaled_dot_product_attention(q, k, v, mask)
    qt, kt, vt = leaf(q), leaf(k), leaf(v)
    out_t = F.scaled_dot_product_attention(qt, kt, vt, **torch_kwargs)
    assert_close(out, out_t, dtype)
    np.testing.assert_allclose(cache.weights.sum(axis=-1), 1, rtol=TOL[dtype])
    if mask is not None:
        assert np.all(cache.weights[~np.broadcast_to(mask, cache.weights.shape)] == 0)
    dout = rng.standard_normal(out.shape).astype(dtype)
    grads_t = torch.autograd.grad(out_t, (qt, kt, vt), torch.tensor(dout))
    for ours, theirs in zip(nn.scaled_dot_product_attention_backward(dout, cache), grads_t):
        assert_close(ours, theirs, dtype)


def test_sdpa_softmax_is_stable_for_huge_scores():
    q = np.full((1, 2, 4), 1e4)
    k = np.array([[[1e4, 1e4, 1e4, 1e4], [-1e4, 0, 0, 0]]])
    out, cache = nn.scaled_dot_product_attention(q, k, np.eye(2)[None])
    assert np.all(np.isfinite(out))
    np.testing.assert_array_equal(cache.weights, [[[1.0, 0.0], [1.0, 0.0]]])


def test_causal_and_padding_masks_have_the_documented_values():
    np.testing.assert_array_equal(nn.causal_mask(3), [[1, 0, 0], [1, 1, 0], [1, 1, 1]])
    pad = nn.padding_mask(np.array([1, 3]), 3)
    assert pad.shape == (2, 1, 1, 3) and pad.dtype == bool
    np.testing.assert_array_equal(pad[:, 0, 0], [[1, 0, 0], [1, 1, 1]])
    both = nn.causal_mask(3) & pad  # (N, 1, T, T)
    np.testing.assert_array_equal(both[0, 0], [[1, 0, 0], [1, 0, 0], [1, 0, 0]])


# ---------------------------------------------------------------- multi-head attention vs torch


def torch_mha(rng, dtype):
    module = torch.nn.MultiheadAttention(D, HEADS, batch_first=True)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(0.5 * torch.randn(p.shape, generator=torch.Generator().manual_seed(int(rng.integers(1 << 30)))))
    return module.double() if dtype == np.float64 else module


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", ["self", "cross", "causal", "padding", "causal+padding"])
def test_mha_matches_torch_multihead_attention_with_converted_masks(dtype, case):
    rng = np.random.default_rng(1)
    module = torch_mha(rng, dtype)
    params = nn.mha_weights_from_torch(module)
    assert all(a.dtype == dtype for a in params.values())
    tk = TK if case in ("cross", "padding") else TQ
    x_q = rng.standard_normal((N, TQ, D)).astype(dtype)
    x_kv = x_q if tk == TQ else rng.standard_normal((N, tk, D)).astype(dtype)  # self-attention when Tk = Tq
    mask, torch_masks = None, {}
    if "causal" in case:
        mask = nn.causal_mask(TQ)
        torch_masks["attn_mask"] = torch.tensor(~mask)  # torch: True = NOT allowed
    if "padding" in case:
        pad = nn.padding_mask(np.array([tk - 2, tk]), tk)
        mask = pad if mask is None else mask & pad
        torch_masks["key_padding_mask"] = torch.tensor(~pad[:, 0, 0])  # (N, Tk), True = padding
    out, cache = nn.multi_head_attention_forward(x_q, x_kv, params, HEADS, mask)
    xq_t = leaf(x_q)
    xkv_t = xq_t if x_kv is x_q else leaf(x_kv)
    out_t, weights_t = module(xq_t, xkv_t, xkv_t, need_weights=True, average_attn_weights=False, **torch_masks)
    assert_close(out, out_t, dtype)
    assert_close(cache.weights, weights_t, dtype)  # (N, h, Tq, Tk)
    dout = rng.standard_normal(out.shape).astype(dtype)
    inputs = (xq_t,) if x_kv is x_q else (xq_t, xkv_t)
    named = [module.in_proj_weight, module.in_proj_bias, module.out_proj.weight, module.out_proj.bias]
    grads_t = torch.autograd.grad(out_t, (*inputs, *named), torch.tensor(dout))
    dx_q, dx_kv, grads = nn.multi_head_attention_backward(dout, cache)
    if x_kv is x_q:
        assert_close(dx_q + dx_kv, grads_t[0], dtype)  # self-attention: x feeds queries, keys and values
    else:
        assert_close(dx_q, grads_t[0], dtype)
        assert_close(dx_kv, grads_t[1], dtype)
    d_in_w, d_in_b, d_out_w, d_out_b = (g.numpy() for g in grads_t[len(inputs) :])
    for i, name in enumerate("qkv"):
        assert_close(grads[f"W{name}"], d_in_w[i * D : (i + 1) * D].T, dtype)
        assert_close(grads[f"b{name}"], d_in_b[i * D : (i + 1) * D], dtype)
    assert_close(grads["Wo"], d_out_w.T, dtype)
    assert_close(grads["bo"], d_out_b, dtype)


def test_passing_our_padding_mask_to_torch_unconverted_gives_different_numbers():
    """The pitfall itself: nn.MultiheadAttention's key_padding_mask is True where a key is padding."""
    rng = np.random.default_rng(2)
    module = torch_mha(rng, np.float64)
    x_q, x_kv = rng.standard_normal((N, TQ, D)), rng.standard_normal((N, TK, D))
    pad = nn.padding_mask(np.array([3, 4]), TK)  # (N, 1, 1, Tk), True = real key
    ours, _ = nn.multi_head_attention_forward(x_q, x_kv, nn.mha_weights_from_torch(module), HEADS, pad)
    xq_t, xkv_t = torch.tensor(x_q), torch.tensor(x_kv)
    right, _ = module(xq_t, xkv_t, xkv_t, key_padding_mask=torch.tensor(~pad[:, 0, 0]))
    np.testing.assert_allclose(ours, right.detach().numpy(), rtol=1e-10, atol=1e-10)
    wrong, _ = module(xq_t, xkv_t, xkv_t, key_padding_mask=torch.tensor(pad[:, 0, 0]))  # attends to the padding only
    assert np.abs(ours - wrong.detach().numpy()).max() > 1e-2


def test_mha_weights_from_torch_refuses_modules_with_extra_keys():
    with pytest.raises(ValueError, match="add_bias_kv=False"):
        nn.mha_weights_from_torch(torch.nn.MultiheadAttention(D, HEADS, add_bias_kv=True))
    with pytest.raises(ValueError, match="kdim = vdim = embed_dim"):
        nn.mha_weights_from_torch(torch.nn.MultiheadAttention(D, HEADS, kdim=3, vdim=3))


# ---------------------------------------------------------------- multi-head attention vs Keras


# Keras 3.15 (TensorFlow backend) turns the Python float 1/√key_dim into a
# float32 tensor before casting it to the layer's dtype, so a float64 layer
# scales by 1/√3 rounded to float32 (differences of 1e-8 in the output).
# key_dim = 4 makes the scale 1/2, exact in both, and the float64 comparison exact.
D_KERAS = 8  # two heads of key_dim 4


def keras_mha(rng, dtype):
    layer = keras.layers.MultiHeadAttention(HEADS, D_KERAS // HEADS, dtype=np.dtype(dtype).name)
    layer.build((None, TQ, D_KERAS), (None, TK, D_KERAS))
    params = random_params(rng, dtype, d=D_KERAS)
    layer.set_weights(nn.mha_weights_to_keras(params, HEADS))
    return layer, params


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", ["attention_mask", "use_causal_mask"])
def test_mha_matches_keras_multi_head_attention(dtype, case):
    rng = np.random.default_rng(3)
    layer, params = keras_mha(rng, dtype)
    for name, value in nn.mha_weights_from_keras(layer).items():
        np.testing.assert_array_equal(value, params[name])
    x_q = rng.standard_normal((N, TQ, D_KERAS)).astype(dtype)
    if case == "attention_mask":  # cross-attention, Keras's (N, Tq, Tk) mask
        x_kv = rng.standard_normal((N, TK, D_KERAS)).astype(dtype)
        mask = random_mask(rng, (N, TQ, TK))
        kwargs = {"attention_mask": tf.constant(mask)}
    else:  # self-attention
        x_kv, mask, kwargs = x_q, nn.causal_mask(TQ), {"use_causal_mask": True}
    out, cache = nn.multi_head_attention_forward(x_q, x_kv, params, HEADS, mask)
    dout = rng.standard_normal(out.shape).astype(dtype)
    xq_tf, xkv_tf = tf.constant(x_q), tf.constant(x_kv)
    with tf.GradientTape() as tape:
        tape.watch([xq_tf, xkv_tf])
        out_k = layer(xq_tf, xkv_tf, **kwargs)  # the fused dot_product_attention path
    grads_k = tape.gradient(out_k, [xq_tf, xkv_tf, *layer.trainable_weights], output_gradients=tf.constant(dout))
    assert_close(out, out_k, dtype)
    out_scores, scores = layer(xq_tf, xkv_tf, return_attention_scores=True, **kwargs)  # the einsum path
    assert_close(out, out_scores, dtype)
    assert_close(cache.weights, scores, dtype)  # (N, h, Tq, Tk)
    dx_q, dx_kv, grads = nn.multi_head_attention_backward(dout, cache)
    assert_close(dx_q, grads_k[0], dtype)
    assert_close(dx_kv, grads_k[1], dtype)
    for ours, theirs in zip(nn.mha_weights_to_keras(grads, HEADS), grads_k[2:]):  # Keras's layout and order
        assert_close(ours, theirs, dtype)


def test_mha_weights_from_keras_needs_a_built_layer_with_heads_times_key_dim_equal_to_d():
    with pytest.raises(ValueError, match="layer must be built"):
        nn.mha_weights_from_keras(keras.layers.MultiHeadAttention(HEADS, D // HEADS))
    layer = keras.layers.MultiHeadAttention(HEADS, 4)
    layer.build((None, TQ, D), (None, TK, D))
    with pytest.raises(ValueError, match=r"num_heads \* key_dim = D"):
        nn.mha_weights_from_keras(layer)


# ---------------------------------------------------------------- gradient checks (float64)


def check_gradients(loss, analytic: dict, zero: tuple[str, ...] = ()):
    """Relative error below GRADCHECK for every entry; those named in ``zero`` have a gradient that is exactly 0."""
    for name, (value, grad) in analytic.items():
        numerical = numerical_gradient(loss, value)
        if name in zero:  # relative error of two round-off noises is meaningless: both must be ~0
            assert np.abs(numerical).max() < 1e-8 and np.abs(grad).max() < 1e-12, f"d{name} should be 0"
            continue
        err = relative_error(numerical, grad)
        assert err < GRADCHECK, f"d{name}: relative error {err:.2e}"


def test_sdpa_backward_passes_gradcheck_with_a_mask():
    rng = np.random.default_rng(4)
    q, k, v = rng.standard_normal((2, 2, 3, 4)), rng.standard_normal((2, 2, 5, 4)), rng.standard_normal((2, 2, 5, 3))
    mask = random_mask(rng, (2, 1, 3, 5))
    out, cache = nn.scaled_dot_product_attention(q, k, v, mask)
    dout = rng.standard_normal(out.shape)
    dq, dk, dv = nn.scaled_dot_product_attention_backward(dout, cache)
    check_gradients(
        lambda: float(np.sum(nn.scaled_dot_product_attention(q, k, v, mask)[0] * dout)),
        {"q": (q, dq), "k": (k, dk), "v": (v, dv)},
    )


def test_mha_backward_passes_gradcheck_for_inputs_and_every_parameter():
    rng = np.random.default_rng(5)
    x_q, x_kv = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 4, 4))
    params = random_params(rng, np.float64, d=4)
    mask = nn.padding_mask(np.array([2, 4]), 4)
    out, cache = nn.multi_head_attention_forward(x_q, x_kv, params, 2, mask)
    dout = rng.standard_normal(out.shape)
    dx_q, dx_kv, grads = nn.multi_head_attention_backward(dout, cache)
    analytic = {"x_q": (x_q, dx_q), "x_kv": (x_kv, dx_kv)}
    analytic.update({name: (params[name], grads[name]) for name in params})
    # bk adds q·bk to every score of a query row, and softmax ignores a shift of the whole row: dbk = 0
    check_gradients(
        lambda: float(np.sum(nn.multi_head_attention_forward(x_q, x_kv, params, 2, mask)[0] * dout)), analytic, zero=("bk",)
    )


def test_layer_norm_backward_passes_gradcheck():
    rng = np.random.default_rng(6)
    x, gamma, beta = rng.standard_normal((2, 3, 5)), rng.standard_normal(5), rng.standard_normal(5)
    out, cache = nn.layer_norm_forward(x, gamma, beta)
    dout = rng.standard_normal(out.shape)
    dx, dgamma, dbeta = nn.layer_norm_backward(dout, cache)
    check_gradients(
        lambda: float(np.sum(nn.layer_norm_forward(x, gamma, beta)[0] * dout)),
        {"x": (x, dx), "gamma": (gamma, dgamma), "beta": (beta, dbeta)},
    )


# ---------------------------------------------------------------- positions and layer norm


def test_sinusoidal_positions_equal_the_formula_written_out():
    t = np.arange(3.0)
    expected = np.stack([np.sin(t), np.cos(t), np.sin(t / 100), np.cos(t / 100)], axis=1)  # D=4: 10000^(2/4) = 100
    np.testing.assert_allclose(nn.sinusoidal_positions(3, 4), expected, rtol=0, atol=1e-15)
    odd = nn.sinusoidal_positions(3, 5, dtype=np.float32)  # an odd D ends with a sine
    assert odd.shape == (3, 5) and odd.dtype == np.float32
    w1, w2 = 10000 ** (2 / 5), 10000 ** (4 / 5)
    expected = np.stack([np.sin(t), np.cos(t), np.sin(t / w1), np.cos(t / w1), np.sin(t / w2)], axis=1)
    np.testing.assert_allclose(odd, expected, rtol=0, atol=1e-7)


@pytest.mark.parametrize("dtype", DTYPES)
def test_layer_norm_matches_torch_layer_norm(dtype):
    rng = np.random.default_rng(7)
    x = (3 + 2 * rng.standard_normal((2, 4, 6))).astype(dtype)
    gamma, beta = rng.standard_normal(6).astype(dtype), rng.standard_normal(6).astype(dtype)
    out, cache = nn.layer_norm_forward(x, gamma, beta, eps=1e-5)
    xt, gt, bt = leaf(x), leaf(gamma), leaf(beta)
    out_t = F.layer_norm(xt, (6,), gt, bt, eps=1e-5)
    assert_close(out, out_t, dtype)
    dout = rng.standard_normal(out.shape).astype(dtype)
    grads_t = torch.autograd.grad(out_t, (xt, gt, bt), torch.tensor(dout))
    for ours, theirs in zip(nn.layer_norm_backward(dout, cache), grads_t):
        assert_close(ours, theirs, dtype)


# ---------------------------------------------------------------- errors that name the argument


def arr(*shape, dtype=np.float64):
    return np.zeros(shape, dtype=dtype)


PARAMS = random_params(np.random.default_rng(8), np.float64)
WITHOUT_BQ = {name: value for name, value in PARAMS.items() if name != "bq"}
SDPA_CACHE = nn.scaled_dot_product_attention(arr(2, 3, 4), arr(2, 5, 4), arr(2, 5, 4))[1]  # out (2, 3, 4)
MHA_CACHE = nn.multi_head_attention_forward(arr(2, 3, 6), arr(2, 3, 6), PARAMS, 2)[1]  # out (2, 3, 6)

CASES = [
    pytest.param(
        lambda: nn.scaled_dot_product_attention(arr(2, 3, 4), arr(2, 5, 3), arr(2, 5, 4)),
        ValueError, r"k must have shape \(2, 'Tk', 4\) to match q", id="sdpa-k-features",
    ),
    pytest.param(
        lambda: nn.scaled_dot_product_attention(arr(2, 3, 4), arr(2, 5, 4), arr(2, 6, 4)),
        ValueError, r"v must have shape \(2, 5, 'dv'\) to match k", id="sdpa-v-length",
    ),
    pytest.param(
        lambda: nn.scaled_dot_product_attention(arr(2, 3, 4), arr(2, 2, 5, 4), arr(2, 2, 5, 4)),
        ValueError, r"k must be 3-D \(\.\.\., Tk, d\) like q", id="sdpa-k-ndim",
    ),
    pytest.param(
        lambda: nn.scaled_dot_product_attention(arr(2, 3, 4), arr(2, 5, 4), arr(2, 5, 4), np.ones((2, 3, 4), bool)),
        ValueError, r"mask must broadcast to the attention scores \(\.\.\., Tq, Tk\) = \(2, 3, 5\), got shape \(2, 3, 4\)",
        id="sdpa-mask-shape",
    ),
    pytest.param(
        lambda: nn.scaled_dot_product_attention(arr(2, 3, 4), arr(2, 5, 4), arr(2, 5, 4), np.ones((3, 5))),
        TypeError, r"mask must have dtype bool \(True = may attend\), got float64", id="sdpa-float-mask",
    ),
    pytest.param(
        lambda: nn.scaled_dot_product_attention(arr(1, 3, 4), arr(1, 3, 4), arr(1, 3, 4), ~nn.causal_mask(3)),
        ValueError, r"mask leaves query row \(0, 2\) .* with no key to attend to", id="sdpa-fully-masked-row",
    ),
    pytest.param(
        lambda: nn.scaled_dot_product_attention_backward(arr(2, 3, 5), SDPA_CACHE),
        ValueError, r"dout must have shape \(2, 3, 4\)", id="sdpa-dout-shape",
    ),
    pytest.param(
        lambda: nn.multi_head_attention_forward(arr(2, 3, 6), arr(2, 4, 6), PARAMS, 4),
        ValueError, r"num_heads must divide the model width D = x_q.shape\[-1\] = 6, got num_heads=4", id="mha-heads-divide-d",
    ),
    pytest.param(
        lambda: nn.multi_head_attention_forward(arr(2, 3, 6), arr(2, 4, 5), PARAMS, 2),
        ValueError, r"x_kv must have shape \(N=2, Tk, D=6\) to match x_q", id="mha-x-kv-width",
    ),
    pytest.param(
        lambda: nn.multi_head_attention_forward(arr(3, 6), arr(3, 6), PARAMS, 2),
        ValueError, r"x_q must be 3-D \(N, Tq, D\)", id="mha-x-q-ndim",
    ),
    pytest.param(
        lambda: nn.multi_head_attention_forward(arr(2, 3, 6), arr(2, 3, 6), {**PARAMS, "Wo": arr(6, 5)}, 2),
        ValueError, r"params\['Wo'\] must have shape \(6, 6\)", id="mha-wo-shape",
    ),
    pytest.param(
        lambda: nn.multi_head_attention_forward(arr(2, 3, 6), arr(2, 3, 6), WITHOUT_BQ, 2),
        ValueError, r"missing \['bq'\]", id="mha-missing-param",
    ),
    pytest.param(
        lambda: nn.multi_head_attention_forward(arr(2, 3, 6, dtype=np.float32), arr(2, 3, 6, dtype=np.float32), PARAMS, 2),
        TypeError, r"params\['Wq'\] has dtype float64 but x_q has dtype float32", id="mha-mixed-dtypes",
    ),
    pytest.param(
        lambda: nn.multi_head_attention_forward(arr(2, 3, 6), arr(2, 3, 6), PARAMS, 2, np.ones((3, 3, 3), bool)),
        ValueError, r"mask of 3 dimensions must be \(N=2, Tq, Tk\) as in Keras", id="mha-mask-3d-batch",
    ),
    pytest.param(
        lambda: nn.multi_head_attention_forward(arr(2, 3, 6), arr(2, 3, 6), PARAMS, 2, ~nn.padding_mask(np.array([3, 3]), 3)),
        ValueError, r"mask leaves query row \(0, 0, 0\)", id="mha-fully-masked-row",
    ),
    pytest.param(
        lambda: nn.multi_head_attention_backward(arr(2, 4, 6), MHA_CACHE),
        ValueError, r"dout must have shape \(2, 3, 6\)", id="mha-dout-shape",
    ),
    pytest.param(
        lambda: nn.padding_mask(np.array([0, 3]), 3),
        ValueError, r"lengths must hold values in \[1, T=3\]", id="padding-zero-length",
    ),
    pytest.param(
        lambda: nn.padding_mask(np.array([2.0, 3.0]), 3),
        TypeError, r"lengths must have an integer dtype", id="padding-float-lengths",
    ),
    pytest.param(lambda: nn.causal_mask(0), ValueError, r"T must be >= 1, got 0", id="causal-zero-length"),
    pytest.param(
        lambda: nn.sinusoidal_positions(4, 6, dtype=np.int64),
        TypeError, r"dtype must be a floating dtype", id="positions-int-dtype",
    ),
    pytest.param(
        lambda: nn.layer_norm_forward(arr(2, 5), arr(4), arr(5)),
        ValueError, r"gamma must have shape \(5,\) \(D = x.shape\[-1\]\)", id="layer-norm-gamma-shape",
    ),
    pytest.param(
        lambda: nn.layer_norm_forward(arr(2, 5), arr(5), arr(5), eps=0),
        ValueError, r"eps must be a positive number", id="layer-norm-zero-eps",
    ),
    pytest.param(
        lambda: nn.mha_weights_to_keras(PARAMS, 4),
        ValueError, r"num_heads must be a positive int that divides D = 6", id="to-keras-heads",
    ),
]


@pytest.mark.parametrize(("call", "error", "message"), CASES)
def test_bad_input_raises_an_error_that_names_the_argument(call, error, message):
    with pytest.raises(error, match=message):
        call()
