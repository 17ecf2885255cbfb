"""Idempotency keys for unsafe requests, and a result store that survives restarts.

:class:`IdempotencyTransport` wraps another transport. On the methods it is told to protect
(``POST`` and ``PATCH`` by default: ``PUT`` and ``DELETE`` are idempotent by definition, RFC 9110
section 9.2.2) it adds an ``Idempotency-Key`` header unless the request already carries one.
The value follows draft-ietf-httpapi-idempotency-key-header (section "Syntax"): a Structured
Field *String* (RFC 8941 section 3.3.3), i.e. the key in double quotes; the draft recommends a
UUID, and we use a random (version 4) one::

    Idempotency-Key: "8e03978e-40d5-43e8-bc93-6894a57f9324"

Put it *outside* the retry transport: the header is added once per logical operation, before
the retry loop, so every retry of that operation repeats the same key, the next operation gets
a fresh one, and the retry transport sees the key and knows the POST is safe to retry::

    transport = IdempotencyTransport(RetryTransport(httpx.HTTPTransport()))
    client = httpx.Client(transport=transport)

With a :class:`ResultStore`, a completed operation's response is kept under its key; sending
the same key again (say, after the process restarted) replays the stored response instead of
repeating the operation. :meth:`ResultStore.key_for` gives an operation a key that is the same
in every process and across restarts, so a crash between "sent" and "stored" still reaches the
server with the original key and the server deduplicates. :class:`SQLiteResultStore` is the
persistent default (standard library, WAL journal, safe for several processes);
:class:`MemoryResultStore` lives as long as the process.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from apiharness._sqlite import connect_wal, write_transaction
from apiharness._stacks import (
    TransportBase,
    aclose_inner,
    async_inner,
    close_inner,
    httpx,
    is_transport,
    stack_of,
    sync_inner,
)
from apiharness.clock import get_clock
from apiharness.errors import ConfigurationError, IdempotencyKeyReused

__all__ = [
    "IDEMPOTENCY_KEY_HEADER",
    "IdempotencyTransport",
    "MemoryResultStore",
    "ResultStore",
    "SQLiteResultStore",
    "StoredResult",
    "new_idempotency_key",
]

IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
DEFAULT_TTL = 24 * 3600.0  # the draft's examples and Stripe both keep keys for 24 hours

# Answers that say "not done, try again" are not results: storing them would replay a failure
# forever. 408/425/429 and 5xx invite a retry; 409 is the draft's "still in flight".
_NOT_FINAL = frozenset({408, 409, 425, 429})
# Response headers that belong to one delivery, not to the operation's result.
_HOP_HEADERS = frozenset({"set-cookie", "date", "connection", "transfer-encoding", "keep-alive"})


def new_idempotency_key() -> str:
    """A fresh ``Idempotency-Key`` value: a random UUID as a Structured Field String."""
    return f'"{uuid.uuid4()}"'


def _fingerprint(request: httpx.Request) -> str:
    digest = hashlib.sha256()
    for part in (request.method.encode(), str(request.url).encode(), request.content):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


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


def _check_ttl(ttl: float) -> float:
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not ttl > 0:
        raise ConfigurationError(f"ttl={ttl!r} must be a positive number of seconds, e.g. 86400")
    return float(ttl)


class MemoryResultStore:
    """A :class:`ResultStore` in this process's memory; expiry follows the active clock."""

    def __init__(self) -> None:
        self._keys: dict[str, tuple[str, float]] = {}
        self._results: dict[str, tuple[StoredResult, float]] = {}
        self._lock = threading.Lock()

    def key_for(self, operation: str, *, ttl: float = DEFAULT_TTL) -> str:
        ttl = _check_ttl(ttl)
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
        expires = get_clock().time() + _check_ttl(ttl)
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
        ttl = _check_ttl(ttl)
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
        lines = [line.split("\t", 1) for line in str(row[2]).split("\n") if line]
        return StoredResult(
            str(row[0]), int(row[1]), tuple((n, v) for n, v in lines), bytes(row[3])
        )

    def save(self, key: str, result: StoredResult, *, ttl: float = DEFAULT_TTL) -> None:
        # Header names cannot hold a tab or newline and values cannot hold a newline (RFC 9110
        # section 5), so one "name<TAB>value" per line round-trips exactly.
        headers = "\n".join(f"{name}\t{value}" for name, value in result.headers)
        self._connect().execute(
            "INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?, ?, ?)",
            (
                key,
                result.fingerprint,
                result.status_code,
                headers,
                result.content,
                get_clock().time() + _check_ttl(ttl),
            ),
        )

    def purge(self) -> int:
        """Delete expired keys and results; returns how many rows went."""
        conn, now = self._connect(), get_clock().time()
        gone = conn.execute("DELETE FROM operations WHERE expires_at <= ?", (now,)).rowcount
        return gone + conn.execute("DELETE FROM results WHERE expires_at <= ?", (now,)).rowcount

    def __repr__(self) -> str:
        return f"SQLiteResultStore({str(self.path)!r})"


class IdempotencyTransport(TransportBase):
    """Adds an ``Idempotency-Key`` to unsafe requests; replays stored results (sync and async,
    httpx and httpx2: the inner transport must be of the client's stack).

    ``methods`` are the methods that get a key (``POST`` and ``PATCH`` by default). A request
    that already has the header keeps it: that is how a caller gives one operation a key of its
    own, e.g. from :meth:`ResultStore.key_for`. With ``store``, final responses (anything but
    5xx, 408, 409, 425 and 429) are kept for ``ttl`` seconds and replayed for the same key; the
    same key with a different method, URL or body raises :class:`IdempotencyKeyReused`.
    """

    def __init__(
        self,
        transport: httpx.BaseTransport | httpx.AsyncBaseTransport,
        *,
        methods: Iterable[str] = ("POST", "PATCH"),
        store: ResultStore | None = None,
        ttl: float = DEFAULT_TTL,
    ) -> None:
        if not is_transport(transport):
            raise ConfigurationError(
                "IdempotencyTransport wraps an httpx or httpx2 transport, e.g. "
                f"httpx.HTTPTransport(); got {type(transport).__qualname__}"
            )
        if isinstance(methods, str):
            raise ConfigurationError('methods= takes a collection of names, e.g. ("POST",)')
        self.methods = frozenset(m.upper() for m in methods)
        if store is not None and not isinstance(store, ResultStore):
            raise ConfigurationError("store= needs a ResultStore, e.g. SQLiteResultStore(path)")
        self._inner = transport
        self.store = store
        self.ttl = _check_ttl(ttl)

    def __repr__(self) -> str:
        return (
            f"IdempotencyTransport({self._inner!r}, methods={sorted(self.methods)!r}, "
            f"store={self.store!r})"
        )

    def _fingerprints(self, request: httpx.Request) -> bool:
        """Whether this request's body is hashed (so must be read): keyed, with a store."""
        return self.store is not None and request.method.upper() in self.methods

    def _prepare(self, request: httpx.Request) -> tuple[str, StoredResult | None, str] | None:
        """Key the request; returns (key, stored result, fingerprint), or None to pass it on."""
        if request.method.upper() not in self.methods:
            return None
        key = request.headers.get(IDEMPOTENCY_KEY_HEADER)
        if key is None:
            key = new_idempotency_key()
            request.headers[IDEMPOTENCY_KEY_HEADER] = key
        if self.store is None:
            return None
        fingerprint = _fingerprint(request)
        stored = self.store.lookup(key)
        if stored is not None and stored.fingerprint != fingerprint:
            raise IdempotencyKeyReused(
                f"the idempotency key of this {request.method} {request.url.path} was already "
                "used for a different request; use a fresh key for each operation "
                "(draft-ietf-httpapi-idempotency-key-header, 'Uniqueness of Idempotency Key')"
            )
        return key, stored, fingerprint

    def _keep(self, key: str, fingerprint: str, response: httpx.Response) -> None:
        if response.status_code < 500 and response.status_code not in _NOT_FINAL:
            assert self.store is not None
            self.store.save(key, StoredResult.of(fingerprint, response), ttl=self.ttl)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        inner = sync_inner(self, self._inner, request)
        if self._fingerprints(request):
            request.read()
        plan = self._prepare(request)
        if plan is None:
            return inner.handle_request(request)
        key, stored, fingerprint = plan
        if stored is not None:
            return stored.to_response(request)
        response = inner.handle_request(request)
        if response.status_code < 500:
            response.read()
            self._keep(key, fingerprint, response)
        return response

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        inner = async_inner(self, self._inner, request)
        if self._fingerprints(request):
            await request.aread()
        plan = self._prepare(request)
        if plan is None:
            return await inner.handle_async_request(request)
        key, stored, fingerprint = plan
        if stored is not None:
            return stored.to_response(request)
        response = await inner.handle_async_request(request)
        if response.status_code < 500:
            await response.aread()
            self._keep(key, fingerprint, response)
        return response

    def close(self) -> None:
        close_inner(self._inner)

    async def aclose(self) -> None:
        await aclose_inner(self._inner)
