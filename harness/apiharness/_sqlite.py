"""SQLite files shared by threads and processes: WAL journal, and write transactions that
take the write lock first.

For the persistent stores (idempotency results, webhook delivery ids, ...): WAL lets readers
proceed while one process writes, and ``BEGIN IMMEDIATE`` takes the write lock before reading,
so a read-then-write cannot interleave with another process's.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from apiharness.errors import ConfigurationError

__all__ = ["connect_wal", "write_transaction"]


def connect_wal(
    path: str | Path,
    *,
    schema: str = "",
    what: str = "SQLite store",
    timeout: float = 30.0,
    check_same_thread: bool = True,
) -> sqlite3.Connection:
    """Open ``path`` in autocommit mode with the WAL journal and ``schema`` applied.

    A file that cannot be opened raises :class:`ConfigurationError` naming ``what``.
    ``check_same_thread=False`` for a connection shared by threads under a lock of its own.
    """
    try:
        conn = sqlite3.connect(
            path, timeout=timeout, isolation_level=None, check_same_thread=check_same_thread
        )
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")  # durable across crashes of the process
        if schema:
            conn.executescript(schema)
    except sqlite3.Error as exc:
        raise ConfigurationError(
            f"{what} cannot use {str(path)!r} ({exc}); pass a path in a writable folder"
        ) from exc
    return conn


@contextlib.contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, or ``ROLLBACK`` if the block raises."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
