"""The vision-language twins (chapter 10): shapes, bad inputs, the loss mask, greedy decoding, parity, scoring."""
import numpy as np
import pytest
import torch
from torch.nn import functional as F

from mmcourse.data.shape_scenes import caption as scene_caption
from mmcourse.experiments import vision_language as vl
from mmcourse.keras_models import gpt as KG
from mmcourse.keras_models import vlm as K
from mmcourse.torch_models.gpt import GPT, GPTConfig
from mmcourse.torch_models.vlm import PatchTokens, Projector, VisionLanguageModel, _before, pool_tokens

SMALL = {"vocab_size": 40, "block_size": 48, "n_layer": 2, "n_head": 4, "n_embd": 32}
D = 24  # feature size of the stand-in encoder's tokens

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _vlm(projector: str = "mlp", n_visual: int | None = None, seed: int = 0) -> VisionLanguageModel:
    torch.manual_seed(seed)
    return VisionLanguageModel(GPT(GPTConfig(**SMALL)), D, projector, n_visual).eval()


def _features(B: int = 3, N: int = 16, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).normal(size=(B, N, D)).astype(np.float32))


def _ids(B: int = 3, T: int = 10, seed: int = 1) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).integers(0, SMALL["vocab_size"], (B, T)))


def test_patch_tokens_cut_images_into_patches_row_by_row():
    images = torch.rand(2, 3, 32, 32)
    tokens = PatchTokens(8)(images)
    assert tokens.shape == (2, 16, 192)
    assert torch.equal(tokens[1, 6], images[1, :, 8:16, 16:24].flatten())  # row 1, column 2 of the 4 x 4 grid
    with pytest.raises(ValueError, match="multiples of patch_size = 8"):
        PatchTokens(8)(torch.rand(2, 3, 30, 32))
    with pytest.raises(ValueError, match="patch_size"):
        PatchTokens(0)


def test_pool_tokens_averages_square_blocks_of_the_grid():
    features = _features(N=16)
    pooled = pool_tokens(features, 4)
    assert pooled.shape == (3, 4, D)
    torch.testing.assert_close(pooled[:, 0], features[:, [0, 1, 4, 5]].mean(dim=1))  # top left 2 x 2 block
    torch.testing.assert_close(pooled[:, 3], features[:, [10, 11, 14, 15]].mean(dim=1))
    torch.testing.assert_close(pool_tokens(features, 1)[:, 0], features.mean(dim=1))
    with pytest.raises(ValueError, match="square number"):
        pool_tokens(features, 3)
    with pytest.raises(ValueError, match="divides"):
        pool_tokens(_features(N=9), 4)


def test_projector_is_one_linear_map_or_a_two_layer_mlp():
    linear, mlp = Projector(D, 32, "linear"), Projector(D, 32, "mlp")
    assert linear.fc_2 is None and mlp.fc_2 is not None
    assert sum(p.numel() for p in linear.parameters()) == 2 * D + D * 32 + 32
    assert sum(p.numel() for p in mlp.parameters()) == 2 * D + D * 32 + 32 + 32 * 32 + 32
    x = _features()
    normed = (x - x.mean(dim=2, keepdim=True)) / torch.sqrt(x.var(dim=2, unbiased=False, keepdim=True) + 1e-5)
    torch.testing.assert_close(linear(x), normed @ linear.fc_1.weight.T + linear.fc_1.bias)
    torch.testing.assert_close(linear(100 * x), linear(x), atol=1e-4, rtol=1e-4)  # the encoder's scale is gone
    assert mlp(x).shape == (3, 16, 32)
    with pytest.raises(ValueError, match="kind"):
        Projector(D, 32, "conv")


@pytest.mark.parametrize("n_visual, n", [(None, 16), (4, 4), (1, 1)])
def test_forward_gives_logits_of_the_text_positions_after_n_visual_tokens(n_visual, n):
    model = _vlm(n_visual=n_visual)
    features, idx = _features(), _ids()
    logits, loss = model(features, idx)
    assert logits.shape == (3, 10, SMALL["vocab_size"]) and loss is None
    assert model.visual_tokens(features).shape == (3, n, SMALL["n_embd"])
    full, _ = model.gpt(idx, prefix=model.visual_tokens(features))  # (B, n + T, V)
    torch.testing.assert_close(logits, full[:, n:])


def test_the_image_changes_the_logits():
    model, idx = _vlm(), _ids()
    assert not torch.allclose(model(_features(seed=0), idx)[0], model(_features(seed=5), idx)[0])


def test_bad_inputs_raise_value_errors_that_name_the_argument():
    model = _vlm()
    with pytest.raises(ValueError, match="features must be a float"):
        model(_features()[..., :5], _ids())
    with pytest.raises(ValueError, match="features must be a float"):
        model(_features().long(), _ids())
    with pytest.raises(ValueError, match="same number of rows"):
        model(_features(B=2), _ids(B=3))
    with pytest.raises(ValueError, match="after 16 earlier positions.*block_size = 48"):
        model(_features(), _ids(T=33))  # 16 + 33 > 48
    model(_features(), _ids(T=32))  # 16 + 32 = 48 fits
    with pytest.raises(ValueError, match="integer"):
        model(_features(), _ids().float())
    with pytest.raises(ValueError, match="targets"):
        model(_features(), _ids(), _ids(T=9))
    with pytest.raises(ValueError, match="n_visual"):
        _vlm(n_visual=2)
    with pytest.raises(ValueError, match="feature_dim"):
        VisionLanguageModel(GPT(GPTConfig(**SMALL)), 0)
    with pytest.raises(ValueError, match="causal torch GPT"):
        VisionLanguageModel(GPT(GPTConfig(**SMALL, causal=False)), D)
    with pytest.raises(ValueError, match="prefix must be"):
        model.gpt(_ids(), prefix=torch.zeros(3, 4, 7))


def _masked_targets(idx: torch.Tensor, prompt: int) -> torch.Tensor:
    """Next-token targets of idx with the first ``prompt`` positions' targets ignored (-100), as encode_pairs."""
    targets = torch.roll(idx, -1, dims=1)
    targets[:, :prompt] = -100
    targets[:, -1] = -100
    return targets


def test_the_loss_is_the_mean_cross_entropy_over_the_response_targets_only():
    model, features, idx = _vlm(), _features(), _ids()
    targets = _masked_targets(idx, prompt=6)
    logits, loss = model(features, idx, targets)
    kept = targets != -100
    torch.testing.assert_close(loss, F.cross_entropy(logits[kept], targets[kept]))
    other = targets.clone()
    other[:, :6] = 7  # targets at prompt positions now point somewhere: included, the loss changes
    assert not torch.isclose(model(features, idx, other)[1], loss)


def test_prompt_positions_get_no_gradient_but_prompt_tokens_still_matter_through_attention():
    model, features, idx = _vlm(), _features(), _ids()
    targets = _masked_targets(idx, prompt=6)
    logits, loss = model(features, idx, targets)
    logits.retain_grad()
    loss.backward()
    assert torch.count_nonzero(logits.grad[:, :6]) == 0  # the prompt's predictions are not trained
    assert torch.count_nonzero(logits.grad[:, 6:9]) > 0  # the response's are
    changed = idx.clone()
    changed[:, 2] = (changed[:, 2] + 1) % SMALL["vocab_size"]  # a prompt token, not a target
    assert not torch.isclose(model(features, changed, targets)[1], loss)  # answers attend to the prompt
    later = idx.clone()
    later[:, -1] = (later[:, -1] + 1) % SMALL["vocab_size"]  # the last input: no target of it, nothing after it
    torch.testing.assert_close(model(features, later, targets)[1], loss)  # causal: earlier positions ignore it


@pytest.mark.parametrize("projector, n_visual", [("mlp", None), ("linear", 4)])
def test_greedy_decoding_with_the_cache_equals_decoding_without_it(projector, n_visual):
    model, features, idx = _vlm(projector, n_visual, seed=3), _features(), _ids(T=5)
    with_cache = model.generate(features, idx, 12)
    assert with_cache == model.generate(features, idx, 12, use_cache=False)
    assert [len(row) for row in with_cache] == [12, 12, 12]
    step_by_step = idx
    for _ in range(12):  # the argmax of forward on the whole sequence, one token at a time
        logits, _ = model(features, step_by_step)
        step_by_step = torch.cat([step_by_step, logits[:, -1:].argmax(dim=-1)], dim=1)
    assert with_cache == step_by_step[:, 5:].tolist()


def test_generation_stops_at_the_stop_sequence_and_leaves_it_out():
    model, features, idx = _vlm(seed=3), _features(), _ids(T=5)
    free = model.generate(features, idx, 12)
    stop = free[0][3:5]
    stopped = model.generate(features, idx, 12, stop=stop)
    assert stopped[0] == _before(free[0], stop) and len(stopped[0]) <= 3
    for row_free, row in zip(free[1:], stopped[1:]):
        assert row == _before(row_free, stop)  # other rows: cut at their own first stop, or all 12 tokens
    assert _before([1, 2, 3, 2, 3], [2, 3]) == [1] and _before([1, 2], [2, 3]) == [1, 2]
    assert _before([5, 6], []) == [5, 6]


def test_generation_refuses_more_tokens_than_the_context_holds():
    model = _vlm()
    with pytest.raises(ValueError, match="at most 22 new tokens"):
        model.generate(_features(), _ids(T=10), 23)  # 16 + 10 + 23 > 48
    assert len(model.generate(_features(), _ids(T=10), 22)[0]) == 22
    with pytest.raises(ValueError, match="max_new_tokens"):
        model.generate(_features(), _ids(), -1)


def test_gpt_prefix_with_the_cache_equals_the_whole_sequence():
    model, idx = _vlm(), _ids()
    prefix = model.visual_tokens(_features())
    whole, _ = model.gpt(idx, prefix=prefix)  # (B, 16 + 10, V)
    first, cache = model.gpt.forward_with_cache(idx[:, :4], prefix=prefix)
    rest, _ = model.gpt.forward_with_cache(idx[:, 4:], cache)
    torch.testing.assert_close(torch.cat([first, rest], dim=1), whole, atol=1e-5, rtol=1e-5)


def _keras_twin(model: VisionLanguageModel) -> K.VisionLanguageModel:
    twin = K.VisionLanguageModel(KG.GPT(KG.GPTConfig(**SMALL)), D, model.projector.kind, model.n_visual)
    K.copy_weights_from_torch(twin, model)
    return twin


@pytest.mark.parametrize("projector, n_visual", [("mlp", None), ("linear", 4)])
def test_keras_twin_with_copied_weights_gives_the_same_logits(projector, n_visual):
    model = _vlm(projector, n_visual, seed=2)
    features, idx = _features(), _ids()
    expected = model(features, idx)[0].detach().numpy()
    actual = np.asarray(_keras_twin(model)((features.numpy(), idx.numpy())))
    np.testing.assert_allclose(actual, expected, atol=1e-5)


def test_keras_patch_tokens_and_pooling_match_torch():
    images = np.random.default_rng(0).random((2, 32, 32, 3)).astype(np.float32)
    expected = PatchTokens(8)(torch.from_numpy(images).permute(0, 3, 1, 2))
    np.testing.assert_array_equal(np.asarray(K.PatchTokens(8)(images)), expected.numpy())
    np.testing.assert_allclose(np.asarray(K.pool_tokens(expected.numpy(), 4)), pool_tokens(expected, 4).numpy(),
                               atol=1e-6)


def test_keras_gpt_refuses_a_prefix_of_the_wrong_width_or_length():
    gpt = KG.GPT(KG.GPTConfig(**SMALL))
    with pytest.raises(ValueError, match="prefix must have shape"):
        gpt(_ids().numpy(), prefix=np.zeros((3, 4, 7), np.float32))
    with pytest.raises(ValueError, match="after 40 prefix positions.*block_size = 48"):
        gpt(_ids().numpy(), prefix=np.zeros((3, 40, SMALL["n_embd"]), np.float32))


def test_copying_weights_between_different_projectors_raises():
    twin = K.VisionLanguageModel(KG.GPT(KG.GPTConfig(**SMALL)), D, "linear")
    with pytest.raises(ValueError, match="same arguments"):
        K.copy_weights_from_torch(twin, _vlm("mlp"))
    with pytest.raises(ValueError, match="VisionLanguageModel"):
        K.copy_weights_from_torch(twin, torch.nn.Linear(2, 2))


def test_parse_caption_reads_back_every_object_of_true_captions():
    examples = vl.make_examples(50, seed=0, task="caption")
    for text, objects in zip(examples.responses, examples.objects):
        assert vl.parse_caption(text) == list(objects)
    assert vl.parse_caption("a small red circle at the middle left") == []


def test_caption_scores_are_perfect_for_true_captions_and_drop_per_attribute():
    examples = vl.make_examples(40, seed=0, task="caption")
    truth = [r.removesuffix(vl.STOP) for r in examples.responses]
    assert vl.caption_scores(truth, examples) == {"exact_match": 1.0, "colour": 1.0, "shape": 1.0, "size": 1.0,
                                                   "position": 1.0, "count": 1.0}
    wrong_colours = [t.replace("red", "blue").replace("green", "blue").replace("yellow", "blue") for t in truth]
    scores = vl.caption_scores(wrong_colours, examples)
    assert scores["colour"] < 0.5 and scores["shape"] == scores["size"] == scores["position"] == 1.0
    assert vl.caption_scores([""] * 40, examples) == {"exact_match": 0.0, "colour": 0.0, "shape": 0.0, "size": 0.0,
                                                      "position": 0.0, "count": 0.0}


def test_qa_scores_give_exact_match_overall_and_per_question_type():
    examples = vl.make_examples(60, seed=0, task="qa")
    truth = [r.removesuffix(vl.STOP) for r in examples.responses]
    assert set(vl.qa_scores(truth, examples).values()) == {1.0}
    half = [t if k in ("colour", "shape", "size") else "?" for t, k in zip(truth, examples.kinds)]
    scores = vl.qa_scores(half, examples)
    assert scores["colour"] == scores["shape"] == scores["size"] == 1.0 and scores["count"] == 0.0
    assert scores["exact_match"] == pytest.approx(np.mean([k in ("colour", "shape", "size") for k in examples.kinds]))
    with pytest.raises(ValueError, match="one answer per example"):
        vl.qa_scores(truth[:-1], examples)


def test_examples_put_the_image_where_chapter_08_put_the_caption():
    examples = vl.make_examples(5, seed=0, task="both")
    assert len(examples) == 10 and examples.images.shape == (10, 3, 32, 32)
    assert examples.prompts[0] == "### Instruction:\n" + examples.prompts[0].split("\n")[1] + "\n### Response:\n"
    assert examples.prompts[5] == vl.qa_prompt(vl.CAPTION_INSTRUCTION) and examples.kinds[5] == "caption"
    assert examples.responses[5] == scene_caption(examples.objects[5]) + vl.STOP
    assert torch.equal(examples.images[0], examples.images[5])  # the same scene, asked and described
    with pytest.raises(ValueError, match="task"):
        vl.make_examples(5, seed=0, task="vqa")


def test_held_out_examples_never_repeat_a_training_scene_with_the_same_prompt():
    train = vl.make_examples(300, seed=vl.TRAIN_SEED, task="qa")
    test = vl.held_out_examples(100, train, task="qa")
    seen = set(zip(vl._captions(train), train.prompts))
    assert len(test) == 100 and not seen & set(zip(vl._captions(test), test.prompts))


def test_training_examples_hold_every_question_and_the_recipes_share_of_captions():
    stage1, stage2 = vl.training_examples(vl.Recipe(n_train=30, caption_share=0.25))
    assert len(stage1) == 30 and set(stage1.kinds) == {"caption"}
    assert len(stage2) == 40 and stage2.kinds.count("caption") == 10  # 30 questions, 10 captions: a quarter
    assert vl.training_examples(vl.Recipe(n_train=30, caption_share=0.0))[1].kinds.count("caption") == 0
    with pytest.raises(ValueError, match="caption_share"):
        vl.training_examples(vl.Recipe(n_train=30, caption_share=1.0))
    with pytest.raises(ValueError, match="variants"):
        vl.ablation_study(PatchTokens(16), variants=("bigger_gpt",))


def _char_setup(n: int = 24):
    from mmcourse.data.char_corpus import load_char_corpus

    tokenizer = load_char_corpus().tokenizer
    torch.manual_seed(0)
    gpt = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, block_size=96, n_layer=1, n_head=2, n_embd=16))
    examples = vl.make_examples(n, seed=0, task="qa")
    features = vl.encode_images(PatchTokens(16), examples.images)  # (n, 4, 768)
    return tokenizer, VisionLanguageModel(gpt, 768, "mlp"), examples, features


def test_stage_1_trains_the_projector_alone_and_stage_2_the_decoder_too():
    tokenizer, model, examples, features = _char_setup()
    decoder = {k: v.clone() for k, v in model.gpt.state_dict().items()}
    projector = {k: v.clone() for k, v in model.projector.state_dict().items()}
    history = vl.train_stage(model, tokenizer, features, examples.pairs(), 3, stage=1, batch_size=4, progress=False)
    assert history["step"] == [1, 2, 3] and len(history["loss"]) == 3
    assert all(torch.equal(v, model.gpt.state_dict()[k]) for k, v in decoder.items())
    assert not torch.equal(projector["fc_1.weight"], model.projector.fc_1.weight)
    assert all(p.requires_grad for p in model.parameters())  # the decoder is unfrozen again afterwards
    vl.train_stage(model, tokenizer, features, examples.pairs(), 2, stage=2, batch_size=4, progress=False)
    assert not torch.equal(decoder["h.0.mlp.c_fc.weight"], model.gpt.h[0].mlp.c_fc.weight)
    with pytest.raises(ValueError, match="stage"):
        vl.train_stage(model, tokenizer, features, examples.pairs(), 2, stage=3)
    with pytest.raises(ValueError, match="one row per example"):
        vl.train_stage(model, tokenizer, features[:3], examples.pairs(), 2, stage=2)


def test_replies_batch_prompts_of_a_length_and_keep_their_order():
    tokenizer, model, examples, features = _char_setup()
    batched = vl.replies(model, tokenizer, features, examples.prompts, max_new_tokens=6, batch_size=5)
    one_by_one = [vl.replies(model, tokenizer, features[i : i + 1], [p], max_new_tokens=6)[0]
                  for i, p in enumerate(examples.prompts)]
    assert batched == one_by_one and len(set(map(len, examples.prompts))) > 1


@pytest.mark.slow
def test_tiny_vlm_checkpoint_loads_checked_and_answers_from_the_picture():
    from mmcourse.pretrained.course import CHECKPOINTS, load_course_model, meets_stated

    model = load_course_model("tiny_vlm")  # the sha256 is checked before torch.load(weights_only=True)
    assert isinstance(model, VisionLanguageModel) and not model.training
    encoder = load_course_model(CHECKPOINTS["tiny_vlm"].extra["encoder"]).image_encoder.tokens
    scores = vl.evaluate(model, encoder, n_qa=500, n_captions=0)
    assert meets_stated("tiny_vlm", scores), scores
    assert min(scores[f"qa_{kind}"] for kind in ("colour", "shape", "size", "exists")) >= 0.6, scores
    blind = vl.evaluate(model, encoder, n_qa=500, n_captions=0, blank_images=True)
    assert blind["qa_exact_match"] <= 0.45, blind  # the same model shown black images: it does look
