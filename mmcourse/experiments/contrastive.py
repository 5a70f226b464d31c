"""Chapter 09's mini-CLIP experiments: training, retrieval, a bag-of-words baseline, zero-shot prompts, hard negatives.

- :func:`train_clip` trains a torch ``MiniCLIP`` with the symmetric InfoNCE
  loss for a fixed number of steps on random batches of pairs.
- :func:`recall_at_k` scores retrieval from a similarity matrix, both ways;
  :func:`retrieval` embeds a split and scores it.
- :func:`bag_of_words_clip`: the same image encoder with a linear
  bag-of-words text encoder, trained the same way: it cannot tell "a red
  circle and a blue square" from "a blue circle and a red square".
- :func:`zero_shot` classifies one-object scenes with prompts such as
  "a red circle", one template or an ensemble of :data:`TEMPLATES` (the mean
  of their normalised text embeddings, as in the CLIP paper).
- :func:`hard_negatives` makes captions one word off (a colour, a shape, a
  size or a place swapped) and one whose objects trade colours (the same
  bag of words), and :func:`hard_negative_accuracy` measures how often the
  model prefers the true caption, per kind.

Importing this module imports torch.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import torch
from torch.nn import functional as F
from tqdm.auto import tqdm

from mmcourse import env
from mmcourse.clip import CLIPConfig
from mmcourse.data.scene_captions import HELD_OUT, CaptionPairs, encode_captions
from mmcourse.data.shape_scenes import COL_NAMES, COLOURS, ROW_NAMES, SHAPES, SIZES, SceneObject, caption
from mmcourse.experiments.language_models import warmup_cosine
from mmcourse.text import Vocabulary
from mmcourse.torch_models.clip import BagOfWordsEncoder, MiniCLIP, clip_loss

PROMPT = "a {colour} {shape}"
TEMPLATES = (PROMPT, "a small {colour} {shape}", "a large {colour} {shape}") + tuple(
    f"a {size} {{colour}} {{shape}} at the {row} {col}" for size in SIZES for row in ROW_NAMES for col in COL_NAMES)
WORD_KINDS = ("colour", "shape", "size", "position")
NEGATIVE_KINDS = WORD_KINDS + ("binding",)  # binding: two objects trade colours, the bag of words stays the same


def clip_arrays(pairs: CaptionPairs, vocab: Vocabulary) -> tuple[np.ndarray, np.ndarray]:
    """Pairs -> (images (N, 3, 32, 32) float32 in [0, 1], word ids (N, L) int64), as ``MiniCLIP`` takes them."""
    return pairs.pixels(), encode_captions(pairs.captions, vocab)[0]


def _check_positive(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def train_clip(model: MiniCLIP, pairs: tuple[np.ndarray, np.ndarray], steps: int, batch_size: int = 256,
               lr: float = 2e-3, seed: int = 0, progress: bool = True) -> list[float]:
    """Train ``model`` for ``steps`` AdamW steps on pairs (images (N, 3, 32, 32), ids (N, L)); returns each step's loss.

    Each step draws ``batch_size`` distinct pairs at random (a generator
    seeded with ``seed``: the same run on the CPU every time); the other
    pairs of the batch are each pair's negatives. The learning rate warms up
    over the first 5% of steps, then decays along a cosine to lr / 10. The
    model moves to ``mmcourse.env.device()`` and ends in eval mode.
    """
    images, ids = pairs
    _check_positive("steps", steps)
    _check_positive("batch_size", batch_size)
    if len(images) != len(ids) or not 2 <= batch_size <= len(images):
        raise ValueError(f"pairs must be (images (N, 3, 32, 32), ids (N, L)) with 2 <= batch_size <= N, got "
                         f"{len(images)} images, {len(ids)} captions and batch_size = {batch_size}")
    device = env.device()
    images, ids = torch.as_tensor(images), torch.as_tensor(ids)
    model.to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    scheduler = warmup_cosine(optimizer, steps, max(1, steps // 20))
    generator = torch.Generator().manual_seed(seed)
    losses = []
    bar = tqdm(range(steps), desc="mini-CLIP", unit="step", disable=not progress)
    for _ in bar:
        batch = torch.randperm(len(images), generator=generator)[:batch_size]  # (B,) distinct pairs
        loss = clip_loss(*model(images[batch].to(device), ids[batch].to(device)))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
        bar.set_postfix(loss=f"{losses[-1]:.3f}")
    model.eval()
    return losses


def bag_of_words_clip(config: CLIPConfig) -> MiniCLIP:
    """The baseline: a ``MiniCLIP`` whose text encoder is a linear map of word counts (:class:`BagOfWordsEncoder`)."""
    return MiniCLIP(config, text_encoder=BagOfWordsEncoder(config))


@torch.no_grad()
def embed(model: MiniCLIP, images: np.ndarray | None = None, ids: np.ndarray | None = None,
          batch_size: int = 500) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Unit-length embeddings, in eval mode: images (N, 3, 32, 32) -> (N, E), ids (M, L) -> (M, E); None stays None."""
    model.eval()
    device = next(model.parameters()).device

    def run(encode, x):
        if x is None:
            return None
        parts = [F.normalize(encode(torch.as_tensor(x[i:i + batch_size]).to(device)), dim=1).cpu()
                 for i in range(0, len(x), batch_size)]
        return torch.cat(parts).numpy()

    return run(model.encode_image, images), run(model.encode_text, ids)


def recall_at_k(similarity: np.ndarray, ks: Sequence[int] = (1, 5)) -> dict[str, float]:
    """Recall@k both ways of a similarity (N, N) whose diagonal holds the matching pairs.

    Image i's query is row i (its true text is column i), text j's is column
    j. Recall@k is the fraction of queries whose true item ranks in the top
    k. Tie rule (pessimistic): the true item's rank is 1 + the number of
    OTHER items scoring at least as high, so a tie with the true item never
    earns credit and the result does not depend on the order of the items.
    Without ties this equals scikit-learn's ``top_k_accuracy_score``, whose
    ties are broken by index instead. Returns {"image_to_text_R@k": ..,
    "text_to_image_R@k": ..} for each k.
    """
    similarity = np.asarray(similarity)
    if similarity.ndim != 2 or similarity.shape[0] != similarity.shape[1] or similarity.shape[0] < 1:
        raise ValueError(f"similarity must be a square (N, N) matrix, row i and column i a matching pair, got "
                         f"shape {similarity.shape}")
    if not np.isfinite(similarity).all():
        raise ValueError("similarity must be finite, got NaN or inf")
    for k in ks:
        _check_positive("every k in ks", k)
    true = np.diagonal(similarity)  # (N,)
    rank_text = (similarity >= true[:, None]).sum(axis=1)  # (N,): 1 + the other texts scoring >= the true one
    rank_image = (similarity >= true[None, :]).sum(axis=0)  # (N,): the same for each text's images
    scores = {}
    for k in ks:
        scores[f"image_to_text_R@{k}"] = float(np.mean(rank_text <= k))
        scores[f"text_to_image_R@{k}"] = float(np.mean(rank_image <= k))
    return scores


def retrieval(model: MiniCLIP, pairs: CaptionPairs, vocab: Vocabulary,
              ks: Sequence[int] = (1, 5)) -> dict[str, float]:
    """:func:`recall_at_k` of ``model`` on a split: each image among all the split's captions, and back."""
    image_emb, text_emb = embed(model, *clip_arrays(pairs, vocab))
    return recall_at_k(image_emb @ text_emb.T, ks)


def _class_embeddings(model: MiniCLIP, vocab: Vocabulary, templates: Sequence[str]) -> np.ndarray:
    """(12, E) unit rows, one per (colour, shape) in COLOURS x SHAPES order: the mean of the templates' embeddings."""
    prompts = [t.format(colour=c, shape=s) for c in COLOURS for s in SHAPES for t in templates]
    _, text_emb = embed(model, ids=encode_captions(prompts, vocab)[0])  # (12 T, E)
    mean = text_emb.reshape(len(COLOURS) * len(SHAPES), len(templates), -1).mean(axis=1)  # (12, E)
    return mean / np.linalg.norm(mean, axis=1, keepdims=True)


def zero_shot(model: MiniCLIP, vocab: Vocabulary, scenes: CaptionPairs,
              templates: Sequence[str] = (PROMPT,)) -> dict[str, float]:
    """Classify one-object scenes among the 12 prompts "a {colour} {shape}"; accuracy of colour, shape and both.

    With several ``templates`` each class is the mean of their normalised
    text embeddings, normalised again (CLIP's prompt ensemble).
    """
    if not templates or any("{colour}" not in t or "{shape}" not in t for t in templates):
        raise ValueError(f"templates must be a non-empty list of str with {{colour}} and {{shape}}, got {templates!r}")
    if any(len(objs) != 1 for objs in scenes.objects):
        raise ValueError("scenes must all hold exactly one object (see single_object_scenes)")
    image_emb, _ = embed(model, scenes.pixels())
    predicted = np.argmax(image_emb @ _class_embeddings(model, vocab, templates).T, axis=1)  # (N,)
    classes = [(c, s) for c in COLOURS for s in SHAPES]
    colour_ok = np.array([classes[p][0] == objs[0].colour for p, objs in zip(predicted, scenes.objects)])
    shape_ok = np.array([classes[p][1] == objs[0].shape for p, objs in zip(predicted, scenes.objects)])
    return {"colour": float(colour_ok.mean()), "shape": float(shape_ok.mean()),
            "colour+shape": float((colour_ok & shape_ok).mean())}


def _swap(obj: SceneObject, kind: str, rng: np.random.Generator, avoid: Sequence[tuple[str, str]]) -> SceneObject:
    """obj with one word of its phrase changed: another colour, shape or size, or the other row or column."""
    if kind == "position":
        if rng.random() < 0.5:
            return dataclasses.replace(obj, row=1 - obj.row)
        return dataclasses.replace(obj, col=1 - obj.col)
    options = {"colour": [dataclasses.replace(obj, colour=c) for c in COLOURS],
               "shape": [dataclasses.replace(obj, shape=s) for s in SHAPES],
               "size": [dataclasses.replace(obj, size=s) for s in SIZES]}[kind]
    options = [o for o in options if o != obj and (o.colour, o.shape) not in avoid]
    return options[rng.integers(len(options))]


def _trade_colours(objects: Sequence[SceneObject], rng: np.random.Generator,
                   avoid: Sequence[tuple[str, str]]) -> str | None:
    """The caption after two objects of different colours trade colours, or None if no two can."""
    pairs = [(i, j) for i in range(len(objects)) for j in range(i + 1, len(objects))
             if objects[i].colour != objects[j].colour and (objects[j].colour, objects[i].shape) not in avoid
             and (objects[i].colour, objects[j].shape) not in avoid]
    if not pairs:
        return None
    i, j = pairs[rng.integers(len(pairs))]
    changed = list(objects)
    changed[i] = dataclasses.replace(objects[i], colour=objects[j].colour)
    changed[j] = dataclasses.replace(objects[j], colour=objects[i].colour)
    return caption(tuple(changed))


def hard_negatives(objects: Sequence[SceneObject], rng: np.random.Generator,
                   avoid: Sequence[tuple[str, str]] = ()) -> dict[str, str]:
    """Wrong captions of a scene: {kind: caption} for each of NEGATIVE_KINDS the scene allows.

    Each of WORD_KINDS changes one word of the true caption, for a random
    object (another colour, shape or size, or the other row or column).
    "binding" makes two objects of different colours trade them: two words
    change, the bag of words does not (absent when no two objects differ in
    colour). Colour and shape changes never make a (colour, shape) in
    ``avoid`` (pass HELD_OUT for in-distribution scenes, so that no negative
    is an unseen combination, rejected as unfamiliar rather than as wrong).
    """
    negatives = {}
    for kind in WORD_KINDS:
        i = int(rng.integers(len(objects)))
        changed = list(objects)
        changed[i] = _swap(objects[i], kind, rng, avoid)
        negatives[kind] = caption(tuple(changed))
    traded = _trade_colours(objects, rng, avoid)
    if traded is not None:
        negatives["binding"] = traded
    return negatives


def hard_negative_accuracy(model: MiniCLIP, pairs: CaptionPairs, vocab: Vocabulary, seed: int = 0,
                           avoid: Sequence[tuple[str, str]] = HELD_OUT, n_examples: int = 3,
                           margin: float = 1e-6) -> tuple[dict[str, float], list[dict]]:
    """How often cos(image, true caption) beats cos(image, wrong caption), per kind of :func:`hard_negatives`.

    Each kind is scored on the scenes that have a negative of that kind. The
    true caption must win by more than ``margin``: a tie, or a difference
    that is only float rounding (identical captions embedded in batches of
    other sizes can differ in the last bits), counts as a mistake. Returns
    {kind: accuracy} and the mistakes (up to ``n_examples`` per kind), each
    with the true caption, the negative and both cosines.
    """
    rng = np.random.default_rng(seed)
    negatives = [hard_negatives(objs, rng, avoid) for objs in pairs.objects]
    image_emb, true_emb = embed(model, *clip_arrays(pairs, vocab))
    true_cos = (image_emb * true_emb).sum(axis=1)  # (N,)
    accuracy, mistakes = {}, []
    for kind in NEGATIVE_KINDS:
        scenes = [i for i, n in enumerate(negatives) if kind in n]
        texts = [negatives[i][kind] for i in scenes]
        _, negative_emb = embed(model, ids=encode_captions(texts, vocab)[0])
        negative_cos = (image_emb[scenes] * negative_emb).sum(axis=1)  # (n,)
        right = true_cos[scenes] > negative_cos + margin
        accuracy[kind] = float(right.mean())
        mistakes += [{"kind": kind, "caption": pairs.captions[scenes[i]], "negative": texts[i],
                      "true_cos": float(true_cos[scenes[i]]), "negative_cos": float(negative_cos[i])}
                     for i in np.flatnonzero(~right)[:n_examples]]
    return accuracy, mistakes
