"""The fusion benchmark: modality dropout, batching, model factory, summaries and a small end-to-end run."""
import dataclasses

import matplotlib
import numpy as np
import pytest
import torch

from mmcourse.experiments import fusion_bench as fb
from mmcourse.torch_models import fusion as T

TINY = dataclasses.replace(fb.BenchConfig(), image_epochs=1, audio_epochs=1, head_epochs=2, image_units=8,
                           audio_units=8, fusion_dim=8, d_model=8)


TINY_HEADS = dataclasses.replace(fb.BenchConfig(), head_epochs=3)


def _features(n=40, seed=0, dims=(6, 5)):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    inputs = tuple((2 * rng.normal(size=(10, d))[labels] + rng.normal(size=(n, d))).astype(np.float32)
                   for d in dims)  # a class mean per modality, plus noise
    return fb.Features(inputs={s: inputs for s in ("train", "val", "test")},
                       labels={s: labels for s in ("train", "val", "test")})


# -- modality dropout and missing modalities --------------------------------------------------------------


def test_dropout_mask_drops_where_u_is_below_p_and_never_drops_everything():
    u = np.array([[0.1, 0.9], [0.8, 0.2], [0.1, 0.3], [0.6, 0.7]])
    np.testing.assert_array_equal(fb.modality_dropout_mask(u, 0.5), [[0, 1], [1, 0], [1, 1], [1, 1]])
    assert fb.modality_dropout_mask(u, 0.5).dtype == np.float32
    np.testing.assert_array_equal(fb.modality_dropout_mask(u, 0.0), np.ones((4, 2)))


def test_dropout_mask_drops_each_modality_at_about_rate_p():
    mask = fb.modality_dropout_mask(np.random.default_rng(0).random((20000, 2)), 0.3)
    # dropped alone: p (1 - p) = 0.21 per modality; both dropped (p^2 = 0.09) is turned into both kept
    np.testing.assert_allclose(1 - mask.mean(axis=0), [0.21, 0.21], atol=0.01)
    assert mask.sum(axis=1).min() == 1


def test_dropout_mask_rejects_bad_arguments():
    with pytest.raises(ValueError, match="p must be in"):
        fb.modality_dropout_mask(np.zeros((2, 2)), 1.0)
    with pytest.raises(ValueError, match=r"u must be a float array of shape \(N, M\)"):
        fb.modality_dropout_mask(np.zeros(3), 0.5)


def test_remove_modality_zeros_the_missing_one():
    image, audio = np.ones((3, 2)), np.full((3, 4), 2.0)
    kept_image, removed_audio = fb.remove_modality([image, audio], "image only")
    np.testing.assert_array_equal(kept_image, image)
    np.testing.assert_array_equal(removed_audio, np.zeros((3, 4)))
    assert all(np.array_equal(a, b) for a, b in zip(fb.remove_modality([image, audio], "both"), [image, audio]))
    with pytest.raises(ValueError, match="condition must be one of"):
        fb.remove_modality([image, audio], "neither")


def test_batches_cover_every_example_once_per_pass_and_repeat_for_a_seed():
    x, y = np.arange(10, dtype=np.float32)[:, None], np.arange(10)
    batches = fb.Batches([x], y, batch_size=4, shuffle=True, seed=3)
    first = [b for _, b in batches]
    assert [len(b) for b in first] == [4, 4, 2]
    assert sorted(torch.cat(first).tolist()) == list(range(10))
    assert not torch.equal(torch.cat(first), torch.cat([b for _, b in batches]))  # reshuffled each pass
    again = fb.Batches([x], y, batch_size=4, shuffle=True, seed=3)
    assert torch.equal(torch.cat(first), torch.cat([b for _, b in again]))
    (xs,), labels = next(iter(fb.Batches([x], y, batch_size=10)))
    assert torch.equal(xs[:, 0].long(), labels)  # inputs stay paired with their labels


def test_batches_with_dropout_zero_whole_modalities():
    xs = [np.ones((400, 3), np.float32), np.ones((400, 2), np.float32)]
    (a, b), _ = next(iter(fb.Batches(xs, np.zeros(400, np.int64), batch_size=400, seed=0, drop_p=0.5)))
    kept_a, kept_b = a.sum(dim=1), b.sum(dim=1)
    assert set(kept_a.tolist()) == {0.0, 3.0} and set(kept_b.tolist()) == {0.0, 2.0}
    assert ((kept_a > 0) | (kept_b > 0)).all() and (kept_a == 0).sum() > 50


def test_batches_reject_inputs_of_another_length():
    with pytest.raises(ValueError, match="one row per label"):
        fb.Batches([np.zeros((3, 2)), np.zeros((4, 2))], np.zeros(3, np.int64), batch_size=2)


# -- models --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", fb.METHODS)
def test_make_fusion_model_builds_the_named_operator_in_both_frameworks(method):
    expected = {"concat": "ConcatFusion", "weighted_sum": "WeightedSumFusion", "late_sum_logits": "LateFusion",
                "late_mean_probs": "LateFusion", "gated": "GatedFusion", "tensor": "TensorFusion",
                "low_rank": "LowRankFusion", "cross_attention": "CrossAttentionFusion"}[method]
    torch_model = fb.make_fusion_model(method, "torch", [6, 5], TINY)
    keras_model = fb.make_fusion_model(method, "keras", [6, 5], TINY)
    assert type(torch_model.fusion).__name__ == type(keras_model.fusion).__name__ == expected
    assert sum(p.numel() for p in torch_model.parameters()) == keras_model.count_params()
    if method.startswith("late"):
        assert torch_model.fusion.combine == method.removeprefix("late_")


def test_make_fusion_model_rejects_unknown_names():
    with pytest.raises(ValueError, match="method must be one of"):
        fb.make_fusion_model("sum", "torch", [6, 5])
    with pytest.raises(ValueError, match="framework must be one of"):
        fb.make_fusion_model("concat", "jax", [6, 5])


def test_torch_head_learns_and_repeats_exactly_for_a_seed():
    features = _features(n=200)
    model, first = fb.train_head_torch("concat", features, seed=1, config=dataclasses.replace(TINY, head_epochs=20))
    _, second = fb.train_head_torch("concat", features, seed=1, config=dataclasses.replace(TINY, head_epochs=20))
    assert isinstance(model, T.FusionClassifier)
    assert first.accuracy == second.accuracy > 0.3  # chance is 0.1
    assert first.n_params == sum(p.numel() for p in model.parameters()) and first.seconds > 0


def test_keras_head_learns():
    _, result = fb.train_head_keras("late_sum_logits", _features(n=200), seed=1,
                                    config=dataclasses.replace(TINY, head_epochs=20))
    assert result.framework == "keras" and result.accuracy > 0.3


# -- summaries ----------------------------------------------------------------------------------------


def _results():
    rows = []
    for seed, (image, audio, concat, late) in enumerate([(0.5, 0.48, 0.76, 0.74), (0.52, 0.5, 0.74, 0.72)]):
        for method, accuracy in (("image", image), ("audio", audio), ("concat", concat), ("late_sum_logits", late)):
            rows.append(fb.Result(method, "torch", seed, accuracy, 100, 1.5))
    return rows


def test_summarise_averages_over_seeds_in_percent():
    summaries = fb.summarise(_results())
    concat = next(s for s in summaries if s.method == "concat")
    assert concat.mean == pytest.approx(75.0) and concat.std == pytest.approx(1.0) and concat.n_seeds == 2
    assert [s.method for s in summaries] == ["image", "audio", "concat", "late_sum_logits"]
    with pytest.raises(ValueError, match="results is empty"):
        fb.summarise([])


def test_best_gain_compares_the_best_fusion_with_the_best_single_modality():
    assert fb.best_gain(fb.summarise(_results()), "torch") == ("image", pytest.approx(51.0), "concat",
                                                                pytest.approx(75.0))


def test_format_table_has_a_row_per_method_and_a_dash_where_a_framework_is_missing():
    results = _results() + [fb.Result("concat", "keras", 0, 0.7, 100, 2.0)]
    lines = fb.format_table(fb.summarise(results)).splitlines()
    assert lines[0].split()[:4] == ["method", "torch", "acc", "%"]
    assert len(lines) == 2 + 4
    assert lines[2].startswith("image") and lines[2].rstrip().endswith("-")
    assert "75.0 ± 1.0" in lines[4] and "70.0 ± 0.0" in lines[4]


def test_plots_return_figures():
    matplotlib.use("Agg")
    assert fb.plot_summary(fb.summarise(_results())).axes
    scores = {(m, p): {c: 0.5 for c in fb.CONDITIONS} for m in ("concat", "gated") for p in (0.0, 0.5)}
    assert len(fb.plot_missing(scores).axes) == 2
    assert len(fb.plot_missing(scores, unimodal={"image": 0.5, "audio": 0.4}).axes[0].lines) == 2


# -- end to end ----------------------------------------------------------------------------------------


@pytest.mark.slow
def test_one_seed_of_the_benchmark_fuses_far_above_either_modality_in_both_frameworks():
    bench = fb.run_benchmark(seeds=(0,), methods=("concat", "late_sum_logits"), progress=False)
    accuracy = {(r.method, r.framework): r.accuracy for r in bench.results}
    assert set(accuracy) == {(m, fw) for m in ("image", "audio", "concat", "late_sum_logits") for fw in fb.FRAMEWORKS}
    for framework in fb.FRAMEWORKS:
        single = max(accuracy["image", framework], accuracy["audio", framework])
        assert 0.4 < single < 0.6, (framework, single)
        assert accuracy["concat", framework] > single + 0.18, (framework, accuracy)
    features = bench.features["torch", 0]
    assert features.input_dims == [32, 32] and features.inputs["test"][0].shape == (1000, 32)
    scores = fb.missing_modalities(features, methods=("concat",), config=TINY_HEADS, progress=False)
    assert set(scores) == {("concat", 0.0), ("concat", 0.5)}
    for condition in fb.CONDITIONS:
        assert 0.3 < scores["concat", 0.5][condition] < 0.85, condition


def test_run_benchmark_rejects_unknown_methods_and_frameworks():
    with pytest.raises(ValueError, match="method must be one of"):
        fb.run_benchmark(methods=("mean",))
    with pytest.raises(ValueError, match="frameworks must be drawn from"):
        fb.run_benchmark(frameworks=("jax",))
