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
