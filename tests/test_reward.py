"""The Bradley–Terry reward model: the twins agree, its loss is Bradley–Terry's likelihood, it reads slots."""
import numpy as np
import pytest
import torch
from torch.nn import functional as F

from mmcourse.data.shape_scenes import SceneObject
from mmcourse.feedback import RewardConfig, caption_slots
from mmcourse.keras_models import reward as keras_reward
from mmcourse.torch_models import reward as torch_reward


def _inputs(config: RewardConfig, batch: int = 6, seed: int = 0):
    rng = np.random.default_rng(seed)
    tokens = rng.normal(size=(batch, config.n_places, config.feature_dim)).astype("float32")
    slots = np.stack([rng.integers(0, n, size=(batch, config.n_places)) for n in (6, 5, 3)], axis=-1)
    return tokens, slots.astype("int64")


@pytest.mark.parametrize("config", [RewardConfig(), RewardConfig(feature_dim=8, n_places=9, width=5)])
def test_keras_twin_equals_torch_with_copied_weights(config):
    torch.manual_seed(0)
    model = torch_reward.RewardModel(config).eval()
    twin = keras_reward.copy_weights_from_torch(keras_reward.RewardModel(config), model)
    tokens, slots = _inputs(config)
    expected = model(torch.from_numpy(tokens), torch.from_numpy(slots)).detach().numpy()
    assert expected.shape == (6,)
    assert np.abs(np.asarray(twin(tokens, slots)) - expected).max() <= 1e-5


def test_bradley_terry_loss_is_binary_cross_entropy_on_the_difference_in_both_frameworks():
    rc, rr = torch.tensor([2.0, -1.0, 0.5, 30.0]), torch.tensor([1.0, 1.0, 0.5, -30.0])
    expected = F.binary_cross_entropy_with_logits(rc - rr, torch.ones(4))
    assert torch_reward.bradley_terry_loss(rc, rr).item() == pytest.approx(expected.item(), rel=1e-6)
    assert float(keras_reward.bradley_terry_loss(rc.numpy(), rr.numpy())) == pytest.approx(expected.item(), rel=1e-6)
    assert torch_reward.bradley_terry_loss(torch.zeros(3), torch.zeros(3)).item() == pytest.approx(np.log(2))


def test_bad_inputs_are_refused_with_the_shape_expected():
    model = torch_reward.RewardModel(RewardConfig())
    tokens, slots = _inputs(RewardConfig())
    with pytest.raises(ValueError, match=r"tokens must be \(B, 4, 128\) and slots \(B, 4, 3\)"):
        model(torch.from_numpy(tokens), torch.from_numpy(slots[:, :3]))
    with pytest.raises(ValueError, match="width must be a positive int"):
        RewardConfig(width=0)
    with pytest.raises(ValueError, match="one sequence of SceneObjects per caption"):
        caption_slots("a small red circle at the top left")


def test_caption_slots_name_colour_shape_and_count_per_cell():
    red_circle = SceneObject("circle", "red", "small", 0, 1)
    named = [[red_circle, SceneObject("square", "pink", "large", 0, 1), SceneObject("blob", "blue", "small", 1, 0)],
             []]
    slots = caption_slots(named)
    assert slots.shape == (2, 4, 3) and slots.dtype == np.int64
    assert slots[0].tolist() == [[0, 0, 0], [1, 1, 2], [3, 4, 1], [0, 0, 0]]  # red circle named twice; blue, no shape
    assert not slots[1].any()  # nothing named
    with pytest.raises(ValueError, match="outside the 2x2 grid"):
        caption_slots([[SceneObject("circle", "red", "small", 2, 0)]])


def test_reward_model_learns_which_colour_a_cell_shows():
    """Pairs prefer the caption naming the colour that the cell's token encodes: the model learns it from 256 pairs."""
    config = RewardConfig(feature_dim=8, n_places=1, width=16)
    rng = np.random.default_rng(0)
    colour = rng.integers(1, 5, size=256)  # the true colour id of each one-cell scene
    tokens = (np.eye(8)[colour] + 0.1 * rng.normal(size=(256, 8)))[:, None].astype("float32")  # (256, 1, 8)
    chosen = np.stack([colour, np.ones(256, int), np.ones(256, int)], -1)[:, None]  # (256, 1, 3)
    rejected = chosen.copy()
    rejected[:, 0, 0] = 1 + (colour + rng.integers(0, 3, size=256)) % 4  # another colour
    torch.manual_seed(0)
    model = torch_reward.RewardModel(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    t, c, r = (torch.from_numpy(a) for a in (tokens, chosen, rejected))
    for _ in range(150):
        loss = torch_reward.bradley_terry_loss(model(t, c), model(t, r))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.1
    assert (model(t, c) > model(t, r)).float().mean().item() >= 0.98
