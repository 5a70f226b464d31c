"""Chapter 14 exercises accept correct answers in several styles, reject realistic mistakes, and match the libraries."""
import json

import numpy as np
import pytest

from exercise_cells import wrong_message as _message
from mmcourse.exercises import ch14


def test_q1_by_hand_with_linear_interpolation():
    times = np.array([[4.0], [1.0], [3.0], [2.0]])  # sorted 1 2 3 4: p50 at rank 1.5, p95 at rank 2.85
    assert ch14.q1.reference(times)[:, 0].tolist() == pytest.approx([2.5, 3.85])


def test_q1_accepts_a_hand_written_interpolation():
    def by_hand(times):
        x = np.sort(times, axis=0)
        h = (len(x) - 1) * np.array([50, 95]) / 100
        low = np.floor(h).astype(int)
        high = np.minimum(low + 1, len(x) - 1)
        return x[low] + (h - low)[:, None] * (x[high] - x[low])

    assert ch14.q1.evaluate(by_hand).correct


def test_q1_matches_the_chapters_percentiles():
    from mmcourse.experiments.deployment import percentiles

    times = ch14.q1.cases()[0][0]
    assert np.allclose(ch14.q1.reference(times)[:, 1], percentiles(times[:, 1]))


def test_q2_matches_onnx_runtimes_own_scale_and_zero_point():
    from onnxruntime.quantization.quant_utils import compute_scale_zp

    for (x,) in ch14.q2.cases():
        zero_point, scale = compute_scale_zp(np.float32(np.min(x)), np.float32(np.max(x)), np.uint8(0), np.uint8(255))
        mine = ch14.q2.reference(x)
        assert mine[1] == int(zero_point) and mine[0] == pytest.approx(float(scale), rel=1e-6)


def test_q2_round_trip_keeps_zero_exact_and_error_under_half_a_step():
    x = ch14.q2.cases()[0][0]
    scale, zero_point = ch14.q2.reference(x)
    def quantize(r):
        return np.clip(np.round(r / scale) + zero_point, 0, 255)

    q = quantize(x)
    assert (quantize(0.0) - zero_point) * scale == 0.0
    assert np.max(np.abs((q - zero_point) * scale - x)) <= scale / 2 + 1e-12


def test_q2_rejects_a_fractional_zero_point_and_a_list():
    assert "integer" in _message(ch14.q2, lambda x: (ch14.q2.reference(x)[0], ch14.q2.reference(x)[1] + 0.4))
    assert "should be a tuple" in _message(ch14.q2, lambda x: list(ch14.q2.reference(x)))


def test_q3_equals_one_big_batchs_mean_gradient():
    rng = np.random.default_rng(0)
    per_example = rng.normal(size=(30, 4))  # gradient of each example's loss
    sizes = [20, 7, 3]
    chunks = np.split(per_example, np.cumsum(sizes)[:-1])
    got = ch14.q3.reference([c.mean(axis=0) for c in chunks], sizes)
    assert np.allclose(got, per_example.mean(axis=0))


def test_q4_by_hand():
    assert ch14.q4.reference('{"image": "x", "question": "is there a circle"}') == (200, "ok")
    assert ch14.q4.reference("{oops")[0] == 400
    assert ch14.q4.reference(json.dumps({"image": "x", "question": ""}))[0] == 422


def test_q4_accepts_other_wording_and_rejects_a_silent_message():
    def reworded(body, max_words=8):
        status, message = ch14.q4.reference(body, max_words)
        return status, message.upper() + " (please fix)"

    assert ch14.q4.evaluate(reworded).correct
    assert "should say what is wrong" in _message(
        ch14.q4, lambda body, max_words=8: (ch14.q4.reference(body, max_words)[0], "error"))
    assert "return a tuple of 2 items (status, message)" in _message(ch14.q4, lambda body, max_words=8: 200)
    assert "status should be an int" in _message(ch14.q4, lambda body, max_words=8: ("200", "ok"))


def test_q4_agrees_with_the_service_on_what_it_refuses():
    from fastapi.testclient import TestClient

    from mmcourse.serving import create_app, encode_png

    words = ["<pad>", "<unk>", "is", "there", "a", "circle"]
    app = create_app(lambda images, ids: np.eye(17)[[0] * len(images)], words)
    image = encode_png(np.zeros((32, 32, 3)))
    with TestClient(app) as client:
        for body in ("{oops", json.dumps({"image": image}), json.dumps({"image": image, "question": ""}),
                     json.dumps({"image": image, "question": "is there a circle"})):
            status = client.post("/predict", content=body, headers={"content-type": "application/json"}).status_code
            assert (status == 200) == (ch14.q4.reference(body)[0] == 200)
