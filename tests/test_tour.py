"""mmcourse.experiments.tour: pins against installed versions, plain-text tables, top words, nearest-mean accuracy."""
import importlib.metadata

import numpy as np
import pytest

from mmcourse.experiments.tour import format_table, nearest_mean_accuracy, pinned_versions, top_words


def test_pinned_versions_lists_every_pin_and_matches_this_environment():
    rows = pinned_versions()
    names = [name for name, _, _ in rows]
    assert {"numpy", "torch", "tensorflow", "keras"} <= set(names)
    assert len(rows) == len(importlib.metadata.requires("mmcourse"))
    assert all(pinned == installed for _, pinned, installed in rows)


def test_pinned_versions_drops_the_local_build_tag(monkeypatch):
    real_version = importlib.metadata.version
    monkeypatch.setattr(importlib.metadata, "version",
                        lambda name: "2.13.0+cu126" if name == "torch" else real_version(name))
    assert ("torch", "2.13.0", "2.13.0") in pinned_versions()


def test_pinned_versions_reports_missing_packages_and_unknown_distributions(monkeypatch):
    monkeypatch.setattr(importlib.metadata, "requires", lambda name: ["no-such-package-xyz==1.0", "numpy>=1"])
    assert pinned_versions() == [("no-such-package-xyz", "1.0", "not installed")]  # only exact pins count
    monkeypatch.undo()
    with pytest.raises(ValueError, match="not installed"):
        pinned_versions("no-such-distribution-xyz")


def test_format_table_aligns_numbers_right_and_text_left():
    table = format_table([["train", 3500, 0.5], ["val", 500, 0.25]], header=["split", "N", "share"])
    assert table.splitlines() == ["split     N  share",
                                  "-----  ----  -----",
                                  "train  3500    0.5",
                                  "val     500   0.25"]


def test_format_table_rejects_rows_of_the_wrong_length():
    with pytest.raises(ValueError, match=r"rows\[1\] has 1 cells but header has 2"):
        format_table([["a", 1], ["b"]], header=["name", "count"])


def test_top_words_counts_content_words_without_stop_words_numbers_or_single_letters():
    texts = ["The cat sat on the mat. The cat is black.", "A cat and a dog; x = 1 and 22 cats."]
    assert top_words(texts, k=3) == [("cat", 3), ("sat", 1), ("mat", 1)]


def test_top_words_validates_its_arguments():
    with pytest.raises(TypeError, match="one string"):
        top_words("the cat", k=1)
    with pytest.raises(ValueError, match="k must be a positive int"):
        top_words(["the cat"], k=0)


def test_nearest_mean_accuracy_is_perfect_on_separated_classes_and_counts_mistakes():
    rng = np.random.default_rng(0)
    train_y = np.repeat([0, 1, 2], 20)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    train_x = centres[train_y] + rng.normal(size=(60, 2))
    test_y = np.array([0, 1, 2, 2])
    test_x = centres[[0, 1, 2, 0]]  # the last one sits on class 0's centre but is labelled 2
    assert nearest_mean_accuracy(train_x, train_y, test_x, test_y) == 0.75


def test_nearest_mean_accuracy_flattens_images_and_checks_shapes():
    images = np.zeros((4, 3, 3))
    images[2:] = 1.0
    labels = np.array([0, 0, 1, 1])
    assert nearest_mean_accuracy(images, labels, images, labels) == 1.0
    with pytest.raises(ValueError, match="same features"):
        nearest_mean_accuracy(images, labels, np.zeros((2, 4, 4)), labels[:2])
    with pytest.raises(ValueError, match="one label per example"):
        nearest_mean_accuracy(images, labels[:3], images, labels)
