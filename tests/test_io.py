"""Atomic writes leave either the old file or the new one."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from apiharness import _io
from apiharness._io import TEMP_SUFFIX, atomic_write


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


# The writers load _io.py alone (it imports nothing of apiharness): a second faster.
# A writer that stops mid-save (data written, before fsync and rename) until told to go on.
_STALLED_WRITER = """
import importlib.util, os, sys

spec = importlib.util.spec_from_file_location("io_under_test", sys.argv[3])
_io = importlib.util.module_from_spec(spec)
spec.loader.exec_module(_io)

real_fsync = os.fsync

def stall(fd):
    print("mid-save", flush=True)
    sys.stdin.readline()
    real_fsync(fd)

_io.os.fsync = stall
_io.atomic_write(sys.argv[1], sys.argv[2] * 100_000)
"""


def _temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(TEMP_SUFFIX))


def _stalled_writer(target: Path, text: str) -> subprocess.Popen[str]:
    writer = subprocess.Popen(
        [sys.executable, "-c", _STALLED_WRITER, str(target), text, _io.__file__],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout is not None
    assert writer.stdout.readline() == "mid-save\n"
    return writer


def test_a_writer_killed_mid_save_is_cleaned_up_by_the_next_write_but_a_live_one_is_not(
    tmp_path: Path,
) -> None:
    (tmp_path / "dead.yaml").write_text("old")
    dead = _stalled_writer(tmp_path / "dead.yaml", "a")
    dead_temps = _temps(tmp_path)
    assert len(dead_temps) == 1
    os.kill(dead.pid, signal.SIGKILL)
    assert dead.wait() == -signal.SIGKILL
    assert _temps(tmp_path) == dead_temps  # the orphan a crash leaves behind

    live = _stalled_writer(tmp_path / "live.yaml", "b")
    live_temps = sorted(set(_temps(tmp_path)) - set(dead_temps))
    assert len(live_temps) == 1

    atomic_write(tmp_path / "other.yaml", "next write")  # sweeps the folder
    assert _temps(tmp_path) == live_temps  # the orphan went; the live writer's file stayed
    assert (tmp_path / "dead.yaml").read_text() == "old"

    assert live.stdin is not None
    live.stdin.write("go on\n")
    live.stdin.close()
    assert live.wait(timeout=30) == 0
    assert (tmp_path / "live.yaml").read_text() == "b" * 100_000
    assert _temps(tmp_path) == []


_BUSY_WRITER = """
import importlib.util, sys

spec = importlib.util.spec_from_file_location("io_under_test", sys.argv[2])
_io = importlib.util.module_from_spec(spec)
spec.loader.exec_module(_io)
atomic_write = _io.atomic_write

payload = b"x" * 5_000_000
atomic_write(sys.argv[1], payload)
print("saving", flush=True)
while True:
    atomic_write(sys.argv[1], payload)
"""


def test_kill_9_during_real_saves_never_leaves_litter_after_the_next_write(tmp_path: Path) -> None:
    target = tmp_path / "cassette.yaml"
    orphans = 0
    for delay in (0.0, 0.01, 0.03, 0.06):
        writer = subprocess.Popen(
            [sys.executable, "-c", _BUSY_WRITER, str(target), _io.__file__],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert writer.stdout is not None
        assert writer.stdout.readline() == "saving\n"
        time.sleep(delay)
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait()
        orphans += len(_temps(tmp_path))
        atomic_write(tmp_path / "next.yaml", "x")
        assert _temps(tmp_path) == []
        assert target.read_bytes() == b"x" * 5_000_000  # never half a file
    # Each kill during a save left an orphan, as on main; each next write removed it.
    assert orphans > 0


def test_long_target_names_fit_the_temporary_name(tmp_path: Path) -> None:
    target = tmp_path / ("n" * 250)
    atomic_write(target, "ok")
    assert target.read_text() == "ok"


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_a_new_file_gets_the_mode_open_would_give_it(tmp_path: Path, umask: int) -> None:
    # In a child process: the umask is process-wide. mkstemp's 0600 was the mode before.
    script = (
        "import os, sys; from apiharness._io import atomic_write\n"
        f"os.umask({umask}); atomic_write(sys.argv[1], 'x')\n"
        "with open(sys.argv[2], 'w'): pass\n"
    )
    ours, theirs = tmp_path / "ours.json", tmp_path / "theirs.json"
    subprocess.run([sys.executable, "-c", script, str(ours), str(theirs)], check=True)
    assert stat.S_IMODE(ours.stat().st_mode) == stat.S_IMODE(theirs.stat().st_mode)
    assert stat.S_IMODE(ours.stat().st_mode) == 0o666 & ~umask


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
@pytest.mark.parametrize("mode", [0o600, 0o640, 0o644])
def test_a_replaced_file_keeps_its_mode(tmp_path: Path, mode: int) -> None:
    target = tmp_path / "cassette.yaml"
    target.write_text("old")
    target.chmod(mode)
    atomic_write(target, "new")
    assert target.read_text() == "new"
    assert stat.S_IMODE(target.stat().st_mode) == mode


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_a_private_file_is_its_owners_only_even_replacing_a_readable_one(tmp_path: Path) -> None:
    fresh, replaced = tmp_path / "key.pem", tmp_path / "token.json"
    replaced.write_text("old")
    replaced.chmod(0o644)
    atomic_write(fresh, "secret", private=True)
    atomic_write(replaced, "secret", private=True)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o600
    assert stat.S_IMODE(replaced.stat().st_mode) == 0o600


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_keys_and_tokens_on_disk_are_their_owners_only(tmp_path: Path) -> None:
    from pydantic import SecretStr

    from apiharness.stores import EncryptedFileTokenStore, Token
    from apiharness.upstream import TLSCertificates

    certificates = TLSCertificates(directory=tmp_path / "tls")
    try:
        written = sorted(p for p in (tmp_path / "tls").iterdir())
        assert written  # the CA, the server and client keys and chains
        assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in written} == {
            p.name: 0o600 for p in written
        }
    finally:
        certificates.cleanup()
    key = EncryptedFileTokenStore.generate_key()
    store = EncryptedFileTokenStore(tmp_path / "token.json", key=key)
    store.save(Token(SecretStr("at-123")))
    assert stat.S_IMODE((tmp_path / "token.json").stat().st_mode) == 0o600
