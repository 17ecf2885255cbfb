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
:class:`MemoryResultStore` lives as long as the process; the stores live in
:mod:`apiharness.stores` (re-exported here), with :class:`~apiharness.stores.RedisResultStore`
for processes on many hosts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from apiharness._stacks import (
    TransportBase,
    aclose_inner,
    async_inner,
    close_inner,
    httpx,
    is_transport,
    sync_inner,
)
from apiharness._ttl import DAY, check_ttl
from apiharness.errors import ConfigurationError, IdempotencyKeyReused
from apiharness.stores import (
    AsyncResultStore,
    MemoryResultStore,
    ResultStore,
    SQLiteResultStore,
    StoredResult,
    new_idempotency_key,
)

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

# Answers that say "not done, try again" are not results: storing them would replay a failure
# forever. 408/425/429 and 5xx invite a retry; 409 is the draft's "still in flight".
_NOT_FINAL = frozenset({408, 409, 425, 429})


def _final(response: httpx.Response) -> bool:
    """Whether a response ends its operation (so is kept): not a 5xx, nor a not-yet answer."""
    return response.status_code < 500 and response.status_code not in _NOT_FINAL


def _fingerprint(request: httpx.Request) -> str:
    digest = hashlib.sha256()
    for part in (request.method.encode(), str(request.url).encode(), request.content):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


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
        ttl: float = DAY,
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
        self.ttl = check_ttl(ttl)

    def __repr__(self) -> str:
        return (
            f"IdempotencyTransport({self._inner!r}, methods={sorted(self.methods)!r}, "
            f"store={self.store!r})"
        )

    def _fingerprints(self, request: httpx.Request) -> bool:
        """Whether this request's body is hashed (so must be read): keyed, with a store."""
        return self.store is not None and request.method.upper() in self.methods

    def _key(self, request: httpx.Request) -> str | None:
        """Key the request; returns the key when a store is to be consulted, else None."""
        if request.method.upper() not in self.methods:
            return None
        key = request.headers.get(IDEMPOTENCY_KEY_HEADER)
        if key is None:
            key = new_idempotency_key()
            request.headers[IDEMPOTENCY_KEY_HEADER] = key
        return None if self.store is None else key

    def _prepare(self, request: httpx.Request) -> tuple[str, StoredResult | None, str] | None:
        """Key the request; returns (key, stored result, fingerprint), or None to pass it on."""
        key = self._key(request)
        if key is None:
            return None
        assert self.store is not None
        return self._checked(request, key, self.store.lookup(key))

    async def _aprepare(
        self, request: httpx.Request
    ) -> tuple[str, StoredResult | None, str] | None:
        """:meth:`_prepare`, awaiting a store that has coroutines (Redis) instead of blocking."""
        key = self._key(request)
        if key is None:
            return None
        store = self.store
        if isinstance(store, AsyncResultStore):
            return self._checked(request, key, await store.alookup(key))
        assert store is not None
        return self._checked(request, key, store.lookup(key))

    def _checked(
        self, request: httpx.Request, key: str, stored: StoredResult | None
    ) -> tuple[str, StoredResult | None, str]:
        fingerprint = _fingerprint(request)
        if stored is not None and stored.fingerprint != fingerprint:
            raise IdempotencyKeyReused(
                f"the idempotency key of this {request.method} {request.url.path} was already "
                "used for a different request; use a fresh key for each operation "
                "(draft-ietf-httpapi-idempotency-key-header, 'Uniqueness of Idempotency Key')"
            )
        return key, stored, fingerprint

    def _keep(self, key: str, fingerprint: str, response: httpx.Response) -> None:
        if _final(response):
            assert self.store is not None
            self.store.save(key, StoredResult.of(fingerprint, response), ttl=self.ttl)

    async def _akeep(self, key: str, fingerprint: str, response: httpx.Response) -> None:
        store = self.store
        if not isinstance(store, AsyncResultStore):
            self._keep(key, fingerprint, response)
        elif _final(response):
            await store.asave(key, StoredResult.of(fingerprint, response), ttl=self.ttl)

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
        plan = await self._aprepare(request)
        if plan is None:
            return await inner.handle_async_request(request)
        key, stored, fingerprint = plan
        if stored is not None:
            return stored.to_response(request)
        response = await inner.handle_async_request(request)
        if response.status_code < 500:
            await response.aread()
            await self._akeep(key, fingerprint, response)
        return response

    def close(self) -> None:
        close_inner(self._inner)

    async def aclose(self) -> None:
        await aclose_inner(self._inner)
