"""A decoder-only transformer (GPT) in PyTorch, with a KV cache and sampling (chapter 08).

Twin of ``mmcourse.keras_models.gpt`` (same ``GPTConfig``, class names,
layer names and weight shapes); diff the two files to see what differs
between the frameworks. Written after nanoGPT's ``model.py``::

    idx (B, T) -> wte(idx) + wpe(0 .. T-1) (B, T, C) -> dropout
               -> n_layer blocks h.0 ... h.{n_layer-1}, each pre-LayerNorm:
                      x = x + attn(ln_1(x))    causal multi-head self-attention
                      x = x + mlp(ln_2(x))     c_fc (C -> 4C), GELU, c_proj (4C -> C)
               -> ln_f -> lm_head: logits = x wte^T (B, T, V)

- attn: one linear map ``c_attn`` (C -> 3C) gives queries, keys and values;
  each of the n_head heads computes softmax(q k^T / sqrt(hd) + M) v with
  hd = C / n_head and M = -inf where the key comes after the query, so
  position t sees positions 0 .. t only; ``c_proj`` (C -> C) mixes the heads.
  With ``GPTConfig(causal=False)`` M = 0: every position sees every other,
  as in BERT, and the same network becomes a masked language model.
- GELU is the tanh approximation, as in GPT-2 (Keras:
  ``gelu(approximate=True)``, the same formula).
- Weight tying: ``lm_head.weight`` *is* ``wte.weight``, one (V, C) matrix that
  embeds tokens and scores the next one, so the model has V C fewer
  parameters than with a separate head (``parameters()`` lists it once).
- Initialisation as GPT-2: weights N(0, 0.02), biases 0, and every ``c_proj``
  (the two maps that write into the residual stream) N(0, 0.02 / sqrt(2 n_layer)).

KV cache: generating token t + 1 needs the keys and values of positions
0 .. t in every layer, and those of 0 .. t - 1 do not change when a token is
appended (causality). :meth:`GPT.forward_with_cache` keeps them in a
:class:`KVCache` and computes only the new positions, so one generation
step costs one position's work instead of the whole sequence's.

Context length: positions have learned embeddings for 0 .. block_size - 1
only, so ``forward`` refuses more than ``block_size`` tokens and
``generate`` requires prompt length + max_new_tokens <= block_size (no
cropping of the context) and raises a ValueError otherwise. A
bidirectional model (``causal=False``) has no cache and does not generate:
its earlier positions depend on later ones, so both raise a ValueError.

Prefix embeddings (chapter 10): ``forward`` and ``forward_with_cache``
take an optional ``prefix`` (B, P, C) of vectors that enter the network as
they are, in front of the token embeddings, and get position embeddings
like tokens do; a vision-language model passes projected image tokens here.
Logits then cover the P + T positions.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from mmcourse.gpt import GPTConfig


@dataclass
class KVCache:
    """Keys and values of every layer for the positions seen so far: ``keys[i]``, ``values[i]`` (B, n_head, T, hd)."""

    keys: list[torch.Tensor]
    values: list[torch.Tensor]

    @property
    def length(self) -> int:
        """Number of positions held (T)."""
        return self.keys[0].shape[2]


def causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, dropout: nn.Module,
                     causal: bool = True) -> torch.Tensor:
    """softmax(q k^T / sqrt(hd) + M) v for q (B, nh, T, hd), the last T of the S positions of k, v (B, nh, S, hd).

    M is -inf where a key's position comes after the query's, 0 elsewhere;
    returns (B, nh, T, hd). With S = T this is plain causal attention, with
    S > T the queries are new tokens attending to a cache. ``causal=False``
    drops the mask (M = 0): bidirectional attention, as in BERT.
    """
    T, S = q.shape[2], k.shape[2]
    scores = q @ k.transpose(2, 3) / math.sqrt(q.shape[3])  # (B, nh, T, S)
    if causal:
        future = torch.arange(S, device=q.device)[None, :] > torch.arange(S - T, S, device=q.device)[:, None]  # (T, S)
        scores = scores.masked_fill(future, float("-inf"))
    weights = torch.softmax(scores, dim=3)  # (B, nh, T, S), rows sum to 1
    return dropout(weights) @ v  # (B, nh, T, hd)


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention (causal unless config.causal is False): x (B, T, C) -> (B, T, C)."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.n_head = config.n_head
        self.causal = config.causal
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)  # q, k, v at once
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.attn_dropout = nn.Dropout(config.dropout)
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, past: tuple[torch.Tensor, torch.Tensor] | None = None
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """x (B, T, C) at new positions, past (keys, values) (B, nh, P, hd) of the P before them or None
        -> y (B, T, C) and (keys, values) (B, nh, P + T, hd) for the cache."""
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)  # 3 x (B, T, C)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))  # (B, nh, T, hd)
        if past is not None:
            k = torch.cat([past[0], k], dim=2)  # (B, nh, P + T, hd)
            v = torch.cat([past[1], v], dim=2)  # (B, nh, P + T, hd)
        y = causal_attention(q, k, v, self.attn_dropout, self.causal)  # (B, nh, T, hd)
        y = y.transpose(1, 2).reshape(B, T, C)  # (B, T, nh, hd) -> (B, T, C): heads side by side
        return self.resid_dropout(self.c_proj(y)), (k, v)


class MLP(nn.Module):
    """Position-wise feed-forward: c_fc (C -> 4C), GELU (tanh approximation), c_proj (4C -> C)."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(F.gelu(self.c_fc(x), approximate="tanh")))  # (B, T, 4C) -> (B, T, C)


class Block(nn.Module):
    """One pre-LayerNorm transformer block: x + attn(ln_1(x)), then + mlp(ln_2(x)); (B, T, C) -> (B, T, C)."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, eps=1e-5, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, eps=1e-5, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor, past: tuple[torch.Tensor, torch.Tensor] | None = None
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        attended, present = self.attn(self.ln_1(x), past)
        x = x + attended  # (B, T, C)
        x = x + self.mlp(self.ln_2(x))  # (B, T, C)
        return x, present


class GPT(nn.Module):
    """A decoder-only transformer language model: ``forward(idx (B, T))`` -> (logits (B, T, V), loss or None)."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)  # token embedding (V, C)
        self.wpe = nn.Embedding(config.block_size, config.n_embd)  # learned position embedding (block_size, C)
        self.drop = nn.Dropout(config.dropout)
        self.h = nn.ModuleList([Block(config) for _ in range(config.n_layer)])
        self.ln_f = nn.LayerNorm(config.n_embd, eps=1e-5, bias=config.bias)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight  # weight tying: one (V, C) matrix embeds and scores tokens
        for name, parameter in self.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(parameter)
            elif parameter.dim() == 2:  # linear weights and both embeddings
                std = 0.02 / math.sqrt(2 * config.n_layer) if name.endswith("c_proj.weight") else 0.02
                nn.init.normal_(parameter, mean=0.0, std=std)

    def _check_idx(self, idx: torch.Tensor, past: int = 0) -> None:
        """Raise a ValueError unless idx is an integer tensor (B, T) of ids < V with past + T <= block_size."""
        integer = isinstance(idx, torch.Tensor) and not (idx.dtype.is_floating_point or idx.dtype == torch.bool)
        if not integer or idx.dim() != 2:
            raise ValueError(f"idx must be an integer torch.Tensor of shape (B, T), got {type(idx).__name__} "
                             f"{getattr(idx, 'dtype', '')} {tuple(getattr(idx, 'shape', ()))}")
        if idx.shape[1] < 1:
            raise ValueError("idx must hold at least one token per row, got T = 0")
        if past + idx.shape[1] > self.config.block_size:
            held = f" after {past} earlier positions (cache or prefix)" if past else ""
            raise ValueError(f"idx has T = {idx.shape[1]} tokens{held}, more than block_size = "
                             f"{self.config.block_size} positions the model has embeddings for")
        if idx.min() < 0 or idx.max() >= self.config.vocab_size:
            raise ValueError(f"idx must hold token ids in [0, vocab_size = {self.config.vocab_size}), got values in "
                             f"[{int(idx.min())}, {int(idx.max())}]")

    def _check_prefix(self, prefix: torch.Tensor | None, idx: torch.Tensor) -> int:
        """Number of prefix positions P: 0 for None, else prefix must be a float tensor (B, P, C) matching idx's B."""
        if prefix is None:
            return 0
        B = idx.shape[0] if isinstance(idx, torch.Tensor) and idx.dim() == 2 else None  # idx is checked after
        C = self.config.n_embd
        if not (isinstance(prefix, torch.Tensor) and prefix.dtype.is_floating_point and prefix.dim() == 3
                and prefix.shape[0] == B and prefix.shape[2] == C):
            raise ValueError(f"prefix must be a float torch.Tensor (B = {B}, P, C = {C}) of embeddings, got "
                             f"{type(prefix).__name__} {getattr(prefix, 'dtype', '')} "
                             f"{tuple(getattr(prefix, 'shape', ()))}")
        return prefix.shape[1]

    def _check_causal(self, method: str) -> None:
        """Raise a ValueError if the model is bidirectional: a cache needs positions that ignore later ones."""
        if not self.config.causal:
            raise ValueError(f"{method} needs a causal model, but this one has GPTConfig(causal=False): its "
                             "positions attend to later ones, so a KV cache would be wrong and it cannot "
                             "generate left to right; use it to fill in masked tokens with forward()")

    def _run(self, idx: torch.Tensor, cache: KVCache | None, prefix: torch.Tensor | None = None
             ) -> tuple[torch.Tensor, KVCache]:
        """Logits (B, P + T, V) of prefix (B, P, C) or None, then tokens idx (B, T), after the cached positions;
        and the extended cache."""
        past = 0 if cache is None else cache.length
        x = self.wte(idx)  # (B, T, C)
        if prefix is not None:
            x = torch.cat([prefix, x], dim=1)  # (B, P + T, C): the prefix enters as it is
        positions = torch.arange(past, past + x.shape[1], device=idx.device)  # (P + T,)
        x = self.drop(x + self.wpe(positions))  # (B, P + T, C) + (P + T, C) -> (B, P + T, C)
        keys, values = [], []
        for i, block in enumerate(self.h):
            x, (k, v) = block(x, None if cache is None else (cache.keys[i], cache.values[i]))
            keys.append(k)  # (B, nh, past + T, hd)
            values.append(v)
        return self.lm_head(self.ln_f(x)), KVCache(keys, values)  # (B, T, C) -> (B, T, V)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None, prefix: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """idx (B, T) token ids, T <= block_size -> logits (B, T, V) and, given targets (B, T), mean cross-entropy.

        With ``prefix`` (B, P, C) in front (P + T <= block_size) the logits
        are (B, P + T, V) and targets, if given, (B, P + T); targets of -100
        are ignored.
        """
        n_prefix = self._check_prefix(prefix, idx)
        self._check_idx(idx, n_prefix)
        logits, _ = self._run(idx, None, prefix)
        if targets is None:
            return logits, None
        if targets.shape != logits.shape[:2]:
            raise ValueError(f"targets must have the shape {tuple(logits.shape[:2])} of the logits' positions "
                             f"(B, P + T), got {tuple(targets.shape)}")
        loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten())  # (B T, V) against (B T,)
        return logits, loss

    def forward_with_cache(self, idx_new: torch.Tensor, cache: KVCache | None = None,
                           prefix: torch.Tensor | None = None) -> tuple[torch.Tensor, KVCache]:
        """Logits (B, T_new, V) of idx_new (B, T_new) continuing the positions in ``cache`` (None: none yet).

        With ``prefix`` (B, P, C) its P positions come before idx_new's and
        the logits are (B, P + T_new, V).

        Returns the logits and a new cache holding every position so far,
        keys and values (B, n_head, T_so_far, hd) per layer; the cache passed
        in is left as it was. The logits equal those of ``forward`` on the
        whole sequence at the new positions, up to float rounding.
        """
        self._check_causal("forward_with_cache")
        past = (0 if cache is None else cache.length) + self._check_prefix(prefix, idx_new)
        self._check_idx(idx_new, past)
        if cache is not None and (len(cache.keys) != len(self.h) or cache.keys[0].shape[0] != idx_new.shape[0]):
            raise ValueError(f"cache must hold {len(self.h)} layers for a batch of {idx_new.shape[0]}, got "
                             f"{len(cache.keys)} layers for a batch of {cache.keys[0].shape[0]}")
        return self._run(idx_new, cache, prefix)

    @torch.no_grad()
    def generate(self, idx: torch.Tensor, max_new_tokens: int, temperature: float = 1.0, top_k: int | None = None,
                 top_p: float | None = None, greedy: bool = False, use_cache: bool = True,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """Extend the prompt idx (B, T0) by ``max_new_tokens`` tokens -> (B, T0 + max_new_tokens).

        Each step picks a token from the last position's logits with
        :func:`sample_next`. With ``use_cache`` the prompt runs once and then
        one token per step against the :class:`KVCache`; without it the whole
        sequence runs again every step. Requires T0 + max_new_tokens <=
        block_size. Runs in eval mode (no dropout) and restores the mode.
        """
        self._check_causal("generate")
        if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 0:
            raise ValueError(f"max_new_tokens must be an int >= 0, got {max_new_tokens!r}")
        self._check_idx(idx)
        if idx.shape[1] + max_new_tokens > self.config.block_size:
            raise ValueError(f"the prompt's {idx.shape[1]} tokens + max_new_tokens = {max_new_tokens} exceed "
                             f"block_size = {self.config.block_size}; ask for at most "
                             f"{self.config.block_size - idx.shape[1]} new tokens or shorten the prompt")
        was_training = self.training
        self.eval()
        try:
            new, cache = idx, None
            for _ in range(max_new_tokens):  # checked above: every step stays within block_size
                if use_cache:
                    logits, cache = self._run(new, cache)  # the prompt once, then one token
                else:
                    logits, _ = self._run(idx, None)  # the whole sequence again
                new = sample_next(logits[:, -1], temperature, top_k, top_p, greedy, generator)  # (B, 1)
                idx = torch.cat([idx, new], dim=1)  # (B, T + 1)
        finally:
            self.train(was_training)
        return idx


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the k largest logits of each row (..., V), set the rest to -inf; logits tied with the k-th are kept too."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"top_k must be a positive int, got {k!r}")
    if k >= logits.shape[-1]:
        return logits
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]  # (..., 1): the k-th largest logit
    return logits.masked_fill(logits < kth, float("-inf"))


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus filter of each row (..., V): keep the fewest most probable tokens whose probabilities sum to >= p.

    The others are set to -inf. The most probable token is always kept, and
    tokens tied with the least probable one kept are kept too.
    """
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 < p <= 1.0:
        raise ValueError(f"top_p must be a number in (0, 1], got {p!r}")
    ordered = torch.sort(logits, dim=-1, descending=True).values  # (..., V), most probable first
    probs = torch.softmax(ordered, dim=-1)  # (..., V)
    before = F.pad(probs.cumsum(dim=-1)[..., :-1], (1, 0))  # (..., V): total probability ranked above each
    n_keep = (before < p).sum(dim=-1, keepdim=True)  # (..., 1), >= 1 as before[0] = 0
    smallest_kept = ordered.gather(-1, n_keep - 1)  # (..., 1)
    return logits.masked_fill(logits < smallest_kept, float("-inf"))


def sample_next(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
                greedy: bool = False, generator: torch.Generator | None = None) -> torch.Tensor:
    """One token per row of logits (B, V) -> (B, 1) int64.

    ``greedy``: the argmax (the first one if tied; temperature, top_k and
    top_p change nothing). Otherwise a draw from softmax(logits / temperature)
    after :func:`top_k_filter` and :func:`top_p_filter`, using ``generator``.
    """
    if logits.dim() != 2:
        raise ValueError(f"logits must have shape (B, V), got {tuple(logits.shape)}")
    if greedy:
        return logits.argmax(dim=-1, keepdim=True)
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature > 0:
        raise ValueError(f"temperature must be a number > 0 (or greedy=True), got {temperature!r}")
    logits = logits / temperature
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if top_p is not None:
        logits = top_p_filter(logits, top_p)
    return torch.multinomial(torch.softmax(logits, dim=-1), num_samples=1, generator=generator)  # (B, 1)
