"""plot_trial draws every panel and rejects bad indices."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest

from mtrnn.envs import DelayMatchToSample
from mtrnn.envs.plotting import plot_trial


def test_plot_trial_writes_a_png_with_outputs(tmp_path) -> None:
    task = DelayMatchToSample()
    batch = task.sample_batch(3, np.random.default_rng(0))
    fig = plot_trial(batch, 2, outputs=batch.targets, input_names=task.input_names, output_names=task.output_names)
    assert len(fig.axes) >= 4
    path = tmp_path / "trial.png"
    fig.savefig(path)
    plt.close(fig)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(("index", "error"), [(3, ValueError), (-1, ValueError), (1.5, TypeError)])
def test_plot_trial_rejects_bad_index(index: object, error: type[Exception]) -> None:
    batch = DelayMatchToSample().sample_batch(3, np.random.default_rng(0))
    with pytest.raises(error, match="index"):
        plot_trial(batch, index)  # type: ignore[arg-type]
