"""Chapter 15's applications, built from the course's own models.

- **Text → image search** (chapter 09's ``mini_clip``): :func:`build_image_index`
  embeds a gallery of shape scenes once, :func:`search_images` ranks it for a
  query such as "a red circle" (words outside the captions' vocabulary are
  refused, naming them), and :func:`search_precision` scores every
  "a {colour} {shape}" query by the share of its top k scenes that hold such
  an object.
- **An offline customer-service assistant (智能客服)**, retrieval-augmented:
  MiniLM (chapter 08) retrieves passages of the course's text corpus
  (:func:`~mmcourse.data.text_corpus.topic_summaries`: Python's own
  documentation, so the assistant is a help desk for Python questions);
  SmolLM2-135M-Instruct answers from the passage, and the answer carries the
  passage's id as its citation. :data:`HELP_QUESTIONS` are questions with the
  passage that answers them and the words of the key fact;
  :func:`retrieval_recall` scores the retriever and :func:`evaluate_assistant`
  the answers with retrieval and without it.
- **Visual question answering** (chapter 10's ``tiny_vlm``):
  :func:`ask_about_scene` answers free questions about one scene.

Importing this module imports no framework; the functions that run a model
import torch (and the model's package) when called.
"""
from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from mmcourse.data.scene_captions import CaptionPairs, caption_vocabulary, encode_captions, words
from mmcourse.data.shape_scenes import COLOURS, SHAPES, SceneObject, make_scenes

GALLERY_SEED = 15  # the scenes the search runs over: a seed no chapter trains on
SEARCH_QUERY = "a {colour} {shape}"  # the queries search_precision asks, one per colour–shape pair


# ---------------------------------------------------------------- text -> image search

@dataclass(frozen=True)
class ImageIndex:
    """A searchable gallery: N scenes (images, captions, objects) and their unit image embeddings (N, E)."""

    pairs: CaptionPairs
    embeddings: np.ndarray

    def __len__(self) -> int:
        return len(self.pairs)


def scene_gallery(n: int = 500, seed: int = GALLERY_SEED) -> CaptionPairs:
    """n distinct shape scenes of ``seed`` as image–caption pairs, every colour–shape combination included.

    Small scenes recur when drawn at random (one object has only 96
    variants); a gallery holds each picture once, so the first scene of each
    caption is kept (the same caption is the same picture).
    """
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 5000:
        raise ValueError(f"n must be an int in [1, 5000], got {n!r}")
    scenes = make_scenes(2 * n + 100, seed=seed)
    first = {caption: i for i, caption in reversed(list(enumerate(scenes.captions)))}  # caption -> first index
    keep = sorted(first.values())[:n]
    return CaptionPairs(scenes.images[keep], [scenes.captions[i] for i in keep], [scenes.objects[i] for i in keep])


def build_image_index(model, pairs: CaptionPairs) -> ImageIndex:
    """Embed every image of ``pairs`` with a ``MiniCLIP`` once: the gallery :func:`search_images` ranks."""
    from mmcourse.experiments.contrastive import embed

    if len(pairs) < 1:
        raise ValueError("pairs must hold at least one scene to search")
    return ImageIndex(pairs, embed(model, images=pairs.pixels())[0])  # (N, E)


def _check_k(k: int, n: int, what: str) -> None:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= n:
        raise ValueError(f"k must be an int in [1, {n}] (the number of {what}), got {k!r}")


def search_images(model, index: ImageIndex, query: str, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """The k scenes of ``index`` closest to the text ``query``: (cosine scores (k,), scene indices (k,)), best first.

    The query is read with the captions' words (chapter 09's vocabulary); a
    word the model never saw would become ``<unk>``, so it is refused instead.
    """
    from mmcourse.experiments.contrastive import embed
    from mmcourse.pretrained.minilm import semantic_search

    if not isinstance(query, str) or not query.strip():
        raise ValueError(f"query must be a non-empty string, got {query!r}")
    _check_k(k, len(index), "scenes in the index")
    vocab = caption_vocabulary()
    unknown = sorted({w for w in words(query.lower()) if w not in vocab.stoi})
    if unknown:
        raise ValueError(f"the query has words the model never saw: {unknown}; use these: "
                         f"{', '.join(vocab.itos[2:])}")
    ids = encode_captions([query.lower()], vocab)[0]  # (1, L)
    query_embedding = embed(model, ids=ids)[1]  # (1, E)
    scores, indices = semantic_search(query_embedding, index.embeddings, k=int(k))  # (1, k) each
    return scores[0], indices[0]


def holds(objects: Sequence[SceneObject], colour: str, shape: str) -> bool:
    """True when a scene's objects include one of this colour and shape."""
    return any(o.colour == colour and o.shape == shape for o in objects)


def search_precision(model, index: ImageIndex, k: int = 5) -> dict[str, float]:
    """{query: precision@k} for each "a {colour} {shape}": the share of the top k scenes that hold such an object."""
    precision = {}
    for colour in COLOURS:
        for shape in SHAPES:
            query = SEARCH_QUERY.format(colour=colour, shape=shape)
            found = search_images(model, index, query, k)[1]
            precision[query] = float(np.mean([holds(index.pairs.objects[i], colour, shape) for i in found]))
    return precision


# ---------------------------------------------------------------- retrieval-augmented assistant

@dataclass(frozen=True)
class HelpQuestion:
    """A customer's question, the id (topic title) of the passage that answers it, and the key fact's words."""

    question: str
    passage: str
    keys: tuple[str, ...]


HELP_QUESTIONS: tuple[HelpQuestion, ...] = (
    HelpQuestion("Which module provides Python's interactive debugger?", "debugger", ("pdb",)),
    HelpQuestion("What does a function return when it has no return statement?", "return", ("none",)),
    HelpQuestion("What does the pass statement do?", "pass", ("nothing", "null", "placeholder")),
    HelpQuestion("In which Python version was await added?", "await", ("3.5",)),
    HelpQuestion("What is Python's standard mapping type?", "typesmapping", ("dictionary", "dict")),
    HelpQuestion("Which error does a bare raise give when no exception is being handled?", "raise",
                 ("runtimeerror",)),
    HelpQuestion("Is there a limit on the length of integer literals?", "integers",
                 ("no limit", "no maximum limit", "memory")),
    HelpQuestion("Which special method can a class define to support the & operator?", "bitwise",
                 ("__and__", "__rand__")),
    HelpQuestion("Which method overrides the unary minus operator?", "unary", ("__neg__",)),
    HelpQuestion("What does the nonlocal statement refer to?", "nonlocal", ("enclosing",)),
    HelpQuestion("What kind of object defines the runtime context of a with statement?", "context-managers",
                 ("context manager",)),
    HelpQuestion("Which built-in function returns an integer representing an object's identity?", "objects",
                 ("id", "id()")),
)

PASSAGE_CHARS = 400  # each passage: the topic's first prose, cut here (about 100 tokens for SmolLM2)
GROUNDED = ("Read this passage from the Python documentation:\n\n{passage}\n\n"
            "Using only the passage, answer in one sentence: {question}")
UNGROUNDED = "Answer in one sentence: {question}"


@dataclass(frozen=True)
class PassageIndex:
    """The corpus a retriever searches: passage ids (topic titles), their texts and MiniLM embeddings (P, 384)."""

    ids: list[str]
    texts: list[str]
    embeddings: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)


def build_passage_index(max_chars: int = PASSAGE_CHARS) -> PassageIndex:
    """Embed one passage per documentation topic (chapter 08's corpus) with MiniLM: about 10 s with loading."""
    from mmcourse.data.text_corpus import topic_summaries
    from mmcourse.pretrained.minilm import embed

    summaries = topic_summaries(max_chars)
    return PassageIndex(list(summaries), list(summaries.values()), embed(list(summaries.values())))


def retrieve(index: PassageIndex, questions: Sequence[str], k: int = 3) -> list[list[str]]:
    """The ids of the k passages closest to each question, best first (ties keep the corpus order)."""
    from mmcourse.pretrained.minilm import embed, semantic_search

    _check_k(k, len(index), "passages")
    return [[index.ids[i] for i in row] for row in semantic_search(embed(list(questions)), index.embeddings, k)[1]]


def recall_at_k(retrieved: Sequence[Sequence[str]], relevant: Sequence[str], k: int) -> float:
    """The share of questions whose relevant passage is among the first k retrieved (each row best first)."""
    if len(retrieved) != len(relevant) or not relevant:
        raise ValueError(f"retrieved and relevant must hold one entry per question, got {len(retrieved)} "
                         f"and {len(relevant)}")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")
    return float(np.mean([answer in list(row)[:k] for row, answer in zip(retrieved, relevant)]))


def retrieval_recall(index: PassageIndex, questions: Sequence[HelpQuestion] = HELP_QUESTIONS,
                     ks: Sequence[int] = (1, 3)) -> dict[str, float]:
    """{"R@k": recall} of the retriever on ``questions``, for each k of ``ks``."""
    retrieved = retrieve(index, [q.question for q in questions], max(ks))
    return {f"R@{k}": recall_at_k(retrieved, [q.passage for q in questions], k) for k in ks}


def has_key_fact(answer: str, keys: Sequence[str]) -> bool:
    """True when ``answer`` contains one of ``keys`` as a whole word or phrase (case-insensitive)."""
    if not isinstance(answer, str):
        raise ValueError(f"answer must be a string, got {type(answer).__name__}")
    text = answer.lower()
    return any(re.search(rf"(?<![\w-]){re.escape(key.lower())}(?![\w-])", text) for key in keys)


def build_messages(question: str, passage: str | None = None) -> list[dict[str, str]]:
    """The chat messages for SmolLM2: the question alone, or grounded in one passage (:data:`GROUNDED`)."""
    if not isinstance(question, str) or not question.strip():
        raise ValueError(f"question must be a non-empty string, got {question!r}")
    text = UNGROUNDED.format(question=question) if passage is None else GROUNDED.format(passage=passage,
                                                                                         question=question)
    return [{"role": "user", "content": text}]


@dataclass(frozen=True)
class Answer:
    """An assistant's answer: the generated text, the passage id it cites (None without retrieval), seconds taken."""

    text: str
    source: str | None
    seconds: float

    def __str__(self) -> str:
        return self.text if self.source is None else f"{self.text} [{self.source}]"


class Assistant:
    """Retrieve the best passage with MiniLM, let a chat model answer from it, cite the passage.

    ``generate(messages) -> str`` is the chat model (see :func:`smollm2_generator`);
    a small model does not cite reliably by itself, so the assistant attaches
    the id of the passage it handed over: what the answer may rest on.
    """

    def __init__(self, index: PassageIndex, generate: Callable[[list[dict[str, str]]], str]):
        self.index, self.generate = index, generate

    def answer(self, question: str, use_retrieval: bool = True) -> Answer:
        """Answer ``question`` grounded in the top passage, or from the model alone (``use_retrieval=False``)."""
        messages = build_messages(question)  # checks the question
        source = None
        if use_retrieval:
            source = retrieve(self.index, [question], k=1)[0][0]
            messages = build_messages(question, self.index.texts[self.index.ids.index(source)])
        start = time.perf_counter()
        text = self.generate(messages)
        return Answer(text, source, time.perf_counter() - start)


def smollm2_generator(max_new_tokens: int = 32) -> Callable[[list[dict[str, str]]], str]:
    """SmolLM2-135M-Instruct (cached by ``python -m mmcourse prepare``) as ``generate(messages) -> str``, greedy."""
    from mmcourse.pretrained.smollm2 import chat, load_smollm2

    model, tokenizer = load_smollm2()
    return lambda messages: chat(model, tokenizer, messages, max_new_tokens=max_new_tokens).text


def evaluate_assistant(assistant: Assistant, questions: Sequence[HelpQuestion] = HELP_QUESTIONS,
                       progress: bool = True) -> dict:
    """Each question answered with retrieval and without; the key-fact rate of both and the citation accuracy.

    Returns {"grounded": rate, "ungrounded": rate, "cited_right": share of
    grounded answers citing the question's passage, "rows": [(question,
    grounded answer, has fact, ungrounded answer, has fact), ...]}.
    """
    rows = []
    for q in tqdm(questions, desc="questions", disable=not progress):
        grounded, alone = assistant.answer(q.question), assistant.answer(q.question, use_retrieval=False)
        rows.append((q.question, str(grounded), has_key_fact(grounded.text, q.keys), alone.text,
                     has_key_fact(alone.text, q.keys), grounded.source == q.passage))
    return {"grounded": float(np.mean([r[2] for r in rows])), "ungrounded": float(np.mean([r[4] for r in rows])),
            "cited_right": float(np.mean([r[5] for r in rows])), "rows": [r[:5] for r in rows]}


# ---------------------------------------------------------------- visual question answering

def ask_about_scene(vlm, encoder, tokenizer, image: np.ndarray, questions: Sequence[str]) -> list[str]:
    """Chapter 10's VLM answers each question about one scene image (H, W, 3) uint8; greedy, a few words each.

    ``encoder`` is the frozen image encoder (``mini_clip``'s ``image_encoder.tokens``),
    ``tokenizer`` the character tokenizer; a character it does not know is refused.
    """
    import torch

    from mmcourse.experiments import vision_language as vl

    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be (H, W, 3) uint8, got {image.dtype} of shape {image.shape}")
    if isinstance(questions, str) or not questions or not all(isinstance(q, str) and q.strip() for q in questions):
        raise ValueError(f"questions must be a non-empty list of non-empty strings, got {questions!r:.80}")
    prompts = [vl.qa_prompt(q.strip()) for q in questions]
    for prompt in prompts:
        tokenizer.encode(prompt)  # names a character the model cannot read
    pixels = torch.from_numpy(image).permute(2, 0, 1).float()[None] / 255.0  # (1, 3, H, W)
    features = vl.encode_images(encoder, pixels).expand(len(prompts), -1, -1)  # (Q, n_tokens, D)
    return vl.replies(vlm, tokenizer, features, prompts, vl.MAX_ANSWER)
