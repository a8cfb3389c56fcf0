"""Time one training update of our networks against torch's own recurrent layers, same shapes, same run.

``python -m mtrnn.benchmarks.update_speed`` times one update (forward over ``(T, B, n_in) = (100, 64, 85)``,
256 units, 33 outputs, mean squared error, backward, Adam step) of each network below, with 1 and then 2 torch
threads. Models take turns in rounds, so background load hits all of them alike; each round times a few updates
per model after warm-up and keeps the median, and the reported ratio is the median over rounds of
``ours / peer`` in the same round (absolute times on a shared machine are noisy, ratios much less so).

Peers: ``torch.nn.RNN(nonlinearity="relu")``, ``nn.GRU`` and ``nn.LSTM``, each followed by ``nn.Linear``. One
extra row times drawing the leaky RNN's recurrent noise alone (``torch.randn`` of ``(T, B, H)``), the one cost
``nn.RNN`` does not have; another times the same leaky RNN through the trainer's own update
(:class:`~mtrnn.agents.trainer.Trainer`: masked MSE, gradients clipped by value then by norm, the NaN/inf check,
Adam), i.e. what a training step costs beyond drawing its batch. The table is printed and written atomically to
``--out`` (default ``update_speed.md`` in the working directory).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
from torch import Tensor, nn

from mtrnn.agents.config import Loss, TrainConfig
from mtrnn.agents.networks import Activation, Architecture, NetworkConfig, build_network
from mtrnn.agents.rundir import atomic_write_text
from mtrnn.agents.trainer import Trainer

__all__ = [
    "NOISE_DRAW",
    "SHAPES",
    "TRAINER_UPDATE",
    "Contender",
    "Row",
    "contenders",
    "format_table",
    "main",
    "run_benchmark",
]

SHAPES = {"T": 100, "B": 64, "H": 256, "n_in": 85, "n_out": 33}
"""The shapes of the benchmark (Yang 2019's 20-task network on a 2 s trial at dt = 20 ms)."""

DEFAULT_OUT = Path("update_speed.md")


class _TorchRecurrent(nn.Module):
    """A torch recurrent layer (``nn.RNN``/``nn.GRU``/``nn.LSTM``) plus a linear readout."""

    def __init__(self, layer: nn.RNNBase, hidden_size: int, n_outputs: int) -> None:
        super().__init__()
        self.layer = layer
        self.readout = nn.Linear(hidden_size, n_outputs)

    def forward(self, inputs: Tensor) -> Tensor:
        return self.readout(self.layer(inputs)[0])


class _Ours(nn.Module):
    """A :class:`~mtrnn.agents.networks.RecurrentNetwork`, outputs only."""

    def __init__(self, config: NetworkConfig) -> None:
        super().__init__()
        self.network = build_network(config, SHAPES["n_in"], SHAPES["n_out"])

    def forward(self, inputs: Tensor) -> Tensor:
        return self.network(inputs)[0]


@dataclass(frozen=True)
class Contender:
    """One row of the table: a model factory and the name of the peer its ratio is taken against."""

    name: str
    """Row label."""
    make: Callable[[], nn.Module]
    """Builds the model: ``(T, B, n_in) -> (T, B, n_out)``."""
    peer: str
    """Name of the row this one is compared with (itself for a peer)."""


def contenders() -> list[Contender]:
    """The benchmarked models: torch's layers (peers) and ours."""
    size, n_in, n_out = SHAPES["H"], SHAPES["n_in"], SHAPES["n_out"]
    rnn, gru, lstm = "torch nn.RNN relu", "torch nn.GRU", "torch nn.LSTM"
    leaky = NetworkConfig(hidden_size=size, activation=Activation.RELU)
    return [
        Contender(rnn, lambda: _TorchRecurrent(nn.RNN(n_in, size, nonlinearity="relu"), size, n_out), rnn),
        Contender("ours LeakyRNN relu, no noise", lambda: _Ours(_replace(leaky, recurrent_noise=0.0)), rnn),
        Contender("ours LeakyRNN relu, noise 0.05 (default)", lambda: _Ours(leaky), rnn),
        Contender(
            "ours LeakyRNN Levina form, trainable tau, no noise",
            lambda: _Ours(
                _replace(
                    leaky,
                    train_tau=True,
                    nonlinearity_inside=False,
                    recurrent_noise=0.0,
                )
            ),
            rnn,
        ),
        Contender(gru, lambda: _TorchRecurrent(nn.GRU(n_in, size), size, n_out), gru),
        Contender("ours GRU", lambda: _Ours(_replace(leaky, architecture=Architecture.GRU)), gru),
        Contender(lstm, lambda: _TorchRecurrent(nn.LSTM(n_in, size), size, n_out), lstm),
        Contender(
            "ours LSTM (states = concat(h, c))", lambda: _Ours(_replace(leaky, architecture=Architecture.LSTM)), lstm
        ),
    ]


def _replace(config: NetworkConfig, **changes: object) -> NetworkConfig:
    return NetworkConfig.from_dict({**config.to_dict(), **changes})


def _update_time(model: nn.Module, optimizer: torch.optim.Optimizer, inputs: Tensor, targets: Tensor) -> float:
    start = time.perf_counter()
    optimizer.zero_grad(set_to_none=True)
    loss = (model(inputs) - targets).square().mean()
    loss.backward()
    optimizer.step()
    return time.perf_counter() - start


@dataclass(frozen=True)
class Row:
    """One measured row."""

    threads: int
    name: str
    peer: str
    median_ms: float
    """Median over rounds of the per-round median update time."""
    ratio: float
    """Median over rounds of ``this / peer`` (1.0 for a peer)."""


NOISE_DRAW = "torch.randn(T, B, H) alone: the recurrent-noise draw"
TRAINER_UPDATE = "ours LeakyRNN relu, noise 0.05, through Trainer's update (MSE, clip value+norm, NaN check)"
"""Extra row: the leaky RNN's update as the trainer runs it (on the same inputs and targets)."""
"""Extra row: the time to draw the leaky RNN's recurrent noise for one update (torch's CPU RNG is serial)."""


def run_benchmark(threads: int, rounds: int = 5, updates: int = 3, warmup: int = 3, seed: int = 0) -> list[Row]:
    """Time every contender with ``torch.set_num_threads(threads)``; see the module docstring for the method.

    Also times :data:`NOISE_DRAW` against ``nn.RNN`` (its ratio is the share of an ``nn.RNN`` update it costs).
    """
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    inputs = torch.randn(SHAPES["T"], SHAPES["B"], SHAPES["n_in"])
    targets = torch.rand(SHAPES["T"], SHAPES["B"], SHAPES["n_out"])
    actions: list[tuple[str, str, Callable[[], float]]] = []
    for contender in contenders():
        model = contender.make().train()
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        actions.append((contender.name, contender.peer, partial(_update_time, model, optimizer, inputs, targets)))
    actions.insert(1, (NOISE_DRAW, actions[0][0], _noise_draw_time))
    actions.insert(4, (TRAINER_UPDATE, actions[0][0], _trainer_update(threads, inputs, targets)))
    for _, _, action in actions:
        for _ in range(warmup):
            action()
    times: dict[str, list[float]] = {name: [] for name, _, _ in actions}
    for _ in range(rounds):
        for name, _, action in actions:
            times[name].append(statistics.median(action() for _ in range(updates)) * 1e3)
    rows = []
    for name, peer, _ in actions:
        ratio = statistics.median(a / b for a, b in zip(times[name], times[peer], strict=True))
        rows.append(Row(threads, name, peer, statistics.median(times[name]), ratio))
    return rows


def _trainer_update(threads: int, inputs: Tensor, targets: Tensor) -> Callable[[], float]:
    """A timer of ``Trainer._update`` on a leaky RNN of the benchmark's shapes (Yang's Go task: 85 -> 33)."""
    network = NetworkConfig(hidden_size=SHAPES["H"], activation=Activation.RELU)
    config = TrainConfig(
        env_ids=("mtrnn/Yang19-Go-v0",),
        network=network,
        loss=Loss.MSE,
        grad_clip_value=1.0,
        grad_clip_norm=1.0,
        threads=threads,
        prefetch=0,
    )
    trainer = Trainer(config)
    trainer.network.train()
    tensors = {"inputs": inputs, "targets": targets, "mask": torch.ones_like(targets)}
    steps = iter(range(10**9))

    def timed() -> float:
        start = time.perf_counter()
        trainer._update(tensors, next(steps))
        return time.perf_counter() - start

    return timed


def _noise_draw_time() -> float:
    start = time.perf_counter()
    torch.randn(SHAPES["T"], SHAPES["B"], SHAPES["H"])
    return time.perf_counter() - start


def format_table(rows: Sequence[Row]) -> str:
    """Markdown table of ``rows``."""
    lines = ["| threads | model | ms / update (median) | ratio vs peer | peer |", "|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row.threads} | {row.name} | {row.median_ms:.1f} | {row.ratio:.2f} | {row.peer} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: run, print and write the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="torch thread counts to run")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of turn-taking (median over rounds)")
    parser.add_argument("--updates", type=int, default=3, help="timed updates per model per round (median)")
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="markdown file to write (default ./update_speed.md)"
    )
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.updates < 1 or any(t < 1 for t in args.threads):
        parser.error("--rounds, --updates and --threads must be >= 1")
    load = os.getloadavg()[0]
    rows = [row for threads in args.threads for row in run_benchmark(threads, args.rounds, args.updates)]
    table = format_table(rows)
    shapes = ", ".join(f"{k}={v}" for k, v in SHAPES.items())
    header = (
        "# Per-update time: our networks vs torch's recurrent layers\n\n"
        f"One update = forward + MSE + backward + Adam step; {shapes}; float32, CPU. "
        f"{args.rounds} rounds of turn-taking x {args.updates} timed updates, after 3 warm-up updates; "
        "ratio = median over rounds of ours / peer measured in the same round.\n\n"
        f"torch {torch.__version__}, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"load average at start {load:.2f}. Command: `python -m mtrnn.benchmarks.update_speed`.\n\n"
    )
    print(table)
    atomic_write_text(args.out, header + table + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
