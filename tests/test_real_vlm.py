"""Chapter 10's real VLM: the projector, the [prompt head; image; question; caption] batch and its label mask,
the frozen LM, and (slow) a few steps on SmolLM2-135M-Instruct that lower the caption loss.

The batch and freezing tests run on a tiny random Llama with SmolLM2's real tokenizer and chat template
(loading the tokenizer and importing transformers take seconds, so they are marked slow); one test trains
the projector in front of the real SmolLM2.
"""
import numpy as np
import pytest
import torch

from mmcourse.experiments import real_vlm as rv

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CAPTIONS = ["a picture of pizza", "a picture of a grinning cat face", "a picture of a banjo"]


@pytest.fixture(scope="module")
def tokenizer():
    """SmolLM2's tokenizer from the converted cache (about 3 s), else straight from the GGUF file."""
    from transformers import AutoTokenizer

    from mmcourse.pretrained import _files, smollm2

    if _files.manifest_problem(smollm2.cache_path(), source=smollm2.PIN) is None:
        return AutoTokenizer.from_pretrained(smollm2.cache_path(), local_files_only=True)
    path = smollm2.gguf_path()
    return AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)


@pytest.fixture()
def tiny_lm(tokenizer):
    """A one-layer random Llama with SmolLM2's vocabulary: the same interfaces, in milliseconds."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, tie_word_embeddings=True,
                         pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
    return LlamaForCausalLM(config)


def _projector(d_model: int, n_tokens: int = 3, d_in: int = 8, hidden=None, seed: int = 0):
    torch.manual_seed(seed)
    return rv.SoftPromptProjector(d_in, d_model, n_tokens=n_tokens, hidden=hidden)


# --- the projector: no language model needed ---------------------------------------------------------


@pytest.mark.parametrize("hidden", [None, 32])
def test_projector_maps_features_to_k_tokens_at_the_scale_of_word_embeddings(hidden):
    projector = _projector(d_model=576, n_tokens=4, d_in=1280, hidden=hidden)
    tokens = projector(torch.randn(64, 1280) * 3 + 1)
    assert tokens.shape == (64, 4, 576)
    assert 0.05 < tokens.std().item() < 0.3  # SmolLM2's word embeddings: std 0.136


def test_bad_arguments_raise_value_errors_that_name_them():
    with pytest.raises(ValueError, match="n_tokens must be a positive int"):
        rv.SoftPromptProjector(1280, 576, n_tokens=0)
    with pytest.raises(ValueError, match="hidden must be None"):
        rv.SoftPromptProjector(1280, 576, hidden=2.5)
    projector = _projector(d_model=16)
    features = np.zeros((3, 8), dtype=np.float32)
    with pytest.raises(ValueError, match=r"features must be \(N, 8\)"):
        rv.train_steps(None, None, projector, np.zeros((3, 7)), CAPTIONS)
    with pytest.raises(ValueError, match="captions must be 3 non-empty strings"):
        rv.train_steps(None, None, projector, features, CAPTIONS[:2])
    with pytest.raises(ValueError, match="batch_size must be at most the number of examples"):
        rv.train_steps(None, None, projector, features, CAPTIONS, batch_size=4)
    with pytest.raises(ValueError, match="steps must be a positive int"):
        rv.train_steps(None, None, projector, features, CAPTIONS, steps=0)
    with pytest.raises(ValueError, match="features must be finite"):
        rv.train_steps(None, None, projector, np.full((3, 8), np.nan), CAPTIONS)
    with pytest.raises(ValueError, match=r"feature must be one vector \(8,\)"):
        rv.caption(None, None, projector, features)


@pytest.mark.slow
def test_emoji_captions_pair_each_feature_row_with_its_name_from_the_chapter_09_cache(monkeypatch):
    from mmcourse.experiments import real_clip  # about 7 s: it imports chapter 09's text pipeline (NLTK)

    features = real_clip.EmojiFeatures(np.arange(6, dtype=np.float32).reshape(3, 2), np.zeros((3, 4), np.float32),
                                       ("pizza", "banjo", "red apple"), ("1F355", "1FA95", "1F34E"),
                                       np.array([False, True, False]))
    monkeypatch.setattr(real_clip, "emoji_features", lambda: features)
    image, captions = rv.emoji_captions("train")
    assert captions == ["a picture of pizza", "a picture of red apple"]
    np.testing.assert_array_equal(image, [[0, 1], [4, 5]])
    assert rv.emoji_captions("test", template="{}")[1] == ["banjo"]
    with pytest.raises(ValueError, match="template must contain"):
        rv.emoji_captions(template="a picture")


def test_the_seed_002_list_names_the_missing_fusion_first():
    assert "never meet" in rv.SEED_002_PROBLEMS[0].problem
    assert all(p.code and p.problem and p.fix for p in rv.SEED_002_PROBLEMS)


# --- the batch and the label mask (SmolLM2's tokenizer, a tiny random Llama) -------------------------


@pytest.mark.slow
def test_only_caption_tokens_and_the_end_token_carry_labels(tokenizer, tiny_lm):
    projector = _projector(d_model=16, n_tokens=3)
    batch = rv.build_inputs(tiny_lm, tokenizer, projector(torch.randn(3, 8)), CAPTIONS)
    head, tail = rv.prompt_ids(tokenizer)
    start = len(head) + 3 + len(tail)
    for row, caption in enumerate(CAPTIONS):
        target = tokenizer(caption, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        labelled = torch.nonzero(batch.labels[row] != rv.IGNORE_INDEX).flatten().tolist()
        assert labelled == list(range(start, start + len(target)))
        assert batch.labels[row, labelled].tolist() == target
        assert batch.attention_mask[row].tolist() == [1] * (start + len(target)) + [0] * (
            batch.labels.shape[1] - start - len(target))
        assert tokenizer.decode(batch.labels[row, labelled]) == caption + "<|im_end|>"


@pytest.mark.slow
def test_inputs_embeds_are_prompt_head_image_tokens_question_and_caption(tokenizer, tiny_lm):
    projector = _projector(d_model=16, n_tokens=3)
    image_tokens = projector(torch.randn(3, 8))  # (3, 3, 16)
    batch = rv.build_inputs(tiny_lm, tokenizer, image_tokens, CAPTIONS)
    head, tail = rv.prompt_ids(tokenizer)
    longest = max(len(tokenizer(c, add_special_tokens=False)["input_ids"]) + 1 for c in CAPTIONS)
    assert batch.inputs_embeds.shape == (3, len(head) + 3 + len(tail) + longest, 16)
    assert batch.attention_mask.shape == batch.labels.shape == (3, batch.inputs_embeds.shape[1])
    embed = tiny_lm.get_input_embeddings()
    assert torch.equal(batch.inputs_embeds[:, len(head):len(head) + 3], image_tokens)
    assert torch.equal(batch.inputs_embeds[2, :len(head)], embed(torch.tensor(head)))
    assert torch.equal(batch.inputs_embeds[2, len(head) + 3:len(head) + 3 + len(tail)], embed(torch.tensor(tail)))
    assert tokenizer.decode(head).endswith("<|im_start|>user\n")
    assert tokenizer.decode(tail) == f"{rv.PROMPT}<|im_end|>\n<|im_start|>assistant\n"
    for_generation = rv.build_inputs(tiny_lm, tokenizer, image_tokens[:1])
    assert for_generation.labels is None
    assert for_generation.inputs_embeds.shape == (1, len(head) + 3 + len(tail), 16)
    assert for_generation.attention_mask.all()


@pytest.mark.slow
def test_a_training_step_changes_the_projector_and_leaves_the_language_model_untouched(tokenizer, tiny_lm):
    projector = _projector(d_model=16, n_tokens=3)
    lm_before = {name: value.clone() for name, value in tiny_lm.state_dict().items()}
    projector_before = {name: value.clone() for name, value in projector.state_dict().items()}
    tiny_lm.train()
    history = rv.train_steps(tiny_lm, tokenizer, projector, torch.randn(3, 8), CAPTIONS, steps=2, lr=1e-2,
                             batch_size=2, device="cpu", progress=False)
    assert len(history) == 2 and all(np.isfinite(history))
    assert not tiny_lm.training and not any(p.requires_grad for p in tiny_lm.parameters())
    assert all(torch.equal(value, lm_before[name]) for name, value in tiny_lm.state_dict().items())
    changed = {name for name, value in projector.state_dict().items()
               if not torch.equal(value, projector_before[name])}
    assert {"out.weight", "out.bias", "norm.weight", "norm.bias"} <= changed


@pytest.mark.slow
def test_caption_returns_the_generated_text_only(tokenizer, tiny_lm):
    projector = _projector(d_model=16, n_tokens=3)
    text = rv.caption(tiny_lm, tokenizer, projector, torch.randn(8), max_new_tokens=5)
    assert isinstance(text, str) and 1 <= len(tokenizer(text, add_special_tokens=False)["input_ids"]) <= 5
    assert rv.PROMPT not in text


# --- the real thing: SmolLM2-135M-Instruct, frozen -------------------------------------------------


@pytest.mark.slow
def test_three_projector_steps_lower_smollm2s_caption_loss_on_a_fixed_batch():
    from mmcourse.pretrained.smollm2 import load_smollm2

    model, tokenizer = load_smollm2()  # about 1-3 s from the user cache
    features = torch.randn(len(CAPTIONS), 1280, generator=torch.Generator().manual_seed(0)).relu()
    projector = _projector(d_model=model.config.hidden_size, n_tokens=4, d_in=1280)
    before = rv.caption_loss(model, tokenizer, projector, features, CAPTIONS)
    history = rv.train_steps(model, tokenizer, projector, features, CAPTIONS, steps=3, lr=3e-3,
                             batch_size=len(CAPTIONS), device="cpu", progress=False)
    after = rv.caption_loss(model, tokenizer, projector, features, CAPTIONS)
    assert history[0] == pytest.approx(before, rel=1e-3)  # the first step sees the same batch, same loss
    assert after < before - 0.3, (before, history, after)
