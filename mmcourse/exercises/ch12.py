"""Exercises of chapter 12: an acoustic model (the CTC collapse rule, greedy CTC decoding, edit distance, SNR)."""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from mmcourse.exercises.core import FunctionQuestion, _describe


class _LabelsQuestion(FunctionQuestion):
    """A question whose answer is a list of int labels: lists, tuples and int arrays are all accepted."""

    def _mismatch(self, got, expected, args):
        if isinstance(got, np.ndarray) and got.ndim == 1:
            got = got.tolist()
        if not isinstance(got, (list, tuple)):
            return f"return the labels as a list of token ids (ints), got {_describe(got)}"
        if any(isinstance(x, (float, np.floating)) for x in got):
            return "the labels should be ints, not floats"
        if [int(x) for x in got] != expected:
            return (f"the returned labels are not right ({len(got)} labels, expected {len(expected)})"
                    if len(got) != len(expected) else "the returned labels are not right")
        return None

    def _diagnosis(self, got, args):
        got = got.tolist() if isinstance(got, np.ndarray) else got
        for wrong, advice in self.near_misses():
            if isinstance(got, (list, tuple)) and [int(x) for x in got] == list(wrong(*args)):
                return advice
        return None


def _collapse(path: Sequence[int], blank: int) -> list[int]:
    out, previous = [], None
    for label in path:
        if label != previous and label != blank:
            out.append(int(label))
        previous = label
    return out


class Collapse(_LabelsQuestion):
    """``collapse(path, blank)``: CTC's rule B, which reads a labelling off a path of per-frame labels.

    First merge every run of the same label into one, then drop the blanks:
    with blank 10, [3, 3, 10, 3, 5, 5, 10] -> [3, 3, 5]. The blank between
    the two 3s is what lets CTC say "3 3"; without it, [3, 3, 3] is one 3.
    Return a list of ints.
    """

    name, chapter = "q1", "12"
    hints = ("Walk along the path remembering the previous frame's label (None before the first frame).",
             "Keep a label when it differs from the previous frame's label and is not the blank. Compare with the "
             "previous *frame*, blank or not, not with the last label you kept.",
             "out, previous = [], None; for label in path: if label != previous and label != blank: "
             "out.append(int(label)); previous = label. return out")

    def reference(self, path, blank):
        return _collapse(path, blank)

    def cases(self):
        rng = np.random.default_rng(12)
        return [([5, 5, 10, 3, 10, 3], 10), ([3, 3, 10, 3, 5, 5, 10], 10), ([10, 10, 10], 10), ([], 10), ([7], 10),
                ([0, 0, 1, 0, 0, 1, 1], 0), ([4, 10, 4, 4, 10, 10, 4], 10), (rng.integers(0, 4, 30).tolist(), 3),
                ([2, 2, 2, 2], 10)]

    def near_misses(self):
        def drop_first(path, blank):
            return _collapse([x for x in path if x != blank], blank)

        return ((drop_first, "the blanks are dropped before the runs are merged (or each label is compared with "
                             "the last one kept), so '3 - 3' becomes one 3: compare with the previous frame, blank "
                             "or not"),
                (lambda path, blank: [int(x) for x in path if x != blank], "runs of the same label are not merged"),
                (lambda path, blank: _collapse(path, blank + 1), "the blanks are kept: drop every blank label"),
                (lambda path, blank: sorted(set(int(x) for x in path) - {blank}),
                 "that is the set of labels: order and repeats matter"))


class GreedyDecode(_LabelsQuestion):
    """``greedy_decode(log_probs, blank)``: best-path CTC decoding of log_probs (T, C), a list of ints.

    Take the most probable label at every frame (the lowest index on a tie,
    as np.argmax does), then apply the collapse rule of q1: merge runs,
    drop blanks.
    """

    name, chapter = "q2", "12"
    hints = ("log_probs has one row per frame and one column per label: the best label of each frame is an argmax "
             "along the labels.",
             "path = log_probs.argmax(axis=1) has T labels; then merge runs and drop blanks, in that order.",
             "path = np.argmax(log_probs, axis=1); out, previous = [], None; for label in path: if label != previous "
             "and label != blank: out.append(int(label)); previous = label. return out")

    def reference(self, log_probs, blank):
        return _collapse(np.argmax(log_probs, axis=1).tolist(), blank)

    def cases(self):
        rng = np.random.default_rng(120)
        peaky = np.log(np.full((8, 11), 0.01) + 0.89 * np.eye(11)[[10, 4, 4, 10, 4, 10, 7, 7]])
        tie = np.log(np.full((3, 4), 0.25))  # every label ties: label 0 (the blank here) wins each frame
        return [(peaky, 10), (np.log(rng.dirichlet(np.ones(11) * 0.3, size=40)), 10), (tie, 0),
                (np.log(rng.dirichlet(np.ones(5), size=12)), 2), (np.zeros((1, 11)), 10)]

    def near_misses(self):
        return ((lambda lp, blank: _collapse(np.argmax(lp, axis=0).tolist(), blank),
                 "the argmax is taken over frames (axis 0): take it over the labels of each frame (axis 1)"),
                (lambda lp, blank: [int(x) for x in np.argmax(lp, axis=1) if x != blank],
                 "repeated labels are not merged: a label held over several frames is said once"),
                (lambda lp, blank: _collapse([x for x in np.argmax(lp, axis=1).tolist() if x != blank], blank),
                 "the blanks are dropped before the runs are merged: merge first, so '4 - 4' stays two 4s"),
                (lambda lp, blank: _collapse(np.argmin(lp, axis=1).tolist(), blank),
                 "that is the least probable label: take the argmax"))


def _levenshtein(a: Sequence, b: Sequence, substitution: int = 1, first_column: bool = True) -> int:
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, start=1):
        current = [i if first_column else 0]
        for j, y in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + substitution * (x != y)))
        previous = current
    return previous[-1]


class EditDistance(FunctionQuestion):
    """``edit_distance(a, b)``: the fewest insertions, deletions and substitutions that turn list a into list b.

    The Levenshtein distance, an int; the digit error rate of a recogniser
    is the sum of these over all strings divided by the number of digits
    said. D[i][j], the distance between a[:i] and b[:j], is
    min(D[i-1][j] + 1, D[i][j-1] + 1, D[i-1][j-1] + (a[i-1] != b[j-1])),
    with D[i][0] = i and D[0][j] = j.
    """

    name, chapter = "q3", "12"
    hints = ("Fill a table D of (len(a) + 1) x (len(b) + 1) row by row. Row 0 and column 0 are the distances to "
             "an empty list: j insertions, i deletions.",
             "A substitution costs 1 only when the two elements differ; a match costs 0. The answer is "
             "D[len(a)][len(b)].",
             "D = [[i + j if i * j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]; for i in 1..: "
             "for j in 1..: D[i][j] = min(D[i-1][j] + 1, D[i][j-1] + 1, D[i-1][j-1] + (a[i-1] != b[j-1])); "
             "return D[-1][-1]")

    def reference(self, a, b):
        return _levenshtein(a, b)

    def cases(self):
        rng = np.random.default_rng(1200)
        return [([4, 0, 7], [4, 7]), ([1, 2, 3], [1, 2, 3]), ([], [5, 5]), ([3, 3], []), ([1, 2, 3, 4], [2, 3, 4, 5]),
                ([9, 1], [1, 9]), ([], []), (rng.integers(0, 3, 7).tolist(), rng.integers(0, 3, 5).tolist()),
                ([1, 2], [3, 4])]

    def near_misses(self):
        def positionwise(a, b):
            return int(sum(x != y for x, y in zip(a, b)) + abs(len(a) - len(b)))

        return ((lambda a, b: _levenshtein(a, b, substitution=2),
                 "a substitution costs 2 here (a deletion plus an insertion): it is one edit"),
                (lambda a, b: _levenshtein(a, b, first_column=False),
                 "column 0 of the table is all zeros: turning a[:i] into an empty list takes i deletions"),
                (positionwise, "elements are compared position by position: one missing digit then shifts all the "
                               "rest, which an insertion or deletion fixes in one edit"),
                (lambda a, b: abs(len(a) - len(b)), "that is only the difference in length"))


class NoiseScale(FunctionQuestion):
    """``noise_scale(signal, snr_db)``: the standard deviation σ of Gaussian noise that puts ``signal`` at ``snr_db``.

    SNR in decibels is 10 log10(P_signal / P_noise), the signal's power
    P_signal = mean(signal²) (not its variance: a constant offset is
    signal too) and white noise of standard deviation σ has power σ².
    Return σ as a float.
    """

    name, chapter = "q4", "12"
    hints = ("Solve SNR = 10 log10(P_signal / σ²) for σ. At 0 dB the noise is exactly as strong as the signal.",
             "P_noise = P_signal / 10^(SNR / 10), and σ is the square root of the noise power. P_signal is "
             "np.mean(signal ** 2).",
             "return float(np.sqrt(np.mean(signal ** 2) / 10 ** (snr_db / 10)))")
    rtol = 1e-9

    def reference(self, signal, snr_db):
        return float(np.sqrt(np.mean(signal ** 2) / 10 ** (snr_db / 10)))

    def cases(self):
        rng = np.random.default_rng(12000)
        return [(rng.normal(size=100), 0.0), (rng.normal(size=(20, 13)), 20.0), (rng.normal(size=50) + 2.0, -5.0),
                (3 * rng.normal(size=(4, 4)), 10.0), (np.ones(8), 6.0)]

    def near_misses(self):
        wrong: tuple[tuple[Callable, str], ...] = (
            (lambda s, snr: float(np.mean(s ** 2) / 10 ** (snr / 10)),
             "that is the noise power σ²: return its square root, σ"),
            (lambda s, snr: float(np.sqrt(np.mean(s ** 2) * 10 ** (snr / 10))),
             "the sign of the exponent is flipped: a higher SNR must give weaker noise"),
            (lambda s, snr: float(np.sqrt(np.mean(s ** 2) / 10 ** (snr / 20))),
             "SNR in dB is 10 log10 of a power ratio: divide by 10^(SNR/10) inside the square root (20 is for "
             "amplitudes, outside it)"),
            (lambda s, snr: float(np.std(s) / 10 ** (snr / 20)),
             "np.std removes the signal's mean: the power is the mean of signal², offset included"),
            (lambda s, snr: float(np.sqrt(np.mean(np.abs(s)) / 10 ** (snr / 10))),
             "the power is the mean of the *squared* signal"))
        return wrong


q1 = Collapse()
q2 = GreedyDecode()
q3 = EditDistance()
q4 = NoiseScale()
