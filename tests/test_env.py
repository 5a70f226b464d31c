"""mmcourse.env: devices, seeding, the quiet TensorFlow import and the doctor."""
import subprocess
import sys

import numpy as np
import pytest
import torch

from mmcourse import env


def test_device_auto_is_the_cpu_without_an_accelerator(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert env.device() == torch.device("cpu")


def test_device_auto_prefers_cuda_then_mps(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert env.device().type == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert env.device().type == "mps"


def test_device_rejects_unavailable_or_unknown_devices(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="CUDA is not available"):
        env.device("cuda")
    with pytest.raises(ValueError, match="prefer='gpu0'"):
        env.device("gpu0")
    with pytest.raises(TypeError, match="prefer"):
        env.device(0)


def test_seed_everything_repeats_numpy_and_torch_draws():
    env.seed_everything(7)
    first = np.random.rand(3), torch.rand(3)
    env.seed_everything(7)
    second = np.random.rand(3), torch.rand(3)
    env.seed_everything(8)
    third = np.random.rand(3)
    np.testing.assert_array_equal(first[0], second[0])
    assert torch.equal(first[1], second[1])
    assert not np.array_equal(first[0], third)


def test_seed_everything_reports_what_it_seeded_and_validates_the_seed():
    assert env.seed_everything(1)[:3] == ["python", "numpy", "torch"]
    with pytest.raises(TypeError, match="seed"):
        env.seed_everything(1.5)
    with pytest.raises(ValueError, match="seed"):
        env.seed_everything(-1)


def test_import_tensorflow_returns_the_module_without_start_up_noise():
    code = "from mmcourse.env import import_tensorflow; print(import_tensorflow().__version__)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout == "2.21.0\n"
    assert done.stderr == ""


def test_doctor_reports_all_good_here(capsys):
    assert env.doctor() is True
    out = capsys.readouterr().out
    assert "torch       2.13.0" in out and "data spoken digits  ok" in out and "All good." in out
