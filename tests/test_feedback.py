"""Chapter 13's estimators, the preference rule, the speller and the RLHF / DPO loops on a tiny captioner."""
import numpy as np
import pytest
import torch
from torch.nn import functional as F

from mmcourse.data.char_corpus import load_char_corpus
from mmcourse.data.shape_scenes import SceneObject, caption
from mmcourse.experiments import feedback as fb
from mmcourse.feedback import DIGIT_WORDS, MAX_SPELLING, RewardConfig, spell, unspell
from mmcourse.numpy_nn.gradcheck import numerical_gradient, relative_error
from mmcourse.torch_models.gpt import GPT, GPTConfig
from mmcourse.torch_models.vlm import VisionLanguageModel


def test_reinforce_loss_gradient_is_the_hand_written_estimate():
    theta = torch.tensor([0.3, -1.0, 0.5], dtype=torch.float64, requires_grad=True)
    actions, rewards = torch.tensor([0, 2, 2, 1]), torch.tensor([1.0, 0.0, 2.0, -1.0], dtype=torch.float64)
    fb.reinforce_loss(F.log_softmax(theta, 0)[actions], rewards, 0.5).backward()
    pi = F.softmax(theta.detach(), 0)
    by_hand = -((rewards - 0.5)[:, None] * (F.one_hot(actions, 3) - pi)).mean(0)  # −(R − b)(onehot − π), averaged
    assert torch.allclose(theta.grad, by_hand)


def test_reinforce_estimate_is_unbiased_and_the_baseline_lowers_its_variance():
    """Many samples: the mean estimate approaches the exact ∇ E[R] with or without b; b = E[R] shrinks the spread."""
    torch.manual_seed(0)
    logits, reward = torch.tensor([0.5, 0.0, -0.5], dtype=torch.float64), torch.tensor([1.0, 2.0, 4.0],
                                                                                        dtype=torch.float64)
    pi = F.softmax(logits, 0)
    exact = numerical_gradient(lambda: float(F.softmax(torch.from_numpy(theta), 0) @ reward),
                               theta := logits.numpy().copy())
    actions = torch.multinomial(pi, 20000, replacement=True)
    per_sample = {}
    for b in (0.0, float(pi @ reward)):
        scores = F.one_hot(actions, 3) - pi  # ∇ log π(a) for each sample
        per_sample[b] = (reward[actions] - b)[:, None] * scores
        assert relative_error(per_sample[b].mean(0).numpy(), exact) < 0.03
    plain, with_baseline = (per_sample[b].var(0).sum().item() for b in per_sample)
    assert with_baseline < 0.5 * plain


def test_leave_one_out_baseline_by_hand_and_refuses_one_sample():
    rewards = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 6.0]])
    assert fb.leave_one_out_baseline(rewards).tolist() == [[2.5, 2.0, 1.5], [3.0, 3.0, 0.0]]
    with pytest.raises(ValueError, match="K >= 2"):
        fb.leave_one_out_baseline(torch.ones(4, 1))


def test_token_kl_equals_torch_distributions_and_is_zero_for_shifted_logits():
    torch.manual_seed(1)
    p, q = torch.randn(3, 5, 7), torch.randn(3, 5, 7)
    expected = torch.distributions.kl_divergence(torch.distributions.Categorical(logits=p),
                                                 torch.distributions.Categorical(logits=q))
    assert torch.allclose(fb.token_kl(p, q), expected, atol=1e-6)
    assert fb.token_kl(p, p + 3.0).abs().max().item() < 1e-6
    with pytest.raises(ValueError, match="same shape"):
        fb.token_kl(p, q[:, :2])


def test_dpo_loss_is_bce_on_the_implicit_reward_margin_and_its_hand_gradient_checks():
    rng = np.random.default_rng(0)
    x = rng.uniform(-40, -5, size=(4, 6))  # pi_w, pi_l, ref_w, ref_l for 6 pairs
    beta = 0.3
    t = [torch.tensor(row, requires_grad=True) for row in x]
    loss = fb.dpo_loss(*t, beta)
    margin = (x[0] - x[2]) - (x[1] - x[3])
    bce = F.binary_cross_entropy_with_logits(torch.from_numpy(beta * margin), torch.ones(6, dtype=torch.float64))
    assert loss.item() == pytest.approx(bce.item(), rel=1e-12)
    loss.backward()
    sigma = 1 / (1 + np.exp(beta * margin))  # σ(−β m)
    by_hand = -beta * sigma / 6  # ∂loss/∂pi_w; ∂/∂pi_l is its negative
    numeric = numerical_gradient(lambda: float(np.mean(np.logaddexp(0, -beta * ((x[0] - x[2]) - (x[1] - x[3]))))),
                                 x[0])
    assert relative_error(numeric, by_hand) < 1e-6
    assert np.allclose(t[0].grad.numpy(), by_hand) and np.allclose(t[1].grad.numpy(), -by_hand)
    with pytest.raises(ValueError, match="beta must be positive"):
        fb.dpo_loss(*t, 0.0)


OBJECTS = (SceneObject("circle", "red", "small", 0, 0), SceneObject("square", "blue", "large", 1, 1))


@pytest.mark.parametrize("caption, score", [
    ("a small red circle at the top left and a large blue square at the bottom right", 1.0),
    ("a large red circle at the top left and a small blue square at the bottom right", 1.0),  # sizes are not judged
    ("a small green circle at the top left and a large blue square at the bottom right", 0.5),  # a wrong colour
    ("a small red circle at the top left", 0.5),  # one object missing
    ("a small red circle at the top left, a large blue square at the bottom right and a small red circle at the "
     "top right", 2 / 3),  # an extra object
    ("red circle blue square red circle blue square", 0.0),  # words, no object at a place
    ("", 0.0),
])
def test_rule_score(caption, score):
    assert fb.rule_score(caption, OBJECTS) == pytest.approx(score)


def test_spell_and_unspell_round_trip_and_refuse_bad_words():
    ids = spell("seven")
    assert ids.tolist() == [19, 5, 22, 5, 14, 0] and len(ids) == MAX_SPELLING
    assert unspell(ids) == "seven" and unspell([0, 3]) == ""
    with pytest.raises(ValueError, match="lowercase letters"):
        spell("Seven")


def test_reinforce_takes_the_speller_from_a_shaky_start_to_over_ninety_percent():
    policy = fb.pretrain_speller(steps=23)
    start = fb.speller_accuracy(policy)["sampled"]
    history = fb.train_speller(policy, steps=120, progress=False)
    assert start < 0.5 and fb.speller_accuracy(policy)["sampled"] >= 0.9
    assert max(history["kl"]) < 2.0  # nats per spelling: the penalty keeps it near the start


def test_sampled_spellings_end_with_end_and_their_logprobs_match():
    policy = fb.pretrain_speller(steps=60)
    digits = torch.arange(10)
    greedy = fb.sample_spellings(policy, digits, greedy=True)
    assert [unspell(row) for row in greedy.tolist()] == list(DIGIT_WORDS)
    logp, logits, mask = fb.spelling_logprobs(policy, digits, greedy)
    assert mask.sum(1).tolist() == [len(w) + 1 for w in DIGIT_WORDS]
    best = F.log_softmax(logits, -1).max(-1).values
    assert torch.allclose(logp, best * mask)  # greedy picks the most likely symbol at every written position


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    gpt = GPT(GPTConfig(vocab_size=103, block_size=256, n_layer=1, n_head=2, n_embd=16))
    model = VisionLanguageModel(gpt, feature_dim=8).eval()
    rng = torch.Generator().manual_seed(0)
    objects = [OBJECTS, OBJECTS[:1], OBJECTS[1:]] * 2
    task = fb.CaptionTask(torch.zeros(6, 3, 32, 32), torch.randn(6, 4, 8, generator=rng), torch.zeros(6, 64), objects,
                          [caption(o) for o in objects])
    return model, task, load_char_corpus().tokenizer


def test_sampled_captions_and_their_logprobs(tiny):
    model, task, tokenizer = tiny
    ids, mask = fb.sample_captions(model, task.features, tokenizer, max_new_tokens=30,
                                   generator=torch.Generator().manual_seed(0))
    stop = tokenizer.encode("\n\n").tolist()
    assert ids.shape == mask.shape and ids.shape[0] == 6 and ids.shape[1] <= 30
    for row, m in zip(ids.tolist(), mask.tolist()):
        written = [t for t, keep in zip(row, m) if keep]
        assert written[-2:] == stop or len(written) == len(row)  # ends with the stop sequence, or ran out
        assert all(written[i : i + 2] != stop for i in range(len(written) - 2))  # nothing after the first stop
    greedy, _ = fb.sample_captions(model, task.features, tokenizer, temperature=0.0, max_new_tokens=12)
    logp, logits = fb.caption_logprobs(model, task.features, greedy, tokenizer)
    assert torch.allclose(logp, F.log_softmax(logits, -1).max(-1).values, atol=1e-5)  # greedy: the argmax


def test_preference_pairs_with_the_truth_prefer_what_the_rule_prefers(tiny):
    model, task, tokenizer = tiny
    pairs = fb.preference_pairs(model, task, tokenizer, samples=2, with_truth=True, progress=False)
    assert len(pairs) >= 6  # a random model's captions are never perfect: every scene gives its truth pair
    for scene, chosen, rejected in zip(pairs.scene.tolist(), pairs.chosen_text, pairs.rejected_text):
        assert fb.rule_score(chosen, task.objects[scene]) > fb.rule_score(rejected, task.objects[scene])
    ids, mask = pairs.chosen
    assert fb.decode(tokenizer, ids, mask) == pairs.chosen_text  # the ids are the texts, with STOP


def test_dpo_starts_at_log_two_and_rlhf_records_reward_and_kl(tiny):
    model, task, tokenizer = tiny
    ids, mask = fb.sample_captions(model, task.features, tokenizer, generator=torch.Generator().manual_seed(1),
                                   max_new_tokens=10)
    texts = fb.decode(tokenizer, ids, mask)
    pairs = fb.Pairs(torch.arange(3), (ids[:3], mask[:3]), (ids[3:], mask[3:]), texts[:3], texts[3:])
    policy = VisionLanguageModel(GPT(model.gpt.config), 8)
    policy.load_state_dict(model.state_dict())
    history = fb.dpo(policy, task, pairs, tokenizer, steps=2, batch_size=3, lr=1e-3, progress=False)
    assert history["loss"][0] == pytest.approx(np.log(2), abs=1e-5)  # the policy is the reference at step 1
    fresh = VisionLanguageModel(GPT(model.gpt.config), 8)
    fresh.load_state_dict(model.state_dict())
    anchored = fb.dpo(fresh, task, pairs, tokenizer, steps=1, batch_size=3, nll_weight=1.0, progress=False)
    rows = torch.randint(3, (3,), generator=torch.Generator().manual_seed(0))  # the batch dpo draws
    logp, _ = fb.caption_logprobs(model, task.features[rows], ids[rows], tokenizer)
    nll = -((logp * mask[rows]).sum(1) / mask[rows].sum(1)).mean().item()  # the chosen replies' NLL per token
    assert anchored["loss"][0] == pytest.approx(np.log(2) + nll, rel=1e-4)
    history = fb.rlhf(policy, task, fb.rule_reward(task), tokenizer, steps=1, scenes_per_step=2, samples=2,
                      progress=False)
    assert set(history) == {"step", "reward", "kl", "seconds"} and history["kl"][0] >= 0.0


def test_thumbs_reward_is_plus_one_only_for_a_perfect_caption(tiny):
    _, task, _ = tiny
    texts = [task.captions[0], "a small red circle at the top left"]
    assert fb.thumbs_reward(task)(texts, [0, 0]).tolist() == [1.0, -1.0]
    assert fb.rule_reward(task)(texts, [0, 0]).tolist() == [1.0, 0.5]


def test_a_normalised_reward_has_mean_zero_and_std_one_on_the_starting_policys_captions(tiny):
    model, task, tokenizer = tiny
    code = lambda text: float(sum(map(ord, text)))  # differs between the random model's captions
    reward = lambda texts, scenes: torch.tensor([3.0 * code(t) + 7.0 for t in texts])  # a scale and a shift
    unit = fb.normalised(reward, model, task, tokenizer, n_scenes=6, samples=3, seed=2)
    scenes = torch.arange(6).repeat_interleave(3)  # the captions normalised draws, drawn again
    ids, mask = fb.sample_captions(model, task.features[scenes], tokenizer, generator=torch.Generator().manual_seed(2))
    values = unit(fb.decode(tokenizer, ids, mask), scenes.tolist())
    assert values.mean().item() == pytest.approx(0.0, abs=1e-5) and values.std().item() == pytest.approx(1.0)
    codes = torch.tensor([code(t) for t in fb.decode(tokenizer, ids, mask)], dtype=torch.float64)
    gap = unit(["c"], [0]) - unit(["a"], [0])  # 6 apart raw, over the raw spread 3 std(code)
    assert gap.item() == pytest.approx(6.0 / (3.0 * codes.std().item()), rel=1e-3)  # float32 of rewards near 3e4
    with pytest.raises(ValueError, match="same score"):
        fb.normalised(lambda texts, scenes: torch.ones(len(texts)), model, task, tokenizer, n_scenes=2, samples=2)


def test_a_simulated_users_thumbs_teach_the_speller():
    policy = fb.pretrain_speller(steps=23)
    history = fb.user_loop(policy, rounds=200, progress=False)
    assert np.mean(history["thumbs_up"][-50:]) > np.mean(history["thumbs_up"][:50])
    assert history["sampled"][-1] > history["sampled"][0] + 0.15


def test_gradient_variance_leaves_the_policy_alone_and_the_mean_baseline_is_noisier_on_the_speller():
    policy = fb.pretrain_speller(steps=23)
    before = [p.detach().clone() for p in policy.parameters()]
    spread = {b: fb.gradient_variance(policy, use_baseline=b, batches=100) for b in (False, True)}
    assert all(torch.equal(a, b) for a, b in zip(before, policy.parameters()))
    assert 0 < spread[False] < spread[True]  # rare wrong spellings have large ∇ log π: the chapter explains it


def test_a_near_miss_gets_exactly_one_thing_wrong_and_its_pairs_follow_the_rule():
    rng = np.random.default_rng(0)
    for _ in range(60):
        missed = fb.near_miss(OBJECTS, rng)
        score = fb.rule_score(caption(missed), OBJECTS)
        assert score < 1.0 and missed == tuple(sorted(missed, key=lambda o: (o.row, o.col)))
        changed = set(missed) ^ set(OBJECTS)
        assert 1 <= len(changed) <= 4  # one object edited, dropped or added; or two objects' looks swapped
    for _ in range(30):
        pair = fb.near_miss_pair(OBJECTS, rng)
        if pair is not None:
            assert fb.rule_score(pair[0], OBJECTS) > fb.rule_score(pair[1], OBJECTS)


def test_near_miss_pairs_join_the_sampled_ones_and_the_reward_model_fits_them(tiny):
    model, task, tokenizer = tiny
    plain = fb.preference_pairs(model, task, tokenizer, samples=2, with_truth=True, progress=False)
    pairs = fb.preference_pairs(model, task, tokenizer, samples=2, with_truth=True, near_misses=5, progress=False)
    assert len(plain) + 12 <= len(pairs) <= len(plain) + 30  # up to 5 per scene; a tie (often, on one object) none
    for scene, chosen, rejected in zip(pairs.scene.tolist(), pairs.chosen_text, pairs.rejected_text):
        assert fb.rule_score(chosen, task.objects[scene]) > fb.rule_score(rejected, task.objects[scene])
    with pytest.raises(ValueError, match="near_misses must be an int >= 0"):
        fb.preference_pairs(model, task, tokenizer, near_misses=-1)
    ties = fb.tied_near_misses(task, 5)
    for scene, a, b in zip(*ties):
        assert a != b and fb.rule_score(a, task.objects[scene]) == fb.rule_score(b, task.objects[scene])
    reward_model, history = fb.train_reward_model(pairs, task, steps=150, batch_size=32,
                                                  config=RewardConfig(feature_dim=8), ties=ties, progress=False)
    assert history["loss"][-1] < history["loss"][0]
    assert fb.reward_accuracy(fb.model_reward(reward_model, task), pairs) >= 0.9


def test_rule_scores_judge_each_scene_by_its_own_objects(tiny):
    _, task, _ = tiny  # scenes 0, 1, 2: both objects, the first only, the second only; then again
    captions = [caption(OBJECTS)] * 6  # right for scenes 0 and 3, an extra object for the others
    scores = fb.rule_scores(captions, task)
    assert scores.shape == (6,) and scores.tolist() == [fb.rule_score(caption(OBJECTS), o) for o in task.objects]
    assert scores[0] == 1.0 and scores[1] < 1.0 and scores[2] < 1.0
    with pytest.raises(ValueError, match="one caption per scene: 5 captions for 6 scenes"):
        fb.rule_scores(captions[:5], task)


def test_paired_standard_error_is_the_spread_of_the_differences_over_root_n():
    scores, reference = np.array([1.0, 0.5, 0.5, 0.0]), np.array([0.5, 0.5, 0.5, 0.5])
    assert fb.paired_standard_error(scores, reference) == pytest.approx(np.std([0.5, 0, 0, -0.5], ddof=1) / 2)
    assert fb.paired_standard_error(reference, reference) == 0.0  # the same captions: no noise on a zero gain
    with pytest.raises(ValueError, match=r"must both be \(N,\)"):
        fb.paired_standard_error(scores, reference[:3])
