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

import copy
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


