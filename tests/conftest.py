"""Shared test set-up: a headless plotting backend for this process only, and one torch thread on request.

``matplotlib.use`` (not the MPLBACKEND variable) so that notebook kernels
started by nbval keep their inline backend and still draw their figures.
"""
import matplotlib
import pytest

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def one_torch_thread():
    """Small models run fastest on one torch thread (on a busy CPU, two wait for each other at every op)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def small_vqa():
    """Chapter 07's VQA data, small: 200 training, 20 validation and 40 test scenes (chapter 14's tests)."""
    from mmcourse.data.vqa import load_vqa

    return load_vqa(n_train=200, n_val=20, n_test=40, seed=0)


@pytest.fixture(scope="session")
def small_vqa_net(small_vqa):
    """A VQANet after 30 seeded steps on ``small_vqa``: trained enough that its logits are not all alike."""
    from mmcourse.experiments import deployment

    return deployment.train_vqa_net(small_vqa.train, len(small_vqa.vocab), steps=30, batch_size=32, progress=False)[0]
