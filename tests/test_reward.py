"""The Bradley–Terry reward model: torch and Keras twins agree, and its loss is Bradley–Terry's likelihood."""
import numpy as np
import pytest
import torch
from torch.nn import functional as F

from mmcourse.feedback import RewardConfig
from mmcourse.keras_models import reward as keras_reward
from mmcourse.torch_models import reward as torch_reward


def _inputs(config: RewardConfig, batch: int = 6, seed: int = 0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(batch, config.embed_dim)).astype("float32"),
            rng.normal(size=(batch, config.embed_dim)).astype("float32"))


@pytest.mark.parametrize("config", [RewardConfig(), RewardConfig(embed_dim=8, width=5)])
def test_keras_twin_equals_torch_with_copied_weights(config):
    torch.manual_seed(0)
    model = torch_reward.RewardModel(config).eval()
    twin = keras_reward.copy_weights_from_torch(keras_reward.RewardModel(config), model)
    image, caption = _inputs(config)
    expected = model(torch.from_numpy(image), torch.from_numpy(caption)).detach().numpy()
    assert expected.shape == (6,)
    assert np.abs(np.asarray(twin(image, caption)) - expected).max() <= 1e-5


def test_bradley_terry_loss_is_binary_cross_entropy_on_the_difference_in_both_frameworks():
    rc, rr = torch.tensor([2.0, -1.0, 0.5, 30.0]), torch.tensor([1.0, 1.0, 0.5, -30.0])
    expected = F.binary_cross_entropy_with_logits(rc - rr, torch.ones(4))
    assert torch_reward.bradley_terry_loss(rc, rr).item() == pytest.approx(expected.item(), rel=1e-6)
    assert float(keras_reward.bradley_terry_loss(rc.numpy(), rr.numpy())) == pytest.approx(expected.item(), rel=1e-6)
    assert torch_reward.bradley_terry_loss(torch.zeros(3), torch.zeros(3)).item() == pytest.approx(np.log(2))


def test_bad_inputs_are_refused_with_the_shape_expected():
    model = torch_reward.RewardModel(RewardConfig())
    image, caption = _inputs(RewardConfig())
    with pytest.raises(ValueError, match=r"must both be \(B, 64\) embeddings"):
        model(torch.from_numpy(image), torch.from_numpy(caption[:, :5]))
    with pytest.raises(ValueError, match="width must be a positive int"):
        RewardConfig(width=0)


def test_reward_model_learns_a_preference_it_can_see():
    """Pairs prefer the caption whose embedding matches the image's: the head learns it from 256 pairs."""
    config = RewardConfig(embed_dim=8, width=16)
    rng = np.random.default_rng(0)
    image = rng.normal(size=(256, 8)).astype("float32")
    chosen = image + 0.3 * rng.normal(size=(256, 8)).astype("float32")
    rejected = rng.normal(size=(256, 8)).astype("float32")
    torch.manual_seed(0)
    model = torch_reward.RewardModel(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    i, c, r = map(torch.from_numpy, (image, chosen, rejected))
    for _ in range(150):
        loss = torch_reward.bradley_terry_loss(model(i, c), model(i, r))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.1
    assert (model(i, c) > model(i, r)).float().mean().item() >= 0.98
