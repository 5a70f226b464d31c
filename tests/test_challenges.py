"""Challenges (chapter 15): accuracy grows with labels, a clip beats a frame, every course model counted and timed."""
import pytest
import torch

from mmcourse.experiments import challenges
from mmcourse.pretrained.course import CHECKPOINTS, KINDS

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_accuracy_rises_with_the_number_of_labels():
    scores = challenges.label_curve((20, 100, 2000), steps=100, progress=False)
    assert list(scores) == [20, 100, 2000]
    assert scores[20] < scores[100] < scores[2000]
    assert scores[20] <= 0.65 and scores[2000] >= 0.85


def test_label_curve_refuses_more_labels_than_there_are():
    with pytest.raises(ValueError, match="counts"):
        challenges.label_curve((10, 5000), progress=False)


def test_the_full_clip_in_order_beats_one_frame_and_the_averaged_frames():
    results = challenges.video_study(n_train=600, n_test=300, steps=150, progress=False)
    single, mean, gru = (results[name]["accuracy"] for name in challenges.VIDEO_VARIANTS)
    assert single <= 0.3  # chance is 1/6: the middle frame carries no class
    assert 0.35 <= mean <= 0.65  # axis and size change are seen, direction is not
    assert gru >= single + 0.5 and gru >= mean + 0.2
    assert [results[name]["frames"] for name in challenges.VIDEO_VARIANTS] == [1, 7, 7]
    gru_parameters = 3 * (2 * 32 * 32 + 2 * 32)  # 3 gates, input and recurrent weights and biases, E = 32
    assert results["frames in order (GRU)"]["parameters"] - results["single frame"]["parameters"] == gru_parameters


def test_every_course_model_gets_example_inputs_it_accepts():
    for name, checkpoint in CHECKPOINTS.items():
        model = KINDS[checkpoint.kind].build(checkpoint.config).eval()
        with torch.no_grad():
            model(*challenges.example_inputs(checkpoint.kind, checkpoint.config, model, batch=2))


def test_compute_table_counts_every_checkpoint_and_times_it():
    rows = challenges.compute_table(batch=2, progress=False)
    assert [row["name"] for row in rows] == list(CHECKPOINTS)
    for row in rows:
        model = KINDS[CHECKPOINTS[row["name"]].kind].build(CHECKPOINTS[row["name"]].config)
        assert row["parameters"] == sum(p.numel() for p in model.parameters()) > 0
        assert row["forward_ms"] > 0
        assert row["chapter"] in challenges.chapter_times() or row["chapter_s"] is None
    assert challenges.plot_compute(rows).axes[0].get_xscale() == "log"


def test_chapter_times_are_read_from_the_benchmark_table(tmp_path):
    table = tmp_path / "times.md"
    table.write_text("| notebook | seconds |\n|---|---|\n| 00_environment | 15.1 |\n| 12_audio | 63.0 |\n")
    assert challenges.chapter_times(table) == {"00": 15.1, "12": 63.0}
    assert {"00", "08", "13"} <= set(challenges.chapter_times())


def test_forward_ms_restores_the_thread_count():
    before = torch.get_num_threads()
    challenges.forward_ms(torch.nn.Linear(4, 2), (torch.zeros(1, 4),), threads=1)
    assert torch.get_num_threads() == before


def test_unknown_kind_has_no_example_inputs():
    with pytest.raises(ValueError, match="no example inputs"):
        challenges.example_inputs("hologram", {}, torch.nn.Linear(1, 1))
