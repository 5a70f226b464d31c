"""The acoustic twins: torch and Keras classifiers and CTC model agree after a weight copy, and ignore padding."""
import inspect

import numpy as np
import pytest
import torch

from mmcourse.keras_models import acoustic as keras_acoustic
from mmcourse.torch_models import acoustic as torch_acoustic

pytestmark = pytest.mark.usefixtures("one_torch_thread")
MODELS = ("CNNClassifier", "GRUClassifier", "CTCModel")
LENGTHS = np.array([20, 7, 13, 1])


def _inputs(seed=0):
    """Features (4, 20, 13) float32, zero past LENGTHS, as the data loaders pad them."""
    features = np.random.default_rng(seed).normal(size=(4, 20, 13)).astype(np.float32)
    features[np.arange(20)[None, :] >= LENGTHS[:, None]] = 0
    return features


def _torch_out(model, features, lengths):
    with torch.no_grad():
        return model.eval()(torch.from_numpy(features), torch.from_numpy(lengths)).numpy()


def _true_frames(out):
    """Outputs at the true frames only (per-frame outputs), or all of them (one per sequence)."""
    return out[np.arange(out.shape[1])[None, :] < LENGTHS[:, None]] if out.ndim == 3 else out


@pytest.mark.parametrize("name", MODELS)
def test_twins_take_the_same_arguments_and_have_as_many_parameters(name):
    torch_cls, keras_cls = getattr(torch_acoustic, name), getattr(keras_acoustic, name)
    torch_params = list(inspect.signature(torch_cls.__init__).parameters.values())[1:]
    keras_params = [p for p in list(inspect.signature(keras_cls.__init__).parameters.values())[1:]
                    if p.kind != p.VAR_KEYWORD]
    assert [(p.name, p.default) for p in torch_params] == [(p.name, p.default) for p in keras_params]
    model = keras_cls()
    assert sum(p.numel() for p in torch_cls().parameters()) == sum(int(np.prod(w.shape)) for w in model.weights)


@pytest.mark.parametrize("name", MODELS)
def test_keras_twin_with_copied_weights_gives_the_torch_outputs(name):
    torch.manual_seed(0)
    net, model = getattr(torch_acoustic, name)(), getattr(keras_acoustic, name)()
    keras_acoustic.copy_weights_from_torch(model, net)
    features = _inputs()
    expected = _true_frames(_torch_out(net, features, LENGTHS))
    got = _true_frames(np.asarray(model(features, LENGTHS)))
    assert expected.shape == got.shape and np.abs(expected - got).max() < 1e-5


@pytest.mark.parametrize("name", MODELS)
def test_padding_never_changes_a_true_output(name):
    torch.manual_seed(1)
    net = getattr(torch_acoustic, name)()
    features = _inputs(2)
    longer = np.concatenate([features, np.zeros((4, 9, 13), np.float32)], axis=1)  # 9 more padded frames
    short, long = _torch_out(net, features, LENGTHS), _torch_out(net, longer, LENGTHS)
    alone = _torch_out(net, features[1:2, :7], LENGTHS[1:2])  # sequence 1 in a batch of its own, unpadded
    np.testing.assert_allclose(_true_frames(short), _true_frames(long[:, :20] if long.ndim == 3 else long),
                               atol=1e-6)
    np.testing.assert_allclose(short[1:2, :7] if short.ndim == 3 else short[1:2], alone, atol=1e-6)


def test_models_give_the_shapes_their_docstrings_state():
    features, lengths = torch.from_numpy(_inputs()), torch.from_numpy(LENGTHS)
    assert torch_acoustic.CNNClassifier()(features, lengths).shape == (4, 10)
    assert torch_acoustic.GRUClassifier(units=8)(features, lengths).shape == (4, 10)
    assert torch_acoustic.CTCModel(channels=8, units=5)(features, lengths).shape == (4, 20, 11)
    assert sum(p.numel() for p in torch_acoustic.CTCModel().parameters()) == 99_659


def test_bad_inputs_and_mismatched_twins_are_refused():
    net = torch_acoustic.CTCModel()
    with pytest.raises(ValueError, match=r"features must have shape \(B, T, 13\)"):
        net(torch.zeros(2, 5, 12), torch.tensor([5, 5]))
    with pytest.raises(ValueError, match="lengths must be"):
        net(torch.zeros(2, 5, 13), torch.tensor([5, 6]))
    with pytest.raises(ValueError, match="copy between twins of the same class"):
        keras_acoustic.copy_weights_from_torch(keras_acoustic.CTCModel(), torch_acoustic.GRUClassifier())
    with pytest.raises(ValueError, match="build both with the same arguments"):
        keras_acoustic.copy_weights_from_torch(keras_acoustic.CTCModel(units=8), net)
