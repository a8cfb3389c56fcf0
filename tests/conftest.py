"""Shared test settings: headless matplotlib.

neurogym is an optional extra (gymnasium 0.29 only): the test modules that need it start with
``pytest.importorskip("neurogym")``, so a run without it reports them as skipped, with the reason.
"""

import matplotlib

matplotlib.use("Agg")
