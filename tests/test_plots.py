"""mmcourse.plots: each function returns a Figure with the expected axes, images, lines and texts."""
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402  (after choosing the Agg backend)
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.container import BarContainer  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from mmcourse import plots  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    """Close every figure a test opened, so pyplot does not pile them up."""
    yield
    plt.close("all")


def test_image_grid_draws_one_titled_axes_per_image_and_drops_spares():
    images = np.random.default_rng(0).random((10, 8, 8))
    fig = plots.image_grid(images, labels=list("abcdefghij"), ncols=4, title="digits")
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 10  # a 3 x 4 grid minus the 2 spare cells
    assert [len(ax.images) for ax in fig.axes] == [1] * 10
    assert [ax.get_title() for ax in fig.axes] == list("abcdefghij")
    np.testing.assert_array_equal(fig.axes[3].images[0].get_array(), images[3])
    assert fig.get_suptitle() == "digits"


def test_image_grid_shows_colour_as_rgb_and_squeezes_single_channels():
    rgb = plots.image_grid(np.zeros((3, 5, 5, 3)))
    assert len(rgb.axes) == 3 and rgb.axes[0].images[0].get_array().shape == (5, 5, 3)
    grey = plots.image_grid(np.zeros((2, 5, 5, 1)))
    assert grey.axes[0].images[0].get_array().shape == (5, 5)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"images": np.zeros((5, 5))}, "images must have shape"),
    ({"images": np.zeros((2, 5, 5)), "labels": ["a"]}, "labels"),
    ({"images": np.zeros((2, 5, 5)), "ncols": 0}, "ncols"),
])
def test_image_grid_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        plots.image_grid(**kwargs)


def test_spectrogram_puts_time_on_x_in_seconds_with_a_colour_bar():
    spec = np.random.default_rng(0).random((100, 40))  # (T, F)
    fig = plots.spectrogram(spec, sample_rate=16000, frame_step=160, title="log mel")
    ax, colour_bar = fig.axes
    assert ax.images[0].get_array().shape == (40, 100)  # (F, T): frequency up, time across
    assert ax.images[0].get_extent() == [0.0, 1.0, 0.0, 40.0]  # 100 frames x 10 ms
    assert ax.get_xlabel() == "time (s)" and ax.get_title() == "log mel"
    assert colour_bar.get_label() == "<colorbar>"


def test_spectrogram_draws_on_a_given_axes_in_frames():
    fig, (left, right) = plt.subplots(1, 2)
    returned = plots.spectrogram(np.zeros((30, 8)), ax=right)
    assert returned is fig and len(right.images) == 1 and not left.images
    assert right.get_xlabel() == "frame" and right.images[0].get_extent() == [0.0, 30.0, 0.0, 8.0]


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"spec": np.zeros(5)}, r"spec must have shape \(T, F\)"),
    ({"spec": np.zeros((5, 4)), "sample_rate": 16000}, "frame_step"),
])
def test_spectrogram_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        plots.spectrogram(**kwargs)


def test_learning_curves_pairs_train_and_val_per_metric():
    history = {"loss": [1.0, 0.5, 0.3], "accuracy": [0.5, 0.7, 0.8], "val_loss": [1.1, 0.7, 0.6],
               "val_accuracy": [0.4, 0.6, 0.7]}
    fig = plots.learning_curves(history)
    assert [ax.get_ylabel() for ax in fig.axes] == ["loss", "accuracy"]
    loss_ax = fig.axes[0]
    assert [line.get_label() for line in loss_ax.lines] == ["train", "val"]
    np.testing.assert_array_equal(loss_ax.lines[1].get_xdata(), [1, 2, 3])
    np.testing.assert_array_equal(loss_ax.lines[1].get_ydata(), history["val_loss"])


def test_learning_curves_accepts_train_only_and_rejects_empty():
    fig = plots.learning_curves({"loss": [3.0, 2.0]})
    assert len(fig.axes) == 1 and len(fig.axes[0].lines) == 1
    with pytest.raises(ValueError, match="history"):
        plots.learning_curves({})


def test_confusion_matrix_writes_every_count_in_its_cell():
    cm = np.array([[5, 1, 0], [2, 7, 1], [0, 0, 9]])
    fig = plots.confusion_matrix(cm, ["cat", "dog", "bird"])
    ax = fig.axes[0]
    written = {text.get_position(): text.get_text() for text in ax.texts}  # (x, y) = (predicted, true)
    assert len(ax.texts) == 9
    assert written == {(j, i): str(cm[i, j]) for i in range(3) for j in range(3)}
    assert written[(0, 1)] == "2"  # two dogs taken for cats
    assert [label.get_text() for label in ax.get_xticklabels()] == ["cat", "dog", "bird"]
    assert ax.get_xlabel() == "predicted" and ax.get_ylabel() == "true"


@pytest.mark.parametrize(("cm", "names", "match"), [
    (np.zeros((2, 3)), ["a", "b"], "cm must be a square"),
    (np.zeros((2, 2)), ["a"], "class_names"),
])
def test_confusion_matrix_rejects_bad_arguments(cm, names, match):
    with pytest.raises(ValueError, match=match):
        plots.confusion_matrix(cm, names)


def test_bar_with_errors_draws_one_bar_per_name_at_its_mean():
    fig = plots.bar_with_errors(["concat", "sum", "gated"], [0.8, 0.75, 0.85], [0.02, 0.03, 0.01], "accuracy")
    ax = fig.axes[0]
    np.testing.assert_allclose([bar.get_height() for bar in ax.patches], [0.8, 0.75, 0.85])
    bars = next(container for container in ax.containers if isinstance(container, BarContainer))
    error_segments = bars.errorbar.lines[2][0].get_segments()  # one vertical segment per bar
    np.testing.assert_allclose([seg[:, 1] for seg in error_segments], [[0.78, 0.82], [0.72, 0.78], [0.84, 0.86]])
    assert [label.get_text() for label in ax.get_xticklabels()] == ["concat", "sum", "gated"]
    assert ax.get_ylabel() == "accuracy"
    with pytest.raises(ValueError, match="same length"):
        plots.bar_with_errors(["a"], [1.0, 2.0], [0.1], "y")


def test_importing_plots_does_not_import_torch_or_tensorflow():
    code = "import sys, mmcourse.plots; print(sorted({'torch', 'tensorflow'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
