"""mmcourse.train: the minimal torch loop learns, reports a Keras-style history and evaluates."""
import numpy as np
import pytest
import torch
from torch import nn

from mmcourse.data.pipelines import AVDigitsDataset, make_dataloader
from mmcourse.torch_models.av_fusion import AVFusionNet
from mmcourse.train import evaluate, predict, train

CPU = torch.device("cpu")


def _loader(n: int = 32, seed: int = 0, batch_size: int = 16):
    rng = np.random.default_rng(seed)
    dataset = AVDigitsDataset(rng.normal(size=(n, 28, 28)), rng.normal(size=(n, 4, 13)), rng.integers(0, 10, n))
    return make_dataloader(dataset, batch_size=batch_size, shuffle=True, seed=seed)


def test_train_lowers_the_loss_on_a_small_batch_and_returns_keras_style_history():
    torch.manual_seed(0)
    net, loader = AVFusionNet(), _loader()
    before = evaluate(net, loader, device=CPU)["loss"]
    history = train(net, loader, torch.optim.Adam(net.parameters(), lr=3e-3), epochs=15, val_loader=loader,
                    device=CPU, progress=False)
    assert set(history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(values) == 15 for values in history.values())
    assert history["val_loss"][-1] < 0.3 * before  # it memorises 32 examples
    assert history["val_accuracy"][-1] >= 0.9
    assert history["loss"][-1] < history["loss"][0]


def test_history_has_no_val_keys_without_a_val_loader():
    net = AVFusionNet()
    history = train(net, _loader(), torch.optim.SGD(net.parameters(), lr=0.01), epochs=2, device=CPU,
                    progress=False)
    assert set(history) == {"loss", "accuracy"} and len(history["loss"]) == 2


def test_train_accepts_single_tensor_inputs():
    torch.manual_seed(0)
    x, y = torch.randn(20, 3), torch.arange(20) % 2
    model = nn.Linear(3, 2)
    history = train(model, [(x, y)], torch.optim.SGD(model.parameters(), lr=0.1), epochs=3, device=CPU,
                    progress=False)
    assert len(history["accuracy"]) == 3 and all(0.0 <= a <= 1.0 for a in history["accuracy"])


def test_predict_returns_logits_and_targets_in_loader_order():
    net, loader = AVFusionNet(), make_dataloader(AVDigitsDataset(np.zeros((5, 28, 28)), np.zeros((5, 4, 13)),
                                                                 np.arange(5)), batch_size=2)
    logits, targets = predict(net, loader, device=CPU)
    assert logits.shape == (5, 10) and logits.dtype == np.float32
    np.testing.assert_array_equal(targets, np.arange(5))
    accuracy = evaluate(net, loader, device=CPU)["accuracy"]
    assert accuracy == pytest.approx(np.mean(logits.argmax(axis=1) == targets))


def test_bad_epochs_and_bad_batches_raise_value_errors():
    net = AVFusionNet()
    with pytest.raises(ValueError, match="epochs must be a positive int"):
        train(net, _loader(), torch.optim.SGD(net.parameters(), lr=0.1), epochs=0, progress=False)
    with pytest.raises(ValueError, match=r"pair \(inputs, targets\)"):
        train(net, [(torch.zeros(1, 1, 28, 28), torch.zeros(1, 4, 13), torch.zeros(1))],
              torch.optim.SGD(net.parameters(), lr=0.1), epochs=1, device=CPU, progress=False)
    with pytest.raises(ValueError, match="no batches"):
        train(net, [], torch.optim.SGD(net.parameters(), lr=0.1), epochs=1, device=CPU, progress=False)
