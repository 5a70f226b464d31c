"""Chapter 08's study of why attention replaced the RNN: path length and time per layer."""
import numpy as np
import pytest

from mmcourse.experiments.attention_vs_rnn import first_input_influence, time_layers


def test_the_first_input_fades_through_an_rnn_but_not_through_attention():
    norms = first_input_influence([4, 16, 64])
    assert norms["rnn"].shape == norms["attention"].shape == (3,)
    assert norms["rnn"][2] < 1e-10 * norms["rnn"][0]  # T - 1 recurrent steps: exponential decay
    assert norms["attention"][2] > 1e-3 * norms["attention"][0]  # one step: only diluted over more keys
    assert (norms["attention"][1:] > norms["rnn"][1:]).all()


def test_influence_is_deterministic_for_a_seed():
    a, b = first_input_influence([8], seed=3), first_input_influence([8], seed=3)
    np.testing.assert_array_equal(a["rnn"], b["rnn"])
    np.testing.assert_array_equal(a["attention"], b["attention"])


def test_time_layers_gives_one_row_of_positive_times_per_length():
    rows = time_layers([8, 32], batch=2, width=16, repeats=2)
    assert [row["T"] for row in rows] == [8, 32]
    assert all(row["rnn_ms"] > 0 and row["attention_ms"] > 0 for row in rows)


@pytest.mark.parametrize("lengths, error", [([], ValueError), ([1], ValueError), ([4.0], TypeError)])
def test_bad_lengths_are_refused(lengths, error):
    with pytest.raises(error, match="lengths"):
        first_input_influence(lengths)
