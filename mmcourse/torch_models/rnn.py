"""A recurrent sequence classifier in PyTorch for variable-length MFCC sequences (chapter 05).

Twin of ``mmcourse.keras_models.rnn`` (same arguments and defaults, same
layer names ``rnn`` and ``head``); diff the two files to see what differs
between the frameworks::

    x (B, T, D), lengths (B,) -> RNN / LSTM / GRU -> h at step lengths - 1 (B, H)
                             -> head: logits = h W^T + b (B, n_classes)

Variable lengths: the batch is zero-padded at the end to a common T, and the
classifier must read the hidden state at each sequence's *true* last step,
not at step T (after the padding, which would feed the model a tail of
zeros and make its answer depend on how much padding the batch happened to
need). Two ways give the same numbers for a one-direction RNN:

- ``torch.nn.utils.rnn.pack_padded_sequence``: the RNN skips the padding
  and its final state ``h_n`` is each sequence's state at its own last step.
  Needed for a bidirectional RNN (the backward direction must start at the
  true end), but on a CPU it was 1.5 to 4 times slower here than
- running over the padded batch and *gathering* the output at step
  ``lengths - 1``: the states before a sequence's end never see its padding,
  because an RNN only looks back. This module does that.

Keras does the same with a ``Masking`` layer (see the twin). torch stores
two bias vectors per RNN/LSTM layer (b_ih and b_hh) where Keras stores one;
they are only ever added, so torch has H (RNN) or 4H (LSTM) more parameters
that change nothing. A GRU needs both, and then the counts are equal.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class SequenceClassifier(nn.Module):
    """One recurrent layer (``cell`` in 'rnn', 'lstm', 'gru') and a linear head; ``forward`` returns logits."""

    def __init__(self, n_features: int = 13, hidden_size: int = 64, n_classes: int = 10, cell: str = "lstm"):
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {sorted(CELLS)}, got {cell!r}")
        self.cell = cell
        self.n_features = n_features
        self.rnn = CELLS[cell](n_features, hidden_size, batch_first=True)  # tanh for 'rnn'
        self.head = nn.Linear(hidden_size, n_classes)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, T, D) zero-padded at the end, lengths (B,) true steps (None: all T) -> logits (B, n_classes)."""
        if x.dim() != 3 or x.shape[2] != self.n_features:
            raise ValueError(f"x must have shape (B, T, {self.n_features}), got {tuple(x.shape)}")
        batch, steps, _ = x.shape
        if lengths is None:
            lengths = torch.full((batch,), steps, dtype=torch.long)
        if lengths.shape != (batch,) or lengths.dtype.is_floating_point:
            raise ValueError(f"lengths must be an integer tensor of shape ({batch},), got "
                             f"{lengths.dtype} {tuple(lengths.shape)}")
        if batch and (lengths.min() < 1 or lengths.max() > steps):
            raise ValueError(f"lengths must be in [1, T={steps}], got values in "
                             f"[{int(lengths.min())}, {int(lengths.max())}]")
        outputs, _ = self.rnn(x)  # (B, T, H): h_t for every step, padding included
        last = outputs[torch.arange(batch, device=x.device), lengths.to(x.device) - 1]  # (B, H): h at the true end
        return self.head(last)  # (B, n_classes)


def _regroup(batch: list[tuple[torch.Tensor, ...]]) -> tuple[tuple[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Collate (x, length, label) items into the course's batch convention ((x, lengths), labels)."""
    x, lengths, labels = (torch.stack(items) for items in zip(*batch))
    return (x, lengths), labels


def sequence_loader(x: np.ndarray, lengths: np.ndarray, labels: np.ndarray, batch_size: int = 64,
                    shuffle: bool = False, seed: int = 0) -> DataLoader:
    """Batches ((x (B, T, D), lengths (B,)), labels (B,)) for ``mmcourse.train.train`` and ``model(x, lengths)``.

    x (N, T, D) float32 zero-padded sequences, lengths and labels (N,)
    integers. With ``shuffle``, the order is drawn from a generator seeded
    with ``seed``, so a run repeats.
    """
    if not (isinstance(x, np.ndarray) and x.ndim == 3 and x.dtype == np.float32):
        raise ValueError(f"x must be a float32 NumPy array (N, T, D), got {type(x).__name__} "
                         f"{getattr(x, 'dtype', '')} {getattr(x, 'shape', '')}")
    for name, array in (("lengths", lengths), ("labels", labels)):
        if not (isinstance(array, np.ndarray) and array.shape == (len(x),) and array.dtype.kind in "iu"):
            raise ValueError(f"{name} must be an integer NumPy array of shape ({len(x)},), got "
                             f"{type(array).__name__} {getattr(array, 'dtype', '')} {getattr(array, 'shape', '')}")
    dataset = TensorDataset(torch.from_numpy(x), torch.from_numpy(lengths).long(), torch.from_numpy(labels).long())
    generator = torch.Generator().manual_seed(seed) if shuffle else None
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator, collate_fn=_regroup)
