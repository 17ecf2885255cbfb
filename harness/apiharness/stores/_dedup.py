"""Webhook delivery ids, each claimed once: in memory, in SQLite, in Redis.

See :mod:`apiharness.webhooks` for how ``verify(..., dedup=store)`` uses them. Memory and SQLite
expire ids by the ``now`` they are given (the active clock: virtual time works); Redis expires
them itself after ``ttl`` seconds of real time.

The SQLite store is stdlib ``sqlite3`` in WAL mode, safe across threads and processes on one
host: claiming an id is one ``INSERT`` in an immediate transaction, so two copies of one
delivery arriving at once are told apart. The Redis store claims with one ``SET NX``, so
exactly one of any number of processes on any number of hosts wins.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Protocol, runtime_checkable

from apiharness._sqlite import connect_wal, write_transaction
from apiharness._ttl import DAY, check_ttl, milliseconds
from apiharness.stores._redis import RedisConnection, redis_key

__all__ = ["DedupStore", "MemoryDedupStore", "RedisDedupStore", "SQLiteDedupStore"]


@runtime_checkable
class DedupStore(Protocol):
    """What ``verify(..., dedup=...)`` needs: claim an id once, forget it on failure."""

    def claim(self, delivery_id: str, *, now: float) -> bool:
        """Record ``delivery_id``; False if it is already recorded and not expired."""

    def forget(self, delivery_id: str) -> None:
        """Drop ``delivery_id`` so a retry of that delivery is accepted."""


class MemoryDedupStore:
    """Delivery ids in a dict, for one process. Thread-safe.

    Example::

        from apiharness.stores import MemoryDedupStore
        from apiharness.webhooks import github

        seen = MemoryDedupStore(ttl=3 * 24 * 3600)
        github.verify(body, request.headers, secret, dedup=seen)
    """

    def __init__(self, ttl: float = DAY) -> None:
        self.ttl = check_ttl(ttl, "dedup store")
        self._expires: dict[str, float] = {}
        self._lock = threading.Lock()
        self._next_purge = 0.0

    def claim(self, delivery_id: str, *, now: float) -> bool:
        with self._lock:
            if now >= self._next_purge:
                # Amortised: sweep expired ids at most once per ttl, not on every call.
                self._expires = {k: t for k, t in self._expires.items() if t > now}
                self._next_purge = now + self.ttl
            expires = self._expires.get(delivery_id)
            if expires is not None and expires > now:
                return False
            self._expires[delivery_id] = now + self.ttl
            return True

    def forget(self, delivery_id: str) -> None:
        with self._lock:
            self._expires.pop(delivery_id, None)

    def __len__(self) -> int:
        return len(self._expires)

    def __repr__(self) -> str:
        return f"MemoryDedupStore(ttl={self.ttl:g}, ids={len(self._expires)})"


_SCHEMA = """
CREATE TABLE IF NOT EXISTS webhook_deliveries (id TEXT PRIMARY KEY, expires REAL NOT NULL);
CREATE INDEX IF NOT EXISTS webhook_deliveries_expires ON webhook_deliveries (expires);
"""


class SQLiteDedupStore:
    """Delivery ids in a SQLite file (WAL), shared by threads and processes.

    Example::

        seen = SQLiteDedupStore("/var/lib/myapp/webhooks.sqlite3", ttl=3 * 24 * 3600)
        shopify.verify(body, request.headers, secret, dedup=seen)
    """

    def __init__(self, path: str | Path, ttl: float = DAY) -> None:
        self.ttl = check_ttl(ttl, "dedup store")
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db = connect_wal(
            self.path,
            schema=_SCHEMA,
            what="the webhook dedup store",
            check_same_thread=False,  # shared by threads, under self._lock
        )

    def claim(self, delivery_id: str, *, now: float) -> bool:
        # The write transaction takes the write lock first: two processes cannot both claim.
        with self._lock, write_transaction(self._db) as db:
            db.execute("DELETE FROM webhook_deliveries WHERE expires <= ?", (now,))
            cursor = db.execute(
                "INSERT OR IGNORE INTO webhook_deliveries (id, expires) VALUES (?, ?)",
                (delivery_id, now + self.ttl),
            )
            return cursor.rowcount == 1

    def forget(self, delivery_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM webhook_deliveries WHERE id = ?", (delivery_id,))

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._db.close()

    def __len__(self) -> int:
        with self._lock:
            row = self._db.execute("SELECT count(*) FROM webhook_deliveries").fetchone()
        return int(row[0])

    def __repr__(self) -> str:
        return f"SQLiteDedupStore({str(self.path)!r}, ttl={self.ttl:g})"


class RedisDedupStore:
    """Delivery ids in Redis, shared by every process and host that uses ``url``.

    :meth:`claim` is one ``SET apiharness:webhook:<id> NX PX <ttl>``: exactly one claimant
    wins, and Redis drops the id ``ttl`` seconds (real time) later; ``now`` is not used.
    A Redis that cannot be reached raises :class:`~apiharness.errors.StoreUnavailable`, so
    ``verify`` fails closed: answer 5xx and the provider re-sends the delivery later. Example::

        seen = RedisDedupStore("redis://cache:6379/0", ttl=3 * 24 * 3600)
        github.verify(body, request.headers, secret, dedup=seen)
    """

    def __init__(self, url: str, ttl: float = DAY) -> None:
        self.ttl = check_ttl(ttl, "dedup store")
        self._redis = RedisConnection(url, what="RedisDedupStore")

    def claim(self, delivery_id: str, *, now: float) -> bool:
        with self._redis.errors():
            won = self._redis.sync.set(
                redis_key("webhook", delivery_id), b"1", nx=True, px=milliseconds(self.ttl)
            )
        return bool(won)

    def forget(self, delivery_id: str) -> None:
        with self._redis.errors():
            self._redis.sync.delete(redis_key("webhook", delivery_id))

    def close(self) -> None:
        """Close the connections."""
        self._redis.close()

    def __repr__(self) -> str:
        return f"RedisDedupStore({self._redis.shown!r}, ttl={self.ttl:g})"
