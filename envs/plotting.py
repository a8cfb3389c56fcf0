"""Look at a trial: inputs, targets (and optionally a network's outputs) and the loss mask over time."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from mtrnn.envs.batch import TrialBatch

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.image import AxesImage

__all__ = ["plot_trial"]

_PERIOD_COLORS = ("#e8e8e8", "#cfe3f7", "#f7e3cf", "#d8f0d2", "#f0d2e8", "#e3e3f7", "#f7f7cf", "#d2f0f0")


def _shade_periods(ax: Axes, batch: TrialBatch, index: int, dt: float, label: bool) -> None:
    items = sorted(
        ((int(s[index]), int(e[index]), name) for name, (s, e) in batch.periods.items() if e[index] > s[index]),
    )
    for k, (start, stop, name) in enumerate(items):
        ax.axvspan(start * dt, stop * dt, color=_PERIOD_COLORS[k % len(_PERIOD_COLORS)], zorder=0)
        if label:
            ax.text(
                (start + stop) / 2 * dt,
                1.02,
                name,
                ha="center",
                va="bottom",
                fontsize=8,
                transform=ax.get_xaxis_transform(),
            )


def _heat(ax: Axes, data: NDArray, dt: float, names: Sequence[str], title: str, cmap: str) -> AxesImage:
    n_steps, n_units = data.shape
    image = ax.imshow(
        data.T,
        aspect="auto",
        origin="lower",
        interpolation="nearest",
        cmap=cmap,
        extent=(0, n_steps * dt, -0.5, n_units - 0.5),
    )
    if n_units <= 12:
        ax.set_yticks(range(n_units), names, fontsize=7)
    ax.set_ylabel(title)
    return image


def plot_trial(
    batch: TrialBatch,
    index: int = 0,
    *,
    outputs: NDArray[np.floating] | None = None,
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
    title: str | None = None,
) -> Figure:
    """One trial of ``batch``: inputs, targets, mask (and ``outputs``) over time, periods shaded.

    Args:
        batch: the trials.
        index: which trial (``0 <= index < B``).
        outputs: optional ``(T, B, n_out)`` network outputs, drawn as a fourth panel.
        input_names: a name per input unit (e.g. ``task.input_names``).
        output_names: a name per output unit.
        title: figure title.

    Returns:
        The matplotlib Figure (save it with ``fig.savefig(path)``).
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
        raise TypeError(f"index must be an int, got {type(index).__name__}")
    if not 0 <= index < batch.batch_size:
        raise ValueError(f"index must lie in [0, {batch.batch_size}), got {index}")
    length = int(batch.lengths[index])
    dt = batch.dt
    n_in = batch.inputs.shape[-1]
    n_out = batch.targets.shape[-1]
    input_names = list(input_names or [f"in{i}" for i in range(n_in)])
    output_names = list(output_names or [f"out{i}" for i in range(n_out)])
    panels = 4 if outputs is not None else 3
    fig, axes = plt.subplots(panels, 1, figsize=(8, 1.9 * panels + 0.6), sharex=True, constrained_layout=True)
    inputs = batch.inputs[:length, index]
    targets = batch.targets[:length, index]
    mask = batch.mask[:length, index]
    im = _heat(axes[0], inputs, dt, input_names, "inputs", "viridis")
    fig.colorbar(im, ax=axes[0], pad=0.01)
    im = _heat(axes[1], targets, dt, output_names, "targets", "magma")
    fig.colorbar(im, ax=axes[1], pad=0.01)
    if outputs is not None:
        out = np.asarray(outputs)[:length, index]
        im = _heat(axes[2], out, dt, output_names, "outputs", "magma")
        fig.colorbar(im, ax=axes[2], pad=0.01)
    ax = axes[-1]
    time = (np.arange(length) + 0.5) * dt
    ax.step(time, mask.max(axis=-1), where="mid", color="k", label="mask (max over outputs)")
    _shade_periods(ax, batch, index, dt, label=True)
    ax.set_ylabel("loss weight")
    ax.set_xlabel("time (ms)")
    twin = ax.twinx()
    twin.step(time, batch.labels[:length, index], where="mid", color="tab:red", label="label (correct action)")
    twin.set_ylabel("label", color="tab:red")
    twin.tick_params(axis="y", colors="tab:red")
    handles = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    ax.legend(handles=handles, loc="upper left", fontsize=7, frameon=False)
    ax.set_xlim(0, length * dt)
    for a in axes[:-1]:
        for start, stop in batch.periods.values():
            if stop[index] > start[index]:
                a.axvline(int(start[index]) * dt, color="w", lw=0.8, ls=":")
    conditions = ", ".join(
        f"{k}={np.asarray(v)[index]:.3g}"
        if np.issubdtype(np.asarray(v).dtype, np.floating)
        else f"{k}={np.asarray(v)[index]}"
        for k, v in batch.conditions.items()
        if not k.endswith("_duration")
    )
    heading = f"{title or batch.metadata.get('task', 'trial')}  ({conditions})"
    fig.suptitle(textwrap.fill(heading, width=110), fontsize=9)
    return fig
