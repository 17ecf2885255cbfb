"""Atomic writes leave either the old file or the new one."""

from __future__ import annotations

from pathlib import Path

import pytest

from apiharness._io import atomic_write


def test_writes_text_and_bytes_and_creates_parents(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "report.json"
    atomic_write(target, "{}")
    assert target.read_text() == "{}"
    atomic_write(target, b"\x00\xff")
    assert target.read_bytes() == b"\x00\xff"
    assert [p.name for p in target.parent.iterdir()] == ["report.json"]


def test_failed_write_keeps_the_old_file_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "cassette.yaml"
    target.write_text("old")

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("apiharness._io.os.replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["cassette.yaml"]
