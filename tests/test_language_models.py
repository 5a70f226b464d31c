"""Chapter 08's training side: BERT masking, LM batches, bidirectional twins, train_lm, the instruction loss mask."""
import numpy as np
import pytest
import torch

from mmcourse.data.char_corpus import load_char_corpus, mask_tokens, random_batches
from mmcourse.experiments import language_models as lm
from mmcourse.keras_models import gpt as K
from mmcourse.torch_models.gpt import GPT, GPTConfig

SMALL = {"vocab_size": 40, "block_size": 16, "n_layer": 2, "n_head": 4, "n_embd": 32}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def corpus():
    return load_char_corpus()


def test_mask_tokens_follows_berts_80_10_10_rule():
    ids = torch.randint(100, (64, 1024), generator=torch.Generator().manual_seed(1))  # 65,536 positions
    inputs, targets = mask_tokens(ids, mask_id=100, vocab_size=100, generator=torch.Generator().manual_seed(0))
    chosen = targets != -100
    assert abs(chosen.float().mean().item() - 0.15) < 0.005
    torch.testing.assert_close(targets[chosen], ids[chosen])  # a chosen position's target is its own id
    torch.testing.assert_close(inputs[~chosen], ids[~chosen])  # the rest are left alone
    masked = inputs[chosen] == 100
    kept = inputs[chosen] == ids[chosen]
    replaced = ~masked & ~kept
    assert abs(masked.float().mean().item() - 0.8) < 0.015
    assert abs(replaced.float().mean().item() - 0.1 * 0.99) < 0.01  # a random id equals the original 1 time in 100
    assert abs(kept.float().mean().item() - (0.1 + 0.1 * 0.01)) < 0.01
    assert int(inputs.max()) == 100 and int(inputs[inputs != 100].max()) < 100  # random ids never draw [MASK]


def test_mask_tokens_names_a_bad_argument():
    with pytest.raises(ValueError, match="ids must be an int64"):
        mask_tokens(torch.zeros(2, 3), 5, 5, torch.Generator())
    with pytest.raises(ValueError, match="p must be"):
        mask_tokens(torch.zeros(2, 3, dtype=torch.int64), 5, 5, torch.Generator(), p=0.0)


def test_random_batches_are_windows_with_next_character_targets(corpus):
    x, y = random_batches(corpus.train, 8, 64, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (8, 64) and x.dtype == y.dtype == torch.int64
    torch.testing.assert_close(x[:, 1:], y[:, :-1])  # y is x shifted by one
    text = corpus.tokenizer.decode(x[0])
    assert text in corpus.tokenizer.decode(corpus.train)
    again, _ = random_batches(corpus.train, 8, 64, torch.Generator().manual_seed(0))
    torch.testing.assert_close(again, x)
    with pytest.raises(ValueError, match="block_size"):
        random_batches(corpus.train[:10], 2, 10, torch.Generator())


def _twins(causal: bool) -> tuple[GPT, K.GPT]:
    torch.manual_seed(0)
    net = GPT(GPTConfig(**SMALL, causal=causal)).eval()
    model = K.GPT(K.GPTConfig(**SMALL, causal=causal))
    K.copy_weights_from_torch(model, net)
    return net, model


@pytest.mark.parametrize("causal", [True, False])
def test_bidirectional_twins_agree_and_only_they_let_earlier_logits_see_later_tokens(causal):
    net, model = _twins(causal)
    idx = np.random.default_rng(0).integers(0, SMALL["vocab_size"], (2, 16))
    changed = idx.copy()
    changed[:, 9] = (changed[:, 9] + 1) % SMALL["vocab_size"]
    for run in (lambda x: net(torch.from_numpy(x))[0].detach().numpy(), lambda x: model(x).numpy()):
        before, after = run(idx), run(changed)
        earlier = np.abs(after[:, :9] - before[:, :9]).max()
        assert earlier == 0.0 if causal else earlier > 1e-4
    np.testing.assert_allclose(model(idx).numpy(), net(torch.from_numpy(idx))[0].detach().numpy(), atol=1e-5)


def test_a_bidirectional_model_refuses_the_cache_and_generation():
    net, _ = _twins(causal=False)
    idx = torch.zeros(1, 4, dtype=torch.int64)
    with pytest.raises(ValueError, match="causal=False"):
        net.generate(idx, 3)
    with pytest.raises(ValueError, match="causal=False"):
        net.forward_with_cache(idx)


@pytest.mark.parametrize("objective", ["causal", "mlm"])
def test_a_short_train_lm_run_lowers_the_validation_loss_and_repeats_exactly(corpus, objective):
    def run():
        torch.manual_seed(0)
        vocab = corpus.tokenizer.vocab_size + (objective == "mlm")
        model = GPT(GPTConfig(vocab, block_size=32, n_layer=1, n_head=2, n_embd=32, causal=objective == "causal"))
        return lm.train_lm(model, corpus.train, corpus.val, steps=40, batch_size=16, lr=3e-3, eval_every=20,
                           objective=objective, seed=0, eval_batches=2, progress=False)

    history = run()
    assert history["step"] == [20, 40]
    initial = np.log(corpus.tokenizer.vocab_size)  # uniform guessing
    assert history["val_loss"][-1] < initial - 1.0
    assert history["lr"][0] > history["lr"][-1]  # warmed up, then decayed
    assert run()["val_loss"] == history["val_loss"]


def test_train_lm_refuses_an_objective_its_model_cannot_learn(corpus):
    with pytest.raises(ValueError, match="causal=False"):
        lm.train_lm(GPT(GPTConfig(**SMALL)), corpus.train, corpus.val, steps=1, objective="mlm", progress=False)


def test_instruction_loss_mask_covers_only_the_response_characters(corpus):
    pairs = lm.instruction_pairs(3, seed=0)
    prompt, response = pairs[0]
    assert prompt.startswith("### Instruction:\n") and prompt.endswith("### Response:\n")
    assert response.endswith(lm.STOP)
    x, y = lm.encode_pairs(corpus.tokenizer, pairs)
    assert x.shape == y.shape == (3, max(len(p) + len(r) for p, r in pairs) - 1)
    for row, (prompt, response) in enumerate(pairs):
        targets = y[row][y[row] != -100]
        assert corpus.tokenizer.decode(targets) == response
        first = len(prompt) - 1  # the position that reads the prompt's last character predicts the response's first
        assert (y[row, :first] == -100).all() and y[row, first] != -100
        assert corpus.tokenizer.decode(x[row, : len(prompt) + len(response) - 1]) == (prompt + response)[:-1]


def test_held_out_instruction_pairs_share_no_prompt_with_the_training_pairs():
    train = lm.instruction_pairs(500, seed=1)
    prompts = {prompt for prompt, _ in train}
    assert sum(prompt in prompts for prompt, _ in lm.instruction_pairs(100, seed=2)) > 0  # small scenes recur
    test = lm.instruction_pairs(100, seed=2, exclude=prompts)
    assert len(test) == 100 and not prompts & {prompt for prompt, _ in test}
    assert test[0] in lm.instruction_pairs(100, seed=2)  # the same scenes, with the repeats skipped
    assert {response for _, response in train} >= {"red\n\n", "yes\n\n", "no\n\n", "2\n\n"}
