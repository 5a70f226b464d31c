"""The RNN twins: torch SequenceClassifier and Keras build_sequence_classifier agree and ignore padding."""
import inspect

import numpy as np
import pytest
import torch

from mmcourse.keras_models.rnn import (build_sequence_classifier, copy_weights_from_torch, logits_model,
                                       rnn_layer_weights_from_torch)
from mmcourse.torch_models.rnn import SequenceClassifier, sequence_loader
from mmcourse.train import train

CELLS = ["rnn", "lstm", "gru"]
LENGTHS = np.array([9, 3, 5, 1, 7, 9])


def _padded_batch(seed: int = 0, steps: int = 9) -> np.ndarray:
    """Six random sequences of LENGTHS steps, zero-padded to ``steps``: (6, steps, 13) float32."""
    x = np.random.default_rng(seed).normal(size=(6, steps, 13)).astype(np.float32)
    for row, n in zip(x, LENGTHS):
        row[n:] = 0.0
    return x


def _torch_logits(net: SequenceClassifier, x: np.ndarray, lengths: np.ndarray | None = LENGTHS) -> np.ndarray:
    with torch.no_grad():
        return net.eval()(torch.from_numpy(x), None if lengths is None else torch.from_numpy(lengths)).numpy()


def _twins(cell: str, **kwargs):
    torch.manual_seed(0)
    net, model = SequenceClassifier(cell=cell, **kwargs), build_sequence_classifier(cell=cell, **kwargs)
    copy_weights_from_torch(model, net)
    return net, model


def test_twins_take_the_same_arguments_with_the_same_defaults():
    torch_params = list(inspect.signature(SequenceClassifier.__init__).parameters.values())[1:]
    keras_params = inspect.signature(build_sequence_classifier).parameters.values()
    assert [(p.name, p.default) for p in torch_params] == [(p.name, p.default) for p in keras_params]


@pytest.mark.parametrize("cell", CELLS)
def test_output_shapes(cell):
    net, model = SequenceClassifier(cell=cell, hidden_size=8, n_classes=4), \
        build_sequence_classifier(cell=cell, hidden_size=8, n_classes=4)
    x = _padded_batch()
    assert _torch_logits(net, x).shape == (6, 4)
    probs = model.predict(x, verbose=0)
    assert probs.shape == (6, 4)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert model.get_layer("rnn").output.shape == (None, 8)


@pytest.mark.parametrize("cell", CELLS)
def test_parameter_counts_differ_only_by_torchs_redundant_second_bias(cell):
    net, model = SequenceClassifier(cell=cell), build_sequence_classifier(cell=cell)
    n_torch = sum(p.numel() for p in net.parameters())
    redundant = 0 if cell == "gru" else net.rnn.bias_hh_l0.numel()  # RNN and LSTM only ever sum b_ih + b_hh
    assert n_torch - redundant == model.count_params()
    gates = {"rnn": 1, "lstm": 4, "gru": 3}[cell]
    keras_biases = gates * 64 * (2 if cell == "gru" else 1)
    assert model.count_params() == gates * 64 * (13 + 64) + keras_biases + 64 * 10 + 10


@pytest.mark.parametrize("cell", CELLS)
def test_copied_weights_give_the_same_logits_on_a_variable_length_batch(cell):
    net, model = _twins(cell, hidden_size=16)
    x = _padded_batch()
    np.testing.assert_allclose(logits_model(model)(x).numpy(), _torch_logits(net, x), atol=1e-5)
    probs = torch.softmax(torch.from_numpy(_torch_logits(net, x)), dim=1).numpy()
    np.testing.assert_allclose(model(x).numpy(), probs, atol=1e-6)


@pytest.mark.parametrize("cell", CELLS)
def test_extra_padding_does_not_change_the_prediction(cell):
    net, model = _twins(cell, hidden_size=16)
    x = _padded_batch()
    longer = np.concatenate([x, np.zeros((6, 20, 13), np.float32)], axis=1)
    np.testing.assert_array_equal(_torch_logits(net, longer), _torch_logits(net, x))
    np.testing.assert_allclose(logits_model(model)(longer).numpy(), logits_model(model)(x).numpy(), atol=1e-6)


@pytest.mark.parametrize("cell", CELLS)
def test_each_sequence_gives_the_same_logits_alone_and_unpadded(cell):
    net, model = _twins(cell, hidden_size=16)
    x = _padded_batch()
    batch_logits = _torch_logits(net, x)
    for i, n in enumerate(LENGTHS):
        alone = x[i : i + 1, :n]  # (1, n, 13), no padding at all
        np.testing.assert_allclose(_torch_logits(net, alone, None), batch_logits[i : i + 1], atol=1e-6)
        np.testing.assert_allclose(logits_model(model)(alone).numpy(), batch_logits[i : i + 1], atol=1e-5)


def test_reading_the_state_after_the_padding_would_change_the_logits():
    net, _ = _twins("lstm", hidden_size=16)
    x = _padded_batch()
    assert np.abs(_torch_logits(net, x, None) - _torch_logits(net, x)).max() > 1e-3


@pytest.mark.parametrize("cell", CELLS)
def test_gathering_the_last_state_equals_pack_padded_sequence(cell):
    net, _ = _twins(cell, hidden_size=16)
    x = _padded_batch()
    packed = torch.nn.utils.rnn.pack_padded_sequence(torch.from_numpy(x), torch.from_numpy(LENGTHS),
                                                     batch_first=True, enforce_sorted=False)
    with torch.no_grad():
        _, h_n = net.rnn(packed)
        h_n = h_n[0] if cell == "lstm" else h_n  # LSTM returns (h_n, c_n)
        np.testing.assert_allclose(net.head(h_n[0]).numpy(), _torch_logits(net, x), atol=1e-6)


@pytest.mark.parametrize(("torch_cls", "keras_cls"), [("RNN", "SimpleRNN"), ("LSTM", "LSTM"), ("GRU", "GRU")])
def test_layer_weights_from_torch_make_a_keras_layer_compute_the_same_sequence(torch_cls, keras_cls):
    import keras

    torch.manual_seed(1)
    module = getattr(torch.nn, torch_cls)(3, 5, batch_first=True)
    layer = getattr(keras.layers, keras_cls)(5, return_sequences=True)
    layer.build((None, None, 3))
    layer.set_weights(rnn_layer_weights_from_torch(module))
    x = np.random.default_rng(2).normal(size=(2, 6, 3)).astype(np.float32)
    with torch.no_grad():
        expected = module(torch.from_numpy(x))[0].numpy()
    np.testing.assert_allclose(layer(x).numpy(), expected, atol=1e-6)


@pytest.mark.parametrize(("module", "message"), [
    (torch.nn.LSTM(3, 4, bidirectional=True), "one layer, one direction"),
    (torch.nn.GRU(3, 4, num_layers=2), "one layer, one direction"),
    (torch.nn.RNN(3, 4, nonlinearity="relu"), "nonlinearity='tanh'"),
    (torch.nn.Linear(3, 4), "nn.RNN, nn.LSTM or nn.GRU"),
])
def test_layer_weights_from_torch_reject_layers_keras_cannot_mirror(module, message):
    with pytest.raises(ValueError, match=message):
        rnn_layer_weights_from_torch(module)


def test_copy_rejects_twins_built_differently_and_leaves_the_keras_model_unchanged():
    model = build_sequence_classifier(cell="lstm", hidden_size=8)
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(ValueError, match="cell 'gru' but the Keras model has cell 'lstm'"):
        copy_weights_from_torch(model, SequenceClassifier(cell="gru", hidden_size=8))
    with pytest.raises(ValueError, match="layer 'head'"):
        copy_weights_from_torch(model, SequenceClassifier(cell="lstm", hidden_size=8, n_classes=3))
    with pytest.raises(ValueError, match="SequenceClassifier"):
        copy_weights_from_torch(model, torch.nn.Linear(2, 2))
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_builders_reject_an_unknown_cell():
    with pytest.raises(ValueError, match="cell must be one of"):
        SequenceClassifier(cell="transformer")
    with pytest.raises(ValueError, match="cell must be one of"):
        build_sequence_classifier(cell="LSTM")


@pytest.mark.parametrize(("x", "lengths", "message"), [
    (torch.zeros(2, 5, 12), None, r"x must have shape \(B, T, 13\)"),
    (torch.zeros(5, 13), None, r"x must have shape \(B, T, 13\)"),
    (torch.zeros(2, 5, 13), torch.tensor([5.0, 3.0]), "lengths must be an integer tensor"),
    (torch.zeros(2, 5, 13), torch.tensor([5, 3, 1]), r"lengths must be an integer tensor of shape \(2,\)"),
    (torch.zeros(2, 5, 13), torch.tensor([6, 3]), r"lengths must be in \[1, T=5\]"),
    (torch.zeros(2, 5, 13), torch.tensor([0, 3]), r"lengths must be in \[1, T=5\]"),
])
def test_torch_forward_rejects_bad_inputs(x, lengths, message):
    with pytest.raises(ValueError, match=message):
        SequenceClassifier()(x, lengths)


def test_sequence_loader_yields_the_course_batch_convention_and_repeats_its_shuffle():
    x, labels = _padded_batch(), np.arange(6) % 2
    loader = sequence_loader(x, LENGTHS, labels, batch_size=4, shuffle=True, seed=3)
    (xb, lb), yb = next(iter(loader))
    assert xb.shape == (4, 9, 13) and xb.dtype == torch.float32
    assert lb.dtype == yb.dtype == torch.int64
    for row, n in zip(xb.numpy(), lb.numpy()):  # lengths travel with their sequences
        assert not row[n:].any() and row[n - 1].any()
    orders = [torch.cat([y for _, y in sequence_loader(x, LENGTHS, np.arange(6), 4, True, 3)]) for _ in range(2)]
    assert torch.equal(*orders)
    plain = torch.cat([y for _, y in sequence_loader(x, LENGTHS, np.arange(6))])
    assert plain.tolist() == list(range(6))


@pytest.mark.parametrize(("args", "message"), [
    ((np.zeros((6, 9, 13)), LENGTHS, np.zeros(6, int)), "x must be a float32 NumPy array"),
    ((_padded_batch(), LENGTHS[:5], np.zeros(6, int)), r"lengths must be an integer NumPy array of shape \(6,\)"),
    ((_padded_batch(), LENGTHS, np.zeros(6)), "labels must be an integer NumPy array"),
])
def test_sequence_loader_rejects_bad_arrays(args, message):
    with pytest.raises(ValueError, match=message):
        sequence_loader(*args)


@pytest.mark.slow
def test_the_torch_twin_learns_a_task_that_needs_the_true_last_step():
    rng = np.random.default_rng(4)
    lengths = rng.integers(2, 12, size=128)
    x = rng.normal(size=(128, 12, 13)).astype(np.float32)
    for row, n in zip(x, lengths):
        row[n:] = 0.0
    labels = (x[np.arange(128), lengths - 1, 0] > 0).astype(np.int64)  # the sign of the last real frame
    torch.manual_seed(0)
    net = SequenceClassifier(cell="gru", hidden_size=16, n_classes=2)
    history = train(net, sequence_loader(x, lengths, labels, batch_size=32, shuffle=True),
                    torch.optim.Adam(net.parameters(), lr=0.02), epochs=15, device=torch.device("cpu"),
                    progress=False)
    assert history["accuracy"][-1] > 0.9 > history["accuracy"][0]
