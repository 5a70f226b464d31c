"""Chapter 14, past one machine: data-parallel training checked against one process with the same global batch.

Data parallelism keeps a full copy of the model on each of N workers, gives
each worker B/N examples of every global batch of B, and averages the
gradients across workers before each optimiser step. With the loss a mean
over the batch, the average of N local mean-gradients is the mean gradient
of the whole batch, so N workers take exactly the step one worker would take
on all B examples: only the order of the float additions changes.

- PyTorch: :func:`run_ddp` launches ``torchrun`` (``python -m
  torch.distributed.run``) with 2 processes on this machine, the gloo
  backend bound to the loopback interface; each rank runs
  :func:`train_vqa` on chapter 07's ``VQANet`` wrapped in
  ``DistributedDataParallel``, its shard of each batch drawn by a
  ``DistributedSampler``. :func:`train_vqa` with ``world_size=1`` is the
  single-process reference; :func:`ddp_parity` runs both and compares the
  final weights. Each rank also times a step with and without the gradient
  all-reduce (:func:`time_allreduce`).
- TensorFlow: :func:`run_mirrored` trains chapter 07's Keras twin under
  ``tf.distribute.MirroredStrategy`` over 2 logical CPU devices, and the same
  model on one device, in a subprocess (logical devices must be declared
  before TensorFlow starts its runtime, which a notebook kernel has usually
  done already).
- Both run as subprocesses in a session of their own (:func:`run_command`),
  with a timeout that kills every process they started: a collective that
  waits for a peer that never comes blocks forever, and a notebook kernel
  cannot be interrupted out of it.

``python -m mmcourse.experiments.distributed ddp|mirrored --out DIR --config JSON``
is the worker entry point. Importing this module imports neither torch nor TensorFlow.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from mmcourse.env import free_port
from mmcourse.fusion import check_positive

WORLD_SIZE = 2
LOOPBACK = "127.0.0.1"
MODULE = "mmcourse.experiments.distributed"  # the workers' entry point (``python -m``)


@dataclass(frozen=True)
class ParallelConfig:
    """One data-parallel run: ``steps`` SGD steps on global batches of ``global_batch`` VQA examples.

    ``n_train`` shape scenes of seed ``seed`` (chapter 07's data), which
    PyTorch's sampler reshuffles each epoch and Keras reads in order; the
    initial weights and the shuffling also come from ``seed``.
    ``timing_repeats`` steps are timed after training (0: none).
    """

    steps: int = 20
    global_batch: int = 32
    n_train: int = 256
    lr: float = 0.05
    momentum: float = 0.9
    seed: int = 0
    timing_repeats: int = 10

    def __post_init__(self):
        for name in ("steps", "global_batch", "n_train"):
            check_positive(getattr(self, name), name)
        if self.global_batch % WORLD_SIZE:
            raise ValueError(f"global_batch must split evenly over {WORLD_SIZE} workers, got {self.global_batch}")
        if self.n_train < self.global_batch:
            raise ValueError(f"n_train ({self.n_train}) must hold at least one global batch ({self.global_batch})")
        if not self.lr > 0 or not 0 <= self.momentum < 1:
            raise ValueError(f"need lr > 0 and 0 <= momentum < 1, got lr={self.lr}, momentum={self.momentum}")
        if self.timing_repeats < 0:
            raise ValueError(f"timing_repeats must be >= 0, got {self.timing_repeats}")


# ---------------------------------------------------------------- launching


def loopback_interface() -> str:
    """Name of the loopback network interface ("lo" on Linux, "lo0" on macOS), for ``GLOO_SOCKET_IFNAME``."""
    names = [name for _, name in socket.if_nameindex()]
    for name in names:
        if name.startswith("lo"):
            return name
    raise RuntimeError(f"no loopback interface among {names}")


def worker_env() -> dict[str, str]:
    """The environment for worker processes: one thread each, gloo on loopback, quiet TensorFlow."""
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", GLOO_SOCKET_IFNAME=loopback_interface(),
               TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1")
    return env


def _signal_session(pid: int, sig: int) -> None:
    """Send ``sig`` to every process in the session led by ``pid`` (a process started with ``start_new_session``)."""
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


def run_command(command: list[str], out_dir: Path, timeout: float, grace: float = 10.0) -> str:
    """Run ``command`` in a session of its own; returns its output, or stops every process it started and raises.

    On timeout the session gets SIGTERM (torchrun passes it on to its
    workers) and, ``grace`` seconds later, SIGKILL. torchrun starts each
    worker in a session of its own, so workers also write ``pid-*`` files
    into ``out_dir`` and their sessions are killed too. Raises TimeoutError
    after ``timeout`` seconds and RuntimeError with the output's tail when
    the command fails.
    """
    proc = subprocess.Popen(command, env=worker_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _signal_session(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=grace)  # torchrun stops its workers, then exits
        except subprocess.TimeoutExpired:
            pass
        raise TimeoutError(f"{' '.join(command)} did not finish in {timeout} s; "
                           "every process it started was stopped") from None
    finally:
        _signal_session(proc.pid, signal.SIGKILL)
        for pid_file in out_dir.glob("pid-*"):
            pid = pid_file.read_text().strip()
            if pid.isdigit():  # a worker killed while writing its file leaves it empty
                _signal_session(int(pid), signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    if proc.returncode:
        raise RuntimeError(f"{' '.join(command)} failed with exit code {proc.returncode}:\n{output[-3000:]}")
    return output


def torchrun_command(config: ParallelConfig, out_dir: Path, nproc: int = WORLD_SIZE) -> list[str]:
    """``torchrun`` on one node with ``nproc`` workers, rendezvous at 127.0.0.1 on a free port."""
    return [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc-per-node", str(nproc),
            "--master-addr", LOOPBACK, "--master-port", str(free_port()), "--max-restarts", "0",
            "-m", MODULE, "ddp", "--out", str(out_dir), "--config", json.dumps(asdict(config))]


def run_ddp(config: ParallelConfig, timeout: float = 120.0) -> dict:
    """Train with DDP over 2 local processes; returns rank 0's result (see :func:`_ddp_worker`) and ``wall_s``."""
    with tempfile.TemporaryDirectory(prefix="mmcourse-ddp-") as tmp:
        out_dir = Path(tmp)
        start = time.perf_counter()
        run_command(torchrun_command(config, out_dir), out_dir, timeout)
        result = _load_torch(out_dir / "result.pt")
    result["wall_s"] = time.perf_counter() - start
    return result


def _load_torch(path: Path) -> dict:
    import torch

    return torch.load(path, weights_only=True)


# ---------------------------------------------------------------- PyTorch: the training both sides share


def vqa_dataset(n_train: int, seed: int):
    """Chapter 07's VQA training split and its vocabulary size.

    The split is a TensorDataset of (images (N, 3, H, W), ids (N, L), lengths (N,), answers (N,)).
    """
    from mmcourse.data.vqa import load_vqa, make_vqa_dataloader

    data = load_vqa(n_train=n_train, n_val=1, n_test=1, seed=seed)
    return make_vqa_dataloader(data.train).dataset, len(data.vocab)


def train_vqa(config: ParallelConfig, rank: int = 0, world_size: int = 1, progress: bool = False) -> dict:
    """Train ``VQANet`` for ``config.steps`` steps of global batch ``config.global_batch`` on rank ``rank``.

    With ``world_size > 1`` (a gloo process group must be initialised) the
    model is wrapped in ``DistributedDataParallel`` and this rank reads
    ``global_batch / world_size`` examples of each global batch; with
    ``world_size == 1`` it is plain single-process training. The
    ``DistributedSampler`` draws the same permutation for any world size,
    so the union of the ranks' shards is the single process's batch.
    Returns {"state": final state_dict, "losses": (steps,) global mean loss per step, "model", "batch"}.
    """
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel
    from torch.utils.data import DataLoader, DistributedSampler
    from tqdm.auto import tqdm

    from mmcourse.torch_models.vqa import VQANet

    dataset, vocab_size = vqa_dataset(config.n_train, config.seed)
    sampler = DistributedSampler(dataset, num_replicas=world_size, rank=rank, shuffle=True, seed=config.seed,
                                 drop_last=True)
    loader = DataLoader(dataset, batch_size=config.global_batch // world_size, sampler=sampler, drop_last=True)
    torch.manual_seed(config.seed)
    model = VQANet(vocab_size)  # the same initial weights on every rank (DDP also broadcasts rank 0's)
    if world_size > 1:
        model = DistributedDataParallel(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum)
    losses, epoch, bar = [], 0, tqdm(total=config.steps, desc=f"rank {rank}", disable=not progress)
    while len(losses) < config.steps:
        sampler.set_epoch(epoch)  # a new shuffle each epoch, the same on every rank
        for images, ids, lengths, answers in loader:
            loss = torch.nn.functional.cross_entropy(model(images, ids, lengths), answers)  # mean over B/N
            optimizer.zero_grad()
            loss.backward()  # under DDP: gradients all-reduced (averaged over ranks) here, bucket by bucket
            optimizer.step()
            mean_loss = loss.detach().clone()
            if world_size > 1:
                dist.all_reduce(mean_loss)
                mean_loss /= world_size
            losses.append(float(mean_loss))
            bar.update()
            if len(losses) == config.steps:
                break
        epoch += 1
    bar.close()
    plain = model.module if world_size > 1 else model
    return {"state": {k: v.detach().clone() for k, v in plain.state_dict().items()},
            "losses": torch.tensor(losses, dtype=torch.float64), "model": model,
            "batch": (images, ids, lengths, answers)}


def time_allreduce(model, batch, repeats: int) -> dict[str, float]:
    """Median seconds of a DDP training step with and without gradient sync, and of one bare all-reduce.

    ``step_s``: forward + backward with DDP's bucketed all-reduce;
    ``local_s``: the same under ``model.no_sync()`` (no communication);
    ``allreduce_s``: ``dist.all_reduce`` of one flat float32 tensor as big
    as all the gradients; ``grad_bytes``: its size. Every repeat starts at a barrier.
    """
    import torch
    import torch.distributed as dist

    images, ids, lengths, answers = batch
    flat = torch.zeros(sum(p.numel() for p in model.parameters()))

    def one_step() -> None:
        model.zero_grad()
        torch.nn.functional.cross_entropy(model(images, ids, lengths), answers).backward()

    def timed(fn) -> float:
        times = []
        for _ in range(repeats):
            dist.barrier()
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return float(np.median(times))

    def local_step() -> None:
        with model.no_sync():
            one_step()

    return {"step_s": timed(one_step), "local_s": timed(local_step),
            "allreduce_s": timed(lambda: dist.all_reduce(flat)), "grad_bytes": float(flat.numel() * 4)}


def _ddp_worker(config: ParallelConfig, out_dir: Path) -> None:
    """One torchrun worker: rank, world size and rendezvous come from the environment torchrun sets."""
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    dist.init_process_group("gloo")  # reads MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE
    try:
        run = train_vqa(config, rank, world_size)
        timing = time_allreduce(run["model"], run["batch"], config.timing_repeats) if config.timing_repeats else {}
        timings = [None] * world_size
        dist.all_gather_object(timings, timing)
        if rank == 0:
            torch.save({"state": run["state"], "losses": run["losses"], "world_size": world_size,
                        "timing": timings, "backend": dist.get_backend()}, out_dir / "result.pt")
        dist.barrier()
    finally:
        dist.destroy_process_group()


def ddp_parity(config: ParallelConfig, timeout: float = 120.0) -> dict:
    """DDP on 2 processes against :func:`train_vqa` in this process with the same global batch and seed.

    Returns {"max_abs_diff": largest |w_ddp - w_single| over all weights,
    "ddp": :func:`run_ddp`'s result, "single_losses": (steps,), "single_s"}.
    """
    import torch

    ddp = run_ddp(config, timeout)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each worker: the same kernels, so the only difference is the gradient sum
    try:
        start = time.perf_counter()
        single = train_vqa(config)
        single_s = time.perf_counter() - start
    finally:
        torch.set_num_threads(threads)
    diff = max(float((ddp["state"][k].double() - v.double()).abs().max()) for k, v in single["state"].items())
    return {"max_abs_diff": diff, "ddp": ddp, "single_losses": single["losses"].numpy(), "single_s": single_s}


def allreduce_share(timing: list[dict[str, float]]) -> dict[str, float]:
    """Summarise the ranks' :func:`time_allreduce` figures (the slowest rank counts, as every rank waits for it).

    ``sync_share``: (step - no_sync step) / step, what synchronising costs a
    step inside DDP (communication plus waiting for the slower rank);
    ``allreduce_share``: one bare all-reduce of all gradients / step.
    """
    step, local, bare = (max(t[key] for t in timing) for key in ("step_s", "local_s", "allreduce_s"))
    return {"step_s": step, "local_s": local, "allreduce_s": bare, "sync_share": (step - local) / step,
            "allreduce_share": bare / step}


def plot_ddp(parity: dict):
    """Loss per step of DDP and of one process (they overlap), and where a step's time goes.

    ``parity`` is :func:`ddp_parity`'s dict.
    """
    import matplotlib.pyplot as plt

    share = allreduce_share(parity["ddp"]["timing"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.2))
    left.plot(parity["single_losses"], lw=4, alpha=0.4, label="1 process, batch B")
    left.plot(np.asarray(parity["ddp"]["losses"]), "k--", label=f"DDP, {parity['ddp']['world_size']} x B/2")
    left.set(xlabel="step", ylabel="training loss", title="the same run, twice")
    left.legend()
    names = ["forward + backward, DDP", "... under no_sync()", "bare all-reduce"]
    right.barh(names, [1e3 * share[k] for k in ("step_s", "local_s", "allreduce_s")], color=["C0", "C2", "C3"])
    right.set(xlabel="ms (median, slowest rank)", title="where a step's time goes")
    fig.tight_layout()
    return fig


def ring_allreduce_bytes(grad_bytes: float, workers: int) -> float:
    """Bytes each worker sends in a ring all-reduce of ``grad_bytes``: 2 (N - 1) / N x grad_bytes."""
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    return 2 * (workers - 1) / workers * grad_bytes


# ---------------------------------------------------------------- TensorFlow: MirroredStrategy


def _mirrored_worker(config: ParallelConfig, out_dir: Path) -> None:
    """Train the Keras VQA twin under MirroredStrategy over 2 logical CPUs and on one device; write the comparison."""
    from mmcourse.env import import_tensorflow

    tf = import_tensorflow()
    tf.config.threading.set_intra_op_parallelism_threads(1)
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * WORLD_SIZE)
    import keras

    from mmcourse.data.vqa import load_vqa, make_vqa_tf_dataset
    from mmcourse.keras_models.vqa import build_vqa_model

    data = load_vqa(n_train=config.n_train, n_val=1, n_test=1, seed=config.seed)
    devices = [d.name for d in tf.config.list_logical_devices("CPU")]

    def train(strategy) -> tuple[list[np.ndarray], float, float]:
        with strategy.scope():
            keras.utils.set_random_seed(config.seed)
            model = build_vqa_model(len(data.vocab))
            model.compile(optimizer=keras.optimizers.SGD(config.lr, momentum=config.momentum),
                          loss="sparse_categorical_crossentropy", jit_compile=False)
        start = time.perf_counter()
        batches = make_vqa_tf_dataset(data.train, config.global_batch).repeat()  # in order, the same both times
        history = model.fit(batches, steps_per_epoch=config.steps, epochs=1, verbose=0)
        return model.get_weights(), history.history["loss"][-1], time.perf_counter() - start

    mirrored, mirrored_loss, mirrored_s = train(tf.distribute.MirroredStrategy(devices))
    single, single_loss, single_s = train(tf.distribute.OneDeviceStrategy(devices[0]))
    diff = max(float(np.max(np.abs(a.astype(np.float64) - b))) for a, b in zip(mirrored, single))
    result = {"max_abs_diff": diff, "devices": devices, "replicas": WORLD_SIZE,
              "mirrored_loss": float(mirrored_loss), "single_loss": float(single_loss),
              "mirrored_fit_s": mirrored_s, "single_fit_s": single_s}
    (out_dir / "mirrored.json").write_text(json.dumps(result))


def run_mirrored(config: ParallelConfig, timeout: float = 120.0) -> dict:
    """MirroredStrategy (2 logical CPUs) against one device, in a subprocess; :func:`_mirrored_worker`'s dict."""
    with tempfile.TemporaryDirectory(prefix="mmcourse-mirrored-") as tmp:
        out_dir = Path(tmp)
        start = time.perf_counter()
        command = [sys.executable, "-m", MODULE, "mirrored", "--out", str(out_dir),
                   "--config", json.dumps(asdict(config))]
        run_command(command, out_dir, timeout)
        result = json.loads((out_dir / "mirrored.json").read_text())
    result["wall_s"] = time.perf_counter() - start
    return result


def main(argv: list[str] | None = None) -> None:
    """Worker entry point: ``ddp`` (started by torchrun, once per rank) or ``mirrored``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=("ddp", "mirrored"))
    parser.add_argument("--out", type=Path, required=True, help="folder for pid files and the result")
    parser.add_argument("--config", required=True, help="ParallelConfig as JSON")
    args = parser.parse_args(argv)
    rank = os.environ.get("RANK", "0")
    (args.out / f"pid-{args.kind}-{rank}").write_text(str(os.getpid()))
    config = ParallelConfig(**json.loads(args.config))
    (_ddp_worker if args.kind == "ddp" else _mirrored_worker)(config, args.out)


if __name__ == "__main__":
    main()
