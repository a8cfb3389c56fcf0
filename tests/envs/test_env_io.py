"""``mtrnn.envs.io.atomic_write_text``: whole files or nothing, no temp files left behind, umask respected."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mtrnn.envs.io import atomic_write_text


def test_writes_creates_folders_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "new" / "summary.md"
    atomic_write_text(target, "first\n")
    atomic_write_text(target, "second ✓\n")
    assert target.read_text(encoding="utf-8") == "second ✓\n"
    assert [p.name for p in target.parent.iterdir()] == ["summary.md"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "summary.md"
    atomic_write_text(target, "old\n")

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space left"):
        atomic_write_text(target, "new\n")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["summary.md"]


def test_files_get_the_permissions_of_a_plain_open(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        atomic_write_text(tmp_path / "a.md", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.md").stat().st_mode & 0o777 == 0o640
