"""Fusion operators: shapes, gradients to every parameter, torch/Keras twins agreeing, LMF against TFN."""
import inspect

import numpy as np
import pytest
import torch

from mmcourse.keras_models import fusion as K
from mmcourse.torch_models import fusion as T

tf = pytest.importorskip("tensorflow")

DIMS = [5, 7]
OUT = 6
# name -> extra constructor arguments (non-default, so every option is exercised)
OPERATORS = {
    "ConcatFusion": {},
    "WeightedSumFusion": {},
    "LateFusion": {"combine": "sum_logits"},
    "GatedFusion": {},
    "TensorFusion": {},
    "LowRankFusion": {"rank": 3},
    "CrossAttentionFusion": {"n_tokens": 3, "d_model": 8, "n_heads": 2},
}
VARIANTS = list(OPERATORS.items()) + [("LateFusion", {"combine": "mean_probs", "hidden": 4})]
VARIANT_IDS = [name + ("-" + "-".join(f"{k}={v}" for k, v in kw.items()) if kw else "") for name, kw in VARIANTS]
MULTI = ["ConcatFusion", "WeightedSumFusion", "LateFusion", "GatedFusion", "TensorFusion", "LowRankFusion"]


def _inputs(dims=DIMS, batch=4, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(batch, d)).astype(np.float32) for d in dims]


def _torch(xs):
    return [torch.from_numpy(x) for x in xs]


def _pair(name, kwargs, dims=DIMS, out=OUT, seed=0):
    """A torch operator with random weights and its Keras twin holding the same weights."""
    torch.manual_seed(seed)
    module = getattr(T, name)(dims, out, **kwargs)
    with torch.no_grad():
        for parameter in module.parameters():  # move off the initial values (e.g. zero biases, equal weights)
            parameter.add_(0.1 * torch.randn_like(parameter))
    layer = getattr(K, name)(dims, out, **kwargs)
    K.copy_weights_torch_to_keras(module, layer)
    return module, layer


# -- shapes and sizes ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "kwargs"), VARIANTS, ids=VARIANT_IDS)
def test_output_shape_is_batch_by_out_dim_in_both_frameworks(name, kwargs):
    module, layer = _pair(name, kwargs)
    xs = _inputs(batch=3)
    assert tuple(module(_torch(xs)).shape) == (3, OUT)
    assert tuple(layer(xs).shape) == (3, OUT)


@pytest.mark.parametrize("name", MULTI)
def test_operators_take_three_modalities(name):
    dims = [3, 4, 2]
    module, layer = _pair(name, OPERATORS[name], dims=dims)
    xs = _inputs(dims, batch=5)
    np.testing.assert_allclose(np.asarray(layer(xs)), module(_torch(xs)).detach().numpy(), atol=1e-5)
    assert tuple(module(_torch(xs)).shape) == (5, OUT)


@pytest.mark.parametrize("name", list(OPERATORS))
def test_twins_take_the_same_arguments_with_the_same_defaults(name):
    torch_params = list(inspect.signature(getattr(T, name).__init__).parameters.values())[1:]
    keras_params = [p for p in list(inspect.signature(getattr(K, name).__init__).parameters.values())[1:]
                    if p.kind != p.VAR_KEYWORD]
    assert [(p.name, p.default) for p in torch_params] == [(p.name, p.default) for p in keras_params]


def test_parameter_counts_follow_the_formulas():
    d1, d2, o, r = 5, 7, 6, 3
    counts = {
        "ConcatFusion": (d1 + d2) * o + o,
        "WeightedSumFusion": (d1 * o + o) + (d2 * o + o) + 2,
        "LateFusion": (d1 * o + o) + (d2 * o + o),
        "GatedFusion": (d1 * o + o) + (d2 * o + o) + 2 * ((d1 + d2) * o + o),
        "TensorFusion": (d1 + 1) * (d2 + 1) * o + o,
        "LowRankFusion": r * (d1 + 1) * o + r * (d2 + 1) * o + r + o,  # both factors, lambda and the bias
        "CrossAttentionFusion": (d1 * 3 * 4 * 8 + 3 * 4 * 8) + (d2 * 3 * 4 * 8 + 3 * 4 * 8) + 2 * (8 * 8 + 8)
        + 2 * 8 * o + o,
    }
    for name, kwargs in OPERATORS.items():
        module, layer = _pair(name, kwargs)
        assert sum(p.numel() for p in module.parameters()) == counts[name] == layer.count_params(), name


# -- gradients -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "kwargs"), VARIANTS, ids=VARIANT_IDS)
def test_every_torch_parameter_gets_a_nonzero_gradient(name, kwargs):
    module, _ = _pair(name, kwargs)
    (module(_torch(_inputs(batch=8))) ** 2).sum().backward()
    for pname, parameter in module.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, f"{name}.{pname} gets no gradient"


@pytest.mark.parametrize(("name", "kwargs"), VARIANTS, ids=VARIANT_IDS)
def test_every_keras_weight_gets_a_nonzero_gradient(name, kwargs):
    _, layer = _pair(name, kwargs)
    xs = [tf.constant(x) for x in _inputs(batch=8)]
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(xs) ** 2)
    grads = tape.gradient(loss, layer.trainable_weights)
    assert len(layer.trainable_weights) == len(list(_pair(name, kwargs)[0].parameters()))
    for weight, grad in zip(layer.trainable_weights, grads):
        assert grad is not None and np.abs(np.asarray(grad)).sum() > 0, f"{name} {weight.path} gets no gradient"


def test_every_low_rank_factor_is_a_registered_parameter_that_learns():
    module = T.LowRankFusion([3, 4, 2], 5, rank=2)
    names = dict(module.named_parameters())
    assert {"factors.0", "factors.1", "factors.2", "rank_weights", "bias"} == set(names)
    optimizer = torch.optim.SGD(module.parameters(), lr=0.1)
    before = [f.detach().clone() for f in module.factors]
    module(_torch(_inputs([3, 4, 2]))).pow(2).sum().backward()
    optimizer.step()
    for i, (old, new) in enumerate(zip(before, module.factors)):
        assert not torch.equal(old, new), f"factor {i} was not updated by the optimizer"


def test_low_rank_output_changes_when_any_factor_changes():
    module = T.LowRankFusion(DIMS, OUT, rank=3)
    xs = _torch(_inputs())
    base = module(xs).detach()
    for i, factor in enumerate(module.factors):
        for k in range(module.rank):
            with torch.no_grad():
                factor[k] += 0.5
            assert (module(xs).detach() - base).abs().max() > 1e-3, f"factor {i}, rank {k} has no effect"
            with torch.no_grad():
                factor[k] -= 0.5


# -- torch and Keras twins -------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "kwargs"), VARIANTS, ids=VARIANT_IDS)
def test_twins_give_the_same_output_for_the_same_weights(name, kwargs):
    module, layer = _pair(name, kwargs, seed=3)
    xs = _inputs(batch=16, seed=1)
    expected = module(_torch(xs)).detach().numpy()
    np.testing.assert_allclose(np.asarray(layer(xs)), expected, atol=1e-5)


@pytest.mark.parametrize(("name", "kwargs"), VARIANTS, ids=VARIANT_IDS)
def test_classifier_twins_give_the_same_logits(name, kwargs):
    out = 10 if name == "LateFusion" else OUT
    torch.manual_seed(4)
    model = T.FusionClassifier(getattr(T, name)(DIMS, out, **kwargs), 10)
    twin = K.FusionClassifier(getattr(K, name)(DIMS, out, **kwargs), 10)
    K.copy_weights_torch_to_keras(model, twin)
    xs = _inputs(batch=6, seed=2)
    np.testing.assert_allclose(np.asarray(twin(xs)), model(*_torch(xs)).detach().numpy(), atol=1e-5)
    assert twin.count_params() == sum(p.numel() for p in model.parameters())


def test_copy_rejects_a_different_operator_and_other_sizes_and_leaves_keras_unchanged():
    layer = K.ConcatFusion(DIMS, OUT)
    before = [w.numpy() for w in layer.weights]
    with pytest.raises(ValueError, match="twins of the same name"):
        K.copy_weights_torch_to_keras(T.TensorFusion(DIMS, OUT), layer)
    with pytest.raises(ValueError, match="same arguments"):
        K.copy_weights_torch_to_keras(T.ConcatFusion(DIMS, OUT + 1), layer)
    for old, new in zip(before, layer.weights):
        np.testing.assert_array_equal(old, np.asarray(new))
    with pytest.raises(ValueError, match="same hidden"):
        K.copy_weights_torch_to_keras(T.LateFusion(DIMS, OUT, hidden=3), K.LateFusion(DIMS, OUT))


# -- input checks ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(OPERATORS))
def test_a_batch_size_mismatch_names_the_input_in_both_frameworks(name):
    module, layer = _pair(name, OPERATORS[name])
    xs = [_inputs(batch=4)[0], _inputs(batch=3)[1]]
    with pytest.raises(ValueError, match=r"inputs\[1\] has batch size 3 but inputs\[0\] has 4"):
        module(_torch(xs))
    with pytest.raises(ValueError, match=r"inputs\[1\] has batch size 3 but inputs\[0\] has 4"):
        layer(xs)


@pytest.mark.parametrize("framework", [T, K], ids=["torch", "keras"])
def test_wrong_features_and_wrong_count_are_named(framework):
    op = framework.ConcatFusion(DIMS, OUT)
    xs = _inputs()
    xs = _torch(xs) if framework is T else xs
    with pytest.raises(ValueError, match=r"inputs\[0\] must have shape \(B, 5\), got \(4, 7\)"):
        op([xs[1], xs[1]])
    with pytest.raises(ValueError, match="list of 2 tensors"):
        op(xs[:1])

def test_torch_operators_name_an_input_that_is_no_tensor():
    with pytest.raises(ValueError, match=r"inputs\[1\] must be a torch.Tensor, got ndarray"):
        T.ConcatFusion(DIMS, OUT)([torch.zeros(4, 5), np.zeros((4, 7), np.float32)])


@pytest.mark.parametrize("framework", [T, K], ids=["torch", "keras"])
def test_constructor_arguments_are_checked(framework):
    with pytest.raises(ValueError, match="input_dims"):
        framework.ConcatFusion([5, 0], OUT)
    with pytest.raises(ValueError, match="at least 2 modalities"):
        framework.GatedFusion([5], OUT)
    with pytest.raises(ValueError, match="exactly 2 modalities"):
        framework.CrossAttentionFusion([5, 4, 3], OUT)
    with pytest.raises(ValueError, match="divisible by n_heads"):
        framework.CrossAttentionFusion(DIMS, OUT, d_model=10, n_heads=3)
    with pytest.raises(ValueError, match="combine must be one of"):
        framework.LateFusion(DIMS, OUT, combine="max")
    with pytest.raises(ValueError, match="rank must be a positive int"):
        framework.LowRankFusion(DIMS, OUT, rank=0)
    with pytest.raises(ValueError, match="must equal n_classes"):
        framework.FusionClassifier(framework.LateFusion(DIMS, 4), 10)
    with pytest.raises(ValueError, match="fusion must be one of"):
        framework.FusionClassifier(framework.ImageEncoder(), 10)


# -- what each operator computes ------------------------------------------------------------------------


def test_concat_then_linear_is_a_sum_of_per_modality_linear_maps():
    module, _ = _pair("ConcatFusion", {})
    x1, x2 = _torch(_inputs())
    w, b = module.proj.weight, module.proj.bias
    expected = x1 @ w[:, :5].T + x2 @ w[:, 5:].T + b  # W [f1; f2] = W_1 f1 + W_2 f2
    torch.testing.assert_close(module([x1, x2]), expected)


def test_weighted_sum_starts_with_equal_weights_that_stay_a_distribution():
    module = T.WeightedSumFusion(DIMS, OUT)
    torch.testing.assert_close(module.modality_weights(), torch.tensor([0.5, 0.5]))
    xs = _torch(_inputs())
    torch.testing.assert_close(module(xs), (module.proj[0](xs[0]) + module.proj[1](xs[1])) / 2)
    with torch.no_grad():
        module.weight_logits.copy_(torch.tensor([3.0, -1.0]))
    w = module.modality_weights()
    assert torch.all(w > 0) and torch.isclose(w.sum(), torch.tensor(1.0)) and w[0] > 0.98


def test_late_fusion_rules_sum_logits_or_average_probabilities():
    module, _ = _pair("LateFusion", {})
    xs = _torch(_inputs())
    z = [head(x) for head, x in zip(module.heads, xs)]
    torch.testing.assert_close(module(xs), z[0] + z[1])
    module.combine = "mean_probs"
    expected = torch.log((torch.softmax(z[0], 1) + torch.softmax(z[1], 1)) / 2)
    torch.testing.assert_close(module(xs), expected)


def test_gated_output_is_bounded_by_the_number_of_modalities():
    module = T.GatedFusion(DIMS, OUT)
    out = module(_torch([100 * x for x in _inputs(batch=50)]))
    assert out.abs().max() <= 2  # each term is sigmoid(.) * tanh(.), in [-1, 1]; saturated here


def test_outer_product_with_ones_holds_each_modality_and_their_products():
    x1, x2 = _torch(_inputs([2, 3], batch=2))
    z = T.outer_with_ones([x1, x2]).reshape(2, 3, 4)  # (B, d1 + 1, d2 + 1)
    torch.testing.assert_close(z[:, :2, :3], x1[:, :, None] * x2[:, None, :])
    torch.testing.assert_close(z[:, :2, 3], x1)  # f1 times the appended 1 of f2
    torch.testing.assert_close(z[:, 2, :3], x2)
    torch.testing.assert_close(z[:, 2, 3], torch.ones(2))
    np.testing.assert_allclose(np.asarray(K.outer_with_ones([x1.numpy(), x2.numpy()])),
                               z.reshape(2, -1).numpy(), atol=1e-6)


@pytest.mark.parametrize("framework", [T, K], ids=["torch", "keras"])
def test_low_rank_fusion_at_full_rank_equals_tensor_fusion(framework):
    tensor, layer = _pair("TensorFusion", {}, dims=[3, 5])
    tensor = tensor if framework is T else layer
    xs = _inputs([3, 5], batch=9, seed=5)
    run = (lambda op: op(_torch(xs)).detach().numpy()) if framework is T else (lambda op: np.asarray(op(xs)))
    expected = run(tensor)
    full = framework.LowRankFusion.from_tensor_fusion(tensor, rank=4)  # min(3 + 1, 5 + 1)
    np.testing.assert_allclose(run(full), expected, atol=1e-5)
    errors = [np.abs(run(framework.LowRankFusion.from_tensor_fusion(tensor, rank=r)) - expected).mean()
              for r in (1, 2, 3, 4, 6)]
    assert errors[0] > 1e-2 and errors[3] < 1e-5 and errors[4] < 1e-5


def test_low_rank_factors_give_the_best_approximation_of_each_weight_matrix():
    rng = np.random.default_rng(0)
    weight = rng.normal(size=(2, 4 * 5))
    errors = []
    for rank in range(1, 6):
        first, second = T.low_rank_factors(weight, [3, 4], rank)
        rebuilt = np.einsum("rao,rbo->oab", first, second).reshape(2, -1)
        errors.append(np.linalg.norm(rebuilt - weight))
    assert all(a > b for a, b in zip(errors[:4], errors[1:4])) and errors[3] < 1e-5 and errors[4] < 1e-5


def test_cross_attention_output_depends_on_both_modalities():
    module, _ = _pair("CrossAttentionFusion", OPERATORS["CrossAttentionFusion"])
    x1, x2 = _torch(_inputs())
    base = module([x1, x2])
    assert (module([x1, x2 + 1]) - base).abs().max() > 1e-3
    assert (module([x1 + 1, x2]) - base).abs().max() > 1e-3


# -- encoders --------------------------------------------------------------------------------------------


def test_encoders_give_features_and_logits_in_both_frameworks():
    images, audio = np.zeros((3, 28, 28), np.float32), np.zeros((3, 4, 13), np.float32)
    image_encoder, audio_encoder = T.ImageEncoder(units=12), T.AudioEncoder(units=9)
    assert tuple(image_encoder.features(torch.from_numpy(images)[:, None]).shape) == (3, 12)
    assert tuple(image_encoder(torch.from_numpy(images)[:, None]).shape) == (3, 10)
    assert tuple(audio_encoder.features(torch.from_numpy(audio)).shape) == (3, 9)
    keras_image, keras_audio = K.ImageEncoder(units=12), K.AudioEncoder(units=9)
    assert tuple(keras_image.features(images[..., None]).shape) == (3, 12)
    assert tuple(keras_image(images[..., None]).shape) == (3, 10)
    assert tuple(keras_audio.features(audio).shape) == (3, 9)
    assert tuple(keras_audio(audio).shape) == (3, 10)
    assert keras_image.count_params() == sum(p.numel() for p in image_encoder.parameters())
    assert keras_audio.count_params() == sum(p.numel() for p in audio_encoder.parameters())
    with pytest.raises(ValueError, match=r"images must have shape \(B, 1, 28, 28\)"):
        image_encoder.features(torch.from_numpy(images))
    with pytest.raises(ValueError, match=r"audio must have shape \(B, T, 13\)"):
        keras_audio.features(audio[:, :, :5])
