"""Devices, seeding and a set-up check (``python -m mmcourse doctor``).

Frameworks are imported inside the functions, so a chapter that uses only
NumPy never pays for TensorFlow or PyTorch.
"""
from __future__ import annotations

import importlib
import os
import platform
import random
import socket
import sys

import numpy as np


def device(prefer: str = "auto"):
    """Return the torch device to use: CUDA if present, then Apple MPS, else the CPU.

    ``prefer`` may be ``"auto"`` or an explicit device string (``"cpu"``, ``"cuda"``,
    ``"cuda:1"``, ``"mps"``), which is checked for availability.
    """
    import torch

    if not isinstance(prefer, str):
        raise TypeError(f"prefer must be a string such as 'auto' or 'cpu', got {type(prefer).__name__}")
    if prefer == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        wanted = torch.device(prefer)
    except RuntimeError as err:
        raise ValueError(f"prefer={prefer!r} is not a device name ({err})") from None
    if wanted.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"prefer={prefer!r} but CUDA is not available on this machine")
    if wanted.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"prefer={prefer!r} but Apple MPS is not available on this machine")
    return wanted


def seed_everything(seed: int, deterministic: bool = True) -> list[str]:
    """Seed Python, NumPy and every framework already imported; returns what was seeded.

    With ``deterministic=True`` torch and TensorFlow are also asked for
    deterministic kernels, so a CPU run repeats bit for bit. Import torch or
    TensorFlow *before* calling this, so that they are seeded too.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if not 0 <= seed < 2**32:
        raise ValueError(f"seed must be in [0, 2**32), got {seed}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed)
    seeded = ["python", "numpy"]
    if "torch" in sys.modules:
        import torch

        torch.manual_seed(seed)  # also seeds every CUDA device
        if deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
            torch.backends.cudnn.benchmark = False
        seeded.append("torch")
    if "tensorflow" in sys.modules or "keras" in sys.modules:
        import keras

        keras.utils.set_random_seed(seed)  # Python, NumPy and the TF/JAX/torch backend
        if deterministic and "tensorflow" in sys.modules:
            import tensorflow as tf

            tf.config.experimental.enable_op_determinism()
        seeded.append("keras")
    return seeded


def _version(module: str) -> str:
    """Version string of an importable module, or 'not installed'."""
    try:
        return getattr(importlib.import_module(module), "__version__", "?")
    except ImportError:
        return "not installed"


def _torch_devices() -> str:
    import torch

    if torch.cuda.is_available():
        names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        return "CUDA: " + ", ".join(names)
    if torch.backends.mps.is_available():
        return "Apple MPS"
    return "CPU only"


def _tf_devices() -> str:
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    return f"{len(gpus)} GPU(s): " + ", ".join(g.name for g in gpus) if gpus else "CPU only"


def doctor() -> bool:
    """Print versions, devices, threads and data checks; returns True when all is well."""
    from mmcourse.data import check_data

    ok = True
    print(f"Python      {sys.version.split()[0]} on {platform.platform()}")
    for module in ("numpy", "torch", "tensorflow", "keras", "cv2", "sklearn", "nltk", "matplotlib"):
        version = _version(module)
        ok &= version != "not installed"
        print(f"{module:<11} {version}")
    print(f"CPU cores   {os.cpu_count()}")
    for var in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "TF_CPP_MIN_LOG_LEVEL"):
        print(f"{var:<21} {os.environ.get(var, '(unset)')}")
    if _version("torch") != "not installed":
        import torch

        print(f"torch threads {torch.get_num_threads()}; devices: {_torch_devices()}; device() -> {device()}")
    if _version("tensorflow") != "not installed":
        print(f"tensorflow devices: {_tf_devices()}")
    for name, problem in check_data().items():
        print(f"data {name:<14} {'ok' if problem is None else 'PROBLEM: ' + problem}")
        ok &= problem is None
    print("All good." if ok else "Something is missing: see the lines above and the README's set-up section.")
    return ok


def import_tensorflow():
    """Import and return TensorFlow with its C++ start-up log lines silenced.

    TensorFlow 2.21 writes a few lines (oneDNN, missing CUDA drivers) straight
    to file descriptor 2 while it loads, whatever ``TF_CPP_MIN_LOG_LEVEL`` says.
    They would land in notebook outputs, so we point descriptor 2 at
    /dev/null for the import only. Python errors still raise as usual.
    """
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            import tensorflow as tf
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    return tf


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that nothing listens on at ``host`` right now (the OS picks it), for a local server or rendezvous."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]
