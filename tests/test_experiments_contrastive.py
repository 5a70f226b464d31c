"""Chapter 09's mini-CLIP data and experiments: the compositional split, recall@k, training, zero-shot, hard negatives,
and the ``mini_clip`` course checkpoint (its sha256, and the recall it states)."""
import re

import mmcourse  # noqa: F401  (environment defaults before the frameworks load)
import numpy as np
import pytest
import torch
from sklearn.metrics import top_k_accuracy_score

from mmcourse.clip import CLIPConfig
from mmcourse.data import scene_captions as sc
from mmcourse.data.shape_scenes import COLOURS, SHAPES, make_scenes
from mmcourse.experiments import contrastive
from mmcourse.pretrained import course
from mmcourse.pretrained.course import CHECKPOINTS, CheckpointError, load_course_model
from mmcourse.text import tokenize
from mmcourse.torch_models.clip import MiniCLIP

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def held_out_phrases(text: str) -> set[tuple[str, str]]:
    """The (colour, shape) pairs a caption names, read from its words."""
    return {(c, s) for c, s in re.findall(r"(\w+) (circle|square|triangle)", text)} & set(sc.HELD_OUT)


@pytest.fixture(scope="module")
def small():
    """A small draw of the three splits, with the same rules as the default one."""
    return sc.load_scene_captions(n_train=600, n_test=60, n_compositional=60)


@pytest.fixture(scope="module")
def checkpoint():
    return load_course_model("mini_clip")


@pytest.fixture(scope="module")
def singles():
    return sc.single_object_scenes()


# ---------------------------------------------------------------- the data


def test_no_training_scene_or_caption_holds_a_held_out_combination(small):
    assert not any(held_out_phrases(text) for text in small.train.captions)
    assert not any(sc.has_held_out(objs) for objs in small.train.objects + small.test.objects)
    assert all(held_out_phrases(text) for text in small.compositional.captions)
    kept = {(o.colour, o.shape) for objs in small.train.objects for o in objs}
    assert {c for c, _ in kept} == set(COLOURS) and {s for _, s in kept} == set(SHAPES)  # every word still seen


def test_test_scenes_are_new_and_distinct_and_captions_match_images(small):
    train = set(small.train.captions)
    for split in (small.train, small.test, small.compositional):
        assert len(set(split.captions)) == len(split)
        assert split.images.shape == (len(split), 32, 32, 3) and split.images.dtype == np.uint8
    assert not train & set(small.test.captions)
    np.testing.assert_array_equal(small.test.images[5], sc.render(small.test.objects[5]))
    again = sc.load_scene_captions(n_train=600, n_test=60, n_compositional=60)
    assert again.test.captions == small.test.captions and np.array_equal(again.train.images, small.train.images)


def test_rendered_scenes_equal_the_ones_make_scenes_draws():
    scenes = make_scenes(60, seed=3)
    for objects, image in zip(scenes.objects, scenes.images):
        np.testing.assert_array_equal(sc.render(objects), image)


def test_the_vocabulary_is_fixed_by_the_grammar_not_by_the_sample_drawn(small):
    assert small.vocab.itos == sc.caption_vocabulary().itos and len(small.vocab) == 19
    words_seen = {w for text in small.train.captions + small.compositional.captions for w in sc.words(text)}
    assert words_seen == set(small.vocab.itos[2:])  # every word of the grammar occurs, none is unknown


def test_captions_encode_to_padded_ids_with_the_words_tokenize_gives(small):
    texts = small.compositional.captions[:20] + ["a red circle"]
    assert [sc.words(t) for t in texts] == [tokenize(t) for t in texts]
    ids, lengths = small.encode(texts)
    assert ids.shape == (21, sc.MAX_LEN) and ids.dtype == np.int64 and lengths[-1] == 3
    assert small.vocab.decode(ids[-1, :3]) == ["a", "red", "circle"] and not ids[-1, 3:].any()
    with pytest.raises(ValueError, match="max_len = 4 words, caption 0 has 8"):
        small.encode(["a large red circle at the top left"], max_len=4)
    with pytest.raises(ValueError, match="wrap it as"):
        small.encode("a red circle")


def test_single_object_scenes_are_all_96_split_by_the_held_out_combinations(singles):
    known, held = singles
    assert (len(known), len(held)) == (64, 32)
    assert all(sc.has_held_out(objs) for objs in held.objects) and not any(sc.has_held_out(o) for o in known.objects)


@pytest.mark.parametrize("held_out, message", [
    ((("red", "circle"), ("red", "square"), ("red", "triangle")), r"no training scene with \['red'\]"),
    ((("pink", "circle"),), "held_out must hold"),
])
def test_a_held_out_set_that_hides_a_word_or_is_unknown_is_refused(held_out, message):
    with pytest.raises(ValueError, match=message):
        sc.load_scene_captions(n_train=10, n_test=2, n_compositional=2, held_out=held_out)


# ---------------------------------------------------------------- recall@k


def test_recall_at_k_on_hand_cases():
    perfect = np.eye(3)
    assert contrastive.recall_at_k(perfect, ks=(1,)) == {"image_to_text_R@1": 1.0, "text_to_image_R@1": 1.0}
    s = np.array([[0.9, 0.8, 0.3],     # image 0: its text first
                  [0.95, 0.5, 0.25],   # image 1: its text second (text 0 scores higher)
                  [0.3, 0.4, 0.2]])    # image 2: its text third
    scores = contrastive.recall_at_k(s, ks=(1, 2, 3))
    assert scores["image_to_text_R@1"] == pytest.approx(1 / 3)
    assert scores["image_to_text_R@2"] == pytest.approx(2 / 3) and scores["image_to_text_R@3"] == 1.0
    # columns: text 0 ranks its image second (0.95 > 0.9), text 1 second (0.8 > 0.5), text 2 third (0.3, 0.25 > 0.2)
    assert scores["text_to_image_R@1"] == pytest.approx(0.0)
    assert scores["text_to_image_R@2"] == pytest.approx(2 / 3)


def test_recall_at_k_counts_a_tie_with_the_true_item_against_it():
    tied = np.array([[0.5, 0.5], [0.1, 0.7]])  # image 0 scores both texts 0.5
    scores = contrastive.recall_at_k(tied, ks=(1, 2))
    assert scores["image_to_text_R@1"] == 0.5 and scores["image_to_text_R@2"] == 1.0
    swapped = tied[::-1, ::-1]  # the same pairs in the other order: the same result
    assert contrastive.recall_at_k(swapped, ks=(1, 2)) == scores
    assert contrastive.recall_at_k(np.ones((4, 4)), ks=(1, 3, 4))["text_to_image_R@3"] == 0.0


def test_recall_at_k_equals_scikit_learn_top_k_accuracy_without_ties():
    s = np.random.default_rng(0).standard_normal((40, 40))
    labels = np.arange(40)
    for k in (1, 5):
        scores = contrastive.recall_at_k(s, ks=(k,))
        assert scores[f"image_to_text_R@{k}"] == pytest.approx(top_k_accuracy_score(labels, s, k=k, labels=labels))
        assert scores[f"text_to_image_R@{k}"] == pytest.approx(top_k_accuracy_score(labels, s.T, k=k, labels=labels))


@pytest.mark.parametrize("similarity, ks, message", [
    (np.ones((2, 3)), (1,), r"square \(N, N\)"),
    (np.array([[1.0, np.nan], [0.0, 1.0]]), (1,), "finite"),
    (np.eye(2), (0,), "every k in ks must be a positive int"),
])
def test_recall_at_k_refuses_bad_input(similarity, ks, message):
    with pytest.raises(ValueError, match=message):
        contrastive.recall_at_k(similarity, ks)


# ---------------------------------------------------------------- training


@pytest.mark.slow
def test_train_clip_lowers_the_loss_and_repeats_exactly_with_the_same_seed(small):
    config = CLIPConfig(len(small.vocab), channels=(4, 8, 8, 8), word_dim=8, text_width=8, embed_dim=8)
    pairs = contrastive.clip_arrays(small.train.subset(range(8)), small.vocab)
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = MiniCLIP(config)
        runs.append(contrastive.train_clip(model, pairs, steps=20, batch_size=8, lr=3e-2, progress=False))
    assert runs[0] == runs[1] and len(runs[0]) == 20 and not model.training
    assert np.mean(runs[0][-3:]) < np.mean(runs[0][:3]) - 0.5  # from about ln 8 = 2.08 (chance) to 1.3
    with pytest.raises(ValueError, match="batch_size <= N"):
        contrastive.train_clip(model, pairs, steps=1, batch_size=9, progress=False)
    with pytest.raises(ValueError, match="steps must be a positive int"):
        contrastive.train_clip(model, pairs, steps=0, progress=False)


# ---------------------------------------------------------------- hard negatives and zero-shot


def test_hard_negatives_differ_by_exactly_one_word_of_their_kind(small):
    rng = np.random.default_rng(0)
    kinds = {"colour": set(COLOURS), "shape": set(SHAPES), "size": {"small", "large"},
             "position": {"top", "bottom", "left", "right"}}
    n_binding = 0
    for objects, text in zip(small.test.objects[:30], small.test.captions[:30]):
        negatives = contrastive.hard_negatives(objects, rng, avoid=sc.HELD_OUT)
        assert "binding" not in negatives or len({o.colour for o in objects}) > 1
        n_binding += "binding" in negatives
        for kind, negative in negatives.items():
            diff = [(a, b) for a, b in zip(text.split(), negative.split()) if a != b]
            assert len(text.split()) == len(negative.split()) and len(diff) == (2 if kind == "binding" else 1)
            assert {w.strip(",") for pair in diff for w in pair} <= kinds.get(kind, kinds["colour"])
            assert not held_out_phrases(negative)  # avoid=HELD_OUT: no unseen combination among the negatives
            if kind == "binding":
                assert sorted(text.split()) == sorted(negative.split())  # the same bag of words
    assert n_binding >= 10


def test_a_bag_of_words_model_never_prefers_the_true_caption_to_one_whose_objects_trade_colours(small):
    torch.manual_seed(0)
    bow = contrastive.bag_of_words_clip(CLIPConfig(len(small.vocab), channels=(4, 8, 8, 8), embed_dim=8))
    accuracy, mistakes = contrastive.hard_negative_accuracy(bow, small.test, small.vocab, n_examples=2)
    assert accuracy["binding"] == 0.0  # identical counts, identical embeddings: a tie, counted as a mistake
    assert set(accuracy) == set(contrastive.NEGATIVE_KINDS)
    binding = [m for m in mistakes if m["kind"] == "binding"]
    assert len(binding) == 2 and binding[0]["true_cos"] == pytest.approx(binding[0]["negative_cos"], abs=1e-6)


def test_zero_shot_refuses_scenes_of_several_objects_and_templates_without_slots(small, checkpoint):
    with pytest.raises(ValueError, match="exactly one object"):
        contrastive.zero_shot(checkpoint, small.vocab, small.test)
    with pytest.raises(ValueError, match="templates must"):
        contrastive.zero_shot(checkpoint, small.vocab, small.test, templates=("a {colour} thing",))


def test_checkpoint_classifies_known_one_object_scenes_zero_shot_and_an_untrained_model_does_not(
        small, checkpoint, singles):
    known, _ = singles
    single = contrastive.zero_shot(checkpoint, small.vocab, known)
    ensemble = contrastive.zero_shot(checkpoint, small.vocab, known, contrastive.TEMPLATES)
    assert single["colour+shape"] >= 0.75 and ensemble["colour+shape"] >= 0.95  # measured 0.84, 0.98; chance 1/12
    torch.manual_seed(0)
    untrained = MiniCLIP(CLIPConfig(**CHECKPOINTS["mini_clip"].config))
    assert contrastive.zero_shot(untrained, small.vocab, known)["colour+shape"] < 0.3


# ---------------------------------------------------------------- the mini_clip checkpoint


def test_mini_clip_checkpoint_loads_as_a_float32_torch_model_in_eval_mode(checkpoint, small):
    assert isinstance(checkpoint, MiniCLIP) and not checkpoint.training
    assert next(checkpoint.parameters()).dtype == torch.float32
    assert checkpoint.config.vocab_size == len(small.vocab)  # the vocabulary does not depend on the sizes drawn
    assert course.WEIGHTS_DIR.joinpath("mini_clip.pt").stat().st_size <= 2 * 1024 * 1024


def test_a_corrupt_mini_clip_file_is_refused(tmp_path):
    data = (course.WEIGHTS_DIR / CHECKPOINTS["mini_clip"].file).read_bytes()
    corrupt = tmp_path / "mini_clip.pt"
    corrupt.write_bytes(data[:100] + bytes([data[100] ^ 1]) + data[101:])
    with pytest.raises(CheckpointError, match="stale or corrupt; .*python -m mmcourse pretrain mini_clip"):
        load_course_model("mini_clip", corrupt)


@pytest.mark.slow
def test_mini_clip_checkpoint_reaches_its_stated_recall_and_beats_an_untrained_model(checkpoint):
    metrics = course.measure("mini_clip", checkpoint)
    assert course.meets_stated("mini_clip", metrics), metrics
    data = sc.load_scene_captions()
    torch.manual_seed(0)
    untrained = MiniCLIP(CLIPConfig(**CHECKPOINTS["mini_clip"].config))
    assert contrastive.retrieval(untrained, data.test, data.vocab)["image_to_text_R@1"] < 0.05
