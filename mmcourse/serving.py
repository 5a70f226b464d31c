"""Chapter 14's VQA service: a FastAPI app that checks every input, and a uvicorn process started and always stopped.

    POST /predict  {"image": "<base64 of a 32 x 32 RGB PNG>", "question": "what colour is the circle?"}
        200 {"answer": "red", "latency_ms": 0.41}
        422 {"detail": "<what is wrong>"}   bad JSON, a missing field, not a PNG, wrong size, empty,
                                              over-long or unknown words: never a 500, never a dead server
    GET /health    200 {"status": "ok"}

The image travels as a base64 PNG, not a nested list of numbers: it is what
a browser or phone sends, it is lossless (the model sees the pixels it was
trained on), and a 32 x 32 scene is about 0.3 KB instead of ~20 KB of JSON
digits. The app takes any predictor ``(images (B, 3, H, W) float32,
question_ids (B, L) int64) -> logits (B, A)``; the process that
:func:`serve` starts runs an ONNX Runtime session: no torch in the server,
a fixed thread count, and the very file whose parity with eager torch the
chapter tests.

    python -m mmcourse.serving --model vqa.onnx --words words.json --port 8000 [--threads 1]

Importing this module imports pydantic, but neither torch nor ONNX Runtime.
"""
from __future__ import annotations

import argparse
import base64
import binascii
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict

from mmcourse.data.shape_scenes import ANSWERS
from mmcourse.env import free_port
from mmcourse.text import tokenize

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_QUESTION_CHARS = 200  # checked before tokenising, so a megabyte of text costs nothing
Predictor = Callable[[np.ndarray, np.ndarray], np.ndarray]


class RequestError(ValueError):
    """A request the service refuses: ``status`` (4xx) and a message that says what is wrong."""

    def __init__(self, message: str, status: int = 422):
        super().__init__(message)
        self.status = status
        self.message = message


def encode_png(image: np.ndarray) -> str:
    """An RGB image (H, W, 3), float in [0, 1] or uint8, -> base64 text of its PNG, as a client sends it."""
    import cv2

    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"image must have shape (H, W, 3), got {image.shape}")
    if image.dtype != np.uint8:
        image = np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)
    ok, png = cv2.imencode(".png", image[..., ::-1])  # OpenCV writes BGR
    if not ok:
        raise ValueError("OpenCV could not encode the image as PNG")
    return base64.b64encode(png.tobytes()).decode("ascii")


def decode_image(text: str, size: int = 32) -> np.ndarray:
    """Base64 text of an RGB PNG -> image (size, size, 3) float32 in [0, 1]; a ``RequestError`` says what is wrong."""
    import cv2

    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise RequestError("image is not valid base64 text; send the PNG file's bytes base64-encoded") from None
    if not data.startswith(PNG_SIGNATURE):
        raise RequestError(f"image is not a PNG (its bytes start {data[:8]!r}, a PNG starts {PNG_SIGNATURE!r})")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise RequestError("image has a PNG signature but could not be decoded (truncated or corrupt file)")
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        channels = 1 if image.ndim == 2 else image.shape[2]
        raise RequestError(f"image must be 8-bit RGB (3 channels), got {channels} channel(s) of {image.dtype}")
    if image.shape[:2] != (size, size):
        raise RequestError(f"image must be {size} x {size} pixels, got {image.shape[1]} x {image.shape[0]} "
                           "(width x height); resize it first")
    return image[..., ::-1].astype(np.float32) / 255.0  # BGR -> RGB, (size, size, 3)


def encode_question(question: str, words: Sequence[str], max_len: int = 8) -> np.ndarray:
    """A question -> ids (max_len,) int64 padded with 0; a ``RequestError`` if empty, over-long or with unknown words.

    ``words`` is the vocabulary's id -> token list (``vocab.itos``: "<pad>",
    "<unk>", then the words). The service refuses unknown words rather than
    mapping them to <unk> silently: the client learns which word to change.
    """
    if len(question) > MAX_QUESTION_CHARS:
        raise RequestError(f"question is {len(question)} characters long; at most {MAX_QUESTION_CHARS}")
    tokens = tokenize(question)
    if not tokens:
        raise RequestError("question is empty (no words); ask e.g. 'what colour is the circle?'")
    if len(tokens) > max_len:
        raise RequestError(f"question has {len(tokens)} words; the model reads at most {max_len}")
    ids = {word: i for i, word in enumerate(words)}
    unknown = [t for t in dict.fromkeys(tokens) if t not in ids or ids[t] < 2]
    if unknown:
        known = ", ".join(sorted(words[2:]))
        raise RequestError(f"unknown word(s): {', '.join(map(repr, unknown))}; the model knows: {known}")
    out = np.zeros(max_len, dtype=np.int64)
    out[:len(tokens)] = [ids[t] for t in tokens]
    return out


class Query(BaseModel):
    """The body of POST /predict: a base64 PNG and a question."""

    model_config = ConfigDict(extra="forbid", strict=True)  # a number is not a question; a mistyped key is named
    image: str
    question: str


def _message(errors: Sequence[dict]) -> str:
    """FastAPI's validation errors as one sentence a client can act on."""
    parts = []
    for error in errors:
        field = ".".join(str(part) for part in error.get("loc", ())[1:])
        if error.get("type") == "json_invalid":
            parts.append(f"the body is not valid JSON ({error.get('ctx', {}).get('error', 'decode error')})")
        elif error.get("type") == "missing":
            parts.append(f"field {field!r} is missing")
        else:
            parts.append(f"field {field!r}: {error.get('msg')}" if field else f"body: {error.get('msg')}")
    return "; ".join(parts) + '; send JSON {"image": "<base64 PNG>", "question": "<text>"}'


def create_app(predict: Predictor, words: Sequence[str], answers: Sequence[str] = ANSWERS, image_size: int = 32,
               max_len: int = 8):
    """The FastAPI app around ``predict``: POST /predict and GET /health (see the module docstring)."""
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse

    app = FastAPI(title="mmcourse VQA", version="1.0")

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": _message(exc.errors())})

    @app.exception_handler(RequestError)
    async def refused(request: Request, exc: RequestError) -> JSONResponse:
        return JSONResponse(status_code=exc.status, content={"detail": exc.message})

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok"}

    @app.post("/predict")
    def predict_one(query: Query) -> dict:
        image = decode_image(query.image, image_size)  # (H, W, 3)
        ids = encode_question(query.question, words, max_len)  # (L,)
        start = time.perf_counter()
        logits = predict(image.transpose(2, 0, 1)[None].copy(), ids[None])  # (1, 3, H, W), (1, L) -> (1, A)
        latency_ms = (time.perf_counter() - start) * 1000
        return {"answer": answers[int(np.argmax(logits[0]))], "latency_ms": round(latency_ms, 3)}

    return app


def onnx_session(path: str | os.PathLike, threads: int = 1):
    """An ONNX Runtime CPU session on ``path`` with ``threads`` intra-op threads and one inter-op thread."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def onnx_predictor(session) -> Predictor:
    """A predictor that runs an ONNX Runtime session with inputs ``images`` (float32) and ``question_ids`` (int64)."""
    def predict(images: np.ndarray, question_ids: np.ndarray) -> np.ndarray:
        return session.run(["logits"], {"images": np.asarray(images, np.float32),
                                        "question_ids": np.asarray(question_ids, np.int64)})[0]
    return predict


@dataclass(frozen=True)
class Server:
    """A running service: its base ``url`` and the uvicorn ``process``."""

    url: str
    process: subprocess.Popen


def _stop(process: subprocess.Popen, timeout: float) -> None:
    """SIGTERM (uvicorn finishes open requests and exits), SIGKILL if it is still there after ``timeout`` s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)


def _wait_ready(url: str, process: subprocess.Popen, log: Path, timeout: float) -> None:
    """Poll GET /health until it answers 200; raise if the process dies or ``timeout`` s pass."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with code {process.returncode} before it was ready:\n"
                               f"{log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"the server was not ready within {timeout} s:\n{log.read_text()[-2000:]}")


@contextmanager
def serve(model_path: str | os.PathLike, words: Sequence[str], threads: int = 1, timeout: float = 60.0
          ) -> Iterator[Server]:
    """Run ``python -m mmcourse.serving`` on the ONNX model at ``model_path`` on 127.0.0.1 and a free port.

    Yields a :class:`Server` once GET /health answers (or raises after
    ``timeout`` s); on leaving the block, however it is left, the process is
    stopped (SIGTERM, then SIGKILL after 10 s) and waited for.
    """
    with tempfile.TemporaryDirectory() as folder:
        words_path, log = Path(folder) / "words.json", Path(folder) / "server.log"
        words_path.write_text(json.dumps(list(words)))
        port = free_port()
        package_root = str(Path(__file__).resolve().parents[1])
        env = os.environ | {"PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
        command = [sys.executable, "-m", "mmcourse.serving", "--model", str(model_path), "--words", str(words_path),
                   "--port", str(port), "--threads", str(threads)]
        with open(log, "wb") as out:
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_ready(url, process, log, timeout)
            yield Server(url, process)
        finally:
            _stop(process, 10.0)


def main(argv: Sequence[str] | None = None) -> None:
    """Serve an ONNX VQA model with uvicorn on 127.0.0.1 (see the module docstring for the arguments)."""
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="an ONNX file with inputs images, question_ids")
    parser.add_argument("--words", required=True, help="a JSON list: the vocabulary's id -> token")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--threads", type=int, default=1, help="ONNX Runtime intra-op threads")
    args = parser.parse_args(argv)
    words = json.loads(Path(args.words).read_text())
    app = create_app(onnx_predictor(onnx_session(args.model, args.threads)), words)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
