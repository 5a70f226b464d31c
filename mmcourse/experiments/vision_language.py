"""Chapter 10's training side: LLaVA's two stages on shape scenes, and how to score what the model writes.

- Prompts: chapter 08's template with the image in place of the caption
  text: the visual tokens come first, then :data:`VL_TEMPLATE` with the
  question (or :data:`CAPTION_INSTRUCTION`), then the response and
  :data:`~mmcourse.experiments.language_models.STOP`.
- :func:`make_examples` draws scenes and their (prompt, response) pairs;
  :func:`held_out_examples` draws scenes of another seed without any pair
  seen in training. :func:`encode_images` runs the frozen encoder once.
- :func:`train_stage`: stage 1 trains the projector alone on captions (the
  decoder frozen: feature alignment), stage 2 the projector and the
  decoder on questions and captions (instruction tuning); the loss is on
  the response only, as in chapter 08. Fixed step counts, seeded, AdamW
  with warm-up and a cosine decay; each batch holds examples of similar
  length (a short answer is not padded to a caption's length).
- :func:`replies` generates greedily, batching prompts of the same length;
  :func:`qa_scores` and :func:`caption_scores` score the replies: exact
  match overall and per question type, and per attribute of the objects
  parsed back out of a generated caption (:func:`parse_caption`).
- :class:`Recipe` holds one run's settings (defaults: ``tiny_vlm``'s);
  :func:`train_recipe` trains by it, :func:`evaluate` scores on held-out
  scenes, and :func:`ablation_study` does both for the baseline and the
  ablations (no image, one visual token, a linear projector, no stage 1,
  starting from ``tiny_gpt``).

Importing this module imports torch.
"""
from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from mmcourse import env
from mmcourse.data.shape_scenes import COL_NAMES, QUESTION_TYPES, ROW_NAMES, SceneObject, caption, make_scenes
from mmcourse.experiments.language_models import STOP, _adamw, encode_pairs, warmup_cosine
from mmcourse.text import CharTokenizer
from mmcourse.torch_models.vlm import VisionLanguageModel

VL_TEMPLATE = "### Instruction:\n{question}\n### Response:\n"  # ch08's template; the image replaces its Scene
CAPTION_INSTRUCTION = "Describe the scene."
TASKS = ("qa", "caption", "both")
TRAIN_SEED, TEST_SEED = 1, 2  # scene seeds: training and held out (as chapter 08's instruction pairs)
BUCKET = 32  # training batches hold rows whose lengths fall in the same BUCKET-wide range
MAX_ANSWER, MAX_CAPTION = 12, 140  # new-token budgets: the longest answer and caption, with STOP, fit
ATTRIBUTES = ("colour", "shape", "size", "position")
_OBJECT = re.compile(r"a (\w+) (\w+) (\w+) at the (\w+) (\w+)")


@dataclass(frozen=True)
class Examples:
    """N (image, prompt, response) examples: images (N, 3, H, W) float32 in [0, 1], texts, kinds, scene objects.

    ``kinds[i]`` is the question type, or "caption"; ``responses`` end with STOP.
    """

    images: torch.Tensor
    prompts: list[str]
    responses: list[str]
    kinds: list[str]
    objects: list[tuple[SceneObject, ...]]

    def __len__(self) -> int:
        return len(self.prompts)

    def pairs(self) -> list[tuple[str, str]]:
        """(prompt, response) pairs, as chapter 08's ``encode_pairs`` takes them."""
        return list(zip(self.prompts, self.responses))


def qa_prompt(question: str) -> str:
    """The prompt that asks ``question`` about the image: VL_TEMPLATE with the question capitalised."""
    return VL_TEMPLATE.format(question=question[0].upper() + question[1:])


def make_examples(n: int, seed: int, task: str = "qa") -> Examples:
    """Examples from the first n scenes of ``seed``: their questions ("qa"), captions ("caption") or both (2n)."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    scenes = make_scenes(n, seed=seed)
    images = torch.from_numpy(scenes.images).permute(0, 3, 1, 2).float() / 255.0  # (n, 3, H, W)
    qa = ([qa_prompt(q) for q in scenes.questions], [a + STOP for a in scenes.answers], list(scenes.question_types))
    described = ([qa_prompt(CAPTION_INSTRUCTION)] * n, [c + STOP for c in scenes.captions], ["caption"] * n)
    parts = {"qa": [qa], "caption": [described], "both": [qa, described]}[task]
    return Examples(images=torch.cat([images] * len(parts)),
                    prompts=[p for part in parts for p in part[0]], responses=[r for part in parts for r in part[1]],
                    kinds=[k for part in parts for k in part[2]], objects=list(scenes.objects) * len(parts))


def _select(examples: Examples, keep: list[int]) -> Examples:
    return Examples(images=examples.images[keep], prompts=[examples.prompts[i] for i in keep],
                    responses=[examples.responses[i] for i in keep], kinds=[examples.kinds[i] for i in keep],
                    objects=[examples.objects[i] for i in keep])


def held_out_examples(n: int, train: Examples, task: str = "qa", seed: int = TEST_SEED) -> Examples:
    """n examples of scenes of ``seed`` whose (scene, prompt) never occurs in ``train``: truly held out.

    Small scenes recur across seeds (one object has 96 variants), so a test
    scene identical to a training one, asked the same, is skipped.
    """
    seen = {(c, p) for c, p in zip(_captions(train), train.prompts)}
    pool = make_examples(3 * n + 100, seed, task)
    keep = [i for i, key in enumerate(zip(_captions(pool), pool.prompts)) if key not in seen][:n]
    if len(keep) < n:
        raise ValueError(f"only {len(keep)} held-out examples of seed {seed} are unseen; ask for fewer")
    return _select(pool, keep)


def _captions(examples: Examples) -> list[str]:
    """The full caption of each example's scene: what identifies the picture."""
    return [caption(objects) for objects in examples.objects]


@torch.no_grad()
def encode_images(encoder: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor,
                  batch_size: int = 256) -> torch.Tensor:
    """The frozen encoder's tokens of images (N, 3, H, W): (N, n_tokens, D) on the CPU, computed once.

    ``encoder`` is a module or a module's method (``clip.image_encoder.tokens``);
    the images go to the device its weights are on.
    """
    module = encoder if isinstance(encoder, torch.nn.Module) else getattr(encoder, "__self__", None)
    weights = list(module.parameters()) if isinstance(module, torch.nn.Module) else []
    device = weights[0].device if weights else torch.device("cpu")
    chunks = [encoder(images[i : i + batch_size].to(device)).float().cpu() for i in range(0, len(images), batch_size)]
    return torch.cat(chunks)  # (N, n_tokens, D)


def train_stage(model: VisionLanguageModel, tokenizer: CharTokenizer, features: torch.Tensor,
                pairs: list[tuple[str, str]], steps: int, stage: int, batch_size: int = 32, lr: float = 1e-3,
                seed: int = 0, progress: bool = True) -> dict[str, list[float]]:
    """One LLaVA stage on (features (N, n, D), pairs) for ``steps`` AdamW steps; returns {"step", "loss", "seconds"}.

    Stage 1 trains the projector alone (the decoder frozen); stage 2 trains
    the projector and the decoder. The loss is on the response characters
    only (``encode_pairs``). Each step draws a row at random, then
    ``batch_size`` rows of the same length bucket (:data:`BUCKET` positions
    wide), from a generator seeded with ``seed``; warm-up over a tenth of
    the steps, then a cosine decay to lr / 10. Weight decay 0.1 on the
    matrices in stage 2 (as chapter 08), none on the projector alone.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    if stage not in (1, 2):
        raise ValueError(f"stage must be 1 (projector) or 2 (projector and decoder), got {stage!r}")
    if len(features) != len(pairs):
        raise ValueError(f"features and pairs must have one row per example, got {len(features)} and {len(pairs)}")
    x, y = encode_pairs(tokenizer, pairs)
    used = (y != -100).cumsum(dim=1).argmax(dim=1) + 1  # (N,): positions up to each row's last target
    buckets = [torch.nonzero(used // BUCKET == b).flatten() for b in range(int(used.max()) // BUCKET + 1)]
    device = env.device()
    model.to(device).train()
    model.gpt.requires_grad_(stage == 2)
    optimizer = _adamw(model if stage == 2 else model.projector, lr, weight_decay=0.0 if stage == 1 else 0.1)
    scheduler = warmup_cosine(optimizer, steps, steps // 10)
    generator = torch.Generator().manual_seed(seed)
    history: dict[str, list[float]] = {"step": [], "loss": [], "seconds": []}
    start = time.perf_counter()
    bar = tqdm(range(1, steps + 1), desc=f"stage {stage}", unit="step", disable=not progress)
    for step in bar:
        bucket = buckets[int(used[torch.randint(len(x), (1,), generator=generator)]) // BUCKET]
        rows = bucket[torch.randint(len(bucket), (batch_size,), generator=generator)]  # (B,) of similar length
        length = int(used[rows].max())  # crop the padding no row of this batch needs
        _, loss = model(features[rows].to(device), x[rows, :length].to(device), y[rows, :length].to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        for key, value in (("step", step), ("loss", loss.item()), ("seconds", time.perf_counter() - start)):
            history[key].append(value)
        bar.set_postfix(loss=f"{loss.item():.3f}")
    model.gpt.requires_grad_(True)
    model.eval()
    return history


@torch.no_grad()
def replies(model: VisionLanguageModel, tokenizer: CharTokenizer, features: torch.Tensor, prompts: list[str],
            max_new_tokens: int = MAX_ANSWER, batch_size: int = 128, progress: bool = False) -> list[str]:
    """The model's greedy reply to each prompt about the image of the same row of features (N, n, D), without STOP.

    Prompts of the same length are batched together (no padding needed).
    """
    if len(features) != len(prompts):
        raise ValueError(f"features and prompts must have one row per example, got {len(features)} and {len(prompts)}")
    device = next(model.parameters()).device
    stop = tokenizer.encode(STOP).tolist()
    encoded = [tokenizer.encode(p) for p in prompts]
    by_length: dict[int, list[int]] = {}
    for i, ids in enumerate(encoded):
        by_length.setdefault(len(ids), []).append(i)
    batches = [rows[i : i + batch_size] for rows in by_length.values() for i in range(0, len(rows), batch_size)]
    out = [""] * len(prompts)
    for rows in tqdm(batches, desc="generating", disable=not progress):
        idx = torch.from_numpy(np.stack([encoded[i] for i in rows])).to(device)  # (b, P)
        for i, ids in zip(rows, model.generate(features[rows].to(device), idx, max_new_tokens, stop)):
            out[i] = tokenizer.decode(ids)
    return out


def qa_scores(answers: list[str], examples: Examples) -> dict[str, float]:
    """Exact match of answers against the responses: {"exact_match": overall, "<type>": per question type}."""
    if len(answers) != len(examples):
        raise ValueError(f"answers must hold one answer per example ({len(examples)}), got {len(answers)}")
    hits = np.array([a == r.removesuffix(STOP) for a, r in zip(answers, examples.responses)])
    kinds = np.array(examples.kinds)
    return {"exact_match": float(hits.mean())} | {kind: float(hits[kinds == kind].mean())
                                                   for kind in QUESTION_TYPES if np.any(kinds == kind)}


def parse_caption(text: str) -> list[SceneObject]:
    """The objects a caption names, as SceneObjects ("a small red circle at the top left" -> one object).

    Phrases that do not name a known place are skipped; colour, shape and
    size are taken as written, so a wrong word is kept (and scored wrong).
    """
    found = []
    for size, colour, shape, row, col in _OBJECT.findall(text):
        if row in ROW_NAMES and col in COL_NAMES:
            found.append(SceneObject(shape=shape, colour=colour, size=size,
                                     row=ROW_NAMES.index(row), col=COL_NAMES.index(col)))
    return found


def caption_scores(captions: list[str], examples: Examples) -> dict[str, float]:
    """Exact match of generated captions, and per attribute the share of true objects described right.

    Each true object is matched to the generated object at its place:
    "position" is the share of true objects whose place is named, "colour",
    "shape" and "size" the share whose matched object has that attribute
    right (no match counts as wrong); "count" is the share of captions
    naming as many objects as the scene has.
    """
    if len(captions) != len(examples):
        raise ValueError(f"captions must hold one caption per example ({len(examples)}), got {len(captions)}")
    right = {key: 0 for key in ATTRIBUTES}
    total, counts = 0, 0
    for text, objects in zip(captions, examples.objects):
        named = {(o.row, o.col): o for o in parse_caption(text)}
        counts += len(parse_caption(text)) == len(objects)
        for true in objects:
            total += 1
            guess = named.get((true.row, true.col))
            right["position"] += guess is not None
            for key in ("colour", "shape", "size"):
                right[key] += guess is not None and getattr(guess, key) == getattr(true, key)
    exact = np.mean([c == r.removesuffix(STOP) for c, r in zip(captions, examples.responses)])
    return {"exact_match": float(exact), **{key: right[key] / total for key in ATTRIBUTES},
            "count": counts / len(captions)}


@dataclass(frozen=True)
class Recipe:
    """One run of the two stages: the starting decoder, the projector, the data and the fixed step counts.

    ``n_visual`` pools the encoder's tokens (None keeps them all);
    ``caption_share`` is the share of stage-2 examples that are captions
    (the rest are questions, one per scene); ``blank_images`` trains and
    tests on black images: the question-only baseline.
    """

    decoder: str = "tiny_gpt_instruct"
    projector: str = "mlp"
    n_visual: int | None = None
    stage1_steps: int = 100
    stage2_steps: int = 1500
    batch_size: int = 32
    stage1_lr: float = 3e-3
    stage2_lr: float = 1e-3
    n_train: int = 10000
    caption_share: float = 0.25
    blank_images: bool = False
    seed: int = 0


def training_examples(recipe: Recipe) -> tuple[Examples, Examples]:
    """(stage-1 captions, stage-2 questions and captions) of the first ``n_train`` scenes of TRAIN_SEED."""
    if not 0.0 <= recipe.caption_share < 1.0:
        raise ValueError(f"caption_share must be in [0, 1), got {recipe.caption_share!r}")
    both = make_examples(recipe.n_train, TRAIN_SEED, "both")
    n_captions = round(recipe.n_train * recipe.caption_share / (1.0 - recipe.caption_share))
    captions = list(range(recipe.n_train, 2 * recipe.n_train))
    stage2 = list(range(recipe.n_train)) + captions[: min(n_captions, recipe.n_train)]
    return _select(both, captions), _select(both, stage2)


def evaluation_examples(n_qa: int = 500, n_captions: int = 200, n_train: int = Recipe.n_train
                        ) -> tuple[Examples, Examples]:
    """(questions, captions) of held-out scenes: none is a training scene asked the same (:func:`held_out_examples`)."""
    train = make_examples(n_train, TRAIN_SEED, "both")
    return held_out_examples(n_qa, train, "qa"), held_out_examples(n_captions, train, "caption")


def _blank(examples: Examples) -> Examples:
    """The examples with black images: what the model can do from the text alone."""
    return Examples(torch.zeros_like(examples.images), examples.prompts, examples.responses, examples.kinds,
                    examples.objects)


def train_recipe(recipe: Recipe, encoder: Callable[[torch.Tensor], torch.Tensor], progress: bool = True
                 ) -> tuple[VisionLanguageModel, dict[str, dict[str, list[float]]]]:
    """A VLM on the frozen ``encoder``, trained by ``recipe``: stage 1 (if any steps), then stage 2.

    The decoder starts from the course checkpoint ``recipe.decoder``; the
    projector is new (seeded). Returns the model (eval mode, on the CPU) and
    the histories {"stage1": ..., "stage2": ...} of :func:`train_stage`.
    """
    from mmcourse.data.char_corpus import load_char_corpus
    from mmcourse.pretrained.course import load_course_model

    tokenizer = load_char_corpus().tokenizer
    stage1, stage2 = (_blank(e) if recipe.blank_images else e for e in training_examples(recipe))
    features = encode_images(encoder, torch.cat([stage1.images, stage2.images]))  # (N1 + N2, n, D)
    torch.manual_seed(recipe.seed)
    model = VisionLanguageModel(load_course_model(recipe.decoder), features.shape[2], recipe.projector,
                                recipe.n_visual)
    histories = {}
    if recipe.stage1_steps:
        histories["stage1"] = train_stage(model, tokenizer, features[: len(stage1)], stage1.pairs(),
                                          recipe.stage1_steps, 1, recipe.batch_size, recipe.stage1_lr, recipe.seed,
                                          progress)
    histories["stage2"] = train_stage(model, tokenizer, features[len(stage1):], stage2.pairs(), recipe.stage2_steps,
                                      2, recipe.batch_size, recipe.stage2_lr, recipe.seed, progress)
    return model.cpu().eval(), histories


def evaluate(model: VisionLanguageModel, encoder: Callable[[torch.Tensor], torch.Tensor], n_qa: int = 500,
             n_captions: int = 200, blank_images: bool = False, n_train: int = Recipe.n_train,
             progress: bool = False) -> dict[str, float]:
    """QA exact match (overall, "qa_<type>") and caption scores ("caption_<score>") on held-out scenes.

    The scenes are :func:`evaluation_examples`: none is one of the first
    ``n_train`` training scenes asked the same.
    """
    from mmcourse.data.char_corpus import load_char_corpus

    tokenizer = load_char_corpus().tokenizer
    questions, captions = (_blank(e) if blank_images else e for e in evaluation_examples(n_qa, n_captions, n_train))
    answers = replies(model, tokenizer, encode_images(encoder, questions.images), questions.prompts, MAX_ANSWER,
                      progress=progress)
    texts = replies(model, tokenizer, encode_images(encoder, captions.images), captions.prompts, MAX_CAPTION,
                    progress=progress) if n_captions else []
    scores = {f"qa_{k}": v for k, v in qa_scores(answers, questions).items()}
    if n_captions:
        scores |= {f"caption_{k}": v for k, v in caption_scores(texts, captions).items()}
    return scores


ABLATIONS = {  # name -> what changes from the recipe
    "recipe": {},
    "question_only": {"blank_images": True},
    "one_visual_token": {"n_visual": 1},
    "linear_projector": {"projector": "linear"},
    "no_stage1": {"stage1_steps": 0},
    "from_tiny_gpt": {"decoder": "tiny_gpt"},
}


def ablation_study(encoder: Callable[[torch.Tensor], torch.Tensor], recipe: Recipe = Recipe(),
                   variants: tuple[str, ...] = tuple(ABLATIONS), n_qa: int = 300, n_captions: int = 100,
                   progress: bool = True) -> dict[str, dict[str, float]]:
    """Each variant of :data:`ABLATIONS` trained by ``recipe`` with its change, then scored by :func:`evaluate`.

    Returns {variant: scores | {"train_s": seconds}}. "question_only" is
    trained and tested on black images: the bar the model must clear to
    show it looks at the picture.
    """
    from dataclasses import replace

    unknown = set(variants) - set(ABLATIONS)
    if unknown:
        raise ValueError(f"variants must be among {tuple(ABLATIONS)}, got {sorted(unknown)}")
    results = {}
    for name in variants:
        variant = replace(recipe, **ABLATIONS[name])
        start = time.perf_counter()
        model, _ = train_recipe(variant, encoder, progress)
        seconds = time.perf_counter() - start
        scores = evaluate(model, encoder, n_qa, n_captions, variant.blank_images, variant.n_train)
        results[name] = scores | {"train_s": seconds}
    return results


__all__ = ["ABLATIONS", "ATTRIBUTES", "CAPTION_INSTRUCTION", "Examples", "MAX_ANSWER", "MAX_CAPTION", "Recipe", "STOP",
           "TASKS", "VL_TEMPLATE", "ablation_study", "caption_scores", "encode_images", "evaluate",
           "evaluation_examples", "held_out_examples", "make_examples", "parse_caption", "qa_prompt", "qa_scores",
           "replies", "train_recipe", "train_stage", "training_examples"]
