"""Chapter 14's exports equal eager torch on a batch size they were not exported with; timing and bf16 helpers."""
import numpy as np
import pytest
import torch

from mmcourse.experiments import deployment as dep

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def batch(small_vqa):
    """Seven test pairs: a batch size none of the exports was traced with (they use 2)."""
    return dep.nchw(small_vqa.test.images[:7]), small_vqa.test.question_ids[:7]


@pytest.fixture(scope="module")
def eager(small_vqa_net, batch):
    return dep.torch_predictor(dep.ServableVQA(small_vqa_net).eval())(*batch)


@pytest.fixture(scope="module")
def onnx_path(small_vqa_net, small_vqa, tmp_path_factory):
    folder = tmp_path_factory.mktemp("onnx")
    return dep.export_onnx(dep.ServableVQA(small_vqa_net), dep.example_inputs(small_vqa.test), folder / "m.onnx")


def test_servable_graph_equals_vqanet_with_packed_sequences(small_vqa_net, small_vqa, batch, eager):
    lengths = torch.from_numpy(small_vqa.test.lengths[:7])
    with torch.no_grad():
        packed = small_vqa_net(torch.from_numpy(batch[0]), torch.from_numpy(batch[1]), lengths).numpy()
    assert eager.shape == (7, 17) and dep.max_abs_diff(eager, packed) <= 1e-5


def test_training_is_seeded_and_lowers_the_loss(small_vqa):
    first, losses = dep.train_vqa_net(small_vqa.train, len(small_vqa.vocab), steps=20, batch_size=32, progress=False)
    second, _ = dep.train_vqa_net(small_vqa.train, len(small_vqa.vocab), steps=20, batch_size=32, progress=False)
    assert np.mean(losses[-5:]) < np.mean(losses[:5])
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values()))


def test_torchscript_equals_eager_on_another_batch_size(small_vqa_net, small_vqa, batch, eager, tmp_path):
    path = dep.export_torchscript(dep.ServableVQA(small_vqa_net), dep.example_inputs(small_vqa.test), tmp_path / "m.ts")
    assert dep.max_abs_diff(dep.torch_predictor(torch.jit.load(str(path)))(*batch), eager) <= 1e-5


def test_torch_export_keeps_the_batch_dimension_symbolic(small_vqa_net, small_vqa, batch, eager, tmp_path):
    path = dep.export_program(dep.ServableVQA(small_vqa_net), dep.example_inputs(small_vqa.test), tmp_path / "m.pt2")
    program = torch.export.load(str(path))
    batch_size = program.graph_module.graph.find_nodes(op="placeholder")[-2].meta["val"].shape[0]
    assert not isinstance(batch_size, int)  # a SymInt, not the traced 2
    assert dep.max_abs_diff(dep.torch_predictor(program.module())(*batch), eager) <= 1e-5


def test_onnx_runtime_equals_eager_on_another_batch_size(onnx_path, batch, eager):
    session = dep.onnx_session(onnx_path, threads=1)
    assert [i.name for i in session.get_inputs()] == ["images", "question_ids"]
    assert isinstance(session.get_inputs()[0].shape[0], str)  # a named dynamic dimension
    assert dep.max_abs_diff(dep.onnx_predictor(session)(*batch), eager) <= 1e-5


def test_int8_model_is_smaller_and_close(onnx_path, batch, eager):
    quantized = dep.quantize_onnx(onnx_path, onnx_path.with_name("m.int8.onnx"))
    assert not onnx_path.with_name("m.int8.plain.onnx").exists()
    assert dep.file_size(quantized) < 0.4 * dep.file_size(onnx_path)
    logits = dep.onnx_predictor(dep.onnx_session(quantized))(*batch)
    assert 0 < dep.max_abs_diff(logits, eager) < 0.1 * np.abs(eager).max()


def test_example_with_batch_one_is_refused(small_vqa):
    with pytest.raises(ValueError, match="a batch of 1 pins the dimension"):
        dep.example_inputs(small_vqa.test, batch=1)


def test_keras_twin_and_both_keras_exports_equal_torch(small_vqa_net, batch, eager, tmp_path):
    from mmcourse.env import import_tensorflow

    tf = import_tensorflow()
    import keras

    from mmcourse.keras_models.vqa import build_vqa_model, copy_weights_from_torch

    model = build_vqa_model(vocab_size=small_vqa_net.question_embedding.num_embeddings)
    copy_weights_from_torch(model, small_vqa_net)
    probs = torch.softmax(torch.from_numpy(eager), dim=1).numpy()
    inputs = dep.keras_inputs(*batch)
    assert dep.max_abs_diff(model(inputs, training=False), probs) <= 1e-5
    keras_path, saved_path = dep.export_keras(model, tmp_path)
    assert dep.max_abs_diff(keras.saving.load_model(keras_path)(inputs, training=False), probs) <= 1e-5
    loaded = tf.saved_model.load(str(saved_path))  # keep a reference: serve() reads its variables
    served = loaded.serve(inputs)
    assert dep.max_abs_diff(served, probs) <= 1e-5


def test_copy_weights_refuses_a_different_twin(small_vqa_net):
    from mmcourse.keras_models.vqa import build_vqa_model, copy_weights_from_torch

    with pytest.raises(ValueError, match="build both with the same arguments"):
        other = build_vqa_model(vocab_size=small_vqa_net.question_embedding.num_embeddings, lstm_units=8)
        copy_weights_from_torch(other, small_vqa_net)


def test_percentiles_are_numpys_linear_ones():
    assert dep.percentiles([4.0, 1.0, 3.0, 2.0]) == pytest.approx([2.5, 3.85])
    with pytest.raises(ValueError, match="non-empty 1-D"):
        dep.percentiles([])


def test_latency_table_has_a_row_per_predictor_thread_count_and_batch(small_vqa_net, small_vqa):
    makers = {"eager": lambda threads: dep.torch_predictor(dep.ServableVQA(small_vqa_net).eval())}
    rows = dep.latency_table(makers, small_vqa.test, batches=(1, 4), threads=(1, 2), repeats={1: 3, 4: 3},
                             progress=False)
    assert [(r.name, r.threads, r.batch) for r in rows] == [("eager", t, b) for t in (1, 2) for b in (1, 4)]
    assert all(0 < r.p50_ms <= r.p95_ms for r in rows)
    assert torch.get_num_threads() == 1  # restored


def test_bf16_autocast_is_close_to_float32(small_vqa_net, small_vqa):
    report = dep.autocast_report(dep.ServableVQA(small_vqa_net), small_vqa.test, torch.bfloat16, torch.device("cpu"))
    assert 0 < report["max_abs_logit_diff"] < 0.1
    assert report["agreement"] >= 0.9 and set(report) == {"max_abs_logit_diff", "accuracy_fp32", "accuracy_bfloat16",
                                                          "agreement"}


def test_bf16_autocast_falls_back_to_pytorchs_kernels_where_onednn_has_no_bf16(small_vqa_net, small_vqa, monkeypatch):
    assert dep.onednn_has(torch.float32)
    monkeypatch.setattr(dep, "onednn_has", lambda dtype: False)  # as on an AVX2 CPU, whatever this one is
    report = dep.autocast_report(dep.ServableVQA(small_vqa_net), small_vqa.test, torch.bfloat16, torch.device("cpu"))
    assert 0 < report["max_abs_logit_diff"] < 0.1 and report["agreement"] >= 0.9
    assert torch.backends.mkldnn.enabled  # restored


def test_max_abs_diff_refuses_different_shapes():
    with pytest.raises(ValueError, match="same shape"):
        dep.max_abs_diff(np.zeros((2, 3)), np.zeros((3, 2)))


def test_matches_is_absolute_up_to_one_and_relative_above():
    assert dep.matches(np.array([0.5 + 9e-6]), np.array([0.5]))
    assert not dep.matches(np.array([0.5 + 2e-5]), np.array([0.5]))
    assert dep.matches(np.array([70.0 + 5e-4]), np.array([70.0]))  # 70 * 1e-5 = 7e-4
    assert not dep.matches(np.array([70.0 + 1e-3]), np.array([70.0]))
