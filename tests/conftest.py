"""Shared test set-up: a headless plotting backend and helpers to read solution notebooks."""
import os

os.environ.setdefault("MPLBACKEND", "Agg")
