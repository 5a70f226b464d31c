"""mmcourse: helpers for the course *Multimodal Large Models: Principles and Practice*.

Importing this package is cheap (about 4 ms): it never imports TensorFlow or
PyTorch. It sets, before any framework loads, two environment defaults that
the course relies on (a user's own values win):

- ``TF_CPP_MIN_LOG_LEVEL=3`` keeps TensorFlow's C++ log lines out of notebook
  outputs (they would otherwise differ between a saved run and nbval's run).
- ``OMP_WAIT_POLICY=PASSIVE`` stops OpenMP threads from spinning while they
  wait, which on a 2-core machine with the other core busy slowed a torch
  epoch from 0.5 s to 30 s.

On Linux it also tells glibc's malloc to keep freed memory for reuse
(:func:`keep_freed_memory`), unless the user set ``MALLOC_MMAP_THRESHOLD_``,
``MALLOC_TRIM_THRESHOLD_`` or ``GLIBC_TUNABLES``.
"""
import ctypes
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt's parameter numbers, from glibc's malloc.h


def keep_freed_memory(mmap_threshold: int = 32 << 20, trim_threshold: int = 512 << 20) -> bool:
    """Let glibc's malloc serve blocks under ``mmap_threshold`` bytes from its heap, and keep up to
    ``trim_threshold`` bytes of freed heap instead of handing it back to the OS; True if glibc took both.

    A decoder with a KV cache allocates and frees tensors of tens of MB at every
    token (each step's cache is a new, longer copy). By default glibc maps such
    blocks from the OS and unmaps them when freed, so every step pays for fresh,
    zeroed pages: sampling 300 captions of chapter 13 took 7.8 s that way, 6.2 s
    with these settings. The cost is up to ``trim_threshold`` bytes held by the
    process after it frees them. Does nothing (False) off glibc.
    """
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc (macOS, Windows, musl)
        return False
    took = [mallopt(_M_MMAP_THRESHOLD, mmap_threshold), mallopt(_M_TRIM_THRESHOLD, trim_threshold)]
    return all(took)


if sys.platform.startswith("linux") and not {"MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_",
                                             "GLIBC_TUNABLES"} & set(os.environ):
    keep_freed_memory()
