"""From-scratch NumPy layers vs PyTorch: time ratios for conv2d and RNN, forward and backward.

    python benchmarks/numpy_vs_frameworks.py [--repeats 7] [--numpy-threads 1]

Prints one table; the measuring code is ``mmcourse.numpy_nn.bench.measure``
so that chapters 04 and 05 can show the same numbers. Ratios are
NumPy time / baseline time (lower is better for NumPy), medians of
interleaved repeats, float32, torch at its default thread count.
"""
import argparse
import os
import platform

import mmcourse  # noqa: F401  (sets the thread-wait defaults before torch loads)
from mmcourse.numpy_nn.bench import format_table, measure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="interleaved repeats per case (median is reported)")
    parser.add_argument("--numpy-threads", type=int, default=1, help="NumPy BLAS threads; 0 keeps OpenBLAS's default")
    args = parser.parse_args()
    import numpy as np
    import torch

    blas = args.numpy_threads or "default"
    print(
        f"numpy {np.__version__} (BLAS threads: {blas}), torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), {platform.machine()}, {os.cpu_count()} CPUs"
    )
    print(format_table(measure(repeats=args.repeats, numpy_threads=args.numpy_threads or None)))


if __name__ == "__main__":
    main()
