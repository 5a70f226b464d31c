"""PyTorch training loops: a progress bar, a Keras-style history, early stopping, LR schedules, checkpoints.

Batches follow Keras' convention ``(inputs, targets)``: ``inputs`` is one
tensor or a tuple of tensors passed to the model as positional arguments
(``model(images, audio)``), and the model returns logits (B, n_classes).

``train`` can stop early (``EarlyStopping``), step a learning-rate scheduler
once per epoch, write a checkpoint after EVERY epoch and resume from it. A
checkpoint holds everything the next epoch depends on: model, optimizer,
scheduler, early-stopping state, history, the epoch, and the random states
of torch, NumPy, Python and the DataLoader's own generator (the shuffling
order). So an interrupted run resumed from its checkpoint ends with the same
weights, bit for bit, as a run that was never interrupted (on the same
machine and device).
"""
from __future__ import annotations

import math
import os
import random
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from mmcourse.env import device as default_device

Batch = tuple[torch.Tensor | tuple[torch.Tensor, ...], torch.Tensor]


def _unpack(batch: Batch, device: torch.device) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
    """(inputs, targets) on ``device``, with inputs always a tuple."""
    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        raise ValueError("each batch must be a pair (inputs, targets), where inputs is a tensor or a tuple "
                         f"of tensors; got {type(batch).__name__}" + (f" of length {len(batch)}"
                                                                      if isinstance(batch, (tuple, list)) else ""))
    inputs, targets = batch
    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    return tuple(x.to(device) for x in inputs), targets.to(device)


def train_epoch(model: nn.Module, loader: Iterable[Batch], optimizer: torch.optim.Optimizer,
                loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], device: torch.device
                ) -> dict[str, float]:
    """One pass over loader with gradient steps; returns the mean loss and accuracy over its examples."""
    model.train()
    total_loss, correct, seen = 0.0, 0, 0
    for batch in loader:
        inputs, targets = _unpack(batch, device)
        logits = model(*inputs)  # (B, n_classes)
        loss = loss_fn(logits, targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total_loss += loss.item() * len(targets)
        correct += (logits.argmax(dim=1) == targets).sum().item()
        seen += len(targets)
    if seen == 0:
        raise ValueError("loader yielded no batches")
    return {"loss": total_loss / seen, "accuracy": correct / seen}


@torch.no_grad()
def predict(model: nn.Module, loader: Iterable[Batch], device: torch.device | None = None
            ) -> tuple[np.ndarray, np.ndarray]:
    """Logits (N, n_classes) and targets (N,) over loader, as NumPy arrays, in evaluation mode."""
    device = default_device() if device is None else device
    model.to(device).eval()
    logits, targets = [], []
    for batch in loader:
        inputs, batch_targets = _unpack(batch, device)
        logits.append(model(*inputs).cpu())
        targets.append(batch_targets.cpu())
    if not logits:
        raise ValueError("loader yielded no batches")
    return torch.cat(logits).numpy(), torch.cat(targets).numpy()


def evaluate(model: nn.Module, loader: Iterable[Batch], loss_fn: Callable | None = None,
             device: torch.device | None = None) -> dict[str, float]:
    """Mean loss and accuracy of model over loader, without gradients."""
    loss_fn = nn.CrossEntropyLoss() if loss_fn is None else loss_fn
    logits, targets = predict(model, loader, device)
    loss = loss_fn(torch.from_numpy(logits), torch.from_numpy(targets)).item()
    return {"loss": loss, "accuracy": float((logits.argmax(axis=1) == targets).mean())}


class EarlyStopping:
    """Stop when the monitored value has not improved by more than ``min_delta`` for ``patience`` epochs.

    An epoch improves when ``value < best - min_delta`` (the first epoch
    always does). After ``patience`` epochs in a row without improvement,
    ``update`` returns True: stop. With ``restore_best_weights`` it keeps a
    copy of the weights of the best epoch, and ``train`` puts them back at
    the end. Epochs are counted from 1, as in a history plot.
    """

    def __init__(self, patience: int = 3, min_delta: float = 0.0, monitor: str = "val_loss",
                 restore_best_weights: bool = True):
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 0:
            raise ValueError(f"patience must be an int >= 0, got {patience!r}")
        if isinstance(min_delta, bool) or not isinstance(min_delta, (int, float)) or not min_delta >= 0:
            raise ValueError(f"min_delta must be a number >= 0, got {min_delta!r}")
        if not isinstance(monitor, str) or not monitor.endswith("loss"):
            raise ValueError(f"monitor must name a loss in the history such as 'val_loss' or 'loss' "
                             f"(lower is better), got {monitor!r}")
        self.patience, self.min_delta, self.monitor = patience, float(min_delta), monitor
        self.restore_best_weights = restore_best_weights
        self.best, self.best_epoch, self.wait, self.stopped_epoch = math.inf, 0, 0, 0
        self.best_weights: dict[str, torch.Tensor] | None = None

    def update(self, value: float, epoch: int, model: nn.Module) -> bool:
        """Record the monitored ``value`` after ``epoch`` (1, 2, ...); returns True when training should stop."""
        if value < self.best - self.min_delta:
            self.best, self.best_epoch, self.wait = float(value), epoch, 0
            if self.restore_best_weights:
                self.best_weights = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            return False
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            return True
        return False

    def state_dict(self) -> dict:
        """Everything ``update`` depends on, for a checkpoint."""
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait,
                "stopped_epoch": self.stopped_epoch, "best_weights": self.best_weights}

    def load_state_dict(self, state: dict) -> None:
        """Restore what ``state_dict`` saved."""
        self.best, self.best_epoch, self.wait = state["best"], state["best_epoch"], state["wait"]
        self.stopped_epoch, self.best_weights = state["stopped_epoch"], state["best_weights"]


def _loader_generator(loader: Iterable[Batch]) -> torch.Generator | None:
    """The generator that shuffles a DataLoader (``make_dataloader(..., shuffle=True)`` gives it one), if any."""
    generator = getattr(loader, "generator", None)
    return generator if isinstance(generator, torch.Generator) else None


def _rng_state(loader: Iterable[Batch]) -> dict:
    """Random states of torch (CPU and CUDA), NumPy, Python and the loader's generator; tensors and primitives only."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    generator = _loader_generator(loader)
    return {"torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached),
            "python": random.getstate(),
            "loader": generator.get_state() if generator is not None else None}


def _set_rng_state(state: dict, loader: Iterable[Batch]) -> None:
    """Inverse of ``_rng_state``."""
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    generator = _loader_generator(loader)
    if (state["loader"] is None) != (generator is None):
        raise ValueError("the checkpoint and train_loader disagree on shuffling: build train_loader the way the "
                         "interrupted run did (same shuffle setting)")
    if generator is not None:
        generator.set_state(state["loader"])


def save_checkpoint(path: str | os.PathLike, state: dict) -> None:
    """Write ``state`` with ``torch.save`` atomically: to ``path.tmp`` first, then rename over ``path``.

    A crash while writing leaves the previous checkpoint whole, never half a file.
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Read a checkpoint written by ``train`` (tensors and plain Python values only: ``weights_only=True``)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"checkpoint {str(path)!r} does not exist; train once with checkpoint_path set")
    return torch.load(path, map_location="cpu", weights_only=True)


def _check_train_arguments(epochs, val_loader, scheduler, early_stopping, checkpoint_path, resume, callbacks):
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    schedulers = (torch.optim.lr_scheduler.LRScheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
    if scheduler is not None and not isinstance(scheduler, schedulers):
        raise ValueError(f"scheduler must be a torch.optim.lr_scheduler scheduler or None, "
                         f"got {type(scheduler).__name__}")
    if early_stopping is not None:
        if not isinstance(early_stopping, EarlyStopping):
            raise ValueError(f"early_stopping must be an EarlyStopping or None, got {type(early_stopping).__name__}")
        if early_stopping.monitor.startswith("val_") and val_loader is None:
            raise ValueError(f"early_stopping monitors {early_stopping.monitor!r} but no val_loader was given")
        if early_stopping.monitor.removeprefix("val_") != "loss":
            raise ValueError(f"early_stopping.monitor must be 'loss' or 'val_loss', got {early_stopping.monitor!r}")
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau) and val_loader is None:
        raise ValueError("ReduceLROnPlateau is stepped with the val_loss, so it needs a val_loader")
    if resume and checkpoint_path is None:
        raise ValueError("resume=True needs checkpoint_path: the file to resume from")
    if callbacks is not None and not all(callable(c) for c in callbacks):
        raise ValueError("callbacks must be a sequence of functions callback(epoch, history)")


def train(model: nn.Module, train_loader: Iterable[Batch], optimizer: torch.optim.Optimizer, epochs: int,
          val_loader: Iterable[Batch] | None = None, loss_fn: Callable | None = None,
          device: torch.device | None = None, progress: bool = True, *,
          scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
          early_stopping: EarlyStopping | None = None, checkpoint_path: str | os.PathLike | None = None,
          resume: bool = False, callbacks: Sequence[Callable[[int, dict], None]] | None = None
          ) -> dict[str, list[float]]:
    """Train for up to ``epochs`` epochs in all; returns a history as Keras' ``fit`` does.

    History keys: "loss" and "accuracy" (averaged over each epoch's batches,
    as the weights change), plus "val_loss" and "val_accuracy" (after each
    epoch) when ``val_loader`` is given, and "lr" (the rate each epoch used)
    with a ``scheduler``. ``loss_fn`` defaults to ``nn.CrossEntropyLoss()``
    on logits, ``device`` to ``mmcourse.env.device()``.

    - ``scheduler``: stepped once after each epoch (``ReduceLROnPlateau`` with the val_loss).
    - ``early_stopping``: an ``EarlyStopping``; training stops when it says so and, with
      ``restore_best_weights``, the model ends with the weights of its best epoch.
    - ``checkpoint_path``: written after every epoch (atomically).
    - ``resume=True``: load that checkpoint into ``model``, ``optimizer``, ``scheduler``,
      ``early_stopping`` and the random states, and go on to ``epochs`` in all. Pass
      objects built as the first run built them (the model's initial weights do not matter).
    - ``callbacks``: functions ``callback(epoch, history)`` called after each epoch's checkpoint.
    """
    _check_train_arguments(epochs, val_loader, scheduler, early_stopping, checkpoint_path, resume, callbacks)
    loss_fn = nn.CrossEntropyLoss() if loss_fn is None else loss_fn
    device = default_device() if device is None else device
    model.to(device)
    history: dict[str, list[float]] = {"loss": [], "accuracy": []}
    if val_loader is not None:
        history.update(val_loss=[], val_accuracy=[])
    if scheduler is not None:
        history["lr"] = []
    done, stopped = 0, False
    if resume:
        state = load_checkpoint(checkpoint_path)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if (scheduler is None) != (state["scheduler"] is None):
            raise ValueError("the checkpoint was written with" + ("out" if state["scheduler"] is None else "")
                             + " a scheduler; resume with the same set-up")
        if scheduler is not None:
            scheduler.load_state_dict(state["scheduler"])
        if (early_stopping is None) != (state["early_stopping"] is None):
            raise ValueError("the checkpoint was written with" + ("out" if state["early_stopping"] is None else "")
                             + " early stopping; resume with the same set-up")
        if early_stopping is not None:
            early_stopping.load_state_dict(state["early_stopping"])
        if set(state["history"]) != set(history):
            raise ValueError(f"the checkpoint's history has keys {sorted(state['history'])}, this run would "
                             f"record {sorted(history)}; resume with the same set-up")
        history = state["history"]
        done, stopped = state["epoch"], state["stopped"]
        _set_rng_state(state["rng"], train_loader)
    bar = tqdm(range(done + 1, epochs + 1 if not stopped else done + 1), desc="epochs", unit="epoch",
               disable=not progress, initial=done, total=epochs)
    for epoch in bar:
        lr = optimizer.param_groups[0]["lr"]
        metrics = train_epoch(model, train_loader, optimizer, loss_fn, device)
        if val_loader is not None:
            metrics |= {f"val_{k}": v for k, v in evaluate(model, val_loader, loss_fn, device).items()}
        if scheduler is not None:
            metrics["lr"] = lr
            if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                scheduler.step(metrics["val_loss"])
            else:
                scheduler.step()
        for key, value in metrics.items():
            history[key].append(value)
        if early_stopping is not None:
            stopped = early_stopping.update(metrics[early_stopping.monitor], epoch, model)
        if checkpoint_path is not None:
            save_checkpoint(checkpoint_path, {
                "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": None if scheduler is None else scheduler.state_dict(),
                "early_stopping": None if early_stopping is None else early_stopping.state_dict(),
                "history": history, "epoch": epoch, "stopped": stopped, "rng": _rng_state(train_loader)})
        bar.set_postfix({key: f"{value:.3g}" if key == "lr" else f"{value:.3f}" for key, value in metrics.items()})
        for callback in callbacks or ():
            callback(epoch, history)
        if stopped:
            break
    if early_stopping is not None and early_stopping.restore_best_weights and early_stopping.best_weights:
        model.load_state_dict(early_stopping.best_weights)
    return history
