"""mmcourse.train: early stopping, LR schedules, per-epoch checkpoints and exact resume."""
import random

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from mmcourse.exercises.ch07 import q1 as early_stopping_question
from mmcourse.train import EarlyStopping, load_checkpoint, train

CPU = torch.device("cpu")


class NoisyBlobs(Dataset):
    """Two Gaussian blobs; each item draws fresh noise from NumPy and Python, so resume must restore their RNGs."""

    def __init__(self, n: int = 48):
        rng = np.random.default_rng(0)
        self.y = np.arange(n) % 3
        self.x = (rng.normal(size=(n, 6)) + self.y[:, None]).astype(np.float32)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        noise = np.random.normal(scale=0.3, size=6).astype(np.float32) * random.uniform(0.5, 1.5)
        return torch.from_numpy(self.x[i] + noise), int(self.y[i])


class Interrupted(Exception):
    """Stands in for a crash or Ctrl-C after some epoch."""


def _setup(seed: int = 0, scheduler: bool = True):
    """Model with dropout (torch RNG), shuffled loader with its own generator, Adam, StepLR."""
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3))
    loader = DataLoader(NoisyBlobs(), batch_size=8, shuffle=True, generator=torch.Generator().manual_seed(1))
    val = DataLoader(NoisyBlobs(24), batch_size=24)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    sched = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5) if scheduler else None
    return model, loader, val, optimizer, sched


def _interrupt_after(k: int):
    def callback(epoch, history):
        if epoch == k:
            raise Interrupted
    return callback


@pytest.mark.parametrize("interrupt_after", [1, 3])
def test_resume_after_an_interruption_gives_bit_identical_weights_and_history(tmp_path, interrupt_after):
    model, loader, val, optimizer, sched = _setup()
    reference = train(model, loader, optimizer, 6, val, device=CPU, progress=False, scheduler=sched,
                      early_stopping=EarlyStopping(patience=10, min_delta=0.0))
    reference_weights = {k: v.clone() for k, v in model.state_dict().items()}

    path = tmp_path / "ckpt.pt"
    model, loader, val, optimizer, sched = _setup()
    with pytest.raises(Interrupted):
        train(model, loader, optimizer, 6, val, device=CPU, progress=False, scheduler=sched,
              early_stopping=EarlyStopping(patience=10), checkpoint_path=path,
              callbacks=[_interrupt_after(interrupt_after)])
    assert load_checkpoint(path)["epoch"] == interrupt_after

    model, loader, val, optimizer, sched = _setup(seed=123)  # fresh objects, other initial weights and RNG states
    resumed = train(model, loader, optimizer, 6, val, device=CPU, progress=False, scheduler=sched,
                    early_stopping=EarlyStopping(patience=10), checkpoint_path=path, resume=True)
    assert resumed == reference
    for name, weight in model.state_dict().items():
        assert torch.equal(weight, reference_weights[name]), name


def test_without_the_rng_states_the_resumed_run_differs(tmp_path):
    """The control experiment: restoring only model and optimizer is NOT enough for an exact resume."""
    model, loader, val, optimizer, _ = _setup(scheduler=False)
    train(model, loader, optimizer, 4, device=CPU, progress=False)
    reference = [w.clone() for w in model.parameters()]
    model, loader, val, optimizer, _ = _setup(scheduler=False)
    train(model, loader, optimizer, 2, device=CPU, progress=False)
    saved = model.state_dict(), optimizer.state_dict()
    model, loader, val, optimizer, _ = _setup(seed=5, scheduler=False)
    model.load_state_dict(saved[0])
    optimizer.load_state_dict(saved[1])
    train(model, loader, optimizer, 2, device=CPU, progress=False)
    assert not all(torch.equal(a, b) for a, b in zip(model.parameters(), reference))


def test_a_checkpoint_is_written_atomically_after_every_epoch(tmp_path):
    path = tmp_path / "ckpt.pt"
    seen = []

    def record(epoch, history):
        state = load_checkpoint(path)
        seen.append((state["epoch"], len(state["history"]["loss"]), state["history"]["loss"][-1]))

    model, loader, val, optimizer, sched = _setup()
    history = train(model, loader, optimizer, 3, val, device=CPU, progress=False, scheduler=sched,
                    checkpoint_path=path, callbacks=[record])
    assert seen == [(e, e, history["loss"][e - 1]) for e in (1, 2, 3)]
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]  # no .tmp left behind
    state = load_checkpoint(path)
    assert set(state) == {"model", "optimizer", "scheduler", "early_stopping", "history", "epoch", "stopped", "rng"}
    assert set(state["rng"]) == {"torch", "cuda", "numpy", "python", "loader"}


def test_scheduler_is_stepped_once_per_epoch_and_its_rate_is_recorded():
    model, loader, val, optimizer, sched = _setup()
    history = train(model, loader, optimizer, 5, val, device=CPU, progress=False, scheduler=sched)
    assert history["lr"] == pytest.approx([0.01, 0.01, 0.005, 0.005, 0.0025])


def test_reduce_on_plateau_is_stepped_with_the_val_loss():
    model, loader, val, optimizer, _ = _setup()
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=0, threshold=0.0)
    history = train(model, loader, optimizer, 6, val, device=CPU, progress=False, scheduler=sched)
    halvings = [i for i in range(1, 6) if history["lr"][i] < history["lr"][i - 1]]
    worse = [i for i in range(1, 6) if history["val_loss"][i - 1] >= min(history["val_loss"][:i - 1] or [np.inf])]
    assert halvings == worse


def test_early_stopping_follows_the_patience_rule_and_restores_the_best_weights():
    model, loader, val, optimizer, _ = _setup()
    optimizer = torch.optim.SGD(model.parameters(), lr=2.0)  # unstable on purpose: the val loss goes up and down
    best = {}

    def keep_best(epoch, history):
        if history["val_loss"][-1] == min(history["val_loss"]):
            best.update({k: v.clone() for k, v in model.state_dict().items()})

    stopper = EarlyStopping(patience=2, min_delta=0.01)
    history = train(model, loader, optimizer, 30, val, device=CPU, progress=False, early_stopping=stopper,
                    callbacks=[keep_best])
    stop_epoch, best_epoch = early_stopping_question.reference(np.array(history["val_loss"] + [np.inf] * 5), 2, 0.01)
    assert len(history["val_loss"]) == stop_epoch < 30
    assert stopper.best_epoch == best_epoch and stopper.stopped_epoch == stop_epoch
    for name, weight in model.state_dict().items():
        assert torch.equal(weight, best[name]), name


@pytest.mark.parametrize("losses, patience, min_delta", [
    ([1.0, 0.9, 0.95, 0.94, 0.93, 0.5], 3, 0.0), ([1.0, 0.99, 0.98, 0.97], 2, 0.015),
    ([3.0, 2.0, 1.0, 0.5], 1, 0.0), ([1.0, 1.0, 1.0], 0, 0.0)])
def test_early_stopping_agrees_with_the_chapter_exercise(losses, patience, min_delta):
    stopper, model = EarlyStopping(patience=patience, min_delta=min_delta), nn.Linear(1, 1)
    stop = next((epoch for epoch, loss in enumerate(losses, 1) if stopper.update(loss, epoch, model)), len(losses))
    assert (stop, stopper.best_epoch) == early_stopping_question.reference(np.array(losses), patience, min_delta)


def test_resuming_a_run_that_already_stopped_trains_no_further(tmp_path):
    path = tmp_path / "ckpt.pt"
    model, loader, val, optimizer, _ = _setup()
    history = train(model, loader, torch.optim.SGD(model.parameters(), lr=2.0), 30, val, device=CPU,
                    progress=False, early_stopping=EarlyStopping(patience=1, min_delta=0.05), checkpoint_path=path)
    assert len(history["loss"]) < 30 and load_checkpoint(path)["stopped"]
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    model, loader, val, optimizer, _ = _setup(seed=9)
    again = train(model, loader, torch.optim.SGD(model.parameters(), lr=2.0), 30, val, device=CPU, progress=False,
                  early_stopping=EarlyStopping(patience=1, min_delta=0.05), checkpoint_path=path, resume=True)
    assert again == history
    assert all(torch.equal(v, weights[k]) for k, v in model.state_dict().items())


def test_bad_arguments_raise_value_errors_that_name_them(tmp_path):
    model, loader, val, optimizer, sched = _setup()
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(patience=-1)
    with pytest.raises(ValueError, match="min_delta"):
        EarlyStopping(min_delta=-0.1)
    with pytest.raises(ValueError, match="monitor"):
        EarlyStopping(monitor="val_accuracy")
    with pytest.raises(ValueError, match="no val_loader"):
        train(model, loader, optimizer, 2, device=CPU, progress=False, early_stopping=EarlyStopping())
    with pytest.raises(ValueError, match="scheduler"):
        train(model, loader, optimizer, 2, device=CPU, progress=False, scheduler=optimizer)
    with pytest.raises(ValueError, match="resume=True needs checkpoint_path"):
        train(model, loader, optimizer, 2, device=CPU, progress=False, resume=True)
    with pytest.raises(ValueError, match="does not exist"):
        train(model, loader, optimizer, 2, device=CPU, progress=False, checkpoint_path=tmp_path / "no.pt",
              resume=True)
    with pytest.raises(ValueError, match="epochs must be a positive int"):
        train(model, loader, optimizer, 0, device=CPU, progress=False)
    path = tmp_path / "ckpt.pt"
    train(model, loader, optimizer, 1, val, device=CPU, progress=False, scheduler=sched, checkpoint_path=path)
    with pytest.raises(ValueError, match="with a scheduler"):
        train(model, loader, optimizer, 2, val, device=CPU, progress=False, checkpoint_path=path, resume=True)
