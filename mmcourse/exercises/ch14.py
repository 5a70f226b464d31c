"""Exercises of chapter 14: deployment and scale (latency percentiles, int8 quantisation, all-reduce, a validator)."""
from __future__ import annotations

import json

import numpy as np

from mmcourse.exercises.core import FunctionQuestion, _describe


class LatencyPercentiles(FunctionQuestion):
    """``latency_percentiles(times)``: p50 and p95 of each column of times (R, K) in ms -> array (2, K).

    Column k holds R timed calls of configuration k (R repetitions of one
    model at one batch size). Use NumPy's default definition, linear
    interpolation between the two nearest ranks: sort the column, q lies at
    position h = (R - 1) · q / 100 (counting from 0), and the percentile is
    x[⌊h⌋] + (h - ⌊h⌋) · (x[⌊h⌋ + 1] - x[⌊h⌋]).
    """

    name, chapter = "q1", "14"
    hints = ("Each column is one configuration: the percentiles are taken down the rows (axis 0), so the result "
             "has one column per configuration and two rows, p50 then p95.",
             "np.percentile(times, [50, 95], axis=0) does exactly this (its default method is 'linear'). By hand: "
             "sort each column first; h = (R - 1) * q / 100 may fall between two ranks.",
             "return np.percentile(times, [50, 95], axis=0)")

    def reference(self, times):
        return np.percentile(times, [50, 95], axis=0)

    def cases(self):
        rng = np.random.default_rng(14)
        tail = rng.gamma(2.0, 1.0, size=(40, 3)) + 1.0  # latencies: a floor and a long right tail
        ties = np.array([[2.0, 1.0], [2.0, 1.0], [2.0, 3.0], [5.0, 3.0], [1.0, 9.0]])  # ties, unsorted
        return [(tail,), (ties,), (rng.permutation(np.arange(1.0, 21.0)).reshape(20, 1),),
                (np.array([[3.0, 4.0, 5.0]]),),  # one repetition: every percentile is that value
                (rng.normal(10, 1, size=(7, 7)),)]  # square: the wrong axis gives the right shape

    def near_misses(self):
        def unsorted(times):
            times = np.asarray(times)
            h = (len(times) - 1) * np.array([50, 95]) / 100
            low, frac = np.floor(h).astype(int), (h - np.floor(h))[:, None]
            high = np.minimum(low + 1, len(times) - 1)
            return times[low] + frac * (times[high] - times[low])

        return ((lambda t: np.percentile(t, [50, 95], axis=0, method="inverted_cdf"),
                 "that is the nearest-rank percentile (a value of the sample, no interpolation); use NumPy's "
                 "default linear interpolation"),
                (lambda t: np.percentile(t, [50, 95], axis=1),
                 "the percentiles are taken along the wrong axis: each COLUMN is one configuration"),
                (unsorted, "the times were not sorted before the ranks were read"),
                (lambda t: np.stack([np.mean(t, axis=0), np.percentile(t, 95, axis=0)]),
                 "p50 is the median, not the mean (a long tail pulls the mean up)"))


class AffineUint8(FunctionQuestion):
    """``affine_uint8(x)``: (scale, zero_point) of asymmetric uint8 quantisation of array x, as ONNX Runtime does it.

    A real value r is stored as q = clip(round(r / scale) + zero_point, 0, 255)
    and read back as (q - zero_point) · scale. The range is first widened to
    hold 0 (so that 0, e.g. padding, is exact): r_min = min(min(x), 0),
    r_max = max(max(x), 0). Then scale = (r_max - r_min) / 255 and
    zero_point = round(-r_min / scale), an int in [0, 255]. If the range is
    empty (x all zero), scale = 1.0 and zero_point = 0.
    """

    name, chapter = "q2", "14"
    hints = ("uint8 has 256 levels, 0..255, so the range is cut into 255 steps. Widen [min(x), max(x)] to include "
             "0 first; the zero-point is the integer that stands for the real 0.",
             "scale = (r_max - r_min) / 255; zero_point = round(-r_min / scale), an int (np.round rounds halves to "
             "even, as ONNX Runtime does). Guard the all-zero case before dividing.",
             "r_min, r_max = min(float(np.min(x)), 0.0), max(float(np.max(x)), 0.0); if r_max == r_min: return "
             "1.0, 0; scale = (r_max - r_min) / 255; return scale, int(np.round(-r_min / scale))")

    def reference(self, x):
        r_min, r_max = min(float(np.min(x)), 0.0), max(float(np.max(x)), 0.0)
        if r_max == r_min:
            return 1.0, 0
        scale = (r_max - r_min) / 255
        return scale, int(np.round(-r_min / scale))

    def cases(self):
        rng = np.random.default_rng(8)
        return [(rng.normal(0.2, 1.0, size=(16, 8)),), (np.array([-1.0, 0.5, 3.0]),),
                (np.array([0.3, 1.7, 2.5]),),  # all positive: the range must be widened to 0
                (np.array([-4.0, -0.5]),),  # all negative: the zero-point is 255
                (np.zeros(5),),  # empty range
                (np.array([-2.0, 0.0, 6.0]),)]

    def near_misses(self):
        def params(levels=255, widen=True, rounded=True, symmetric=False):
            def wrong(x):
                r_min, r_max = float(np.min(x)), float(np.max(x))
                if widen:
                    r_min, r_max = min(r_min, 0.0), max(r_max, 0.0)
                if symmetric:
                    r_max = max(abs(r_min), abs(r_max))
                    r_min = -r_max
                if r_max == r_min:
                    return 1.0, 0
                scale = (r_max - r_min) / levels
                zero_point = -r_min / scale
                return scale, int(np.round(zero_point)) if rounded else zero_point
            return wrong

        return ((params(levels=256), "uint8 has 256 levels but 255 steps between 0 and 255: divide by 255"),
                (params(rounded=False), "the zero-point must be an integer: round it"),
                (params(widen=False), "widen the range to include 0 first, or 0 (padding, ReLU zeros) is not exact "
                                      "and the zero-point leaves [0, 255]"),
                (params(symmetric=True), "that is symmetric quantisation (range ±max|x|); asymmetric uses "
                                         "[min(x, 0), max(x, 0)]"))

    def _mismatch(self, got, expected, args):
        if isinstance(got, tuple) and len(got) == 2 and isinstance(got[1], (float, np.floating)) \
                and not float(got[1]).is_integer():
            return "the zero-point should be an integer, got a fraction: round it"
        return super()._mismatch(got, expected, args)


class AllReduceMean(FunctionQuestion):
    """``allreduce_mean(grads, batch_sizes)``: the gradient of the whole global batch from per-worker gradients.

    Worker k computed g_k, the MEAN gradient over its own n_k examples
    (``grads[k]``, all of one shape). The gradient of the mean loss over
    all N = Σ n_k examples is Σ_k n_k · g_k / N: what single-process
    training on the global batch would compute. Return an array of the
    shape of one gradient.
    """

    name, chapter = "q3", "14"
    hints = ("A mean over the whole batch is the total over all examples divided by N. Worker k's total is "
             "n_k · g_k.",
             "Stack the gradients on a new axis 0, weight each by its n_k, sum over axis 0 and divide by sum(n_k). "
             "DDP itself averages over workers (equal weights): that equals this only when every n_k is the same.",
             "g = np.stack(grads); n = np.asarray(batch_sizes, dtype=float); "
             "return np.tensordot(n, g, axes=1) / n.sum()")

    def reference(self, grads, batch_sizes):
        n = np.asarray(batch_sizes, dtype=np.float64)
        return np.tensordot(n, np.stack(grads), axes=1) / n.sum()

    def cases(self):
        rng = np.random.default_rng(2)
        return [([rng.normal(size=(3, 4)) for _ in range(2)], [32, 16]),
                ([rng.normal(size=5) for _ in range(4)], [8, 8, 8, 2]),  # the last batch of an epoch is short
                ([rng.normal(size=(2, 2, 2))], [7]),  # one worker: its own gradient
                ([rng.normal(size=3) for _ in range(3)], [1, 10, 100])]

    def near_misses(self):
        return ((lambda g, n: np.mean(np.stack(g), axis=0),
                 "that is the plain mean over workers; weight each by its batch size (they differ)"),
                (lambda g, n: np.sum(np.stack(g), axis=0), "that is the sum over workers; divide to get a mean"),
                (lambda g, n: np.tensordot(np.asarray(n, float), np.stack(g), axes=1),
                 "the weighted sum is not divided by the total number of examples"),
                (lambda g, n: np.tensordot(np.asarray(n, float), np.stack(g), axes=1) / len(g),
                 "divide by the total number of examples, not by the number of workers"))


class ValidateRequest(FunctionQuestion):
    """``validate_request(body, max_words=8)``: (status, message) for the raw text of a /predict request.

    Check, in this order, and return at the FIRST problem:
    1. ``body`` is not valid JSON, or not a JSON object -> (400, a message with "JSON");
    2. "image" or "question" is missing -> (422, a message naming the missing field);
    3. "image" is not a non-empty string -> (422, a message with "image");
    4. "question" is not a string, has no words (``question.split()`` is empty)
       or more than ``max_words`` words -> (422, a message with "question");
    otherwise (200, "ok"). A bad request is the client's fault: never 500.
    """

    name, chapter = "q4", "14"
    hints = ("json.loads raises json.JSONDecodeError (a ValueError) on bad text: catch it and answer 400. A JSON "
             "list or number parses fine but is not an object: check isinstance(payload, dict).",
             "Then check the fields in order. exactly max_words words is allowed; max_words + 1 is not. A question "
             "of spaces only has no words.",
             "payload = json.loads(body) in a try (except ValueError: return 400, 'body is not JSON'); not a dict: "
             "400; for field in ('image', 'question'): if field not in payload: return 422, f'{field} is missing'; "
             "then 422 'image ...' unless payload['image'] is a non-empty str; then with q = payload['question'], "
             "422 'question ...' unless isinstance(q, str) and 1 <= len(q.split()) <= max_words; return 200, 'ok'")

    def reference(self, body, max_words=8):
        try:
            payload = json.loads(body)
        except ValueError:
            return 400, "JSON: the body is not valid JSON"
        if not isinstance(payload, dict):
            return 400, "JSON: the body must be a JSON object"
        for field in ("image", "question"):
            if field not in payload:
                return 422, f"{field}: the field is missing"
        if not isinstance(payload["image"], str) or not payload["image"]:
            return 422, "image: must be a non-empty base64 string"
        question = payload["question"]
        if not isinstance(question, str) or not question.split():
            return 422, "question: must be a string with at least one word"
        if len(question.split()) > max_words:
            return 422, f"question: has {len(question.split())} words, at most {max_words}"
        return 200, "ok"

    def cases(self):
        good = {"image": "iVBORw0KGgo=", "question": "what colour is the circle"}
        return [(json.dumps(good),), (json.dumps(good)[:-1],), ("[1, 2]",), (json.dumps({"question": "hi"}),),
                (json.dumps({"image": "x"}),), (json.dumps(good | {"image": ""}),),
                (json.dumps(good | {"image": [[0, 1]]}),), (json.dumps(good | {"question": ""}),),
                (json.dumps(good | {"question": "   "}),), (json.dumps(good | {"question": 7}),),
                (json.dumps(good | {"question": "a b c d e f g h"}),),  # exactly max_words: fine
                (json.dumps(good | {"question": "a b c d e f g h i"}),),
                (json.dumps(good | {"question": "a b c"}), 2), (json.dumps(good | {"question": "a b"}), 2)]

    def near_misses(self):
        def crashes_on_bad_json(body, max_words=8):
            try:
                json.loads(body)
            except ValueError:
                return 500, "JSON: internal server error"
            return self.reference(body, max_words)

        def accepts_empty(body, max_words=8):
            status, message = self.reference(body, max_words)
            question = json.loads(body).get("question") if status == 422 else None
            return (200, "ok") if isinstance(question, str) and not question.split() else (status, message)

        def off_by_one(body, max_words=8):
            status, message = self.reference(body, max_words)
            if status == 200 and len(json.loads(body)["question"].split()) == max_words:
                return 422, "question: too long"
            return status, message

        def all_400(body, max_words=8):
            status, message = self.reference(body, max_words)
            return (400 if status == 422 else status), message

        return ((crashes_on_bad_json, "bad JSON is the client's mistake: answer 400, not 500 (a 500 says the "
                                      "server is broken)"),
                (accepts_empty, "an empty question (no words, or spaces only) must be refused"),
                (off_by_one, "a question of exactly max_words words is allowed; refuse only more"),
                (all_400, "a well-formed JSON object whose fields are wrong is 422 (Unprocessable), not 400"))

    def _mismatch(self, got, expected, args):
        if not isinstance(got, tuple) or len(got) != 2:
            return f"return a tuple of 2 items (status, message), got {_describe(got)}"
        status, message = got
        if isinstance(status, bool) or not isinstance(status, (int, np.integer)):
            return f"the status should be an int such as 422, got {_describe(status)}"
        if not isinstance(message, str):
            return f"the message should be a str, got {_describe(message)}"
        if status != expected[0]:
            return f"the status ({status}) is not right"
        keyword = expected[1].split(":")[0]
        if status != 200 and keyword.lower() not in message.lower():
            return f"the message ({message!r}) should say what is wrong: name the field or say 'JSON'"
        return None

    def _diagnosis(self, got, args):
        for wrong, advice in self.near_misses():
            try:
                if isinstance(got, tuple) and len(got) == 2 and got[0] == wrong(*args)[0]:
                    return advice
            except Exception:  # a near miss may not apply to this case
                continue
        return None


q1 = LatencyPercentiles()
q2 = AffineUint8()
q3 = AllReduceMean()
q4 = ValidateRequest()
