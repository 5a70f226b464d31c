"""Mini-CLIP in PyTorch: the symmetric InfoNCE loss, the learnable temperature, two encoders (chapter 09).

Twin of ``mmcourse.keras_models.clip`` (same names, same formula, same
layer names); diff the two files to see what differs between the
frameworks. The equation, with shapes, is in
:mod:`mmcourse.numpy_nn.contrastive`, whose hand-written gradient the tests
compare with this file's autograd; ``logit_scale`` t is CLIP's log inverse
temperature (exp(t) = 1/τ), learned by :class:`LogitScale`. Sizes come from
:class:`mmcourse.clip.CLIPConfig`::

    images (B, 3, 32, 32) in [0, 1] -> [conv 3x3 + ReLU -> max-pool 2] x 4 -> (B, D, 2, 2)
        -> tokens (B, 4, D): one visual token per grid cell, in reading order (chapter 10 reads these)
        -> flatten (B, 4 D) -> proj -> image embedding (B, E)
    word ids (B, L), 0 = <pad> at the end -> embedding (B, L, word_dim)
        -> bidirectional GRU (B, L, text_width) -> mean over the true words -> proj -> text embedding (B, E)

The image's tokens are pooled by flattening them before a linear map, not by
averaging: a mean over the four cells would forget WHERE each object is,
and every caption says where. :class:`BagOfWordsEncoder` (torch only) is the
baseline text encoder: a linear map of word counts, blind to word order.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from mmcourse.clip import GRID, IMAGE_SIZE, CLIPConfig
from mmcourse.numpy_nn.contrastive import INIT_LOGIT_SCALE, MAX_LOGIT_SCALE


def clip_loss(image_emb: torch.Tensor, text_emb: torch.Tensor, logit_scale: torch.Tensor) -> torch.Tensor:
    """L = ½ [CE(Z, diag) + CE(Zᵀ, diag)], Z = exp(t) Î T̂ᵀ, for image_emb, text_emb (N, D); returns a scalar.

    ``logit_scale`` t is a scalar tensor, e.g. ``LogitScale()()``. Written as
    open_clip's ``ClipLoss``, which is given exp(t) instead.
    """
    if image_emb.dim() != 2 or image_emb.shape != text_emb.shape:
        raise ValueError(f"image_emb and text_emb must both be (N, D), row n of each is pair n; "
                         f"got {tuple(image_emb.shape)} and {tuple(text_emb.shape)}")
    image_emb, text_emb = F.normalize(image_emb, dim=1), F.normalize(text_emb, dim=1)  # (N, D), unit rows
    logits = logit_scale.exp() * image_emb @ text_emb.T  # (N, N)
    labels = torch.arange(len(logits), device=logits.device)  # (N,): the diagonal
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2


class LogitScale(nn.Module):
    """CLIP's learnable log inverse temperature t: one scalar, starting at log(1/0.07); returns min(t, log 100).

    Storing log τ⁻¹ keeps the scale exp(t) positive whatever the optimiser
    does. The clamp keeps exp(t) <= 100, as CLIP does; it is applied here,
    in the forward pass, where open_clip clamps the parameter in place after
    each optimiser step. The value used is the same; the difference is that
    here no gradient reaches t while it is above log 100.
    """

    def __init__(self, init: float = INIT_LOGIT_SCALE, max_value: float = MAX_LOGIT_SCALE):
        super().__init__()
        self.max_value = max_value
        self.logit_scale = nn.Parameter(torch.tensor(float(init)))  # t: ()

    def forward(self) -> torch.Tensor:
        return self.logit_scale.clamp(max=self.max_value)  # ()


def _check_images(images: torch.Tensor) -> None:
    """Raise a ValueError unless images is a float tensor (B, 3, 32, 32)."""
    if not isinstance(images, torch.Tensor) or not images.dtype.is_floating_point or images.dim() != 4 \
            or tuple(images.shape[1:]) != (3, IMAGE_SIZE, IMAGE_SIZE):
        raise ValueError(f"images must be a float tensor (B, 3, {IMAGE_SIZE}, {IMAGE_SIZE}) in [0, 1], channels "
                         f"first, got {type(images).__name__} {getattr(images, 'dtype', '')} "
                         f"{tuple(getattr(images, 'shape', ()))}")


def text_lengths(ids: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """The number of true words (B,) of word ids (B, L) padded with 0 at the end; raises a ValueError on bad ids."""
    integer = isinstance(ids, torch.Tensor) and not (ids.dtype.is_floating_point or ids.dtype == torch.bool)
    if not integer or ids.dim() != 2 or ids.shape[1] < 1:
        raise ValueError(f"ids must be an integer tensor (B, L) of word ids, got {type(ids).__name__} "
                         f"{getattr(ids, 'dtype', '')} {tuple(getattr(ids, 'shape', ()))}")
    if ids.min() < 0 or ids.max() >= vocab_size:
        raise ValueError(f"ids must be in [0, vocab_size = {vocab_size}), got values in [{int(ids.min())}, "
                         f"{int(ids.max())}]")
    true = ids != 0  # (B, L)
    lengths = true.sum(dim=1)  # (B,)
    at_start = torch.arange(ids.shape[1], device=ids.device) < lengths[:, None]  # (B, L): the first lengths[b]
    if bool((lengths < 1).any()) or bool((true != at_start).any()):
        raise ValueError("every row of ids must hold at least one word and pad (id 0) only at its end")
    return lengths


class ImageEncoder(nn.Module):
    """A small CNN: images (B, 3, 32, 32) -> ``tokens`` (B, 4, D) -> ``forward``: image embedding (B, E)."""

    def __init__(self, config: CLIPConfig):
        super().__init__()
        c0, c1, c2, c3, c4 = 3, *config.channels
        self.conv1 = nn.Conv2d(c0, c1, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(c1, c2, kernel_size=3, padding=1)
        self.conv3 = nn.Conv2d(c2, c3, kernel_size=3, padding=1)
        self.conv4 = nn.Conv2d(c3, c4, kernel_size=3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.proj = nn.Linear(GRID * GRID * c4, config.embed_dim)
        self.n_tokens, self.token_dim = GRID * GRID, c4

    def tokens(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, 3, 32, 32) in [0, 1] -> visual tokens (B, 4, D), token n = grid cell n in reading order."""
        _check_images(images)
        x = images
        for conv in (self.conv1, self.conv2, self.conv3, self.conv4):
            x = self.pool(torch.relu(conv(x)))  # (B, C, H/2, W/2): 32 -> 16 -> 8 -> 4 -> 2
        return x.flatten(2).transpose(1, 2)  # (B, D, 2, 2) -> (B, D, 4) -> (B, 4, D)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, 3, 32, 32) -> image embedding (B, E): the tokens flattened (B, 4 D), then projected."""
        return self.proj(self.tokens(images).flatten(1))


class TextEncoder(nn.Module):
    """Word ids (B, L), 0-padded at the end -> bidirectional GRU -> mean over true words -> text embedding (B, E)."""

    def __init__(self, config: CLIPConfig):
        super().__init__()
        self.vocab_size = config.vocab_size
        self.embedding = nn.Embedding(config.vocab_size, config.word_dim, padding_idx=0)
        self.gru = nn.GRU(config.word_dim, config.text_width // 2, batch_first=True, bidirectional=True)
        self.proj = nn.Linear(config.text_width, config.embed_dim)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        lengths = text_lengths(ids, self.vocab_size)  # (B,)
        packed = pack_padded_sequence(self.embedding(ids), lengths.cpu(), batch_first=True, enforce_sorted=False)
        states, _ = pad_packed_sequence(self.gru(packed)[0], batch_first=True, total_length=ids.shape[1])
        mean = states.sum(dim=1) / lengths[:, None]  # (B, L, W) -> (B, W); padded steps are zeros
        return self.proj(mean)  # (B, E)


class BagOfWordsEncoder(nn.Module):
    """The baseline: word ids (B, L) -> word counts (B, V) -> linear map -> text embedding (B, E). Order-blind."""

    def __init__(self, config: CLIPConfig):
        super().__init__()
        self.vocab_size = config.vocab_size
        self.proj = nn.Linear(config.vocab_size, config.embed_dim)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        text_lengths(ids, self.vocab_size)
        counts = torch.zeros(len(ids), self.vocab_size, device=ids.device)  # (B, V)
        counts.scatter_add_(1, ids, (ids != 0).float())  # <pad> adds nothing
        return self.proj(counts)  # (B, E)


class MiniCLIP(nn.Module):
    """Image and text encoders into one space, and the temperature: ``forward`` -> (image_emb, text_emb, t).

    ``text_encoder`` replaces the GRU :class:`TextEncoder` (the baseline
    passes a :class:`BagOfWordsEncoder`); embeddings come out unnormalised,
    as in CLIP: :func:`clip_loss` and retrieval normalise them.
    """

    def __init__(self, config: CLIPConfig, text_encoder: nn.Module | None = None):
        super().__init__()
        self.config = config
        self.image_encoder = ImageEncoder(config)
        self.text_encoder = TextEncoder(config) if text_encoder is None else text_encoder
        self.logit_scale = LogitScale()

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, 3, 32, 32) in [0, 1] -> image embeddings (B, E)."""
        return self.image_encoder(images)

    def encode_text(self, ids: torch.Tensor) -> torch.Tensor:
        """word ids (B, L), 0-padded at the end -> text embeddings (B, E)."""
        return self.text_encoder(ids)

    def forward(self, images: torch.Tensor, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """images (B, 3, 32, 32), ids (B, L) -> image_emb (B, E), text_emb (B, E), logit_scale t ()."""
        if len(images) != len(ids):
            raise ValueError(f"images and ids must hold the same B pairs, got {len(images)} and {len(ids)}")
        return self.encode_image(images), self.encode_text(ids), self.logit_scale()
