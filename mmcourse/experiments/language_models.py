"""Chapter 08's training side: a character GPT, a BERT-style masked LM of the same size, instruction tuning.

- :func:`train_lm` trains a ``GPT`` on the character corpus for a fixed
  number of steps, as a causal LM (predict the next character) or as a
  masked LM (``objective="mlm"``: a ``GPTConfig(causal=False)`` model fills
  in the characters :func:`~mmcourse.data.char_corpus.mask_tokens` hid).
  AdamW, linear warm-up then cosine decay, random windows from a seeded
  generator: the same seed gives the same run on the CPU.
- :func:`evaluate_lm` and :func:`masked_accuracy` score a model on a fixed
  set of validation batches.
- Instruction tuning in miniature: :func:`instruction_pairs` turns shape
  scenes into prompt -> response pairs, :func:`instruction_tune` fine-tunes
  on the response characters only (:func:`encode_pairs` sets the prompt's
  targets to -100), and :func:`answer` replies greedily until the stop marker.

The [MASK] token: the character tokenizer has no spare id, so a masked LM
gets one more, ``mask_id = tokenizer.vocab_size``, and its model is built
with ``vocab_size = tokenizer.vocab_size + 1`` (:func:`mlm_vocab_size`).
No character of the corpus can collide with it, and ``decode`` never sees
it, since only inputs hold it. Importing this module imports torch.
"""
from __future__ import annotations

import time
from collections.abc import Collection

import numpy as np
import torch
from torch.nn import functional as F
from tqdm.auto import tqdm

from mmcourse import env
from mmcourse.data.char_corpus import mask_tokens, random_batches
from mmcourse.data.shape_scenes import make_scenes
from mmcourse.text import CharTokenizer
from mmcourse.torch_models.gpt import GPT

OBJECTIVES = ("causal", "mlm")
PROMPT_TEMPLATE = "### Instruction:\n{question}\n### Scene:\n{caption}\n### Response:\n"
STOP = "\n\n"  # ends every response, as a blank line ends every paragraph of the corpus


def mlm_vocab_size(tokenizer: CharTokenizer) -> int:
    """The vocabulary of a masked LM over ``tokenizer``: its characters plus [MASK], whose id is the last one."""
    return tokenizer.vocab_size + 1


def _mask_id(model: GPT, objective: str) -> int | None:
    """[MASK]'s id for a masked LM (the model's last id), None for a causal one; checks model and objective agree."""
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    if model.config.causal != (objective == "causal"):
        raise ValueError(f"objective={objective!r} needs a model with GPTConfig(causal="
                         f"{objective == 'causal'}), got causal={model.config.causal}")
    return model.config.vocab_size - 1 if objective == "mlm" else None


def _batch(ids: np.ndarray, batch_size: int, block_size: int, generator: torch.Generator, mask_id: int | None
           ) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs, targets) (B, T): next characters for a causal LM, BERT masking for a masked one."""
    x, y = random_batches(ids, batch_size, block_size, generator)
    if mask_id is None:
        return x, y
    return mask_tokens(x, mask_id, mask_id, generator)  # random replacements never draw [MASK] itself


def warmup_cosine(optimizer: torch.optim.Optimizer, steps: int, warmup: int
                  ) -> torch.optim.lr_scheduler.LRScheduler:
    """Per-step schedule: lr rises linearly over ``warmup`` steps, then a cosine takes it to lr / 10 at ``steps``."""
    eta_min = optimizer.param_groups[0]["lr"] / 10
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, steps - warmup), eta_min=eta_min)
    if warmup == 0:
        return cosine
    warm = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=1.0 / (warmup + 1), total_iters=warmup)
    return torch.optim.lr_scheduler.SequentialLR(optimizer, [warm, cosine], milestones=[warmup])


def _adamw(model: GPT, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW with weight decay on the matrices only (not on biases or LayerNorm weights), as in nanoGPT."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}], lr=lr, betas=(0.9, 0.99))


@torch.no_grad()
def evaluate_lm(model: GPT, ids: np.ndarray, block_size: int | None = None, batch_size: int = 32,
                n_batches: int = 8, objective: str = "causal", seed: int = 0) -> float:
    """Mean cross-entropy in nats per predicted character over ``n_batches`` fixed random batches of ids (N,).

    The batches (and, for ``objective="mlm"``, the masks) come from
    ``seed``, so every call scores the same characters. Runs in eval mode
    and restores the mode.
    """
    mask_id = _mask_id(model, objective)
    block_size = model.config.block_size if block_size is None else block_size
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for _ in range(n_batches):
        x, y = _batch(ids, batch_size, block_size, generator, mask_id)
        logits, _ = model(x.to(device))  # (B, T, V)
        y = y.to(device)
        total += F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="sum").item()
        count += int((y != -100).sum())
    model.train(was_training)
    return total / count


@torch.no_grad()
def masked_accuracy(model: GPT, ids: np.ndarray, block_size: int | None = None, batch_size: int = 32,
                    n_batches: int = 8, seed: int = 0) -> dict[str, float]:
    """Share of masked characters a masked LM gets right, and the baseline that always says the commonest one.

    Scores the same fixed batches and masks as ``evaluate_lm(..., objective="mlm", seed=seed)``.
    Returns {"accuracy", "baseline", "n_masked"}; the baseline guesses the
    most frequent character of ``ids`` (the space) at every masked position.
    """
    mask_id = _mask_id(model, "mlm")
    block_size = model.config.block_size if block_size is None else block_size
    device = next(model.parameters()).device
    commonest = int(np.bincount(np.asarray(ids)).argmax())
    generator = torch.Generator().manual_seed(seed)
    was_training = model.training
    model.eval()
    correct, baseline, count = 0, 0, 0
    for _ in range(n_batches):
        x, y = _batch(ids, batch_size, block_size, generator, mask_id)
        logits, _ = model(x.to(device))  # (B, T, V)
        chosen = y != -100
        predicted = logits.argmax(dim=2).cpu()  # (B, T)
        correct += int((predicted[chosen] == y[chosen]).sum())
        baseline += int((y[chosen] == commonest).sum())
        count += int(chosen.sum())
    model.train(was_training)
    return {"accuracy": correct / count, "baseline": baseline / count, "n_masked": count}


def train_lm(model: GPT, train_ids: np.ndarray, val_ids: np.ndarray, steps: int, batch_size: int = 32,
             block_size: int | None = None, lr: float = 1e-3, eval_every: int = 100, objective: str = "causal",
             seed: int = 0, warmup: int | None = None, weight_decay: float = 0.1, eval_batches: int = 4,
             progress: bool = True) -> dict[str, list[float]]:
    """Train ``model`` for ``steps`` AdamW steps on random windows of train_ids; returns the history.

    The history holds, every ``eval_every`` steps and at the last one:
    "step", "train_loss" (mean over the steps since the last entry),
    "val_loss" (:func:`evaluate_lm` on ``eval_batches`` fixed batches of
    val_ids), "lr" and "seconds" since the start. The learning rate warms up
    over ``warmup`` steps (default: steps // 10) and decays along a cosine.
    The model moves to ``mmcourse.env.device()``; batches come from a
    generator seeded with ``seed``, so a CPU run repeats exactly.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    if isinstance(eval_every, bool) or not isinstance(eval_every, int) or eval_every < 1:
        raise ValueError(f"eval_every must be a positive int, got {eval_every!r}")
    mask_id = _mask_id(model, objective)
    block_size = model.config.block_size if block_size is None else block_size
    warmup = steps // 10 if warmup is None else warmup
    device = env.device()
    model.to(device).train()
    optimizer = _adamw(model, lr, weight_decay)
    scheduler = warmup_cosine(optimizer, steps, warmup)
    generator = torch.Generator().manual_seed(seed)
    history: dict[str, list[float]] = {"step": [], "train_loss": [], "val_loss": [], "lr": [], "seconds": []}
    start, running, since = time.perf_counter(), 0.0, 0
    bar = tqdm(range(1, steps + 1), desc=f"{objective} LM", unit="step", disable=not progress)
    for step in bar:
        x, y = _batch(train_ids, batch_size, block_size, generator, mask_id)
        _, loss = model(x.to(device), y.to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        history_lr = scheduler.get_last_lr()[0]
        scheduler.step()
        running, since = running + loss.item(), since + 1
        if step % eval_every == 0 or step == steps:
            val_loss = evaluate_lm(model, val_ids, block_size, batch_size, eval_batches, objective, seed)
            for key, value in (("step", step), ("train_loss", running / since), ("val_loss", val_loss),
                               ("lr", history_lr), ("seconds", time.perf_counter() - start)):
                history[key].append(value)
            running, since = 0.0, 0
            bar.set_postfix(train=f"{history['train_loss'][-1]:.3f}", val=f"{val_loss:.3f}")
    model.eval()
    return history


def instruction_pairs(n: int, seed: int, exclude: Collection[str] = ()) -> list[tuple[str, str]]:
    """n (prompt, response) pairs from the shape scenes of ``seed``: a scene's question about its caption.

    The prompt fills :data:`PROMPT_TEMPLATE`; the response is the answer
    followed by :data:`STOP`, e.g. ("### Instruction:\\nWhat colour is the
    circle?\\n### Scene:\\na small red circle at the top left\\n### Response:\\n", "red\\n\\n").
    Scenes of another seed are other scenes, but small scenes recur (one
    object has 96 variants): pass the training prompts as ``exclude`` to
    skip them and get truly held-out pairs.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    exclude = set(exclude)
    scenes = make_scenes(3 * n + 100, seed=seed)  # the first n scenes of a seed do not depend on how many are made
    pairs = [(PROMPT_TEMPLATE.format(question=q[0].upper() + q[1:], caption=c), a + STOP)
             for q, c, a in zip(scenes.questions, scenes.captions, scenes.answers)]
    kept = [pair for pair in pairs if pair[0] not in exclude][:n]
    if len(kept) < n:
        raise ValueError(f"only {len(kept)} of the scenes of seed {seed} are not excluded; ask for fewer pairs")
    return kept


def encode_pairs(tokenizer: CharTokenizer, pairs: list[tuple[str, str]], pad_id: int = 0
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Pairs -> inputs x (N, L) and targets y (N, L), L = the longest prompt + response - 1.

    Row i holds prompt + response as character ids, x its first L, y the
    same shifted by one (the next character), with y = -100 (ignored by the
    loss) wherever the next character is part of the prompt or padding: the
    model is trained to write the response only. Short rows are padded
    with ``pad_id`` at the end, which a causal model never looks back at.
    """
    if not pairs:
        raise ValueError("pairs must hold at least one (prompt, response) pair")
    rows = [(tokenizer.encode(prompt), tokenizer.encode(response)) for prompt, response in pairs]
    length = max(len(p) + len(r) for p, r in rows) - 1
    x = torch.full((len(rows), length), pad_id, dtype=torch.int64)
    y = torch.full((len(rows), length), -100, dtype=torch.int64)
    for i, (prompt, response) in enumerate(rows):
        ids = torch.from_numpy(np.concatenate([prompt, response]))  # (P + R,)
        x[i, : len(ids) - 1] = ids[:-1]
        y[i, len(prompt) - 1 : len(ids) - 1] = ids[len(prompt):]  # y[t] is ids[t + 1]: the response's characters
    return x, y


def instruction_tune(model: GPT, tokenizer: CharTokenizer, pairs: list[tuple[str, str]], steps: int,
                     batch_size: int = 32, lr: float = 3e-4, seed: int = 0, weight_decay: float = 0.1,
                     progress: bool = True) -> dict[str, list[float]]:
    """Fine-tune a causal ``model`` on the response characters of ``pairs`` for ``steps`` steps.

    Each step draws ``batch_size`` pairs with a generator seeded by
    ``seed``; warm-up over the first tenth of the steps, then a cosine
    decay. Returns {"step", "loss"} with the loss of every step.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    _mask_id(model, "causal")
    x, y = encode_pairs(tokenizer, pairs)
    if x.shape[1] > model.config.block_size:
        raise ValueError(f"the longest pair needs {x.shape[1]} positions, more than the model's block_size = "
                         f"{model.config.block_size}")
    used = (y != -100).cumsum(dim=1).argmax(dim=1) + 1  # (N,): positions up to each row's last target
    device = env.device()
    model.to(device).train()
    optimizer = _adamw(model, lr, weight_decay)
    scheduler = warmup_cosine(optimizer, steps, steps // 10)
    generator = torch.Generator().manual_seed(seed)
    history: dict[str, list[float]] = {"step": [], "loss": []}
    bar = tqdm(range(1, steps + 1), desc="instruction tuning", unit="step", disable=not progress)
    for step in bar:
        rows = torch.randint(len(x), (batch_size,), generator=generator)  # (B,)
        length = int(used[rows].max())  # crop the padding no row of this batch needs
        _, loss = model(x[rows, :length].to(device), y[rows, :length].to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        history["step"].append(step)
        history["loss"].append(loss.item())
        bar.set_postfix(loss=f"{loss.item():.3f}")
    model.eval()
    return history


@torch.no_grad()
def answer(model: GPT, tokenizer: CharTokenizer, prompt: str, max_new_tokens: int = 16) -> str:
    """The model's greedy reply to ``prompt``, up to (without) :data:`STOP` or ``max_new_tokens`` characters.

    Uses the KV cache: the prompt runs once, then one character per step;
    stops early at the stop marker or when the context is full.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    idx = torch.from_numpy(tokenizer.encode(prompt))[None].to(device)  # (1, P)
    budget = min(max_new_tokens, model.config.block_size - idx.shape[1])
    reply = ""
    logits, cache = model.forward_with_cache(idx)
    for step in range(budget):
        new = logits[:, -1].argmax(dim=-1, keepdim=True)  # (1, 1)
        reply += tokenizer.decode(new[0].cpu())
        if reply.endswith(STOP) or step == budget - 1:
            break
        logits, cache = model.forward_with_cache(new, cache)
    model.train(was_training)
    return reply.removesuffix(STOP)


def exact_match(model: GPT, tokenizer: CharTokenizer, pairs: list[tuple[str, str]], max_new_tokens: int = 16,
                progress: bool = False) -> float:
    """Share of pairs whose greedy :func:`answer` equals the response without its stop marker."""
    hits = [answer(model, tokenizer, prompt, max_new_tokens) == response.removesuffix(STOP)
            for prompt, response in tqdm(pairs, desc="answering", disable=not progress)]
    return sum(hits) / len(hits)


__all__ = ["OBJECTIVES", "PROMPT_TEMPLATE", "STOP", "answer", "encode_pairs", "evaluate_lm", "exact_match",
           "instruction_pairs", "instruction_tune", "masked_accuracy", "mlm_vocab_size", "train_lm", "warmup_cosine"]
