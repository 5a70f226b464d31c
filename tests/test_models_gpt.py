"""The GPT twins: torch and Keras agree, attention is causal, the KV cache is exact, sampling filters, tokenizer."""
import dataclasses
import math

import numpy as np
import pytest
import torch

from mmcourse.data.char_corpus import load_char_corpus
from mmcourse.data.text_corpus import load_text_corpus
from mmcourse.keras_models import gpt as K
from mmcourse.text import CharTokenizer
from mmcourse.torch_models.gpt import GPT, GPTConfig, KVCache, sample_next, top_k_filter, top_p_filter

SMALL = {"vocab_size": 40, "block_size": 16, "n_layer": 2, "n_head": 4, "n_embd": 32}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _torch_gpt(seed: int = 0, **sizes) -> GPT:
    torch.manual_seed(seed)
    return GPT(GPTConfig(**(SMALL | sizes))).eval()


def _twins(**sizes) -> tuple[GPT, K.GPT]:
    net = _torch_gpt(**sizes)
    model = K.GPT(K.GPTConfig(**(SMALL | sizes)))
    K.copy_weights_from_torch(model, net)
    return net, model


def _ids(shape: tuple[int, int], vocab_size: int = SMALL["vocab_size"], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, vocab_size, shape)


def _logits(net: GPT, idx: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return net(torch.from_numpy(idx))[0].numpy()


def test_twins_have_the_same_config_fields_and_defaults():
    def fields(cls):
        return [(f.name, f.type, f.default) for f in dataclasses.fields(cls)]

    assert fields(GPTConfig) == fields(K.GPTConfig)
    assert GPTConfig(vocab_size=65) == GPTConfig(65, 128, 4, 4, 128, 0.0, True)


@pytest.mark.parametrize("bias", [True, False])
def test_copied_weights_give_the_same_logits(bias):
    net, model = _twins(bias=bias)
    assert model.count_params() == sum(p.numel() for p in net.parameters())
    idx = _ids((3, 16))
    logits = _logits(net, idx)
    assert logits.shape == (3, 16, 40)
    np.testing.assert_allclose(model(idx).numpy(), logits, atol=1e-5)


def test_lm_head_is_tied_to_the_token_embedding():
    net = _torch_gpt()
    assert net.lm_head.weight is net.wte.weight
    c, v, bs, layers = SMALL["n_embd"], SMALL["vocab_size"], SMALL["block_size"], SMALL["n_layer"]
    per_block = 2 * 2 * c + (c * 3 * c + 3 * c) + (c * c + c) + (c * 4 * c + 4 * c) + (4 * c * c + c)
    assert sum(p.numel() for p in net.parameters()) == v * c + bs * c + layers * per_block + 2 * c


def test_copying_from_a_model_of_another_size_raises_and_changes_nothing():
    net = _torch_gpt(n_embd=16)
    model = K.GPT(K.GPTConfig(**SMALL))
    before = [w.numpy().copy() for w in model.weights]
    with pytest.raises(ValueError, match="same arguments"):
        K.copy_weights_from_torch(model, net)
    for w, old in zip(model.weights, before):
        np.testing.assert_array_equal(w.numpy(), old)
    with pytest.raises(ValueError, match="n_layer"):
        K.copy_weights_from_torch(model, _torch_gpt(n_layer=3))


@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_changing_a_future_token_leaves_earlier_logits_unchanged(framework):
    net, model = _twins()
    idx = _ids((2, 16))
    changed = idx.copy()
    changed[:, 9] = (changed[:, 9] + 1) % SMALL["vocab_size"]
    run = (lambda x: _logits(net, x)) if framework == "torch" else (lambda x: model(x).numpy())
    before, after = run(idx), run(changed)
    np.testing.assert_array_equal(after[:, :9], before[:, :9])
    assert np.abs(after[:, 9:] - before[:, 9:]).min(axis=2).max() > 1e-4  # position 9 and later see the change


def test_masked_attention_equals_torchs_causal_scaled_dot_product_attention():
    from mmcourse.torch_models.gpt import causal_attention

    q, k, v = torch.randn(3, 2, 4, 7, 5, generator=torch.Generator().manual_seed(0)).unbind(0)  # (B, nh, T, hd)
    expected = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
    torch.testing.assert_close(causal_attention(q, k, v, torch.nn.Identity()), expected, atol=1e-6, rtol=1e-6)


def _generator_model() -> GPT:
    """A random GPT (block_size 208) whose greedy continuation varies: at the usual init it repeats one token.

    (With tied weights the residual stream carries the current token's
    embedding and the head scores that token highest.) Position embeddings
    of std 1 make the next token depend on where it is.
    """
    net = _torch_gpt(vocab_size=50, block_size=208, n_layer=2, n_head=2, n_embd=32)
    with torch.no_grad():
        net.wpe.weight.normal_(0.0, 1.0)
    return net


def test_greedy_generation_with_the_cache_gives_the_same_200_tokens_as_without():
    net = _generator_model()
    prompt = torch.from_numpy(_ids((2, 8), 50))
    with_cache = net.generate(prompt, 200, greedy=True, use_cache=True)
    without = net.generate(prompt, 200, greedy=True, use_cache=False)
    assert with_cache.shape == (2, 208)
    torch.testing.assert_close(with_cache[:, :8], prompt)
    assert all(len(set(row)) > 20 for row in with_cache[:, 8:].tolist())
    torch.testing.assert_close(with_cache, without, atol=0, rtol=0)


def test_sampling_with_the_cache_draws_the_same_200_tokens_as_without():
    net = _generator_model()
    prompt = torch.from_numpy(_ids((2, 8), 50))
    with_cache, without = (net.generate(prompt, 200, top_k=20, top_p=0.95, use_cache=use_cache,
                                        generator=torch.Generator().manual_seed(0)) for use_cache in (True, False))
    torch.testing.assert_close(with_cache, without, atol=0, rtol=0)


def test_logits_step_by_step_with_the_cache_equal_the_full_forward():
    net = _torch_gpt()
    idx = torch.from_numpy(_ids((2, 16)))
    full = _logits(net, idx.numpy())
    with torch.no_grad():
        logits, cache = net.forward_with_cache(idx[:, :5])  # a prompt of 5, then one token at a time
        steps = [logits]
        for t in range(5, 16):
            logits, cache = net.forward_with_cache(idx[:, t : t + 1], cache)
            steps.append(logits)
    assert isinstance(cache, KVCache) and cache.length == 16 and len(cache.keys) == SMALL["n_layer"]
    assert cache.keys[0].shape == (2, SMALL["n_head"], 16, SMALL["n_embd"] // SMALL["n_head"])
    np.testing.assert_allclose(torch.cat(steps, dim=1).numpy(), full, atol=1e-5)


def test_a_full_cache_refuses_one_more_token_and_is_left_unchanged():
    net = _torch_gpt()
    idx = torch.from_numpy(_ids((1, 16)))
    with torch.no_grad():
        _, cache = net.forward_with_cache(idx)
        with pytest.raises(ValueError, match="block_size = 16"):
            net.forward_with_cache(idx[:, :1], cache)
        _, shorter = net.forward_with_cache(idx[:, :4])
        net.forward_with_cache(idx[:, 4:6], shorter)
    assert shorter.length == 4


def test_top_k_keeps_the_k_largest_and_every_logit_tied_with_the_kth():
    logits = torch.tensor([[1.0, 3.0, 2.0, 0.0], [5.0, 1.0, 5.0, 5.0]])
    inf = float("-inf")
    torch.testing.assert_close(top_k_filter(logits, 2), torch.tensor([[inf, 3.0, 2.0, inf], [5.0, inf, 5.0, 5.0]]))
    torch.testing.assert_close(top_k_filter(logits, 1), torch.tensor([[inf, 3.0, inf, inf], [5.0, inf, 5.0, 5.0]]))
    torch.testing.assert_close(top_k_filter(logits, 4), logits)
    torch.testing.assert_close(top_k_filter(logits, 9), logits)
    with pytest.raises(ValueError, match="top_k"):
        top_k_filter(logits, 0)


def test_top_p_keeps_the_fewest_tokens_reaching_p():
    probs = torch.tensor([[0.125, 0.5, 0.125, 0.25]], dtype=torch.float64)  # sorted: 0.5, 0.25, 0.125, 0.125
    logits = probs.log()
    inf = float("-inf")

    def kept(p):
        return torch.isfinite(top_p_filter(logits, p))[0].tolist()

    assert kept(0.3) == [False, True, False, False]
    assert kept(0.5) == [False, True, False, False]  # the top token alone reaches p = 0.5 exactly
    assert kept(0.5001) == [False, True, False, True]
    assert kept(0.75) == [False, True, False, True]  # 0.5 + 0.25 reaches p = 0.75 exactly
    assert kept(0.76) == [True, True, True, True]  # the third token is needed, and the fourth is tied with it
    assert kept(1.0) == [True, True, True, True]
    assert kept(1e-9) == [False, True, False, False]  # the top token is always kept
    torch.testing.assert_close(top_p_filter(logits, 0.6), torch.where(probs >= 0.25, logits, inf))
    for p in (0.0, 1.5, -0.1):
        with pytest.raises(ValueError, match="top_p"):
            top_p_filter(logits, p)


def test_top_p_filters_each_row_separately():
    logits = torch.tensor([[0.0, 0.0, 0.0, 0.0], [10.0, 0.0, 0.0, -1.0]])
    kept = torch.isfinite(top_p_filter(logits, 0.9))
    assert kept.tolist() == [[True] * 4, [True, False, False, False]]


def test_sample_next_is_greedy_seeded_and_respects_the_filters():
    logits = torch.tensor([[0.0, 2.0, 1.0, 2.0], [3.0, 0.0, 0.0, 0.0]])
    assert sample_next(logits, greedy=True).tolist() == [[1], [0]]  # the first of tied maxima
    draws = torch.cat([sample_next(logits, top_k=1, generator=torch.Generator().manual_seed(s)) for s in range(20)], 1)
    assert set(draws[0].tolist()) == {1, 3} and set(draws[1].tolist()) == {0}
    first = sample_next(logits.repeat(50, 1), generator=torch.Generator().manual_seed(1))
    again = sample_next(logits.repeat(50, 1), generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(first, again)
    assert first.shape == (100, 1) and first.dtype == torch.int64
    with pytest.raises(ValueError, match="temperature"):
        sample_next(logits, temperature=0.0)


def test_the_loss_of_an_untrained_model_is_near_log_vocab_size():
    net = _torch_gpt(vocab_size=65)
    idx, targets = (torch.from_numpy(_ids((8, 16), 65, seed)) for seed in (1, 2))
    with torch.no_grad():
        _, loss = net(idx, targets)
    assert abs(loss.item() - math.log(65)) < 0.3


def test_a_tiny_gpt_overfits_a_repeated_string():
    tokenizer = CharTokenizer("hello world! ")
    ids = torch.from_numpy(tokenizer.encode("hello world! " * 12))  # (156,)
    torch.manual_seed(0)
    net = GPT(GPTConfig(tokenizer.vocab_size, block_size=32, n_layer=2, n_head=2, n_embd=32))
    optimizer = torch.optim.Adam(net.parameters(), lr=3e-3)
    starts = torch.arange(0, len(ids) - 33, 4)
    x = torch.stack([ids[s : s + 32] for s in starts])  # (N, 32)
    y = torch.stack([ids[s + 1 : s + 33] for s in starts])  # (N, 32): the next character
    for _ in range(150):
        _, loss = net(x, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.1
    prompt = torch.from_numpy(tokenizer.encode("hello"))[None]
    assert tokenizer.decode(net.generate(prompt, 20, greedy=True)[0]) == "hello world! hello world!"


def test_the_keras_twin_trains_with_fit_on_windows_of_any_batch_size():
    import keras

    keras.utils.set_random_seed(0)
    model = K.GPT(K.GPTConfig(vocab_size=11, block_size=16, n_layer=1, n_head=2, n_embd=16, dropout=0.1))
    model.compile(optimizer=keras.optimizers.Adam(3e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    ids = np.tile(np.arange(11), 30)  # 0 1 ... 10 0 1 ...: the next id is always the current one + 1
    x = np.stack([ids[s : s + 16] for s in range(0, 300, 3)])  # (100, 16)
    y = np.stack([ids[s + 1 : s + 17] for s in range(0, 300, 3)])  # (100, 16)
    history = model.fit(x, y, epochs=10, batch_size=30, verbose=0)  # the last batch holds 10
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]


@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_idx_longer_than_block_size_raises_naming_it(framework):
    net, model = _twins()
    idx = _ids((1, 17))
    with pytest.raises(ValueError, match="block_size = 16"):
        _logits(net, idx) if framework == "torch" else model(idx)


def test_forward_and_generate_reject_bad_arguments_by_name():
    net = _torch_gpt()
    with pytest.raises(ValueError, match="integer"):
        net(torch.zeros(1, 4))
    with pytest.raises(ValueError, match=r"vocab_size = 40"):
        net(torch.tensor([[0, 40]]))
    with pytest.raises(ValueError, match="targets"):
        net(torch.zeros(1, 4, dtype=torch.long), torch.zeros(1, 3, dtype=torch.long))
    prompt = torch.zeros(1, 10, dtype=torch.long)
    with pytest.raises(ValueError, match=r"max_new_tokens = 7 exceed block_size = 16.*at most 6"):
        net.generate(prompt, 7)
    assert net.generate(prompt, 6, greedy=True).shape == (1, 16)
    with pytest.raises(ValueError, match="divisible"):
        GPTConfig(vocab_size=10, n_head=3)
    with pytest.raises(ValueError, match="vocab_size"):
        K.GPTConfig(vocab_size=0)


def test_generate_restores_training_mode_and_samples_reproducibly():
    net = _torch_gpt(dropout=0.1).train()
    prompt = torch.from_numpy(_ids((2, 3)))
    first = net.generate(prompt, 10, top_k=5, top_p=0.9, generator=torch.Generator().manual_seed(0))
    again = net.generate(prompt, 10, top_k=5, top_p=0.9, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(first, again)
    assert net.training


def test_char_tokenizer_round_trips_and_names_unknown_characters():
    tokenizer = CharTokenizer("hello, world")
    assert tokenizer.chars == [" ", ",", "d", "e", "h", "l", "o", "r", "w"] and tokenizer.vocab_size == 9
    ids = tokenizer.encode("hello world")
    assert ids.dtype == np.int64 and ids.tolist() == [4, 3, 5, 5, 6, 0, 8, 6, 7, 5, 2]
    assert tokenizer.decode(ids) == "hello world"
    assert tokenizer.decode(torch.from_numpy(ids)) == "hello world"
    assert tokenizer.encode("").shape == (0,) and tokenizer.decode([]) == ""
    with pytest.raises(ValueError, match=r"'!H'"):
        tokenizer.encode("Hello!")
    with pytest.raises(ValueError, match=r"\[9, -1\]"):
        tokenizer.decode([0, 9, -1])
    with pytest.raises(ValueError, match="text"):
        CharTokenizer("")


def test_char_corpus_is_split_by_document_deterministically():
    corpus, again = load_char_corpus(), load_char_corpus()
    np.testing.assert_array_equal(corpus.train, again.train)
    np.testing.assert_array_equal(corpus.val, again.val)
    assert corpus.val_titles == again.val_titles
    assert not set(corpus.train_titles) & set(corpus.val_titles)
    assert len(corpus.val_titles) == round(0.1 * (len(corpus.train_titles) + len(corpus.val_titles)))
    assert corpus.train.dtype == np.int64 and corpus.train.max() < corpus.tokenizer.vocab_size
    docs = load_text_corpus()
    assert corpus.tokenizer.decode(corpus.val) == "\n\n".join(docs[title] for title in corpus.val_titles)
    assert corpus.tokenizer.decode(corpus.train[:200]) == docs[corpus.train_titles[0]][:200]
