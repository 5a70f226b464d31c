"""Privacy (chapter 15): client splits, FedAvg against pooled training, DP-SGD from scratch = Opacus, ε against σ."""
import math

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from mmcourse.experiments import privacy

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def batch():
    x, y = privacy.digit_tensors("train")
    return x[:64], y[:64]


def test_even_split_covers_every_example_once_in_near_equal_parts():
    labels = np.arange(100) % 10
    parts = privacy.client_splits(labels, 3, "even")
    assert sorted(np.concatenate(parts).tolist()) == list(range(100))
    assert [len(p) for p in parts] == [34, 33, 33]
    assert all(len(set(labels[p].tolist())) >= 8 for p in parts)  # a random third of 100 misses few labels


def test_skewed_split_gives_each_client_its_own_labels():
    labels = np.arange(90) % 10
    parts = privacy.client_splits(labels, 3, "skewed")
    assert sorted(np.concatenate(parts).tolist()) == list(range(90))
    label_sets = [set(labels[p].tolist()) for p in parts]
    assert label_sets == [{0, 1, 2}, {3, 4, 5}, {6, 7, 8, 9}] or all(len(s) <= 4 for s in label_sets)
    assert sum(len(s) for s in label_sets) <= 12  # at most the two boundary labels are shared


@pytest.mark.parametrize("kwargs, message", [({"kind": "iid"}, "kind"), ({"n_clients": 0}, "n_clients"),
                                             ({"n_clients": True}, "n_clients")])
def test_bad_split_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        privacy.client_splits(np.arange(10), **kwargs)


def test_per_example_gradients_average_to_the_batch_gradient(batch):
    x, y = batch
    model = privacy.make_mlp(0)
    grads = privacy.per_example_grads(model, x, y)
    F.cross_entropy(model(x), y).backward()
    for name, p in model.named_parameters():
        assert grads[name].shape == (len(y), *p.shape)
        torch.testing.assert_close(grads[name].mean(0), p.grad, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("mode", ["hooks", "functorch"])
@pytest.mark.parametrize("max_grad_norm", [1.0, 0.1])
def test_one_opacus_step_equals_the_from_scratch_step_without_noise(batch, mode, max_grad_norm):
    x, y = batch
    grads = privacy.per_example_grads(privacy.make_mlp(0), x, y)
    norms = torch.sqrt(sum(g.flatten(1).pow(2).sum(1) for g in grads.values()))
    assert (norms > max_grad_norm).any()  # clipping is at work in this step
    ours, theirs = privacy.make_mlp(0), privacy.make_mlp(0)
    privacy.dp_sgd_step(ours, x, y, lr=0.5, max_grad_norm=max_grad_norm, noise_multiplier=0.0)
    privacy.opacus_step(theirs, x, y, lr=0.5, max_grad_norm=max_grad_norm, noise_multiplier=0.0, grad_sample_mode=mode)
    moved = max((p - q).abs().max().item() for p, q in zip(ours.parameters(), privacy.make_mlp(0).parameters()))
    assert moved > 1e-4
    assert max((p - q).abs().max().item() for p, q in zip(ours.parameters(), theirs.parameters())) <= 1e-6


def test_from_scratch_noise_has_the_stated_spread(batch):
    x, y = batch
    clean = privacy.dp_sgd_step(privacy.make_mlp(0), x, y, lr=0.0, max_grad_norm=1.0, noise_multiplier=0.0)
    noisy = privacy.dp_sgd_step(privacy.make_mlp(0), x, y, lr=0.0, max_grad_norm=1.0, noise_multiplier=2.0,
                                generator=torch.Generator().manual_seed(0))
    spread = torch.cat([(noisy[k] - clean[k]).flatten() for k in clean]).std().item()
    assert spread == pytest.approx(2.0 * 1.0 / len(y), rel=0.03)  # σ C / B


def test_dp_step_refuses_bad_settings(batch):
    with pytest.raises(ValueError, match="max_grad_norm"):
        privacy.dp_sgd_step(privacy.make_mlp(0), *batch, lr=0.1, max_grad_norm=0.0, noise_multiplier=1.0)


def test_fedavg_even_is_close_to_pooled_training_and_skewed_falls_below():
    scores = privacy.fedavg_study(progress=False)
    assert 0.85 <= scores["centralised"] <= 0.97
    assert abs(scores["fedavg_even"] - scores["centralised"]) <= 0.05
    assert scores["fedavg_skewed"] <= scores["centralised"] - 0.03
    assert scores["fedavg_skewed"] < scores["fedavg_even"]


def test_epsilon_falls_as_the_noise_multiplier_grows():
    rows = privacy.dp_study((0.0, 0.7, 4.0), epochs=1, progress=False)
    epsilons = [row["epsilon"] for row in rows]
    assert math.isinf(epsilons[0])
    assert epsilons[0] > epsilons[1] > epsilons[2] > 0
    assert 0.6 <= rows[0]["accuracy"] <= 0.95  # clipped, no noise
    assert rows[2]["accuracy"] < rows[0]["accuracy"]  # the most noise costs accuracy


def test_opacus_step_returns_the_model_itself_without_hooks(batch):
    model = privacy.make_mlp(0)
    returned = privacy.opacus_step(model, *batch, lr=0.1, max_grad_norm=1.0, noise_multiplier=0.0)
    assert returned is model
    assert all(not m._forward_hooks and not m._backward_hooks for m in model.modules())
    assert all(not hasattr(p, "grad_sample") or p.grad_sample is None for p in model.parameters())
