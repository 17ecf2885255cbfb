"""Idempotency results: a key per named operation, and the response an operation ended with.

:class:`ResultStore` is the interface :class:`~apiharness.clients.IdempotencyTransport` uses.
:class:`MemoryResultStore` lives as long as the process; :class:`SQLiteResultStore` is the
persistent default (standard library, WAL journal, safe for several processes on one host);
:class:`RedisResultStore` is shared by processes on many hosts. Memory and SQLite expire entries
by the active clock (virtual time works); Redis expires them itself, in real time.
"""

from __future__ import annotations

import sqlite3
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from apiharness._sqlite import connect_wal, write_transaction
from apiharness._stacks import httpx, stack_of
from apiharness._ttl import DAY, check_ttl, milliseconds
from apiharness.clock import get_clock
from apiharness.stores._redis import RedisConnection, as_bytes, redis_key

__all__ = [
    "DEFAULT_TTL",
    "AsyncResultStore",
    "MemoryResultStore",
    "RedisResultStore",
    "ResultStore",
    "SQLiteResultStore",
    "StoredResult",
    "new_idempotency_key",
]

DEFAULT_TTL = DAY  # the draft's examples and Stripe both keep keys for 24 hours

# Response headers that belong to one delivery, not to the operation's result.
_HOP_HEADERS = frozenset({"set-cookie", "date", "connection", "transfer-encoding", "keep-alive"})


def new_idempotency_key() -> str:
    """A fresh ``Idempotency-Key`` value: a random UUID as a Structured Field String."""
    return f'"{uuid.uuid4()}"'


@dataclass(frozen=True, repr=False)
class StoredResult:
    """A completed operation's response, kept under its idempotency key."""

    fingerprint: str
    status_code: int
    headers: tuple[tuple[str, str], ...]
    content: bytes

    @classmethod
    def of(cls, fingerprint: str, response: httpx.Response) -> StoredResult:
        headers = tuple(
            (name, value)
            for name, value in response.headers.multi_items()
            if name.lower() not in _HOP_HEADERS
            and name.lower() not in ("content-encoding", "content-length")
        )
        return cls(fingerprint, response.status_code, headers, response.content)

    def to_response(self, request: httpx.Request) -> httpx.Response:
        """The stored response as one of ``request``'s stack (httpx or httpx2)."""
        response: httpx.Response = stack_of(request).Response(
            self.status_code, headers=list(self.headers), content=self.content, request=request
        )
        response.extensions["apiharness_replayed"] = True
        return response

    def __repr__(self) -> str:  # bodies may hold personal data: size only
        return f"StoredResult(status_code={self.status_code}, content=<{len(self.content)} bytes>)"


@runtime_checkable
class ResultStore(Protocol):
    """Keys for named operations and results for keys, each expiring after ``ttl`` seconds."""

    def key_for(self, operation: str, *, ttl: float = DEFAULT_TTL) -> str:
        """The idempotency key of ``operation``: made on first use, the same until it expires."""

    def lookup(self, key: str) -> StoredResult | None:
        """The unexpired result stored under ``key``, if any."""

    def save(self, key: str, result: StoredResult, *, ttl: float = DEFAULT_TTL) -> None:
        """Keep ``result`` under ``key`` for ``ttl`` seconds."""


# Header names cannot hold a tab or newline and values cannot hold a newline (RFC 9110
# section 5), so one "name<TAB>value" per line round-trips exactly.
def _pack_headers(headers: tuple[tuple[str, str], ...]) -> str:
    return "\n".join(f"{name}\t{value}" for name, value in headers)


def _unpack_headers(packed: str) -> tuple[tuple[str, str], ...]:
    lines = [line.split("\t", 1) for line in packed.split("\n") if line]
    return tuple((name, value) for name, value in lines)


class MemoryResultStore:
    """A :class:`ResultStore` in this process's memory; expiry follows the active clock."""

    def __init__(self) -> None:
        self._keys: dict[str, tuple[str, float]] = {}
        self._results: dict[str, tuple[StoredResult, float]] = {}
        self._lock = threading.Lock()

    def key_for(self, operation: str, *, ttl: float = DEFAULT_TTL) -> str:
        ttl = check_ttl(ttl)
        now = get_clock().time()
        with self._lock:
            found = self._keys.get(operation)
            if found is not None and found[1] > now:
                return found[0]
            key = new_idempotency_key()
            self._keys[operation] = (key, now + ttl)
            return key

    def lookup(self, key: str) -> StoredResult | None:
        now = get_clock().time()
        with self._lock:
            found = self._results.get(key)
            if found is None or found[1] <= now:
                self._results.pop(key, None)
                return None
            return found[0]

    def save(self, key: str, result: StoredResult, *, ttl: float = DEFAULT_TTL) -> None:
        expires = get_clock().time() + check_ttl(ttl)
        with self._lock:
            self._results[key] = (result, expires)

    def __repr__(self) -> str:
        return f"MemoryResultStore(results={len(self._results)})"


_SCHEMA = """
CREATE TABLE IF NOT EXISTS operations (
    operation TEXT PRIMARY KEY, key TEXT NOT NULL, expires_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS results (
    key TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, status INTEGER NOT NULL,
    headers TEXT NOT NULL, content BLOB NOT NULL, expires_at REAL NOT NULL);
"""


class SQLiteResultStore:
    """A :class:`ResultStore` in an SQLite file, shared safely by threads and processes.

    WAL journal mode lets readers proceed while one process writes; :meth:`key_for` runs in a
    ``BEGIN IMMEDIATE`` transaction, so two processes asking for the same operation at once get
    the same key. Expired rows are ignored, and deleted by :meth:`purge`::

        store = SQLiteResultStore("idempotency.sqlite3")
        key = store.key_for("charge-order-42")   # same key after a restart
        client.post("/charges", json=..., headers={"Idempotency-Key": key})
    """

    def __init__(self, path: str | Path, *, timeout: float = 30.0) -> None:
        self.path = Path(path)
        self._timeout = timeout
        self._local = threading.local()
        self._connect()  # fail now, at construction, if the file cannot be opened

    def _connect(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:  # one connection per thread: sqlite3 connections are not shareable
            conn = connect_wal(
                self.path, schema=_SCHEMA, what="SQLiteResultStore", timeout=self._timeout
            )
            self._local.conn = conn
        return conn

    def key_for(self, operation: str, *, ttl: float = DEFAULT_TTL) -> str:
        ttl = check_ttl(ttl)
        now = get_clock().time()
        with write_transaction(self._connect()) as conn:
            row = conn.execute(
                "SELECT key FROM operations WHERE operation = ? AND expires_at > ?",
                (operation, now),
            ).fetchone()
            if row is not None:
                return str(row[0])
            key = new_idempotency_key()
            conn.execute(
                "INSERT OR REPLACE INTO operations VALUES (?, ?, ?)", (operation, key, now + ttl)
            )
            return key

    def lookup(self, key: str) -> StoredResult | None:
        row = (
            self._connect()
            .execute(
                "SELECT fingerprint, status, headers, content FROM results "
                "WHERE key = ? AND expires_at > ?",
                (key, get_clock().time()),
            )
            .fetchone()
        )
        if row is None:
            return None
        return StoredResult(str(row[0]), int(row[1]), _unpack_headers(str(row[2])), bytes(row[3]))

    def save(self, key: str, result: StoredResult, *, ttl: float = DEFAULT_TTL) -> None:
        headers = _pack_headers(result.headers)
        self._connect().execute(
            "INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?, ?, ?)",
            (
                key,
                result.fingerprint,
                result.status_code,
                headers,
                result.content,
                get_clock().time() + check_ttl(ttl),
            ),
        )

    def purge(self) -> int:
        """Delete expired keys and results; returns how many rows went."""
        conn, now = self._connect(), get_clock().time()
        gone = conn.execute("DELETE FROM operations WHERE expires_at <= ?", (now,)).rowcount
        return gone + conn.execute("DELETE FROM results WHERE expires_at <= ?", (now,)).rowcount

    def __repr__(self) -> str:
        return f"SQLiteResultStore({str(self.path)!r})"


@runtime_checkable
class AsyncResultStore(ResultStore, Protocol):
    """A :class:`ResultStore` whose network calls also exist as coroutines.

    :class:`~apiharness.clients.IdempotencyTransport` awaits these in an async client, so a
    store that talks to a server never blocks the event loop.
    """

    async def akey_for(self, operation: str, *, ttl: float = DEFAULT_TTL) -> str:
        """:meth:`ResultStore.key_for` as a coroutine."""

    async def alookup(self, key: str) -> StoredResult | None:
        """:meth:`ResultStore.lookup` as a coroutine."""

    async def asave(self, key: str, result: StoredResult, *, ttl: float = DEFAULT_TTL) -> None:
        """:meth:`ResultStore.save` as a coroutine."""


def _from_hash(found: Mapping[Any, Any]) -> StoredResult | None:
    """A stored result from its Redis hash (None when the hash is absent)."""
    if not found:
        return None
    return StoredResult(
        as_bytes(found[b"fingerprint"]).decode(),
        int(as_bytes(found[b"status"])),
        _unpack_headers(as_bytes(found[b"headers"]).decode()),
        as_bytes(found[b"content"]),
    )


def _to_hash(result: StoredResult) -> dict[str, str | int | bytes]:
    return {
        "fingerprint": result.fingerprint,
        "status": result.status_code,
        "headers": _pack_headers(result.headers),
        "content": result.content,
    }


class RedisResultStore:
    """A :class:`ResultStore` in Redis, shared by every process and host that uses ``url``.

    :meth:`key_for` is one ``SET ... NX GET``: the first process to ask for an operation makes
    its key, every other process (at the same moment or later, until ``ttl``) gets that key.
    Results are hashes that Redis expires after ``ttl`` seconds of real time. Keys::

        apiharness:idem:op:<operation>    the operation's idempotency key (a string)
        apiharness:idem:result:<key>      the stored response (a hash)

    Each operation is also a coroutine (:meth:`akey_for`, :meth:`alookup`, :meth:`asave`, on
    redis-py's asyncio client), which an async :class:`~apiharness.clients.IdempotencyTransport`
    awaits. A Redis that cannot be reached raises :class:`~apiharness.errors.StoreUnavailable`:
    the transport then neither sends nor replays (fail closed), so no operation runs unkeyed.
    """

    def __init__(self, url: str) -> None:
        self._redis = RedisConnection(url, what="RedisResultStore")

    @staticmethod
    def _claim(operation: str, ttl: float) -> tuple[str, str, int]:
        """The operation's key name, a fresh key for it, and the expiry in milliseconds."""
        return (
            redis_key("idem", "op", operation),
            new_idempotency_key(),
            milliseconds(check_ttl(ttl)),
        )

    def key_for(self, operation: str, *, ttl: float = DEFAULT_TTL) -> str:
        name, fresh, px = self._claim(operation, ttl)
        with self._redis.errors():
            # NX with GET (Redis >= 7.0): set if absent and return what was there, atomically.
            found = self._redis.sync.set(name, fresh, nx=True, px=px, get=True)
        return fresh if found is None else as_bytes(found).decode()

    async def akey_for(self, operation: str, *, ttl: float = DEFAULT_TTL) -> str:
        """:meth:`key_for` as a coroutine."""
        name, fresh, px = self._claim(operation, ttl)
        with self._redis.errors():
            found = await self._redis.asyncio_client().set(name, fresh, nx=True, px=px, get=True)
        return fresh if found is None else as_bytes(found).decode()

    def lookup(self, key: str) -> StoredResult | None:
        with self._redis.errors():
            found = self._redis.sync.hgetall(redis_key("idem", "result", key))
        return _from_hash(found)

    async def alookup(self, key: str) -> StoredResult | None:
        """:meth:`lookup` as a coroutine."""
        with self._redis.errors():
            found = await self._redis.asyncio_client().hgetall(redis_key("idem", "result", key))
        return _from_hash(found)

    def save(self, key: str, result: StoredResult, *, ttl: float = DEFAULT_TTL) -> None:
        name, px = redis_key("idem", "result", key), milliseconds(check_ttl(ttl))
        with self._redis.errors():
            # One MULTI/EXEC: a result is never visible without its expiry.
            pipe = self._redis.sync.pipeline(transaction=True)
            pipe.delete(name)
            pipe.hset(name, mapping=_to_hash(result))  # type: ignore[arg-type]
            pipe.pexpire(name, px)
            pipe.execute()

    async def asave(self, key: str, result: StoredResult, *, ttl: float = DEFAULT_TTL) -> None:
        """:meth:`save` as a coroutine."""
        name, px = redis_key("idem", "result", key), milliseconds(check_ttl(ttl))
        with self._redis.errors():
            pipe = self._redis.asyncio_client().pipeline(transaction=True)
            pipe.delete(name)
            pipe.hset(name, mapping=_to_hash(result))  # type: ignore[arg-type]
            pipe.pexpire(name, px)
            await pipe.execute()

    def close(self) -> None:
        """Close the connections."""
        self._redis.close()

    def __repr__(self) -> str:
        return f"RedisResultStore({self._redis.shown!r})"
