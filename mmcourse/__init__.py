"""mmcourse: helpers for the course *Multimodal Large Models: Principles and Practice*.

Importing this package is cheap: it never imports TensorFlow or PyTorch. It
only sets, before any framework loads, two environment defaults that the
course relies on (a user's own values win):

- ``TF_CPP_MIN_LOG_LEVEL=3`` keeps TensorFlow's C++ log lines out of notebook
  outputs (they would otherwise differ between a saved run and nbval's run).
- ``OMP_WAIT_POLICY=PASSIVE`` stops OpenMP threads from spinning while they
  wait, which on a 2-core machine with the other core busy slowed a torch
  epoch from 0.5 s to 30 s.
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
