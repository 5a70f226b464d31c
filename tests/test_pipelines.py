"""mmcourse.data.pipelines: the AV digits torch Dataset/DataLoader and its tf.data twin."""
import numpy as np
import pytest
import torch

import mmcourse  # noqa: F401  (sets TF_CPP_MIN_LOG_LEVEL before TensorFlow loads)
from mmcourse.data.pipelines import AVDigitsDataset, check_av_arrays, make_dataloader, make_tf_dataset


def _arrays(n: int = 10, frames: int = 4):
    """images (n, 28, 28) float64, audio (n, frames, 13) float64, labels (n,) int32: types a user might pass."""
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 28, 28)), rng.normal(size=(n, frames, 13)), np.arange(n, dtype=np.int32) % 10


def test_dataset_item_is_channels_first_image_audio_and_int64_label():
    images, audio, labels = _arrays()
    dataset = AVDigitsDataset(images, audio, labels)
    (image, clip), label = dataset[3]
    assert len(dataset) == 10
    assert image.shape == (1, 28, 28) and image.dtype == torch.float32
    assert clip.shape == (4, 13) and clip.dtype == torch.float32
    assert label.dtype == torch.int64 and label.item() == 3
    np.testing.assert_allclose(image[0].numpy(), images[3], rtol=1e-6)
    np.testing.assert_allclose(clip.numpy(), audio[3], rtol=1e-6)


@pytest.mark.parametrize(("which", "message"), [(0, "images and labels"), (1, "audio and labels")])
def test_mismatched_lengths_raise_naming_the_argument(which, message):
    arrays = list(_arrays())
    arrays[which] = arrays[which][:-1]
    with pytest.raises(ValueError, match=message):
        AVDigitsDataset(*arrays)
    with pytest.raises(ValueError, match=message):
        make_tf_dataset(*arrays)


def test_wrong_ranks_and_float_labels_raise_naming_the_argument():
    images, audio, labels = _arrays()
    with pytest.raises(ValueError, match="images must"):
        check_av_arrays(images[..., None], audio, labels)
    with pytest.raises(ValueError, match="audio must"):
        check_av_arrays(images, audio.reshape(10, -1), labels)
    with pytest.raises(ValueError, match="labels must"):
        check_av_arrays(images, audio, labels.astype(float))
    with pytest.raises(ValueError, match="batch_size"):
        make_dataloader(AVDigitsDataset(images, audio, labels), batch_size=0)


def test_dataloader_batches_are_nested_pairs_with_the_right_shapes():
    dataset = AVDigitsDataset(*_arrays(10))
    batches = list(make_dataloader(dataset, batch_size=4))
    assert [len(labels) for _, labels in batches] == [4, 4, 2]
    (images, audio), labels = batches[0]
    assert images.shape == (4, 1, 28, 28) and audio.shape == (4, 4, 13) and labels.tolist() == [0, 1, 2, 3]


def _order(loader) -> list[int]:
    return [int(label) for _, labels in loader for label in labels]


def test_dataloader_with_a_seed_repeats_its_order_whatever_the_global_rng_did():
    dataset = AVDigitsDataset(*_arrays(10))
    torch.manual_seed(1)
    first = _order(make_dataloader(dataset, batch_size=3, shuffle=True, seed=7))
    torch.rand(100)  # draws from the global generator in between must not matter
    second = _order(make_dataloader(dataset, batch_size=3, shuffle=True, seed=7))
    other_seed = _order(make_dataloader(dataset, batch_size=3, shuffle=True, seed=8))
    assert first == second and sorted(first) == list(range(10))
    assert first != other_seed and first != list(range(10))


def test_tf_dataset_yields_channels_last_batches_with_the_right_shapes_and_dtypes():
    images, audio, labels = _arrays(10)
    batches = list(make_tf_dataset(images, audio, labels, batch_size=4))
    assert [len(y) for _, y in batches] == [4, 4, 2]
    (image_batch, audio_batch), label_batch = batches[0]
    assert tuple(image_batch.shape) == (4, 28, 28, 1) and image_batch.dtype.name == "float32"
    assert tuple(audio_batch.shape) == (4, 4, 13) and audio_batch.dtype.name == "float32"
    assert label_batch.dtype.name == "int64" and label_batch.numpy().tolist() == [0, 1, 2, 3]
    np.testing.assert_allclose(image_batch.numpy()[2, ..., 0], images[2], rtol=1e-6)


def test_tf_dataset_shuffles_with_its_seed_and_reshuffles_each_epoch():
    images, audio, labels = _arrays(10)
    dataset = make_tf_dataset(images, audio, labels, batch_size=10, shuffle=True, seed=3)
    epoch1, epoch2 = ([int(v) for v in y.numpy()] for _, y in (next(iter(dataset)), next(iter(dataset))))
    again = make_tf_dataset(images, audio, labels, batch_size=10, shuffle=True, seed=3)
    assert sorted(epoch1) == list(range(10)) and epoch1 != list(range(10))
    assert epoch1 != epoch2
    assert [int(v) for v in next(iter(again))[1].numpy()] == epoch1
