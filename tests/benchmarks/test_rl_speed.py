"""The RL speed benchmark's command line: budgets are checked before anything trains."""

from __future__ import annotations

import pytest

from mtrnn.benchmarks.rl_speed import _budget, main


@pytest.mark.parametrize(
    ("argv", "named"),
    [(["--batched-steps", "0"], "--batched-steps"), (["--sb3-steps", "-1"], "--sb3-steps")],
)
def test_a_budget_below_one_is_refused_naming_the_flag(
    argv: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main(argv)
    assert named in capsys.readouterr().err


@pytest.mark.parametrize(
    ("steps", "label"), [(150_000, "150 k"), (1_000_000, "1 M"), (2_500_000, "2.5 M"), (512, "512")]
)
def test_budgets_are_labelled_as_read(steps: int, label: str) -> None:
    assert _budget(steps) == label
