"""Exercises of chapter 10: a vision-language model (projector, loss targets, exact match, greedy decoding)."""
from __future__ import annotations

from typing import Callable

import numpy as np
from scipy.special import erf

from mmcourse.exercises.core import FunctionQuestion, _describe

IGNORE = -100  # the target of a position that carries no loss (torch's cross_entropy ignore_index default)


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1 + erf(x / np.sqrt(2)))


class Projector(FunctionQuestion):
    """``project(tokens, w1, b1, w2, b2)``: LLaVA-1.5's MLP projector, (B, N, D_img) -> (B, N, D_model).

    Every visual token (a D_img vector) goes through the same two layers:
    h = GELU(x w1 + b1), y = h w2 + b2, with w1 (D_img, H), b1 (H,),
    w2 (H, D_model), b2 (D_model,). GELU is the exact one,
    x · Φ(x) = x/2 · (1 + erf(x/√2)), as ``torch.nn.GELU()`` computes.
    """

    name, chapter = "q1", "10"
    hints = ("Matrix products act on the last axis, so tokens @ w1 maps (B, N, D_img) to (B, N, H) for every token "
             "at once: no loop and no reshape needed.",
             "GELU(x) = x · Φ(x), Φ the standard normal CDF: 0.5 * x * (1 + erf(x / sqrt(2))). Take erf from "
             "scipy.special. The tanh formula is an approximation that differs in the 4th digit.",
             "h = tokens @ w1 + b1; h = 0.5 * h * (1 + scipy.special.erf(h / np.sqrt(2))); return h @ w2 + b2")
    rtol = 1e-7

    def reference(self, tokens, w1, b1, w2, b2):
        return _gelu(tokens @ w1 + b1) @ w2 + b2

    def cases(self):
        rng = np.random.default_rng(10)
        found = []
        for b, n, d_img, h, d_model in ((2, 4, 6, 8, 5), (1, 16, 3, 4, 7), (3, 1, 5, 5, 2)):
            found.append((rng.normal(size=(b, n, d_img)) * 2, rng.normal(size=(d_img, h)), rng.normal(size=h),
                          rng.normal(size=(h, d_model)), rng.normal(size=d_model)))
        return found

    def near_misses(self):
        def tanh_gelu(x):
            return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))

        return ((lambda x, w1, b1, w2, b2: tanh_gelu(x @ w1 + b1) @ w2 + b2,
                 "that is the tanh approximation of GELU; use the exact one, with erf"),
                (lambda x, w1, b1, w2, b2: np.maximum(x @ w1 + b1, 0) @ w2 + b2,
                 "that is ReLU; LLaVA-1.5's projector uses GELU"),
                (lambda x, w1, b1, w2, b2: (x @ w1 + b1) @ w2 + b2,
                 "there is no nonlinearity between the layers: two linear maps are just one linear map"),
                (lambda x, w1, b1, w2, b2: _gelu(x @ w1 + b1) @ w2,
                 "the second layer's bias b2 is missing"),
                (lambda x, w1, b1, w2, b2: _gelu(x @ w1) @ w2 + b2,
                 "the first layer's bias b1 is missing"))


class LossTargets(FunctionQuestion):
    """``loss_targets(ids, n_prompt, n_visual)``: next-token targets (n_visual + T,) int64, -100 where no loss.

    The decoder reads n_visual visual tokens, then ``ids`` (T,): the
    n_prompt ids of the prompt followed by the answer's ids. Position j's
    output predicts the token at position j + 1. Only answer tokens are
    learned: the target of position j is that answer token's id, and -100
    (ignored by the loss) everywhere else: visual positions predicting
    visual or prompt positions, prompt tokens, and the last position,
    which predicts nothing.
    """

    name, chapter = "q2", "10"
    hints = ("Lay the whole sequence out first: n_visual visual positions (they have no ids), then the T ids. "
             "The output at position j is scored against the token at position j + 1.",
             "Start from an array of -100 of length n_visual + T. The answer token ids[i] (i >= n_prompt) sits at "
             "position n_visual + i, so it is the target of position n_visual + i - 1. The last position predicts "
             "nothing.",
             "targets = np.full(n_visual + len(ids), -100, dtype=np.int64); "
             "targets[n_visual + n_prompt - 1:-1] = ids[n_prompt:]; return targets")

    def reference(self, ids, n_prompt, n_visual):
        targets = np.full(n_visual + len(ids), IGNORE, dtype=np.int64)
        targets[n_visual + n_prompt - 1:-1] = ids[n_prompt:]  # position j predicts the token at j + 1
        return targets

    def cases(self):
        rng = np.random.default_rng(100)
        return [(rng.integers(1, 50, size=9), 6, 4), (np.array([7, 8, 9, 3]), 1, 2),
                (rng.integers(1, 50, size=12), 11, 16),  # a one-token answer
                (rng.integers(1, 50, size=7), 3, 1)]

    def near_misses(self):
        def targets(shift: int = 1, visual: bool = True, prompt: bool = False):
            def wrong(ids, n_prompt, n_visual):
                offset = n_visual if visual else 0
                out = np.full(offset + len(ids), IGNORE, dtype=np.int64)
                start = 0 if prompt else n_prompt
                for i in range(start, len(ids)):
                    if 0 <= offset + i - shift < len(out):
                        out[offset + i - shift] = ids[i]
                return out
            return wrong

        return ((targets(shift=0), "the targets are not shifted: position j must predict the token at j + 1, not "
                                   "its own input"),
                (targets(prompt=True), "the prompt's tokens carry loss too: only the answer is learned, the prompt "
                                       "is given"),
                (targets(shift=2), "the targets are shifted by two positions; the output at j predicts j + 1"),
                (targets(visual=False), "the visual positions are missing: the targets cover n_visual + T positions"))

    def _mismatch(self, got, expected, args):
        if isinstance(got, np.ndarray) and got.shape == expected.shape and got.dtype.kind == "f" \
                and np.isfinite(got).all():
            return f"the targets should be integer token ids (int64, as cross-entropy wants), got dtype {got.dtype}"
        return super()._mismatch(got, expected, args)


class ExactMatch(FunctionQuestion):
    """``exact_match(predictions, references)``: the fraction of answers that are exactly right, a float.

    Two strings match when they are equal after removing surrounding
    whitespace and lower-casing ("Red " matches "red"); nothing else is
    forgiven: "red." or "it is red" do not match "red", "12" does not match
    "2". Both lists have the same length, at least 1.
    """

    name, chapter = "q3", "10"
    hints = ("Normalise both strings the same way, with .strip().lower(), then compare them with ==.",
             "A prediction that merely contains the answer ('2' in '12', 'red' in 'it is red') is not a match, and "
             "neither is one that merely starts with it.",
             "return float(np.mean([p.strip().lower() == r.strip().lower() for p, r in zip(predictions, "
             "references)]))")
    rtol = 1e-12

    def reference(self, predictions, references):
        return float(np.mean([p.strip().lower() == r.strip().lower() for p, r in zip(predictions, references)]))

    def cases(self):
        return [(["red", "Blue", " 2", "yes\n"], ["red", "blue", "2", "yes"]),
                (["12", "it is red", "red.", "no"], ["2", "red", "red", "no"]),
                (["squares", "yes", "", "circle"], ["square", "yes", "no", "circle"]),
                (["3"], ["3"]), (["top left"], ["top"])]

    def near_misses(self):
        def matches(rule: Callable[[str, str], bool]):
            return lambda ps, rs: float(np.mean([rule(p, r) for p, r in zip(ps, rs)]))

        return ((matches(lambda p, r: p == r), "the strings are compared as they are: strip the whitespace and "
                                               "lower-case both first"),
                (matches(lambda p, r: r.strip().lower() in p.strip().lower()),
                 "a prediction that contains the answer counts as right ('2' is in '12'): compare with =="),
                (matches(lambda p, r: p.strip().lower().startswith(r.strip().lower())),
                 "a prediction that starts with the answer counts as right ('squares' is not 'square')"),
                (lambda ps, rs: float(sum(p.strip().lower() == r.strip().lower() for p, r in zip(ps, rs))),
                 "that is the number of matches; return the fraction"))


class _ToyModel:
    """A stand-in language model: ``model(ids)`` -> logits (V,) of the next token; id 0 is the stop token.

    Seeded: the logits depend on the last id, and the stop id gains 0.1 a
    step. ``seed=None``: ids 2 and 3 always tie, and the stop wins from the
    fourth token on.
    """

    def __init__(self, vocab: int, seed: int | None):
        self.vocab, self.seed = vocab, seed
        self.rows = None if seed is None else np.random.default_rng(seed).normal(size=(vocab, vocab))

    def __call__(self, ids: list[int]) -> np.ndarray:
        if self.rows is None:
            return np.array([1.0 if len(ids) >= 4 else -1.0, 0.0, 0.5, 0.5])
        return self.rows[ids[-1] % self.vocab] + 0.1 * len(ids) * (np.arange(self.vocab) == 0)

    def __repr__(self) -> str:
        return f"a toy model ({self.vocab} ids, {'a tie' if self.rows is None else f'seed {self.seed}'})"


class GreedyDecode(FunctionQuestion):
    """``greedy_decode(next_logits, prompt, stop_id, max_new_tokens)``: the new token ids, a list of ints.

    ``next_logits(ids)`` takes the list of ids so far and returns the logits
    (V,) of the next token. Append the argmax (the lowest id on a tie, as
    np.argmax) until the model produces ``stop_id`` or ``max_new_tokens``
    ids have been produced. Return only the new ids, without the stop id.
    """

    name, chapter = "q4", "10"
    hints = ("Keep a list ids = list(prompt). Each step: call next_logits(ids), take the argmax, decide whether to "
             "stop, otherwise append it to ids and to the answer.",
             "Check the stop id before appending: the stop token ends the answer and is not part of it. At most "
             "max_new_tokens calls; max_new_tokens = 0 returns [].",
             "ids, new = list(prompt), []; for _ in range(max_new_tokens): token = int(np.argmax(next_logits(ids))); "
             "if token == stop_id: break; ids.append(token); new.append(token). return new")

    def reference(self, next_logits, prompt, stop_id, max_new_tokens):
        ids, new = list(prompt), []
        for _ in range(max_new_tokens):
            token = int(np.argmax(next_logits(ids)))
            if token == stop_id:
                break
            ids.append(token)
            new.append(token)
        return new

    def cases(self):
        tie = _ToyModel(4, seed=None)
        return [(_ToyModel(6, seed=1), [3], 0, 20), (_ToyModel(9, seed=2), [1, 4], 0, 5), (tie, [1], 0, 10),
                (tie, [1, 2], 0, 1), (_ToyModel(5, seed=3), [2], 0, 0)]

    def near_misses(self):
        def decode(keep_stop=False, limit_offset=0, pick=np.argmax, with_prompt=False):
            def wrong(next_logits, prompt, stop_id, max_new_tokens):
                ids, new = list(prompt), []
                for _ in range(max_new_tokens + limit_offset):
                    scores = next_logits(ids)
                    token = int(pick(scores))
                    if token == stop_id and not keep_stop:
                        break
                    ids.append(token)
                    new.append(token)
                    if token == stop_id:
                        break
                return ids if with_prompt else new
            return wrong

        def last_argmax(scores):
            return len(scores) - 1 - int(np.argmax(scores[::-1]))

        return ((decode(keep_stop=True), "the stop id is part of the returned answer: stop before appending it"),
                (decode(with_prompt=True), "the prompt is returned too: return only the new ids"),
                (decode(limit_offset=1), "one token too many: produce at most max_new_tokens ids"),
                (decode(limit_offset=-1), "one token too few: max_new_tokens ids may be produced"),
                (decode(pick=last_argmax), "a tie goes to the higher id: take the lowest, as np.argmax does"))

    def _mismatch(self, got, expected, args):
        if isinstance(got, np.ndarray):
            got = got.tolist()
        if not isinstance(got, (list, tuple)):
            return f"return a list of token ids, got {_describe(got)}"
        if any(isinstance(t, float) or isinstance(t, np.floating) for t in got):
            return "the ids should be ints, not floats"
        if [int(t) for t in got] != expected:
            return (f"the returned ids are not right ({len(got)} ids, expected {len(expected)})"
                    if len(got) != len(expected) else "the returned ids are not right")
        return None

    def _diagnosis(self, got, args):
        got = got.tolist() if isinstance(got, np.ndarray) else got
        for wrong, advice in self.near_misses():
            if isinstance(got, (list, tuple)) and list(got) == wrong(*args):
                return advice
        return None


q1 = Projector()
q2 = LossTargets()
q3 = ExactMatch()
q4 = GreedyDecode()
