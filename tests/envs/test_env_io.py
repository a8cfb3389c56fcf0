"""``mtrnn.envs.io.atomic_write_text``: whole files or nothing, no temp files left behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from mtrnn.envs.io import atomic_write_text


def test_writes_creates_folders_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "new" / "summary.md"
    atomic_write_text(target, "first\n")
    atomic_write_text(target, "second ✓\n")
    assert target.read_text(encoding="utf-8") == "second ✓\n"
    assert [p.name for p in target.parent.iterdir()] == ["summary.md"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "summary.md"
    atomic_write_text(target, "old\n")
    with pytest.raises(TypeError):
        atomic_write_text(target, b"not text")  # type: ignore[arg-type]
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["summary.md"]
