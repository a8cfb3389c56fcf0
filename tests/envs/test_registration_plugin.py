"""``gym.make("mtrnn/…")`` in a fresh interpreter: with no import on gymnasium 0.29 (entry-point plugin), and with
the ``mtrnn.envs:`` module prefix on every gymnasium line."""

from __future__ import annotations

import subprocess
import sys

import gymnasium as gym

PLUGINS_LOADED_AT_IMPORT = int(gym.__version__.split(".")[0]) < 1


def _make_in_fresh_interpreter(env_id: str) -> subprocess.CompletedProcess:
    code = (
        "import sys, gymnasium as gym; "
        f"env = gym.make({env_id!r}); "
        "print(type(env.unwrapped).__name__, env.unwrapped.task.name)"
    )
    return subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, check=False)


def test_module_prefix_imports_and_registers_on_any_gymnasium() -> None:
    result = _make_in_fresh_interpreter("mtrnn.envs:mtrnn/DelayAnti-v0")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["DelayAntiEnv", "DelayAnti"]


def test_plain_id_without_import_follows_the_gymnasium_line() -> None:
    result = _make_in_fresh_interpreter("mtrnn/Yang19-DelayAnti-v0")
    if PLUGINS_LOADED_AT_IMPORT:
        assert result.returncode == 0, result.stderr
        assert result.stdout.split()[0] == "Yang19DelayAntiEnv"
    else:
        assert result.returncode != 0
        assert "mtrnn" in result.stderr
