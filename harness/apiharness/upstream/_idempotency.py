"""Idempotency-key enforcement for upstream routes, and the side-effect counter.

Attach :class:`IdempotencyPolicy` to a route and the upstream behaves like an API that honours
the ``Idempotency-Key`` header as draft-ietf-httpapi-idempotency-key-header describes it::

    policy = IdempotencyPolicy()
    up.post("/charges").respond(respond(201, json={"id": "ch_1"})).add_policy(policy)
    ...
    assert policy.side_effects == 1        # exactly one charge, whatever the client retried

What each request gets, and where it comes from:

====================================  ======  ==============================================
situation                             status  source
====================================  ======  ==============================================
no key, and the route requires one    400     the draft, section "Error Scenarios"
key seen with a different payload     422     the draft, section "Error Scenarios"
key seen, first request in flight     409     the draft, section "Error Scenarios"
key seen, first request completed     stored  the draft, "Idempotency Enforcement
                                              Scenarios"; plus ``Idempotent-Replayed:
                                              true``, the header Stripe's API sets on replays
====================================  ======  ==============================================

Error bodies are ``application/problem+json`` (RFC 9457) with ``type``, ``title`` and
``detail``, the form the draft's examples use. The payload fingerprint is the method, the path
with its query, and the body bytes. A key's record expires ``ttl`` seconds of *virtual* time
after its first use, after which the key counts as new (24 hours by default; the draft leaves
expiry to the server in "Idempotency Key Validity and Expiry").

A request that was not processed (``hang()``, ``reset()``, a 5xx or 429 from the script) frees
its key, so the client's retry runs the operation; a processed one keeps its response even if
delivery failed (``drop_after_processing()``), so the retry is answered from the record.

:attr:`IdempotencyPolicy.side_effects` counts the operations the route actually performed (a
2xx produced by the route's own script, keyed or not), the number tests assert on.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from apiharness._stacks import httpx
from apiharness.clock import get_clock
from apiharness.errors import DeclarationError
from apiharness.upstream._behaviours import Behaviour, ResponseData, respond
from apiharness.upstream._routes import Outcome, Route

__all__ = ["IdempotencyPolicy"]

_HEADER = "Idempotency-Key"
_DOCS = "https://datatracker.ietf.org/doc/draft-ietf-httpapi-idempotency-key-header/"
# Responses that mean "not performed, try again": the key is freed rather than bound to them.
_RETRYABLE = frozenset({408, 425, 429})


@dataclass
class _Record:
    fingerprint: str
    expires_at: float
    response: ResponseData | None = None  # None while the first request is in flight


def _fingerprint(request: httpx.Request) -> str:
    digest = hashlib.sha256()
    for part in (request.method.encode(), request.url.raw_path, request.content):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def _is_sf_string(value: str) -> bool:
    """An RFC 8941 section 3.3.3 String: DQUOTEs around printable ASCII, escapes only for
    ``\\`` and ``\"``."""
    if len(value) < 2 or value[0] != '"' or value[-1] != '"':
        return False
    inner, i = value[1:-1], 0
    while i < len(inner):
        char = inner[i]
        if char == "\\":
            if i + 1 >= len(inner) or inner[i + 1] not in '"\\':
                return False
            i += 2
            continue
        if char == '"' or not " " <= char <= "~":
            return False
        i += 1
    return True


def _problem(status: int, title: str, detail: str) -> Behaviour:
    return respond(
        status,
        json={"type": _DOCS, "title": title, "detail": detail},
        headers={"Content-Type": "application/problem+json"},
    )


class IdempotencyPolicy:
    """A route policy that enforces idempotency keys (see the module docstring).

    ``required``: a keyed method without a key gets 400 (else it runs unprotected).
    ``methods``: which methods are checked (``POST`` and ``PATCH``). ``ttl``: seconds of
    virtual time a key is remembered. ``strict_format``: also refuse (400) keys that are not a
    Structured Field String, i.e. not in double quotes (draft, "Syntax").
    """

    def __init__(
        self,
        *,
        required: bool = True,
        ttl: float = 24 * 3600.0,
        methods: Iterable[str] = ("POST", "PATCH"),
        strict_format: bool = False,
    ) -> None:
        if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not ttl > 0:
            raise DeclarationError(f"IdempotencyPolicy(ttl={ttl!r}) must be positive seconds")
        if isinstance(methods, str):
            raise DeclarationError('IdempotencyPolicy(methods=...) takes names, e.g. ("POST",)')
        self.required = required
        self.ttl = float(ttl)
        self.methods = frozenset(m.upper() for m in methods)
        self.strict_format = strict_format
        self._records: dict[str, _Record] = {}
        self._owners: dict[int, str | None] = {}  # id(request) -> its key, for pass-throughs
        self._lock = threading.Lock()
        #: Operations the route performed: 2xx responses its own script produced.
        self.side_effects = 0
        #: Requests answered from a stored response.
        self.replays = 0

    def __repr__(self) -> str:
        return (
            f"IdempotencyPolicy(required={self.required}, ttl={self.ttl:g}, "
            f"side_effects={self.side_effects}, replays={self.replays})"
        )

    def reset(self) -> None:
        """Forget every key and zero the counters."""
        with self._lock:
            self._records.clear()
            self._owners.clear()
            self.side_effects = self.replays = 0

    def before(self, request: httpx.Request, route: Route) -> Behaviour | None:
        """Answer 400/422/409 or a replay, or let the route's script perform the operation."""
        key = request.headers.get(_HEADER)
        checked = request.method.upper() in self.methods
        now = get_clock().time()
        with self._lock:
            # Records are kept in creation order with one ttl, so the expired ones are a prefix.
            while self._records:
                oldest = next(iter(self._records))
                if self._records[oldest].expires_at > now:
                    break
                del self._records[oldest]
            refusal = self._refuse_key(request, key) if checked else None
            if refusal is not None:
                return refusal
            if not checked or key is None:
                self._owners[id(request)] = None  # runs unprotected, still counted
                return None
            fingerprint = _fingerprint(request)
            record = self._records.get(key)
            if record is not None and record.expires_at <= now:  # out of order: wall clock
                del self._records[key]
                record = None
            if record is None:
                self._records[key] = _Record(fingerprint, now + self.ttl)
                self._owners[id(request)] = key
                return None
            return self._answer_from(record, fingerprint)

    def _refuse_key(self, request: httpx.Request, key: str | None) -> Behaviour | None:
        if key is None and self.required:
            return _problem(
                400,
                "Idempotency-Key missing",
                f"{request.method} {request.url.path} requires an Idempotency-Key header",
            )
        if key is not None and self.strict_format and not _is_sf_string(key):
            return _problem(
                400,
                "Idempotency-Key malformed",
                'the key must be a Structured Field String, e.g. "<uuid>" in double quotes',
            )
        return None

    def _answer_from(self, record: _Record, fingerprint: str) -> Behaviour:
        if record.fingerprint != fingerprint:
            return _problem(
                422,
                "Idempotency-Key reused",
                "this key was already used for a request with a different payload",
            )
        if record.response is None:
            return _problem(
                409,
                "Request in flight",
                "a request with this Idempotency-Key is still being processed; retry later",
            )
        self.replays += 1
        stored = record.response
        headers = {
            name: value
            for name, value in stored.headers
            if name.lower() not in ("content-length", "transfer-encoding")
        }
        headers["Idempotent-Replayed"] = "true"
        return respond(stored.status, content=stored.body, headers=headers)

    def after(self, request: httpx.Request, route: Route, outcome: Outcome) -> None:
        """Bind the key to what the operation produced, or free it if nothing was done."""
        with self._lock:
            if id(request) not in self._owners:
                return  # answered by this policy: nothing was performed
            key = self._owners.pop(id(request))
            response = outcome.response
            performed = (
                response is not None and response.status < 500 and response.status not in _RETRYABLE
            )
            if response is not None and 200 <= response.status < 300:
                self.side_effects += 1
            if key is None or key not in self._records:
                return
            if performed:
                self._records[key].response = response
            else:
                del self._records[key]
