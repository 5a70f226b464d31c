"""Chapter 10 exercises accept correct answers in several styles and reject realistic mistakes."""
import numpy as np
import pytest
import torch

from exercise_cells import wrong_message as _message
from mmcourse.exercises import ch10



def test_q1_equals_torch_linear_gelu_linear():
    def with_torch(x, w1, b1, w2, b2):
        layers = torch.nn.Sequential(torch.nn.Linear(*w1.shape), torch.nn.GELU(), torch.nn.Linear(*w2.shape)).double()
        with torch.no_grad():
            for layer, w, b in ((layers[0], w1, b1), (layers[2], w2, b2)):
                layer.weight.copy_(torch.from_numpy(w.T))
                layer.bias.copy_(torch.from_numpy(b))
            return layers(torch.from_numpy(x)).numpy()

    assert ch10.q1.evaluate(with_torch).correct


def test_q2_by_hand():
    got = ch10.q2.reference(np.array([7, 8, 9, 3]), 1, 2)  # visual, visual, 7 | 8 9 3
    assert got.tolist() == [-100, -100, 8, 9, 3, -100] and got.dtype == np.int64


def test_q2_rejects_float_targets_and_a_missing_last_position():
    assert "integer token ids" in _message(ch10.q2, lambda ids, p, v: ch10.q2.reference(ids, p, v).astype(float))
    assert "wrong shape" in _message(ch10.q2, lambda ids, p, v: ch10.q2.reference(ids, p, v)[:-1])


def test_q2_rejects_a_zero_instead_of_ignore():
    def zeros(ids, n_prompt, n_visual):
        targets = ch10.q2.reference(ids, n_prompt, n_visual)
        return np.where(targets == -100, 0, targets)

    assert "values are off" in _message(ch10.q2, zeros)


def test_q3_by_hand():
    assert ch10.q3.reference(["Red ", "red.", "12"], ["red", "red", "2"]) == pytest.approx(1 / 3)


def test_q3_rejects_a_percentage():
    assert "is not right" in _message(ch10.q3, lambda p, r: 100 * ch10.q3.reference(p, r))


def test_q4_accepts_an_array_of_ints_and_rejects_floats():
    assert ch10.q4.evaluate(lambda *args: np.array(ch10.q4.reference(*args), dtype=np.int64)).correct
    assert "ints, not floats" in _message(ch10.q4, lambda *args: [float(t) for t in ch10.q4.reference(*args)])
    assert "return a list of token ids" in _message(ch10.q4, lambda *args: "".join(map(str, ch10.q4.reference(*args))))


def test_q4_toy_model_has_a_tie_and_a_stop():
    model, prompt, stop, limit = ch10.q4.cases()[2]
    assert model([1])[2] == model([1])[3]
    assert ch10.q4.reference(model, prompt, stop, limit) == [2, 2, 2]
