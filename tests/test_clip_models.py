"""Mini-CLIP twins: shapes, bad input, padding, the bag-of-words baseline, and Keras equal to torch (1e-5)."""
import mmcourse  # noqa: F401  (environment defaults before the frameworks load)
import numpy as np
import pytest
import torch

from mmcourse.clip import CLIPConfig
from mmcourse.env import import_tensorflow
from mmcourse.torch_models import clip as torch_clip

tf = import_tensorflow()
from mmcourse.keras_models import clip as keras_clip  # noqa: E402  (after TensorFlow: its start-up lines stay silent)

pytestmark = pytest.mark.usefixtures("one_torch_thread")
V, B, L = 19, 4, 9
CONFIG = CLIPConfig(vocab_size=V, channels=(4, 8, 8, 12), word_dim=8, text_width=10, embed_dim=6)
TOL = 1e-5


def word_ids(rng, lengths=(9, 3, 1, 6), width=L):
    """Word ids (B, width) with rows of the given true lengths, 0-padded at the end."""
    ids = np.zeros((len(lengths), width), dtype=np.int64)
    for row, n in zip(ids, lengths):
        row[:n] = rng.integers(1, V, n)
    return ids


@pytest.fixture(scope="module")
def models():
    """A torch MiniCLIP with random weights and its Keras twin holding the same weights."""
    torch.manual_seed(0)
    torch_model = torch_clip.MiniCLIP(CONFIG).eval()
    with torch.no_grad():
        torch_model.logit_scale.logit_scale.fill_(3.1)
    keras_model = keras_clip.MiniCLIP(CONFIG)
    keras_clip.copy_weights_from_torch(keras_model, torch_model)
    return torch_model, keras_model


def test_torch_mini_clip_gives_visual_tokens_embeddings_and_the_logit_scale(models):
    torch_model, _ = models
    rng = np.random.default_rng(0)
    images, ids = torch.rand(B, 3, 32, 32), torch.tensor(word_ids(rng))
    tokens = torch_model.image_encoder.tokens(images)
    assert tokens.shape == (B, 4, 12) == (B, torch_model.image_encoder.n_tokens, CONFIG.token_dim)
    image_emb, text_emb, t = torch_model(images, ids)
    assert image_emb.shape == text_emb.shape == (B, 6) and t.shape == ()
    assert t.item() == pytest.approx(3.1)
    torch.testing.assert_close(image_emb, torch_model.image_encoder.proj(tokens.flatten(1)))
    encoder, feature_map = torch_model.image_encoder, images
    for conv in (encoder.conv1, encoder.conv2, encoder.conv3, encoder.conv4):
        feature_map = encoder.pool(torch.relu(conv(feature_map)))  # ends (B, D, 2, 2)
    torch.testing.assert_close(tokens[:, 1], feature_map[:, :, 0, 1])  # token 1 = the top right cell
    torch.testing.assert_close(tokens[:, 2], feature_map[:, :, 1, 0])  # token 2 = the bottom left cell


def test_text_embedding_does_not_depend_on_how_much_padding_follows(models):
    torch_model, keras_model = models
    ids = word_ids(np.random.default_rng(1))
    wider = np.pad(ids, ((0, 0), (0, 7)))  # (B, L + 7): the same captions, more <pad>
    with torch.no_grad():
        torch.testing.assert_close(torch_model.encode_text(torch.tensor(ids)),
                                   torch_model.encode_text(torch.tensor(wider)), atol=1e-6, rtol=1e-6)
    np.testing.assert_allclose(keras_model.encode_text(ids), keras_model.encode_text(wider), atol=1e-6)


def test_keras_twin_gives_the_torch_tokens_and_embeddings_to_1e_5(models):
    torch_model, keras_model = models
    rng = np.random.default_rng(2)
    images = rng.random((B, 3, 32, 32), dtype=np.float32)
    ids = word_ids(rng)
    with torch.no_grad():
        image_emb, text_emb, t = torch_model(torch.tensor(images), torch.tensor(ids))
        tokens = torch_model.image_encoder.tokens(torch.tensor(images))
    keras_image, keras_text, keras_t = keras_model((images.transpose(0, 2, 3, 1), ids))
    np.testing.assert_allclose(np.asarray(keras_image), image_emb.numpy(), atol=TOL, rtol=TOL)
    np.testing.assert_allclose(np.asarray(keras_text), text_emb.numpy(), atol=TOL, rtol=TOL)
    np.testing.assert_allclose(np.asarray(keras_model.image_encoder.tokens(images.transpose(0, 2, 3, 1))),
                               tokens.numpy(), atol=TOL, rtol=TOL)
    assert float(keras_t) == pytest.approx(t.item())
    assert float(keras_clip.clip_loss(keras_image, keras_text, keras_t)) == pytest.approx(
        torch_clip.clip_loss(image_emb, text_emb, t).item(), abs=TOL)


def test_copying_weights_refuses_other_sizes_and_the_bag_of_words_model_and_changes_nothing(models):
    torch_model, keras_model = models
    other = keras_clip.MiniCLIP(CLIPConfig(vocab_size=V, channels=(4, 8, 8, 16), word_dim=8, text_width=10,
                                           embed_dim=6))
    before = [w.copy() for w in other.get_weights()]
    with pytest.raises(ValueError, match="layer 'conv4'.*same CLIPConfig"):
        keras_clip.copy_weights_from_torch(other, torch_model)
    assert all(np.array_equal(a, b) for a, b in zip(before, other.get_weights()))
    bow = torch_clip.MiniCLIP(CONFIG, text_encoder=torch_clip.BagOfWordsEncoder(CONFIG))
    with pytest.raises(ValueError, match="GRU TextEncoder, got text encoder BagOfWordsEncoder"):
        keras_clip.copy_weights_from_torch(keras_model, bow)


@pytest.mark.parametrize("images, message", [
    (torch.rand(B, 32, 32, 3), r"\(B, 3, 32, 32\).*channels first"),
    (torch.zeros(B, 3, 32, 32, dtype=torch.uint8), "float tensor"),
    (torch.rand(3, 32, 32), r"got Tensor torch.float32 \(3, 32, 32\)"),
    (np.zeros((B, 3, 32, 32), np.float32), "got ndarray"),
])
def test_torch_image_encoder_names_what_is_wrong_with_the_images(models, images, message):
    with pytest.raises(ValueError, match=message):
        models[0].encode_image(images)


@pytest.mark.parametrize("ids, message", [
    (torch.ones(B, L), "integer tensor"),
    (torch.ones(L, dtype=torch.int64), r"\(B, L\)"),
    (torch.full((B, L), V), r"in \[0, vocab_size = 19\)"),
    (torch.tensor([[3, 0, 4]]), "pad \\(id 0\\) only at its end"),
    (torch.tensor([[3, 4], [0, 0]]), "at least one word"),
])
def test_torch_text_encoders_name_what_is_wrong_with_the_ids(models, ids, message):
    with pytest.raises(ValueError, match=message):
        models[0].encode_text(ids)
    with pytest.raises(ValueError, match=message):
        torch_clip.BagOfWordsEncoder(CONFIG)(ids)


def test_keras_encoders_name_what_is_wrong_with_the_input(models):
    keras_model = models[1]
    with pytest.raises(ValueError, match=r"\(B, 32, 32, 3\).*channels last"):
        keras_model.encode_image(np.zeros((B, 3, 32, 32), np.float32))
    with pytest.raises(ValueError, match="integer tensor"):
        keras_model.encode_text(np.ones((B, L), np.float32))
    with pytest.raises(ValueError, match="same B pairs"):
        keras_model((np.zeros((B, 32, 32, 3), np.float32), np.ones((B + 1, L), np.int64)))
    with pytest.raises(ValueError, match="same B pairs"):
        models[0](torch.rand(B, 3, 32, 32), torch.ones(B + 1, L, dtype=torch.int64))


def test_bag_of_words_encoder_is_blind_to_word_order_and_the_gru_is_not(models):
    torch_model = models[0]
    bow = torch_clip.BagOfWordsEncoder(CONFIG)
    ids = torch.tensor([[2, 5, 7, 9, 0], [2, 9, 7, 5, 0]])  # the same words, two orders
    with torch.no_grad():
        by_count, by_gru = bow(ids), torch_model.encode_text(ids)
        counts = torch.zeros(1, V)
        counts[0, [2, 5, 7, 9]] = 1
        torch.testing.assert_close(by_count[0], bow.proj(counts)[0])
    torch.testing.assert_close(by_count[0], by_count[1])
    assert (by_gru[0] - by_gru[1]).abs().max() > 1e-3


@pytest.mark.parametrize("kwargs, message", [
    ({"vocab_size": 1}, "vocab_size must be at least 2"),
    ({"vocab_size": 19, "embed_dim": 0}, "embed_dim must be a positive int"),
    ({"vocab_size": 19, "channels": (8, 8, 8)}, "channels must be 4 positive ints"),
    ({"vocab_size": 19, "text_width": 7}, "text_width must be even"),
])
def test_clip_config_refuses_bad_sizes(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CLIPConfig(**kwargs)


def test_keras_twin_of_the_trained_mini_clip_checkpoint_gives_its_embeddings_to_1e_5():
    from mmcourse.data.scene_captions import caption_vocabulary, encode_captions, single_object_scenes
    from mmcourse.pretrained.course import load_course_model

    torch_model = load_course_model("mini_clip")
    keras_model = keras_clip.MiniCLIP(torch_model.config)
    keras_clip.copy_weights_from_torch(keras_model, torch_model)
    scenes = single_object_scenes()[1].subset(range(0, 32, 4))  # 8 scenes of held-out combinations
    images = scenes.pixels()
    ids = encode_captions(scenes.captions, caption_vocabulary())[0]
    with torch.no_grad():
        image_emb, text_emb, _ = torch_model(torch.tensor(images), torch.tensor(ids))
    keras_image, keras_text, _ = keras_model((images.transpose(0, 2, 3, 1), ids))
    np.testing.assert_allclose(np.asarray(keras_image), image_emb.numpy(), atol=TOL, rtol=TOL)
    np.testing.assert_allclose(np.asarray(keras_text), text_emb.numpy(), atol=TOL, rtol=TOL)
