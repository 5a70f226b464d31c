"""The course's own checkpoints: committed files match their sha256, load, and reach the quality the chapter states."""
import dataclasses
import json

import pytest
import torch

from mmcourse.pretrained import course
from mmcourse.pretrained._files import sha256_of
from mmcourse.pretrained.course import CHECKPOINTS, CheckpointError, load_course_model, measure, meets_stated


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("name", sorted(CHECKPOINTS))
def test_committed_checkpoint_matches_its_recorded_sha256_and_fits_in_2_mb(name):
    entry = course.read_manifest()[name]
    path = course.WEIGHTS_DIR / CHECKPOINTS[name].file
    assert sha256_of(path) == entry["sha256"]
    assert path.stat().st_size == entry["bytes"] <= 2 * 1024 * 1024
    assert meets_stated(name, entry["reached"])  # what pretrain measured when it wrote the file


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CHECKPOINTS))
def test_loaded_checkpoint_reaches_the_quality_the_chapter_states(name):
    model = load_course_model(name)
    assert next(model.parameters()).dtype == torch.float32 and not model.training
    metrics = measure(name, model)
    assert meets_stated(name, metrics), f"{name} reached {metrics}, the chapter states {CHECKPOINTS[name].stated}"
    if name == "tiny_bert":  # well above always guessing the space
        assert metrics["commonest_char_baseline"] < 0.25


def test_a_changed_file_is_refused_with_the_command_that_rebuilds_it(tmp_path):
    data = (course.WEIGHTS_DIR / CHECKPOINTS["tiny_gpt"].file).read_bytes()
    changed = tmp_path / "tiny_gpt.pt"
    changed.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    with pytest.raises(CheckpointError, match=r"sha256 .* stale or corrupt; .*python -m mmcourse pretrain tiny_gpt"):
        load_course_model("tiny_gpt", changed)
    with pytest.raises(CheckpointError, match="is missing.*python -m mmcourse pretrain tiny_gpt"):
        load_course_model("tiny_gpt", tmp_path / "absent.pt")
    with pytest.raises(CheckpointError, match="unknown course checkpoint 'gpt5'"):
        load_course_model("gpt5")


def test_pretrain_to_another_path_writes_a_loadable_float16_file_and_leaves_the_manifest(tmp_path, monkeypatch):
    tiny = dataclasses.replace(CHECKPOINTS["tiny_gpt"], config={"vocab_size": 103, "block_size": 16, "n_layer": 1,
                                                                 "n_head": 2, "n_embd": 16},
                               recipe={"objective": "causal", "steps": 3, "batch_size": 4, "lr": 1e-3, "seed": 0})
    monkeypatch.setitem(CHECKPOINTS, "tiny_gpt", tiny)
    monkeypatch.setitem(course.EVAL, "n_batches", 1)
    manifest = course.MANIFEST.read_text()
    entry = course.pretrain("tiny_gpt", tmp_path / "out.pt", progress=False)
    assert course.MANIFEST.read_text() == manifest
    assert entry["sha256"] == sha256_of(tmp_path / "out.pt") and entry["steps"] == 3
    saved = torch.load(tmp_path / "out.pt", weights_only=True)
    assert saved["config"] == tiny.config
    assert {v.dtype for v in saved["state_dict"].values()} == {torch.float16}
    monkeypatch.setattr(course, "read_manifest", lambda: {"tiny_gpt": entry})
    assert load_course_model("tiny_gpt", tmp_path / "out.pt").wte.weight.dtype == torch.float32
    assert json.loads(manifest)  # the committed manifest is valid JSON


def test_the_pretrain_command_names_the_checkpoints_it_knows(capsys):
    from mmcourse.__main__ import main

    with pytest.raises(SystemExit):
        main(["pretrain", "gpt5"])
    assert "tiny_gpt, tiny_bert, tiny_gpt_instruct" in capsys.readouterr().err


def test_ctc_digits_states_chapter_12s_bounds_for_both_decoders():
    stated = CHECKPOINTS["ctc_digits"].stated
    for decoder in ("greedy", "beam"):
        assert stated[f"{decoder}_exact_match"] == (">=", 0.93)
        assert stated[f"{decoder}_digit_error_rate"] == ("<=", 0.03)
    assert CHECKPOINTS["ctc_digits"].extra["n_test"] == 1000  # scored on the chapter's 1,000 test strings


def test_feedback_checkpoints_start_from_tiny_vlm_and_state_chapter_13s_kl_bound():
    for name in ("tiny_vlm_rlhf", "tiny_vlm_dpo"):
        checkpoint = CHECKPOINTS[name]
        assert checkpoint.base == "tiny_vlm" and checkpoint.config == CHECKPOINTS["tiny_vlm"].config
        assert checkpoint.stated["kl_to_tiny_vlm"] == ("<=", 10.0)  # the bound chapter 13 prints and asserts
        op, gain = checkpoint.stated["held_out_rule_gain"]
        assert op == ">=" and gain > 0  # strictly better than tiny_vlm on held-out scenes
        reached = course.read_manifest()[name]["reached"]
        assert reached["held_out_rule_gain"] >= 2.5 * reached["gain_standard_error"]  # ... and not by chance
    assert CHECKPOINTS["tiny_vlm_hacked"].recipe["kl_weight"] == 0.0
    assert CHECKPOINTS["tiny_vlm_hacked"].stated["held_out_rule_gain"][0] == "<="  # the proxy reward is gamed
    assert CHECKPOINTS["tiny_vlm_hacked"].stated["kl_to_tiny_vlm"] == (">=", 10.0)  # ... far outside the bound


def test_vqa_net_states_chapter_14s_accuracy_well_above_the_question_prior():
    entry = course.read_manifest()["vqa_net"]
    assert CHECKPOINTS["vqa_net"].stated == {"test_accuracy": (">=", 0.78)}
    assert entry["reached"]["test_accuracy"] >= entry["reached"]["question_prior"] + 0.3
    assert CHECKPOINTS["vqa_net"].config["vocab_size"] == 29  # load_vqa()'s vocabulary, built on its train split
