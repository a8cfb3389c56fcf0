"""Shared test settings: headless matplotlib; the neurogym tests only where neurogym is installed."""

import importlib.util

import matplotlib

matplotlib.use("Agg")

# neurogym is an optional extra (gymnasium 0.29 only): without it, its tests are not collected at all, so a
# run without neurogym reports no skipped tests.
collect_ignore = [] if importlib.util.find_spec("neurogym") else ["envs/test_neurogym_interop.py"]
