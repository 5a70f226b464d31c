"""Chapter 14's service: every bad input gets a 4xx that says what is wrong; a real uvicorn process survives a load
test with no request lost and every answer equal to eager torch's, and is gone afterwards."""
import base64
import json
import os

import cv2
import numpy as np
import pytest

from mmcourse.data.shape_scenes import ANSWERS
from mmcourse.experiments import deployment as dep
from mmcourse.serving import create_app, encode_png, serve

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def servable(small_vqa_net):
    return dep.ServableVQA(small_vqa_net).eval()


@pytest.fixture(scope="module")
def client(servable, small_vqa):
    from fastapi.testclient import TestClient

    with TestClient(create_app(dep.torch_predictor(servable), small_vqa.vocab.itos)) as client:
        yield client


@pytest.fixture(scope="module")
def good(small_vqa):
    return {"image": encode_png(small_vqa.test.images[0]), "question": small_vqa.test.questions[0]}


def _png(image: np.ndarray) -> str:
    return base64.b64encode(cv2.imencode(".png", image)[1].tobytes()).decode()


def test_a_good_request_gets_the_eager_answer_and_a_latency(client, good, servable, small_vqa):
    response = client.post("/predict", json=good)
    assert response.status_code == 200
    expected = dep.torch_predictor(servable)(dep.nchw(small_vqa.test.images[:1]), small_vqa.test.question_ids[:1])[0]
    assert response.json()["answer"] == ANSWERS[int(np.argmax(expected))]
    assert response.json()["latency_ms"] > 0
    assert client.get("/health").json() == {"status": "ok"}


def test_the_png_round_trip_is_lossless(small_vqa):
    from mmcourse.serving import decode_image

    assert np.array_equal(decode_image(encode_png(small_vqa.test.images[0])), small_vqa.test.images[0])


BAD_IMAGES = [
    ("not base64 at all!", "not valid base64"),
    (base64.b64encode(b"GIF89a this is a gif").decode(), "is not a PNG"),
    (base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20).decode(), "could not be decoded"),
    (_png(np.zeros((64, 48, 3), np.uint8)), "must be 32 x 32 pixels, got 48 x 64"),
    (_png(np.zeros((32, 32), np.uint8)), "3 channels"),
    (_png(np.zeros((32, 32, 4), np.uint8)), "got 4 channel"),
]
BAD_QUESTIONS = [
    ("", "question is empty"),
    ("  ? ", "question is empty"),
    ("is there a red circle at the top left", "has 9 words; the model reads at most 8"),
    ("what " * 60, "characters long; at most 200"),
    ("what colour is the purple hexagon?", "unknown word(s): 'purple', 'hexagon'"),
]


@pytest.mark.parametrize(("image", "message"), BAD_IMAGES, ids=[m for _, m in BAD_IMAGES])
def test_a_bad_image_gets_422_saying_what_is_wrong(client, good, image, message):
    response = client.post("/predict", json=good | {"image": image})
    assert response.status_code == 422 and message in response.json()["detail"]


@pytest.mark.parametrize(("question", "message"), BAD_QUESTIONS, ids=[m for _, m in BAD_QUESTIONS])
def test_a_bad_question_gets_422_saying_what_is_wrong(client, good, question, message):
    response = client.post("/predict", json=good | {"question": question})
    assert response.status_code == 422 and message in response.json()["detail"]


def test_a_question_of_exactly_eight_words_is_answered(client, good):
    assert client.post("/predict", json=good | {"question": "is there a circle at the top left"}).status_code == 200


@pytest.mark.parametrize(("body", "message"), [
    ("{not json", "the body is not valid JSON"),
    ("[1, 2]", "body: Input should be a valid dictionary"),
    ('{"image": "abc"}', "field 'question' is missing"),
    ('{"image": "abc", "question": 7}', "field 'question': Input should be a valid string"),
    ('{"image": "abc", "question": "hi", "extra": 1}', "field 'extra': Extra inputs are not permitted"),
], ids=["bad-json", "a-list", "missing-field", "number", "unknown-field"])
def test_wrong_json_gets_422_with_a_readable_message(client, body, message):
    response = client.post("/predict", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422 and message in response.json()["detail"]


def test_the_service_still_answers_after_every_bad_request(client, good):
    for image, _ in BAD_IMAGES:
        client.post("/predict", json=good | {"image": image})
    assert client.post("/predict", json=good).status_code == 200


def test_real_server_under_load_loses_nothing_and_answers_like_eager_torch(servable, small_vqa, tmp_path):
    path = dep.export_onnx(servable, dep.example_inputs(small_vqa.test), tmp_path / "vqa.onnx")
    n = 20
    payloads = [{"image": encode_png(image), "question": q} for image, q in zip(small_vqa.test.images[:n],
                                                                                small_vqa.test.questions[:n])]
    logits = dep.torch_predictor(servable)(dep.nchw(small_vqa.test.images[:n]), small_vqa.test.question_ids[:n])
    expected = [ANSWERS[i] for i in logits.argmax(axis=1)]
    with serve(path, small_vqa.vocab.itos, threads=1, timeout=60) as server:
        report = dep.load_test(f"{server.url}/predict", payloads, expected, n_requests=200, concurrency=4,
                               progress=False)
        import httpx

        bad = httpx.post(f"{server.url}/predict", content="{oops", headers={"content-type": "application/json"},
                         timeout=10)
        assert bad.status_code == 422 and "not valid JSON" in bad.json()["detail"]
        assert httpx.get(f"{server.url}/health", timeout=10).status_code == 200
        pid = server.process.pid
    assert (report.sent, report.ok, report.lost, report.wrong) == (200, 200, 0, 0)
    assert report.throughput_rps > 0 and 0 < report.p50_ms <= report.p95_ms
    assert server.process.returncode is not None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_a_server_that_cannot_start_is_reported_and_left_behind_nowhere(tmp_path, small_vqa):
    missing = tmp_path / "no_such_model.onnx"
    with pytest.raises(RuntimeError, match="exited with code"):
        with serve(missing, small_vqa.vocab.itos, timeout=60):
            pass  # pragma: no cover - never reached


def test_load_test_counts_a_refused_connection_as_lost():
    from mmcourse.env import free_port

    report = dep.load_test(f"http://127.0.0.1:{free_port()}/predict", [{"image": "", "question": ""}], ["red"],
                           n_requests=3, concurrency=2, timeout=2, progress=False)
    assert (report.sent, report.ok, report.lost, report.wrong) == (3, 0, 3, 0)
