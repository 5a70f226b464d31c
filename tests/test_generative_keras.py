"""Chapter 11's Keras twins: weights copied from torch give the same outputs; the embedding initialisers differ."""
import numpy as np
import pytest
import torch

from mmcourse.generative import DenoiserConfig, GANConfig
from mmcourse.keras_models import generative as kg
from mmcourse.torch_models import generative as tg

pytestmark = pytest.mark.usefixtures("one_torch_thread")
IDS = torch.tensor([[2, 3, 0], [5, 0, 0], [1, 0, 0], [4, 4, 4]])


def _channels_last(x: torch.Tensor) -> np.ndarray:
    return x.detach().numpy().transpose(0, 2, 3, 1)


@pytest.mark.parametrize("channels, size", [(1, 16), (3, 32)])
def test_generator_and_discriminator_match_torch_after_copying_weights(channels, size):
    torch.manual_seed(0)
    config = GANConfig(vocab_size=12, channels=channels, image_size=size, width=8, z_dim=4, word_dim=6)
    z, x = torch.randn(4, 4), torch.randn(4, channels, size, size)
    generator, k_generator = tg.Generator(config), kg.Generator(config)
    kg.copy_weights_from_torch(k_generator, generator)
    np.testing.assert_allclose(np.asarray(k_generator((z.numpy(), IDS.numpy()))), _channels_last(generator(z, IDS)),
                               atol=1e-5)
    discriminator, k_discriminator = tg.Discriminator(config), kg.Discriminator(config)
    kg.copy_weights_from_torch(k_discriminator, discriminator)
    np.testing.assert_allclose(np.asarray(k_discriminator((_channels_last(x), IDS.numpy()))),
                               discriminator(x, IDS).detach().numpy(), atol=1e-5)


@pytest.mark.parametrize("target", ["noise", "x0"])
def test_denoiser_matches_torch_after_copying_weights(target):
    torch.manual_seed(1)
    config = DenoiserConfig(vocab_size=12, channels=3, image_size=8, width=16, n_blocks=2, word_dim=6, target=target)
    x, t = torch.randn(4, 3, 8, 8), torch.tensor([0, 7, 50, 99])
    denoiser, k_denoiser = tg.Denoiser(config), kg.Denoiser(config)
    kg.copy_weights_from_torch(k_denoiser, denoiser)
    np.testing.assert_allclose(np.asarray(k_denoiser((_channels_last(x), t.numpy(), IDS.numpy()))),
                               _channels_last(denoiser(x, t, IDS)), atol=1e-5)
    np.testing.assert_allclose(np.asarray(kg.timestep_embedding(t.numpy(), 16)),
                               tg.timestep_embedding(t, 16).numpy(), atol=1e-6)


def test_judge_matches_torch_after_copying_weights():
    torch.manual_seed(2)
    judge, k_judge = tg.Judge(3, 32, (4, 3, 2, 4)), kg.Judge(3, 32, (4, 3, 2, 4))
    kg.copy_weights_from_torch(k_judge, judge)
    x = torch.randn(3, 3, 32, 32)
    np.testing.assert_allclose(np.asarray(k_judge(_channels_last(x))), judge(x).detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(np.asarray(k_judge.features(_channels_last(x))), judge.features(x).detach().numpy(),
                               atol=1e-5)


def test_copying_refuses_another_model_or_other_sizes_and_changes_nothing():
    config = GANConfig(vocab_size=12, width=8)
    k_generator = kg.Generator(config)
    before = [w.copy() for w in k_generator.get_weights()]
    with pytest.raises(ValueError, match="torch twin of a Keras Generator"):
        kg.copy_weights_from_torch(k_generator, tg.Discriminator(config))
    with pytest.raises(ValueError, match="build both with the same arguments"):
        kg.copy_weights_from_torch(k_generator, tg.Generator(GANConfig(vocab_size=12, width=16)))
    assert all(np.array_equal(a, b) for a, b in zip(before, k_generator.get_weights()))


def test_the_embedding_initialisers_differ_thirty_fold():
    normal = kg.TextEncoder(12, 32).wte.get_weights()[0]
    uniform = kg.TextEncoder(12, 32, "uniform").wte.get_weights()[0]
    assert 0.8 < normal.std() < 1.2 and np.abs(uniform).max() <= 0.05
    assert tg.TextEncoder(12, 32).wte.weight.std() > 0.8  # torch's default is N(0, 1)
    with pytest.raises(ValueError, match="embedding_init must be one of"):
        kg.TextEncoder(12, 32, "zeros")


def test_keras_gan_trains_a_few_steps_with_finite_losses():
    from mmcourse.data.text_to_image import load_digit_captions
    from mmcourse.experiments import generative as exp

    data = load_digit_captions("val").subset(np.arange(32))
    config = GANConfig(vocab_size=12, width=8, z_dim=8, word_dim=8)
    generator, discriminator = kg.Generator(config), kg.Discriminator(config)
    history = exp.train_gan_keras(generator, discriminator, data, steps=2, batch_size=8, progress=False)
    assert len(history["g_loss"]) == 2 and np.isfinite(history["d_loss"]).all()
    images = exp.sample_gan_keras(generator, data.encode()[:5])
    assert images.shape == (5, 1, 16, 16) and np.abs(images).max() <= 1


def test_the_course_gan_draws_the_same_digits_in_keras():
    from mmcourse.experiments import generative as exp
    from mmcourse.pretrained.course import load_course_model

    generator = load_course_model("gan_digits")
    k_generator = kg.Generator(generator.config)
    kg.copy_weights_from_torch(k_generator, generator)
    ids = np.arange(2, 12)[:, None]
    np.testing.assert_allclose(exp.sample_gan_keras(k_generator, ids, seed=3), exp.sample_gan(generator, ids, seed=3),
                               atol=1e-5)
