"""Data-parallel training (chapter 14): DDP and MirroredStrategy equal one process; timeouts leave no process."""
import json
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from mmcourse.experiments import distributed

pytestmark = pytest.mark.slow


def _processes_with(marker: str, patience: float = 5.0) -> list[str]:
    """Command lines of running processes that contain ``marker``, after giving killed ones ``patience`` s to go."""
    deadline = time.monotonic() + patience
    while (found := _scan(marker)) and time.monotonic() < deadline:
        time.sleep(0.1)  # SIGKILL is delivered asynchronously; a dying process is still listed for a moment
    return found


def _scan(marker: str) -> list[str]:
    """Command lines of the processes in /proc that contain ``marker``."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in text:
            found.append(text)
    return found


def test_ddp_on_two_processes_equals_one_process_with_the_same_global_batch():
    config = distributed.ParallelConfig(steps=12, seed=424201, timing_repeats=2)
    parity = distributed.ddp_parity(config, timeout=240)
    assert parity["max_abs_diff"] <= 1e-6
    ddp = parity["ddp"]
    assert ddp["world_size"] == 2 and ddp["backend"] == "gloo"
    np.testing.assert_allclose(ddp["losses"].numpy(), parity["single_losses"], atol=1e-5)
    assert len(ddp["timing"]) == 2 and ddp["timing"][0]["grad_bytes"] == 4 * 101_361
    share = distributed.allreduce_share(ddp["timing"])
    assert 0 < share["allreduce_s"] < share["step_s"] and share["local_s"] > 0
    assert not _processes_with('"seed": 424201')


def test_mirrored_strategy_on_two_logical_cpus_equals_one_device():
    result = distributed.run_mirrored(distributed.ParallelConfig(steps=6, seed=424202), timeout=240)
    assert result["replicas"] == 2 and len(result["devices"]) == 2
    assert result["max_abs_diff"] <= 1e-6
    assert abs(result["mirrored_loss"] - result["single_loss"]) <= 1e-5
    assert not _processes_with('"seed": 424202')


def test_timeout_kills_the_launcher_and_workers_in_sessions_of_their_own(tmp_path):
    marker = f"sleep-marker-{tmp_path.name}"
    worker = f"import time; time.sleep(600)  # {marker}"
    launcher = ("import subprocess, sys, time; "
                f"p = subprocess.Popen([sys.executable, '-c', {worker!r}], start_new_session=True); "
                f"open({str(tmp_path / 'pid-worker-0')!r}, 'w').write(str(p.pid)); time.sleep(600)")
    with pytest.raises(TimeoutError, match="did not finish in 5"):
        distributed.run_command([sys.executable, "-c", launcher], tmp_path, timeout=5)
    assert not _processes_with(marker)


def test_torchrun_past_its_timeout_leaves_no_process():
    config = distributed.ParallelConfig(steps=10**6, seed=424203, timing_repeats=0)
    with pytest.raises(TimeoutError):
        distributed.run_ddp(config, timeout=10)
    assert not _processes_with('"seed": 424203')


def test_a_failing_worker_raises_with_its_output(tmp_path):
    with pytest.raises(RuntimeError, match="exit code 3"):
        distributed.run_command([sys.executable, "-c", "import sys; sys.exit(3)"], tmp_path, timeout=60)


def test_torchrun_command_uses_loopback_and_carries_the_config(tmp_path):
    config = distributed.ParallelConfig(steps=3)
    command = distributed.torchrun_command(config, tmp_path)
    assert command[1:3] == ["-m", "torch.distributed.run"]
    assert command[command.index("--master-addr") + 1] == "127.0.0.1"
    assert command[command.index("--nproc-per-node") + 1] == "2"
    assert distributed.ParallelConfig(**json.loads(command[command.index("--config") + 1])) == config
    assert distributed.worker_env()["GLOO_SOCKET_IFNAME"] == distributed.loopback_interface()


@pytest.mark.parametrize("kwargs, message", [
    ({"global_batch": 31}, "split evenly"),
    ({"steps": 0}, "steps must be a positive int"),
    ({"n_train": 16, "global_batch": 32}, "at least one global batch"),
    ({"lr": 0.0}, "lr > 0"),
    ({"momentum": 1.0}, "momentum < 1"),
    ({"timing_repeats": -1}, "timing_repeats"),
])
def test_config_rejects_bad_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        distributed.ParallelConfig(**kwargs)


def test_ring_allreduce_sends_two_times_n_minus_one_over_n_of_the_gradient():
    assert distributed.ring_allreduce_bytes(1000, 1) == 0
    assert distributed.ring_allreduce_bytes(1000, 2) == 1000
    assert distributed.ring_allreduce_bytes(1000, 4) == 1500
    with pytest.raises(ValueError, match="workers"):
        distributed.ring_allreduce_bytes(1000, 0)


def test_allreduce_share_takes_the_slowest_rank():
    timing = [{"step_s": 0.02, "local_s": 0.01, "allreduce_s": 0.001, "grad_bytes": 8.0},
              {"step_s": 0.04, "local_s": 0.03, "allreduce_s": 0.002, "grad_bytes": 8.0}]
    share = distributed.allreduce_share(timing)
    assert share["step_s"] == 0.04 and share["local_s"] == 0.03
    assert share["sync_share"] == pytest.approx(0.25) and share["allreduce_share"] == pytest.approx(0.05)
