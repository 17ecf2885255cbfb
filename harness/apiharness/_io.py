"""Atomic file writes: a crash or a full disk never leaves half a file behind, nor litter.

The data goes to a temporary file beside the target, is fsynced, and renamed over it. A
writer killed before the rename (``kill -9``, a lost CI runner) leaves its temporary file
behind, so every write first sweeps the folder: a temporary file of ours (``.NAME.*`` ending
in ``.apiharness.tmp``) whose writer is gone is deleted. "Gone" is decided by an advisory lock
(``flock``) that a writer holds on its temporary file from creation until after the rename;
the kernel drops it when the process dies, so a sweep never deletes a live writer's file,
whichever process or xdist worker that writer is. Where ``fcntl`` is missing (Windows), files
untouched for an hour count as abandoned.

The file gets the permissions ``open(path, "w")`` would give it: a new file the process's
umask default (0644 under the usual umask 022, not ``mkstemp``'s 0600, which kept reports and
cassettes from the CI user's artifact uploads and web servers), and a file that is replaced
keeps its own mode (a cassette someone made 0600 stays 0600). ``private=True`` (keys, tokens)
makes it readable by its owner only, always.

Hand-written: atomic-write libraries (``atomicwrites``, ``safer``) rename and fsync but leave
a killed writer's temporary file behind.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
import sys
import time
from pathlib import Path

if sys.platform != "win32":
    import fcntl

__all__ = ["TEMP_SUFFIX", "atomic_write"]

#: The suffix of atomic_write's temporary files; the sweep deletes nothing else.
TEMP_SUFFIX = ".apiharness.tmp"
_ABANDONED_AFTER = 3600.0  # seconds; only where no lock can tell a live writer from a dead one
_NAME_PART = 100  # of the target's name in the temporary one: NAME_MAX is 255 bytes


def _lock(fd: int, *, wait: bool) -> bool:
    """Take the writer's lock on ``fd``; False if another process holds it (``wait=False``)."""
    if sys.platform == "win32":  # pragma: no cover
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _same_file(fd: int, path: str) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path, follow_symlinks=False))
    except FileNotFoundError:
        return False


def _sweep(folder: Path) -> None:
    """Delete the temporary files of writers that died before renaming them."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        if not (entry.name.startswith(".") and entry.name.endswith(TEMP_SUFFIX)):
            continue
        if sys.platform == "win32":  # pragma: no cover
            with contextlib.suppress(OSError):
                if time.time() - entry.stat().st_mtime > _ABANDONED_AFTER:
                    os.unlink(entry.path)
            continue
        try:
            fd = os.open(entry.path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            continue  # renamed or swept by someone else meanwhile, or not ours to open
        try:
            # Locked: its writer is alive. Unlocked: the writer is dead, or has only just
            # created it and not yet locked it; that writer sees its file gone and starts over.
            if _lock(fd, wait=False) and _same_file(fd, entry.path):
                os.unlink(entry.path)
        except OSError:
            pass
        finally:
            os.close(fd)


def _create(target: Path, mode: int) -> tuple[int, str]:
    """A new file beside ``target`` with a name no one else has, created with ``mode`` less
    the umask, as ``mkstemp`` does with 0o600."""
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    flags |= getattr(os, "O_BINARY", 0)
    while True:
        tmp = str(
            target.parent / f".{target.name[:_NAME_PART]}.{secrets.token_hex(6)}{TEMP_SUFFIX}"
        )
        try:
            return os.open(tmp, flags, mode), tmp
        except FileExistsError:
            continue


def _locked_temp(target: Path, mode: int) -> tuple[int, str]:
    """A new temporary file beside ``target``, created and locked by this process."""
    while True:
        fd, tmp = _create(target, mode)
        _lock(fd, wait=True)
        if _same_file(fd, tmp):
            return fd, tmp
        os.close(fd)  # a sweep took it between creation and lock: make another


def _keep_mode(fd: int, target: Path) -> None:
    """Give the new file the mode of the file it replaces, if there is one."""
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except OSError:
        return  # nothing to replace: the mode it was created with stands
    with contextlib.suppress(OSError, NotImplementedError):
        os.chmod(fd, mode)


def atomic_write(path: str | os.PathLike[str], data: str | bytes, *, private: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically: a temporary file beside it, fsync, then rename.

    Readers see the old file or the new one, never a mix. Parent folders are created, and
    temporary files left in the folder by killed writers are deleted. ``private=True`` gives
    the file mode 0600 whatever the umask or the mode of the file it replaces.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = _locked_temp(target, 0o600 if private else 0o666)
    _sweep(target.parent)
    try:
        # The lock must outlive the rename: the file stays open until it has its final name.
        with os.fdopen(fd, "wb") as handle:
            if not private:
                _keep_mode(handle.fileno(), target)
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
            os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return target
