"""mmcourse.data.vqa and the VQA twins: disjoint splits, a train-only vocabulary, shapes, masking, the source's bugs."""
import numpy as np
import pytest
import torch

from mmcourse.data.shape_scenes import ANSWERS
from mmcourse.text import Vocabulary
from mmcourse.torch_models.vqa import RawIdsVQANet, VQANet
from mmcourse.data.vqa import (accuracy_per_type, blank_images, blank_questions, encode_questions, load_vqa,
                               make_vqa_dataloader, question_prior)


@pytest.fixture(scope="module")
def data():
    return load_vqa(n_train=300, n_val=60, n_test=60, seed=0)


def test_splits_come_from_different_seeds_and_are_scaled(data):
    assert (len(data.train), len(data.val), len(data.test)) == (300, 60, 60)
    assert data.train.images.dtype == np.float32 and data.train.images.shape == (300, 32, 32, 3)
    assert 0.0 <= data.train.images.min() and data.train.images.max() <= 1.0
    assert not np.array_equal(data.train.images[:60], data.test.images)
    np.testing.assert_array_equal(data.test.answer_ids, [ANSWERS.index(a) for a in data.test.answers])


def test_vocabulary_comes_from_train_questions_and_unseen_words_map_to_unk(data):
    ids, lengths = encode_questions(["what colour is the hexagon?"], data.vocab)
    assert ids.shape == (1, 8) and lengths.tolist() == [5]
    assert ids[0, 4] == Vocabulary.UNK_ID and ids[0, 3] == data.vocab.stoi["the"]
    assert ids[0, 5:].tolist() == [0, 0, 0]
    assert data.vocab.decode(data.train.question_ids[0][: data.train.lengths[0]]) == \
        data.train.questions[0].rstrip("?").split()


def test_question_prior_uses_the_majority_train_answer_per_type(data):
    accuracy, majority = question_prior(data.train, data.test)
    assert majority["exists"] in ("yes", "no") and majority["count"] in ("0", "1", "2", "3")
    expected = np.mean([majority[t] == a for t, a in zip(data.test.question_types, data.test.answers)])
    assert accuracy == pytest.approx(expected) and 0.2 < accuracy < 0.7


def test_accuracy_per_type_and_ablations(data):
    per_type = accuracy_per_type(data.test.answer_ids, data.test)
    assert set(per_type.values()) == {1.0}
    assert not blank_images(data.test).images.any()
    blank = blank_questions(data.test)
    assert (blank.question_ids[:, 0] == Vocabulary.UNK_ID).all() and not blank.question_ids[:, 1:].any()
    with pytest.raises(ValueError, match="predicted must have shape"):
        accuracy_per_type(np.zeros(3), data.test)


def test_dataloader_yields_channels_first_images_ids_and_lengths(data):
    (images, ids, lengths), answers = next(iter(make_vqa_dataloader(data.train, batch_size=16)))
    assert images.shape == (16, 3, 32, 32) and ids.shape == (16, 8) and lengths.shape == (16,)
    assert answers.dtype == torch.int64
    logits = VQANet(len(data.vocab))(images, ids, lengths)
    assert logits.shape == (16, len(ANSWERS))
    assert RawIdsVQANet(len(data.vocab))(images, ids, lengths).shape == (16, len(ANSWERS))


def test_torch_question_encoder_ignores_padding():
    torch.manual_seed(0)
    net = VQANet(vocab_size=10)
    ids = torch.tensor([[3, 4, 5, 0, 0, 0], [3, 4, 5, 0, 0, 0]])
    short = net.encode_question(ids[:, :3], torch.tensor([3, 3]))
    long = net.encode_question(ids, torch.tensor([3, 3]))
    torch.testing.assert_close(short, long)


def test_bad_inputs_raise_value_errors():
    net = VQANet(vocab_size=10)
    with pytest.raises(ValueError, match="images must have shape"):
        net(torch.zeros(2, 32, 32, 3), torch.ones(2, 4, dtype=torch.long), torch.ones(2, dtype=torch.long))
    with pytest.raises(ValueError, match="lengths"):
        net(torch.zeros(2, 3, 32, 32), torch.ones(2, 4, dtype=torch.long), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="n_train"):
        load_vqa(n_train=0)
    with pytest.raises(ValueError, match="vocab_size"):
        VQANet(vocab_size=1)


def test_keras_twin_has_the_same_layers_and_parameter_count_and_masks_padding():
    from mmcourse.keras_models.vqa import build_naive_model, build_vqa_model

    model = build_vqa_model(vocab_size=29)
    net = VQANet(vocab_size=29)
    assert model.count_params() == sum(p.numel() for p in net.parameters()) - 4 * 32  # torch LSTM: two biases, Keras one
    torch_names = {name for name, _ in net.named_children()} - {"image_flatten"}
    keras_names = {layer.name for layer in model.layers}
    assert torch_names <= keras_names
    out = model({"images": np.zeros((1, 32, 32, 3), np.float32), "question_ids": np.array([[3, 4, 5, 0, 0, 0, 0, 0]])})
    assert out.shape == (1, len(ANSWERS)) and np.isclose(float(np.sum(out)), 1.0, atol=1e-5)
    short = build_vqa_model(vocab_size=29, max_len=3)
    short.set_weights(model.get_weights())
    images = np.random.default_rng(0).random((1, 32, 32, 3)).astype(np.float32)
    np.testing.assert_allclose(model({"images": images, "question_ids": np.array([[3, 4, 5, 0, 0, 0, 0, 0]])}),
                               short({"images": images, "question_ids": np.array([[3, 4, 5]])}), atol=1e-6)
    with pytest.raises(ValueError, match="matching shapes"):
        build_naive_model(image_size=32, max_len=8)
