"""Shared test settings: headless matplotlib."""

import matplotlib

matplotlib.use("Agg")
