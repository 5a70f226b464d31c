"""Framework-free pieces of the GPT twins (``torch_models/gpt.py``, ``keras_models/gpt.py``): their one config.

Both twins import :class:`GPTConfig` from here, so a model built from the
same config has the same sizes in either framework, checked in one place.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class GPTConfig:
    """Sizes of a GPT: V = vocab_size, C = n_embd, n_head heads of C / n_head, contexts up to block_size."""

    vocab_size: int
    block_size: int = 128
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    bias: bool = True  # biases in the linear maps and LayerNorms
    causal: bool = True  # False: every position attends to every other (BERT-style, for masked LM)

    def __post_init__(self):
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if not isinstance(self.causal, bool):
            raise ValueError(f"causal must be True or False, got {self.causal!r}")
