"""Chapter 13: learning from feedback. REINFORCE, a Bradley–Terry reward model, RLHF and DPO in miniature.

- The estimators, written as their equations: :func:`reinforce_loss` (its
  gradient is the REINFORCE estimate, with a baseline),
  :func:`leave_one_out_baseline`, :func:`token_kl` (the KL penalty per
  token), :func:`dpo_loss`, and ``bradley_terry_loss`` from the reward twins.
- A first task, the digit-word speller: :class:`Speller` writes "seven" for
  7 letter by letter; :func:`pretrain_speller` gives it a shaky start,
  :func:`train_speller` improves it with REINFORCE, a baseline and a KL
  penalty to where it started; :func:`user_loop` is seed 000's interactive
  loop in miniature, a simulated user's thumbs up or down after each answer.
- The captioner of chapter 10 (``tiny_vlm``): :func:`caption_task` holds
  scenes and their frozen features; :func:`sample_captions` and
  :func:`caption_logprobs` give rollouts and their log-probabilities;
  :func:`rule_score` is the preference rule (every object named at its
  place with its colour and shape, nothing extra);
  :func:`preference_pairs` samples captions per image and keeps the
  pairs the rule prefers, adding near misses (:func:`near_miss`: the true
  caption with one thing wrong); :func:`train_reward_model` fits the
  Bradley–Terry reward model, also on :func:`tied_near_misses` (pairs the
  rule scores the same); :func:`rlhf` fine-tunes by policy gradient on a reward
  (the reward model's, the rule's, mini_clip's score, a user's thumbs) with
  a KL term; :func:`dpo` learns from the same pairs with no reward model.
- :func:`held_out_quality` and :func:`kl_to_reference` measure what the
  chapter states: the rule score of greedy captions on held-out scenes and
  the KL from the starting captioner.

Importing this module imports torch.
"""
from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from mmcourse import env
from mmcourse.data.shape_scenes import COLOURS, SHAPES, SceneObject, caption
from mmcourse.experiments import vision_language as vl
from mmcourse.feedback import DIGIT_WORDS, END, MAX_SPELLING, N_SYMBOLS, RewardConfig, caption_slots, \
    caption_word_ids, spell, unspell
from mmcourse.torch_models.reward import RewardModel, bradley_terry_loss
from mmcourse.torch_models.vlm import VisionLanguageModel

Reward = Callable[[list[str], list[int]], torch.Tensor]  # (captions, scene indices) -> rewards (B,)


# --- the estimators, as equations ------------------------------------------------------------------------------------

def reinforce_loss(seq_logp: torch.Tensor, rewards: torch.Tensor, baseline: torch.Tensor | float = 0.0
                   ) -> torch.Tensor:
    """−mean((R − b) · log π(y)) over B samples: its gradient is the REINFORCE estimate of −∇ E[R].

    seq_logp (B,) are the samples' log-probabilities (with grad), rewards
    (B,) and baseline (B,) or a number carry none: ∇ E[R] = E[(R − b) ∇ log π(y)]
    for any b that does not depend on y, and a good b lowers the variance.
    """
    if seq_logp.shape != rewards.shape:
        raise ValueError(f"seq_logp and rewards must have the same shape (B,), got {tuple(seq_logp.shape)} and "
                         f"{tuple(rewards.shape)}")
    advantage = (rewards - baseline).detach()  # (B,): no gradient flows through the reward or the baseline
    return -(advantage * seq_logp).mean()


def leave_one_out_baseline(rewards: torch.Tensor) -> torch.Tensor:
    """rewards (G, K) of K samples per prompt -> (G, K): each sample's baseline is the mean of the other K − 1."""
    if rewards.dim() != 2 or rewards.shape[1] < 2:
        raise ValueError(f"rewards must be (G, K) with K >= 2 samples per prompt, got {tuple(rewards.shape)}")
    k = rewards.shape[1]
    return (rewards.sum(dim=1, keepdim=True) - rewards) / (k - 1)


def token_kl(logits: torch.Tensor, ref_logits: torch.Tensor) -> torch.Tensor:
    """KL(π ‖ π_ref) at every position: Σ_v π(v) (log π(v) − log π_ref(v)); logits (..., V) -> (...)."""
    if logits.shape != ref_logits.shape:
        raise ValueError(f"logits and ref_logits must have the same shape, got {tuple(logits.shape)} and "
                         f"{tuple(ref_logits.shape)}")
    logp, ref_logp = F.log_softmax(logits, dim=-1), F.log_softmax(ref_logits, dim=-1)
    return (logp.exp() * (logp - ref_logp)).sum(dim=-1)


def dpo_loss(pi_chosen: torch.Tensor, pi_rejected: torch.Tensor, ref_chosen: torch.Tensor,
             ref_rejected: torch.Tensor, beta: float) -> torch.Tensor:
    """DPO: mean of −log σ(β [(log π(y_w) − log π_ref(y_w)) − (log π(y_l) − log π_ref(y_l))]) over B pairs (B,).

    Bradley–Terry with the implicit reward β log π(y)/π_ref(y): no reward
    model, and the reference keeps the policy near where it started.
    """
    if not beta > 0:
        raise ValueError(f"beta must be positive, got {beta!r}")
    margin = (pi_chosen - ref_chosen) - (pi_rejected - ref_rejected)  # (B,)
    return -F.logsigmoid(beta * margin).mean()


# --- the digit-word speller ------------------------------------------------------------------------------------------

class Speller(nn.Module):
    """π(next symbol | digit, previous symbol, position): logits (B, T, 27) for digits (B,) and inputs (B, T).

    The input at position 0 is ``N_SYMBOLS`` (start), then the symbol
    written before; 27 symbols: END and the letters.
    """

    def __init__(self, width: int = 32):
        super().__init__()
        self.digit = nn.Embedding(10, width)
        self.symbol = nn.Embedding(N_SYMBOLS + 1, width)  # + the start symbol
        self.position = nn.Embedding(MAX_SPELLING, width)
        self.out = nn.Linear(width, N_SYMBOLS)

    def forward(self, digits: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        T = inputs.shape[1]
        h = self.digit(digits)[:, None] + self.symbol(inputs) + self.position.weight[:T]  # (B, T, W)
        return self.out(torch.tanh(h))  # (B, T, 27)


def _shift(ids: torch.Tensor) -> torch.Tensor:
    """Spellings (B, T) -> the inputs (B, T) that predict them: start, then the symbols before."""
    start = torch.full_like(ids[:, :1], N_SYMBOLS)
    return torch.cat([start, ids[:, :-1]], dim=1)


def _end_mask(ids: torch.Tensor) -> torch.Tensor:
    """(B, T) True up to and including each row's first END: the symbols that were written."""
    ended_before = torch.cumsum((ids == END).int(), dim=1) - (ids == END).int()  # ENDs strictly before t
    return ended_before == 0


@torch.no_grad()
def sample_spellings(policy: Speller, digits: torch.Tensor, generator: torch.Generator | None = None,
                     greedy: bool = False) -> torch.Tensor:
    """Spell each digit (B,): symbol ids (B, MAX_SPELLING), END after the word (sampled, or greedy)."""
    ids = torch.full((len(digits), MAX_SPELLING), END, dtype=torch.int64)
    for t in range(MAX_SPELLING):
        logits = policy(digits, _shift(ids)[:, : t + 1])[:, t]  # (B, 27)
        ids[:, t] = logits.argmax(-1) if greedy else torch.multinomial(logits.softmax(-1), 1, generator=generator)[:, 0]
    return torch.where(_end_mask(ids), ids, END)  # what follows the first END is END


def spelling_logprobs(policy: Speller, digits: torch.Tensor, ids: torch.Tensor
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(token log-probs (B, T) of the written symbols, 0 after END; logits (B, T, 27); mask (B, T))."""
    logits = policy(digits, _shift(ids))  # (B, T, 27)
    mask = _end_mask(ids)
    logp = F.log_softmax(logits, dim=-1).gather(2, ids[..., None])[..., 0]  # (B, T)
    return logp * mask, logits, mask


def spelling_reward(digits: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """1.0 where the spelling is the digit's word exactly, else 0.0: (B,)."""
    return torch.tensor([float(unspell(row) == DIGIT_WORDS[d]) for d, row in zip(digits.tolist(), ids.tolist())])


def speller_accuracy(policy: Speller) -> dict[str, float]:
    """{"sampled": the mean probability over the 10 digits that a sample is exactly right, "greedy": share right}."""
    digits = torch.arange(10)
    words = torch.from_numpy(np.stack([spell(w) for w in DIGIT_WORDS]))  # (10, T)
    with torch.no_grad():
        logp, _, _ = spelling_logprobs(policy, digits, words)
        greedy = spelling_reward(digits, sample_spellings(policy, digits, greedy=True))
    return {"sampled": float(logp.sum(1).exp().mean()), "greedy": float(greedy.mean())}


def pretrain_speller(steps: int = 40, lr: float = 0.02, seed: int = 0) -> Speller:
    """A Speller after ``steps`` full-batch Adam steps of cross-entropy on the ten words: a shaky start."""
    torch.manual_seed(seed)
    policy = Speller()
    digits = torch.arange(10)
    words = torch.from_numpy(np.stack([spell(w) for w in DIGIT_WORDS]))  # (10, T)
    optimizer = torch.optim.Adam(policy.parameters(), lr=lr)
    for _ in range(steps):
        logp, _, _ = spelling_logprobs(policy, digits, words)
        loss = -logp.sum(1).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return policy


def train_speller(policy: Speller, steps: int = 300, batch_size: int = 64, kl_weight: float = 0.01,
                  lr: float = 0.01, baseline: bool = True, seed: int = 0, progress: bool = True
                  ) -> dict[str, list[float]]:
    """REINFORCE on the speller: reward 1 for the exact word, a mean-reward baseline, β · KL to the start.

    Each step spells ``batch_size`` random digits; the loss is
    :func:`reinforce_loss` plus ``kl_weight`` times the summed
    :func:`token_kl` to a frozen copy of the starting policy. Returns
    {"step", "reward", "kl", "sampled"} per step ("sampled": speller_accuracy).
    """
    _check_steps(steps)
    reference = copy.deepcopy(policy).eval().requires_grad_(False)
    optimizer = torch.optim.Adam(policy.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    history: dict[str, list[float]] = {"step": [], "reward": [], "kl": [], "sampled": []}
    for step in tqdm(range(1, steps + 1), desc="REINFORCE", disable=not progress):
        digits = torch.randint(10, (batch_size,), generator=generator)
        ids = sample_spellings(policy, digits, generator)
        rewards = spelling_reward(digits, ids)
        logp, logits, mask = spelling_logprobs(policy, digits, ids)
        with torch.no_grad():
            ref_logits = reference(digits, _shift(ids))
        kl = (token_kl(logits, ref_logits) * mask).sum(1)  # (B,)
        loss = reinforce_loss(logp.sum(1), rewards, rewards.mean() if baseline else 0.0) + kl_weight * kl.mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        for key, value in (("step", step), ("reward", rewards.mean().item()), ("kl", kl.mean().item()),
                           ("sampled", speller_accuracy(policy)["sampled"])):
            history[key].append(value)
    return history


def gradient_variance(policy: Speller, use_baseline: bool, batches: int = 100, batch_size: int = 16,
                      seed: int = 0) -> float:
    """The spread of the REINFORCE estimate: Σ over the policy's weights of the variance of the gradient across
    ``batches`` batches of ``batch_size`` spellings, with the batch-mean baseline or none. The policy is unchanged."""
    _check_steps(batches)
    generator = torch.Generator().manual_seed(seed)
    grads = []
    for _ in range(batches):
        digits = torch.randint(10, (batch_size,), generator=generator)
        ids = sample_spellings(policy, digits, generator)
        rewards = spelling_reward(digits, ids)
        logp, _, _ = spelling_logprobs(policy, digits, ids)
        loss = reinforce_loss(logp.sum(1), rewards, rewards.mean() if use_baseline else 0.0)
        grads.append(torch.cat([g.flatten() for g in torch.autograd.grad(loss, list(policy.parameters()))]))
    return float(torch.stack(grads).var(dim=0).sum())


def user_loop(policy: Speller, rounds: int = 300, lr: float = 0.01, seed: int = 0,
              user: Callable[[int, str], bool] | None = None, progress: bool = True) -> dict[str, list[float]]:
    """Seed 000's interactive loop: ask one digit, show the spelling, get a thumb, update; ``rounds`` times.

    ``user(digit, spelling)`` -> True (thumbs up) or False; by default a
    user who likes the right word. Reward +1 / −1, the baseline a running
    mean of past rewards, one REINFORCE step (Adam) per answer. Returns
    {"round", "thumbs_up" (0/1), "sampled"}.
    """
    _check_steps(rounds)
    user = user or (lambda digit, spelling: spelling == DIGIT_WORDS[digit])
    optimizer = torch.optim.Adam(policy.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    history: dict[str, list[float]] = {"round": [], "thumbs_up": [], "sampled": []}
    running = 0.0
    for r in tqdm(range(1, rounds + 1), desc="user", disable=not progress):
        digit = torch.randint(10, (1,), generator=generator)
        ids = sample_spellings(policy, digit, generator)
        up = bool(user(int(digit), unspell(ids[0].tolist())))
        reward = torch.tensor([1.0 if up else -1.0])
        logp, _, _ = spelling_logprobs(policy, digit, ids)
        loss = reinforce_loss(logp.sum(1), reward, running)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        running += (reward.item() - running) / min(r, 20)  # the mean of (about) the last 20 rewards
        for key, value in (("round", r), ("thumbs_up", float(up)), ("sampled", speller_accuracy(policy)["sampled"])):
            history[key].append(value)
    return history


def _check_steps(steps: int) -> None:
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")


# --- the captioner: scenes, rollouts, the preference rule ----------------------------------------------------------

@dataclass(frozen=True)
class CaptionTask:
    """N scenes to caption: images (N, 3, H, W), mini_clip's visual tokens (N, n, D) and unit embeddings (N, E)."""

    images: torch.Tensor
    features: torch.Tensor
    image_emb: torch.Tensor
    objects: list[tuple[SceneObject, ...]]
    captions: list[str]  # the true captions, as the data set writes them

    def __len__(self) -> int:
        return len(self.objects)

    def head(self, n: int) -> CaptionTask:
        """The first n scenes."""
        return CaptionTask(self.images[:n], self.features[:n], self.image_emb[:n], self.objects[:n],
                           self.captions[:n])


def caption_task(n: int, clip, held_out: bool = False) -> CaptionTask:
    """The first n training scenes of chapter 10 (seed 1), or n held-out scenes (seed 2, none seen in training).

    ``clip`` is the ``mini_clip`` checkpoint: its frozen image encoder gives
    the captioner's visual tokens and the reward's image embeddings.
    """
    if held_out:
        examples = vl.held_out_examples(n, vl.make_examples(vl.Recipe.n_train, vl.TRAIN_SEED, "both"), "caption")
    else:
        examples = vl.make_examples(n, vl.TRAIN_SEED, "caption")
    with torch.no_grad():
        image_emb = F.normalize(clip.encode_image(examples.images), dim=1)  # (N, E)
    return CaptionTask(examples.images, vl.encode_images(clip.image_encoder.tokens, examples.images), image_emb,
                       list(examples.objects), [r.removesuffix(vl.STOP) for r in examples.responses])


def rule_score(caption: str, objects: tuple[SceneObject, ...]) -> float:
    """The preference rule: objects named at their place with the right colour and shape, / max(true, named).

    1.0 when every object is named with its colour and shape and nothing
    else is named; a wrong colour or shape, a missing object or an extra
    (or repeated) one each cost a share. Sizes are not judged.
    """
    named = vl.parse_caption(caption)
    at = {(o.row, o.col): o for o in named}
    right = sum(1 for o in objects if (o.row, o.col) in at
                and (at[(o.row, o.col)].colour, at[(o.row, o.col)].shape) == (o.colour, o.shape))
    return right / max(len(objects), len(named))


def _prompt(tokenizer) -> torch.Tensor:
    return torch.from_numpy(tokenizer.encode(vl.qa_prompt(vl.CAPTION_INSTRUCTION)))  # (P,)


def _stop_ids(tokenizer) -> list[int]:
    return tokenizer.encode(vl.STOP).tolist()


@torch.no_grad()
def sample_captions(model: VisionLanguageModel, features: torch.Tensor, tokenizer, temperature: float = 1.0,
                    max_new_tokens: int = vl.MAX_CAPTION, generator: torch.Generator | None = None
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Sampled replies to the caption prompt for features (B, n, D): (ids (B, T), mask (B, T)).

    A row's ids end with the stop sequence (its mask True up to there) or
    run to ``max_new_tokens``; temperature 0 is greedy. Uses the KV cache.
    """
    device = next(model.parameters()).device
    stop = torch.tensor(_stop_ids(tokenizer), device=device)
    prompt = _prompt(tokenizer).to(device).expand(len(features), -1)  # (B, P)
    prefix = model.visual_tokens(features.to(device))  # (B, n, C)
    ids = prompt[:, :0]
    done = torch.zeros(len(features), dtype=torch.bool, device=device)
    mask = torch.zeros(len(features), 0, dtype=torch.bool, device=device)
    new, cache = prompt, None
    for _ in range(max_new_tokens):
        logits, cache = model.gpt.forward_with_cache(new, cache, prefix if cache is None else None)
        logits = logits[:, -1]  # (B, V)
        if temperature == 0:
            new = logits.argmax(-1, keepdim=True)
        else:
            new = torch.multinomial((logits / temperature).softmax(-1), 1, generator=generator)  # (B, 1)
        ids, mask = torch.cat([ids, new], 1), torch.cat([mask, ~done[:, None]], 1)
        if ids.shape[1] >= len(stop):
            done |= (ids[:, -len(stop):] == stop).all(1)
        if done.all():
            break
    return ids.cpu(), mask.cpu()


def caption_logprobs(model: VisionLanguageModel, features: torch.Tensor, ids: torch.Tensor, tokenizer
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """(log π of each reply token (B, T), logits (B, T, V)) for replies ids (B, T) to the caption prompt."""
    device = next(model.parameters()).device
    prompt = _prompt(tokenizer).to(device).expand(len(ids), -1)  # (B, P)
    ids = ids.to(device)
    logits, _ = model(features.to(device), torch.cat([prompt, ids[:, :-1]], 1))  # (B, P + T - 1, V)
    logits = logits[:, prompt.shape[1] - 1:]  # (B, T, V): the positions that predict the reply
    return F.log_softmax(logits, -1).gather(2, ids[..., None])[..., 0], logits


def decode(tokenizer, ids: torch.Tensor, mask: torch.Tensor) -> list[str]:
    """The replies (B, T) as text, without the stop sequence."""
    return [tokenizer.decode(row[m].numpy()).removesuffix(vl.STOP) for row, m in zip(ids, mask)]


# --- preference pairs and the reward model ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Pairs:
    """Preference pairs: scene index (M,), chosen and rejected replies (ids (M, T), mask (M, T), text)."""

    scene: torch.Tensor
    chosen: tuple[torch.Tensor, torch.Tensor]
    rejected: tuple[torch.Tensor, torch.Tensor]
    chosen_text: list[str]
    rejected_text: list[str]

    def __len__(self) -> int:
        return len(self.scene)


def preference_pairs(model: VisionLanguageModel, task: CaptionTask, tokenizer, samples: int = 4,
                     with_truth: bool = False, sampled_pairs: bool = True, near_misses: int = 0,
                     batch_size: int = 32, temperature: float = 1.0, seed: int = 0, progress: bool = True) -> Pairs:
    """``samples`` sampled captions per scene of ``task``; where their rule scores differ, the best vs the worst.

    The first best and the first worst by rule score are taken; scenes
    whose samples all score the same give no such pair. ``with_truth``
    adds, for every scene whose worst sample is not perfect, the true
    caption (a "human-written" reply, score 1.0) against that worst sample;
    ``sampled_pairs=False`` keeps only those. ``near_misses`` adds that many
    pairs per scene made without the model (:func:`near_miss_pair`), cheap
    and varied: the contrasts a reward model must learn, one at a time.
    """
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 2:
        raise ValueError(f"samples must be an int >= 2, got {samples!r}")
    if isinstance(near_misses, bool) or not isinstance(near_misses, int) or near_misses < 0:
        raise ValueError(f"near_misses must be an int >= 0, got {near_misses!r}")
    generator = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    found: list[tuple[int, str, str]] = []  # (scene, chosen text, rejected text)
    for scene in range(len(task) if near_misses else 0):
        found += [(scene, *pair) for pair in (near_miss_pair(task.objects[scene], rng) for _ in range(near_misses))
                  if pair is not None]
    for start in tqdm(range(0, len(task), batch_size), desc="pairs", disable=not progress):
        index = list(range(start, min(start + batch_size, len(task))))
        features = task.features[index].repeat_interleave(samples, 0)  # (b K, n, D)
        ids, mask = sample_captions(model, features, tokenizer, temperature, generator=generator)
        texts = decode(tokenizer, ids, mask)
        for j, scene in enumerate(index):
            drawn = texts[j * samples : (j + 1) * samples]
            scores = [rule_score(t, task.objects[scene]) for t in drawn]
            best, worst = int(np.argmax(scores)), int(np.argmin(scores))
            if sampled_pairs and scores[best] > scores[worst]:
                found.append((scene, drawn[best], drawn[worst]))
            if with_truth and scores[worst] < 1.0:
                found.append((scene, task.captions[scene], drawn[worst]))
    if not found:
        raise ValueError("no scene gave a pair: every sample of every scene scored the same")
    return Pairs(torch.tensor([s for s, _, _ in found]), _encode_replies(tokenizer, [c for _, c, _ in found]),
                 _encode_replies(tokenizer, [r for _, _, r in found]), [c for _, c, _ in found],
                 [r for _, _, r in found])


def near_miss(objects: tuple[SceneObject, ...], rng: np.random.Generator) -> tuple[SceneObject, ...]:
    """The scene's objects with one thing wrong: a colour, a shape, a place, one object left out, one added, or two
    objects' looks swapped (where the scene allows it; else a colour). Sorted in reading order, as captions are."""
    objects = list(objects)
    empty = [(r, c) for r in range(2) for c in range(2) if all((o.row, o.col) != (r, c) for o in objects)]
    i = int(rng.integers(len(objects)))
    obj, kind = objects[i], int(rng.integers(6))
    if kind == 1:
        objects[i] = dataclasses.replace(obj, shape=str(rng.choice([s for s in SHAPES if s != obj.shape])))
    elif kind == 2 and empty:
        row, col = empty[rng.integers(len(empty))]
        objects[i] = dataclasses.replace(obj, row=row, col=col)
    elif kind == 3 and len(objects) > 1:
        objects.pop(i)
    elif kind == 4 and empty:
        row, col = empty[rng.integers(len(empty))]
        objects.append(SceneObject(str(rng.choice(SHAPES)), str(rng.choice(list(COLOURS))), "small", row, col))
    elif kind == 5 and len(objects) > 1:
        j = (i + 1) % len(objects)
        objects[i] = dataclasses.replace(obj, shape=objects[j].shape, colour=objects[j].colour)
        objects[j] = dataclasses.replace(objects[j], shape=obj.shape, colour=obj.colour)
    else:
        objects[i] = dataclasses.replace(obj, colour=str(rng.choice([c for c in COLOURS if c != obj.colour])))
    return tuple(sorted(objects, key=lambda o: (o.row, o.col)))


def near_miss_pair(objects: tuple[SceneObject, ...], rng: np.random.Generator) -> tuple[str, str] | None:
    """(chosen, rejected) captions of a scene by the rule: one near miss against the truth (a third of the time) or
    against a second near miss (of the truth or of itself); None when the rule scores the two the same."""
    first = near_miss(objects, rng)
    if rng.random() < 1 / 3:
        other = objects
    else:
        other = near_miss(first if rng.random() < 0.5 else objects, rng)
    a, b = caption(first), caption(other)
    score_a, score_b = rule_score(a, objects), rule_score(b, objects)
    if score_a == score_b:
        return None
    return (a, b) if score_a > score_b else (b, a)


def tied_near_misses(task: CaptionTask, per_scene: int, seed: int = 0) -> tuple[torch.Tensor, list[str], list[str]]:
    """Pairs of near misses the rule scores the *same* (e.g. an object left out and one misnamed): scene indices
    (M,) and the two captions. A reward model fitted on strict preferences only never learns such equalities."""
    rng = np.random.default_rng(seed)
    found = []
    for scene, objects in enumerate(task.objects):
        for _ in range(per_scene):
            a, b = caption(near_miss(objects, rng)), caption(near_miss(objects, rng))
            if a != b and rule_score(a, objects) == rule_score(b, objects):
                found.append((scene, a, b))
    return torch.tensor([s for s, _, _ in found], dtype=torch.int64), [a for _, a, _ in found], [b for _, _, b in found]


def _encode_replies(tokenizer, replies: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Replies (without STOP) -> character ids of reply + STOP (B, T), padded with 0, and their mask (B, T)."""
    encoded = [torch.from_numpy(tokenizer.encode(r + vl.STOP)) for r in replies]
    ids = torch.zeros(len(encoded), max(len(e) for e in encoded), dtype=torch.int64)
    mask = torch.zeros(ids.shape, dtype=torch.bool)
    for i, e in enumerate(encoded):
        ids[i, : len(e)], mask[i, : len(e)] = e, True
    return ids, mask


def _vocab():
    from mmcourse.data.scene_captions import caption_vocabulary

    return caption_vocabulary()


@torch.no_grad()
def text_embeddings(clip, captions: list[str], max_words: int = 32) -> torch.Tensor:
    """mini_clip's unit embeddings (B, E) of any captions: chapter 09's words, unknown ones as <unk>, cut."""
    ids = torch.from_numpy(caption_word_ids(captions, _vocab(), max_words))  # (B, max_words)
    return F.normalize(clip.encode_text(ids), dim=1)


def reply_slots(texts: list[str]) -> torch.Tensor:
    """What the reward model reads of each caption: :func:`mmcourse.feedback.caption_slots` (B, 4, 3) of its objects."""
    return torch.from_numpy(caption_slots([vl.parse_caption(t) for t in texts]))


def train_reward_model(pairs: Pairs, task: CaptionTask, steps: int = 600, batch_size: int = 128, lr: float = 3e-3,
                       weight_decay: float = 0.01, config: RewardConfig = RewardConfig(),
                       ties: tuple[torch.Tensor, list[str], list[str]] | None = None, seed: int = 0,
                       progress: bool = True) -> tuple[RewardModel, dict[str, list[float]]]:
    """A RewardModel fitted to the pairs with the Bradley–Terry loss (AdamW); returns it (eval mode) and
    {"step", "loss"}. It reads the scenes' frozen visual tokens (``task.features``) and the captions' slots.

    ``ties`` (:func:`tied_near_misses`) adds Bradley–Terry's loss for a tie, −½ log σ(d) − ½ log σ(−d) on
    the difference d, on a batch of tied pairs each step: equal rule scores should get equal rewards.
    """
    _check_steps(steps)
    torch.manual_seed(seed)
    model = RewardModel(config)
    tokens = task.features[pairs.scene]  # (M, P, D)
    chosen, rejected = reply_slots(pairs.chosen_text), reply_slots(pairs.rejected_text)  # (M, P, 3) each
    if ties is not None:
        tie_tokens, tie_a, tie_b = task.features[ties[0]], reply_slots(ties[1]), reply_slots(ties[2])
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    generator = torch.Generator().manual_seed(seed)
    history: dict[str, list[float]] = {"step": [], "loss": []}
    for step in tqdm(range(1, steps + 1), desc="reward model", disable=not progress):
        rows = torch.randint(len(pairs), (batch_size,), generator=generator)
        loss = bradley_terry_loss(model(tokens[rows], chosen[rows]), model(tokens[rows], rejected[rows]))
        if ties is not None:
            rows = torch.randint(len(tie_tokens), (batch_size,), generator=generator)
            r_a, r_b = model(tie_tokens[rows], tie_a[rows]), model(tie_tokens[rows], tie_b[rows])
            loss = loss + (bradley_terry_loss(r_a, r_b) + bradley_terry_loss(r_b, r_a)) / 2
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history["step"].append(step)
        history["loss"].append(loss.item())
    return model.eval(), history


@torch.no_grad()
def reward_accuracy(reward: Reward, pairs: Pairs) -> float:
    """The share of pairs whose chosen caption ``reward`` scores higher than the rejected one."""
    scenes = pairs.scene.tolist()
    return float((reward(pairs.chosen_text, scenes) > reward(pairs.rejected_text, scenes)).float().mean())


# --- rewards ---------------------------------------------------------------------------------------------------------

def rule_reward(task: CaptionTask) -> Reward:
    """The preference rule itself as the reward (what the reward model only approximates)."""
    return lambda texts, scenes: torch.tensor([rule_score(t, task.objects[i]) for t, i in zip(texts, scenes)])


def model_reward(model: RewardModel, task: CaptionTask) -> Reward:
    """The Bradley–Terry reward model's score of each caption for its scene."""
    def reward(texts: list[str], scenes: list[int]) -> torch.Tensor:
        with torch.no_grad():
            return model(task.features[scenes], reply_slots(texts))
    return reward


def clip_reward(clip, task: CaptionTask, scale: float = 10.0) -> Reward:
    """``scale`` × the cosine similarity of mini_clip's image and caption embeddings (chapter 09's score)."""
    return lambda texts, scenes: scale * (task.image_emb[scenes] * text_embeddings(clip, texts)).sum(1)


def thumbs_reward(task: CaptionTask) -> Reward:
    """A simulated user: +1 (thumbs up) for a caption the rule scores 1.0, −1 (thumbs down) otherwise."""
    rule = rule_reward(task)
    return lambda texts, scenes: torch.where(rule(texts, scenes) == 1.0, 1.0, -1.0)


@torch.no_grad()
def normalised(reward: Reward, policy: VisionLanguageModel, task: CaptionTask, tokenizer, n_scenes: int = 256,
               samples: int = 4, seed: int = 0) -> Reward:
    """``reward`` shifted and scaled to mean 0 and standard deviation 1 over the starting policy's own captions
    (``samples`` for each of ``task``'s first ``n_scenes`` scenes), as Ziegler et al. (2019) normalise theirs.

    A Bradley–Terry reward has no unit: its spread is the model's confidence
    (here about 3 against the rule's 0.4), and it scales the policy gradient
    against the KL term. Once normalised, one β means the same for any reward.
    """
    scenes = torch.arange(min(n_scenes, len(task))).repeat_interleave(samples)
    ids, mask = sample_captions(policy, task.features[scenes], tokenizer,
                                generator=torch.Generator().manual_seed(seed))
    start = reward(decode(tokenizer, ids, mask), scenes.tolist()).float()  # (n_scenes K,)
    mean, std = start.mean(), start.std()
    if not std > 0:
        raise ValueError("the reward gives every sampled caption the same score: nothing to normalise by")
    return lambda texts, scenes: (reward(texts, scenes) - mean) / std


# --- RLHF and DPO ----------------------------------------------------------------------------------------------------

def _frozen(model: nn.Module) -> nn.Module:
    return copy.deepcopy(model).eval().requires_grad_(False)


def rlhf(policy: VisionLanguageModel, task: CaptionTask, reward: Reward, tokenizer, steps: int,
         scenes_per_step: int = 16, samples: int = 4, kl_weight: float = 0.1, lr: float = 2e-5, seed: int = 0,
         progress: bool = True) -> dict[str, list[float]]:
    """Policy-gradient fine-tuning: REINFORCE with a leave-one-out baseline and β · KL to the starting policy.

    Each step samples ``samples`` captions for each of ``scenes_per_step``
    random scenes, scores them with ``reward``, and takes one AdamW step on
    :func:`reinforce_loss` + ``kl_weight`` × the caption's summed
    :func:`token_kl` to a frozen copy of the policy as it was. Returns
    {"step", "reward", "kl", "seconds"}; the policy ends in eval mode.
    """
    _check_steps(steps)
    reference = _frozen(policy)
    device = env.device()
    policy.to(device), reference.to(device)
    optimizer = torch.optim.AdamW(policy.parameters(), lr=lr, weight_decay=0.0)
    generator = torch.Generator().manual_seed(seed)
    history: dict[str, list[float]] = {"step": [], "reward": [], "kl": [], "seconds": []}
    start = time.perf_counter()
    bar = tqdm(range(1, steps + 1), desc="RLHF", disable=not progress)
    for step in bar:
        scenes = torch.randint(len(task), (scenes_per_step,), generator=generator).repeat_interleave(samples)
        features = task.features[scenes]  # (G K, n, D)
        policy.eval()  # sample and score without dropout
        ids, mask = sample_captions(policy, features, tokenizer, generator=generator)
        rewards = reward(decode(tokenizer, ids, mask), scenes.tolist()).float()  # (G K,)
        baseline = leave_one_out_baseline(rewards.view(-1, samples)).flatten()
        logp, logits = caption_logprobs(policy, features, ids, tokenizer)
        with torch.no_grad():
            _, ref_logits = caption_logprobs(reference, features, ids, tokenizer)
        mask = mask.to(device)
        kl = (token_kl(logits, ref_logits) * mask).sum(1)  # (G K,): the caption's KL, summed over its tokens
        loss = reinforce_loss((logp * mask).sum(1), rewards.to(device), baseline.to(device)) + kl_weight * kl.mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(policy.parameters(), 1.0)
        optimizer.step()
        for key, value in (("step", step), ("reward", rewards.mean().item()), ("kl", kl.mean().item()),
                           ("seconds", time.perf_counter() - start)):
            history[key].append(value)
        bar.set_postfix(reward=f"{rewards.mean().item():.3f}", kl=f"{kl.mean().item():.2f}")
    return history


def _sequence_logp(model: VisionLanguageModel, features: torch.Tensor, reply: tuple[torch.Tensor, torch.Tensor],
                   tokenizer) -> torch.Tensor:
    ids, mask = reply
    length = int(mask.sum(1).max())
    logp, _ = caption_logprobs(model, features, ids[:, :length], tokenizer)
    return (logp * mask[:, :length].to(logp.device)).sum(1)  # (B,)


def dpo(policy: VisionLanguageModel, task: CaptionTask, pairs: Pairs, tokenizer, steps: int, batch_size: int = 32,
        beta: float = 0.1, lr: float = 2e-5, nll_weight: float = 0.0, seed: int = 0, progress: bool = True
        ) -> dict[str, list[float]]:
    """Direct preference optimisation on the pairs: :func:`dpo_loss` against a frozen copy of the starting policy.

    ``nll_weight`` > 0 adds that times the chosen replies' negative
    log-likelihood per token (RPO's anchor: plain DPO can lower the chosen
    reply's probability too, as long as the rejected one falls faster).

    Returns {"step", "loss", "accuracy" (share of the batch's pairs whose
    implicit reward ranks them right), "seconds"}; the policy ends in eval mode.
    """
    _check_steps(steps)
    reference = _frozen(policy)
    device = env.device()
    policy.to(device), reference.to(device)
    optimizer = torch.optim.AdamW(policy.parameters(), lr=lr, weight_decay=0.0)
    generator = torch.Generator().manual_seed(seed)
    history: dict[str, list[float]] = {"step": [], "loss": [], "accuracy": [], "seconds": []}
    start = time.perf_counter()
    bar = tqdm(range(1, steps + 1), desc="DPO", disable=not progress)
    for step in bar:
        rows = torch.randint(len(pairs), (batch_size,), generator=generator)
        features = task.features[pairs.scene[rows]]
        chosen = tuple(t[rows] for t in pairs.chosen)
        rejected = tuple(t[rows] for t in pairs.rejected)
        policy.eval()  # no dropout: the log-probabilities must be comparable with the reference's
        with torch.no_grad():
            ref_w = _sequence_logp(reference, features, chosen, tokenizer)
            ref_l = _sequence_logp(reference, features, rejected, tokenizer)
        pi_w = _sequence_logp(policy, features, chosen, tokenizer)
        pi_l = _sequence_logp(policy, features, rejected, tokenizer)
        loss = dpo_loss(pi_w, pi_l, ref_w, ref_l, beta)
        if nll_weight:
            loss = loss - nll_weight * (pi_w / chosen[1].sum(1).to(pi_w.device)).mean()  # + NLL per token
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(policy.parameters(), 1.0)
        optimizer.step()
        accuracy = ((pi_w - ref_w) > (pi_l - ref_l)).float().mean().item()
        for key, value in (("step", step), ("loss", loss.item()), ("accuracy", accuracy),
                           ("seconds", time.perf_counter() - start)):
            history[key].append(value)
        bar.set_postfix(loss=f"{loss.item():.3f}")
    return history


# --- what the chapter measures ---------------------------------------------------------------------------------------

@torch.no_grad()
def greedy_captions(model: VisionLanguageModel, task: CaptionTask, tokenizer, batch_size: int = 200) -> list[str]:
    """The model's greedy caption of every scene of ``task``."""
    texts = []
    for start in range(0, len(task), batch_size):
        ids, mask = sample_captions(model, task.features[start : start + batch_size], tokenizer, temperature=0.0)
        texts += decode(tokenizer, ids, mask)
    return texts


def rule_scores(captions: list[str], task: CaptionTask) -> np.ndarray:
    """The rule score of one caption per scene of ``task``, in order: (N,)."""
    if len(captions) != len(task):
        raise ValueError(f"need one caption per scene: {len(captions)} captions for {len(task)} scenes")
    return np.array([rule_score(t, o) for t, o in zip(captions, task.objects)])


def scene_scores(model: VisionLanguageModel, task: CaptionTask, tokenizer) -> np.ndarray:
    """The rule score of the model's greedy caption of each scene of ``task``: (N,)."""
    return rule_scores(greedy_captions(model, task, tokenizer), task)


def held_out_quality(model: VisionLanguageModel, task: CaptionTask, tokenizer) -> float:
    """The mean rule score of the model's greedy captions of ``task``'s scenes."""
    return float(scene_scores(model, task, tokenizer).mean())


def paired_standard_error(scores: np.ndarray, reference: np.ndarray) -> float:
    """The standard error of mean(scores − reference) over N scenes scored by two models (N,) each: the noise
    on a gain measured on those scenes, std(difference) / √N."""
    if scores.shape != reference.shape or scores.ndim != 1 or len(scores) < 2:
        raise ValueError(f"scores and reference must both be (N,) with N >= 2, got {scores.shape} and "
                         f"{reference.shape}")
    return float(np.std(scores - reference, ddof=1) / np.sqrt(len(scores)))


@torch.no_grad()
def kl_to_reference(model: VisionLanguageModel, reference: VisionLanguageModel, task: CaptionTask, tokenizer,
                    samples: int = 2, seed: int = 0) -> float:
    """KL(π ‖ π_ref) per caption in nats: Σ over sampled captions' tokens of :func:`token_kl`, averaged.

    ``samples`` captions per scene of ``task`` from ``model``; an unbiased
    estimate of the sequence-level KL, which the RLHF objective bounds.
    """
    generator = torch.Generator().manual_seed(seed)
    total, count = 0.0, 0
    for start in range(0, len(task), 100):
        features = task.features[start : start + 100].repeat_interleave(samples, 0)
        ids, mask = sample_captions(model, features, tokenizer, generator=generator)
        _, logits = caption_logprobs(model, features, ids, tokenizer)
        _, ref_logits = caption_logprobs(reference, features, ids, tokenizer)
        total += float((token_kl(logits, ref_logits) * mask.to(logits.device)).sum())
        count += len(ids)
    return total / count


# --- the course checkpoints tiny_vlm_rlhf and tiny_vlm_dpo ----------------------------------------------------------

def _course_parts():
    """(tiny_vlm, mini_clip, the character tokenizer): the starting captioner, its encoder, its alphabet."""
    from mmcourse.data.char_corpus import load_char_corpus
    from mmcourse.pretrained.course import load_course_model

    return load_course_model("tiny_vlm"), load_course_model("mini_clip"), load_char_corpus().tokenizer


def fine_tune(recipe: dict, progress: bool = True) -> VisionLanguageModel:
    """``tiny_vlm`` fine-tuned by a course recipe: {"method": "rlhf" | "dpo", ...}; the model on the CPU, eval mode.

    Preference pairs come from ``samples`` captions for each of the first
    ``pair_scenes`` (default ``n_scenes``) training scenes, rule-ranked
    (:func:`preference_pairs` with ``with_truth``, ``sampled_pairs`` and
    ``near_misses``); "rlhf" runs :func:`rlhf` on the first ``n_scenes``
    scenes with ``reward``: "reward_model" fits the reward model on the pairs
    (``rm_steps``, ``tied_near_misses``) and uses its score, :func:`normalised`
    when ``normalise``; "rule" asks the rule itself (a judge always at hand, as
    people are not), "clip" mini_clip's cosine (a zero-shot judge); "dpo" runs
    :func:`dpo` on the pairs.
    """
    policy, clip, tokenizer = _course_parts()
    task = caption_task(recipe["n_scenes"], clip)
    pair_task = task.head(recipe.get("pair_scenes", recipe["n_scenes"]))
    if recipe["method"] == "rlhf" and recipe["reward"] in ("rule", "clip"):
        pairs, reward = None, rule_reward(task) if recipe["reward"] == "rule" else clip_reward(clip, task)
    else:
        pairs = preference_pairs(policy, pair_task, tokenizer, recipe["samples"], recipe["with_truth"],
                                 recipe.get("sampled_pairs", True), recipe.get("near_misses", 0),
                                 seed=recipe["seed"], progress=progress)
    if recipe["method"] == "rlhf":
        if pairs is not None:
            ties = tied_near_misses(pair_task, recipe["tied_near_misses"], recipe["seed"]) \
                if recipe.get("tied_near_misses") else None
            reward_model, _ = train_reward_model(pairs, pair_task, recipe["rm_steps"], ties=ties,
                                                 seed=recipe["seed"], progress=progress)
            reward = model_reward(reward_model, task)
            if recipe.get("normalise"):
                reward = normalised(reward, policy, task, tokenizer, seed=recipe["seed"])
        rlhf(policy, task, reward, tokenizer, recipe["steps"],
             recipe["scenes_per_step"], recipe["samples"], recipe["kl_weight"], recipe["lr"], recipe["seed"], progress)
    elif recipe["method"] == "dpo":
        dpo(policy, task, pairs, tokenizer, recipe["steps"], recipe["batch_size"], recipe["beta"], recipe["lr"],
            recipe.get("nll_weight", 0.0), recipe["seed"], progress)
    else:
        raise ValueError(f"recipe['method'] must be 'rlhf' or 'dpo', got {recipe['method']!r}")
    return policy.cpu().eval()


def measure_fine_tuned(model: VisionLanguageModel, n_scenes: int = 200) -> dict[str, float]:
    """The rule score of greedy captions of ``n_scenes`` held-out scenes, for the model and for ``tiny_vlm``, the
    standard error of the difference (:func:`paired_standard_error`), and the model's KL from ``tiny_vlm`` per
    caption (nats, two samples per scene)."""
    base, clip, tokenizer = _course_parts()
    test = caption_task(n_scenes, clip, held_out=True)
    scores, reference = scene_scores(model, test, tokenizer), scene_scores(base, test, tokenizer)
    return {"held_out_rule_score": float(scores.mean()), "tiny_vlm_rule_score": float(reference.mean()),
            "gain_standard_error": paired_standard_error(scores, reference),
            "kl_to_tiny_vlm": kl_to_reference(model, base, test, tokenizer)}


__all__ = ["CaptionTask", "Pairs", "Reward", "Speller", "caption_logprobs", "caption_task", "clip_reward", "decode",
           "dpo", "dpo_loss", "fine_tune", "gradient_variance", "greedy_captions", "held_out_quality", "kl_to_reference",
           "leave_one_out_baseline", "measure_fine_tuned", "model_reward", "near_miss", "near_miss_pair",
           "normalised", "paired_standard_error", "preference_pairs", "pretrain_speller", "reinforce_loss", "reply_slots",
           "reward_accuracy", "rlhf", "rule_reward", "rule_score", "rule_scores", "sample_captions", "sample_spellings",
           "scene_scores", "speller_accuracy", "spelling_logprobs", "spelling_reward", "text_embeddings",
           "thumbs_reward", "tied_near_misses", "token_kl", "train_reward_model", "train_speller", "user_loop"]
