"""Shared test set-up: a headless plotting backend for this process only.

``matplotlib.use`` (not the MPLBACKEND variable) so that notebook kernels
started by nbval keep their inline backend and still draw their figures.
"""
import matplotlib

matplotlib.use("Agg")
