"""A small vision-language model in PyTorch: LLaVA's recipe at toy scale (chapter 10).

Twin of ``mmcourse.keras_models.vlm`` (same class names, layer names and
weight shapes); diff the two files to see what differs between the
frameworks. A frozen image encoder turns each image into a grid of N
visual tokens; only what comes after it is trained::

    images (B, 3, H, W) -> frozen encoder -> features (B, N, D)     a √N x √N grid, row by row
    features -> pool_tokens (optional) -> (B, n, D)                 average √N/√n x √N/√n cells
             -> projector -> visual tokens (B, n, C)                LayerNorm, then Linear or Linear-GELU-Linear
    [visual tokens ; wte(prompt + response)] + wpe -> GPT -> logits (B, n + T, V); the last T are returned

- The encoder is not part of this module: being frozen, its features are
  computed once per image (``encoder(images)`` under ``torch.no_grad()``)
  and every method here starts from them. :class:`PatchTokens` is the
  simplest encoder, with no weights at all: the image cut into patches.
- The GPT is the chapter-08 twin; the visual tokens go in as its ``prefix``,
  get position embeddings 0 .. n - 1 and the text continues at n, so
  n + T <= block_size.
- Loss: cross-entropy on the targets that are not -100. With the targets of
  ``encode_pairs`` (chapter 08) those are the response's characters: the
  prompt is read, never predicted.
- :meth:`VisionLanguageModel.generate`: greedy, with the KV cache. The
  visual prefix and the prompt run once, then one token per step, until
  every row has written the stop sequence.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from mmcourse.torch_models.gpt import GPT
from mmcourse.vlm import PROJECTORS, check_sizes, grid_side


def pool_tokens(features: torch.Tensor, n_tokens: int) -> torch.Tensor:
    """Average a √N x √N grid of tokens (B, N, D), row by row, down to √n x √n: returns (B, n_tokens, D).

    √n must divide √N; each output token is the mean of a √N/√n square of
    input tokens (N = 16 -> n = 4 averages 2 x 2 blocks).
    """
    B, N, D = features.shape
    side, out = grid_side(N, "the features' N"), grid_side(n_tokens, "n_tokens")
    if side % out:
        raise ValueError(f"n_tokens = {n_tokens} must be a grid whose side divides the features' {side} x {side}")
    k = side // out
    grid = features.reshape(B, out, k, out, k, D)  # (B, rows, k, cols, k, D)
    return grid.mean(dim=(2, 4)).reshape(B, n_tokens, D)  # (B, n, D)


class PatchTokens(nn.Module):
    """The simplest frozen image encoder: images (B, 3, H, W) -> patches (B, (H/p)(W/p), 3 p²), row by row.

    No weights: each token is a patch's pixels, channel by channel, as
    Fuyu feeds patches straight into its projector.
    """

    def __init__(self, patch_size: int = 8):
        super().__init__()
        if isinstance(patch_size, bool) or not isinstance(patch_size, int) or patch_size < 1:
            raise ValueError(f"patch_size must be a positive int, got {patch_size!r}")
        self.patch_size = patch_size

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        p = self.patch_size
        if images.dim() != 4 or images.shape[1] != 3 or images.shape[2] % p or images.shape[3] % p:
            raise ValueError(f"images must be (B, 3, H, W) with H and W multiples of patch_size = {p}, "
                             f"got {tuple(images.shape)}")
        B, C, H, W = images.shape
        patches = images.reshape(B, C, H // p, p, W // p, p).permute(0, 2, 4, 1, 3, 5)  # (B, H/p, W/p, C, p, p)
        return patches.reshape(B, (H // p) * (W // p), C * p * p)  # (B, N, 3 p²)


class Projector(nn.Module):
    """Visual features (B, n, D) -> decoder embeddings (B, n, C): ln, then fc_1 ("linear") or fc_1, GELU, fc_2 ("mlp").

    The LayerNorm ``ln`` puts every encoder on the same footing: a
    contrastive encoder's ReLU features can be a hundred times smaller than
    the decoder's token embeddings, which a projector at its initial scale
    would drown in its own bias.
    """

    def __init__(self, in_dim: int, out_dim: int, kind: str = "mlp"):
        super().__init__()
        if kind not in PROJECTORS:
            raise ValueError(f"kind must be one of {PROJECTORS}, got {kind!r}")
        self.kind = kind
        self.ln = nn.LayerNorm(in_dim, eps=1e-5)
        self.fc_1 = nn.Linear(in_dim, out_dim)
        self.fc_2 = nn.Linear(out_dim, out_dim) if kind == "mlp" else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.fc_1(self.ln(x))  # (B, n, D) -> (B, n, C)
        if self.fc_2 is None:
            return x
        return self.fc_2(F.gelu(x))  # (B, n, C)


class VisionLanguageModel(nn.Module):
    """Projector + GPT: ``forward(features (B, N, D), idx (B, T))`` -> (logits (B, T, V), loss or None).

    ``feature_dim`` is the encoder's D; ``n_visual`` pools the encoder's N
    tokens to that many (None keeps all N); ``projector`` is "linear" or "mlp".
    """

    def __init__(self, gpt: GPT, feature_dim: int, projector: str = "mlp", n_visual: int | None = None):
        super().__init__()
        if not isinstance(gpt, GPT) or not gpt.config.causal:
            raise ValueError(f"gpt must be a causal torch GPT (chapter 08), got {type(gpt).__name__}")
        check_sizes(feature_dim, n_visual)
        self.feature_dim = feature_dim
        self.n_visual = n_visual
        self.projector = Projector(feature_dim, gpt.config.n_embd, projector)
        self.gpt = gpt

    def visual_tokens(self, features: torch.Tensor) -> torch.Tensor:
        """Encoder features (B, N, D) -> the decoder's visual prefix (B, n, C): pooled if n_visual is set, projected."""
        if not (isinstance(features, torch.Tensor) and features.dtype.is_floating_point and features.dim() == 3
                and features.shape[2] == self.feature_dim):
            raise ValueError(f"features must be a float torch.Tensor (B, N, D = {self.feature_dim}), got "
                             f"{type(features).__name__} {tuple(getattr(features, 'shape', ()))}")
        if self.n_visual is not None and self.n_visual != features.shape[1]:
            features = pool_tokens(features, self.n_visual)  # (B, n, D)
        return self.projector(features)  # (B, n, C)

    def _check_text(self, prefix: torch.Tensor, idx: torch.Tensor) -> None:
        """Raise a ValueError unless idx is token ids (B, T) for the B images of prefix (B, n, C) and n + T fits."""
        self.gpt._check_idx(idx, prefix.shape[1])
        if idx.shape[0] != prefix.shape[0]:
            raise ValueError(f"features and idx must hold the same number of rows B, got {prefix.shape[0]} "
                             f"and {idx.shape[0]}")

    def forward(self, features: torch.Tensor, idx: torch.Tensor, targets: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits (B, T, V) of the text idx (B, T) after the visual tokens and, given targets (B, T), the loss.

        The loss is the mean cross-entropy over the targets that are not
        -100 (the response's characters, with ``encode_pairs``' targets).
        """
        prefix = self.visual_tokens(features)  # (B, n, C)
        self._check_text(prefix, idx)
        logits, _ = self.gpt(idx, prefix=prefix)  # (B, n + T, V)
        logits = logits[:, prefix.shape[1]:]  # (B, T, V): the text positions
        if targets is None:
            return logits, None
        if targets.shape != idx.shape:
            raise ValueError(f"targets must have the shape of idx {tuple(idx.shape)}, got {tuple(targets.shape)}")
        return logits, F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-100)

    @torch.no_grad()
    def generate(self, features: torch.Tensor, idx: torch.Tensor, max_new_tokens: int, stop: Sequence[int] = (),
                 use_cache: bool = True) -> list[list[int]]:
        """Greedy replies to the prompts idx (B, T0) about the images of features (B, N, D).

        Returns, per row, the new token ids before the first ``stop``
        sequence (all of them if it never came). Stops when every row has
        written ``stop`` or after ``max_new_tokens``; n + T0 +
        max_new_tokens must fit in block_size. With ``use_cache`` the visual
        tokens and the prompt run once, then one token per step against the
        KV cache; without it the whole sequence runs again every step. Runs
        in eval mode and restores the mode.
        """
        if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 0:
            raise ValueError(f"max_new_tokens must be an int >= 0, got {max_new_tokens!r}")
        stop = list(stop)
        was_training = self.training
        self.eval()
        try:
            prefix = self.visual_tokens(features)  # (B, n, C): computed once
            self._check_text(prefix, idx)
            room = self.gpt.config.block_size - prefix.shape[1] - idx.shape[1]
            if max_new_tokens > room:
                raise ValueError(f"{prefix.shape[1]} visual tokens + the prompt's {idx.shape[1]} + max_new_tokens = "
                                 f"{max_new_tokens} exceed block_size = {self.gpt.config.block_size}; ask for at "
                                 f"most {room} new tokens")
            replies = self._greedy(prefix, idx, max_new_tokens, stop, use_cache)  # (B, t <= max_new_tokens)
        finally:
            self.train(was_training)
        return [_before(row, stop) for row in replies.tolist()]

    def _greedy(self, prefix: torch.Tensor, idx: torch.Tensor, max_new_tokens: int, stop: list[int],
                use_cache: bool) -> torch.Tensor:
        """New token ids (B, t) after prefix (B, n, C) and idx (B, T0), until every row wrote ``stop``."""
        replies = idx[:, :0]  # (B, 0)
        done = torch.zeros(idx.shape[0], dtype=torch.bool, device=idx.device)  # (B,)
        new, cache = idx, None
        for _ in range(max_new_tokens):
            if use_cache:
                logits, cache = self.gpt.forward_with_cache(new, cache, prefix if cache is None else None)
            else:
                logits, _ = self.gpt(torch.cat([idx, replies], dim=1), prefix=prefix)  # the whole sequence again
            new = logits[:, -1].argmax(dim=-1, keepdim=True)  # (B, 1)
            replies = torch.cat([replies, new], dim=1)  # (B, t + 1)
            if stop and replies.shape[1] >= len(stop):
                done |= (replies[:, -len(stop):] == torch.tensor(stop, device=idx.device)).all(dim=1)
                if done.all():
                    break
        return replies


def _before(row: list[int], stop: list[int]) -> list[int]:
    """The ids of ``row`` before the first occurrence of the sequence ``stop`` (all of them if none)."""
    for i in range(len(row) - len(stop) + 1 if stop else 0):
        if row[i : i + len(stop)] == stop:
            return row[:i]
    return row
