"""The journal: every request the upstream saw, in arrival order, with what answered it.

Timestamps come from the active clock, so under the ``clock`` fixture they are virtual and a
backoff schedule can be asserted exactly::

    assert up.journal.intervals("GET", "/users/1") == [0.5, 1.0, 2.0]
    assert up.journal.attempt(2).headers["Idempotency-Key"] == key
"""

from __future__ import annotations

import itertools
import json as _json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, overload

from apiharness._stacks import httpx
from apiharness.upstream._behaviours import Behaviour, ResponseData

if TYPE_CHECKING:
    from apiharness.upstream._routes import Route

__all__ = ["Journal", "JournalEntry", "RejectedRequest"]


@dataclass(slots=True, eq=False)
class JournalEntry:
    """One request and its fate. Read-only for users; the upstream fills in ``delivered``.

    ``status`` is None when no response reached the wire (hang, reset, close, garbage, a
    dropped response). ``processed`` says whether the upstream performed the operation (it
    produced a response), even if the connection then dropped: count side effects with it.
    ``stream_id`` is the HTTP/2 stream that carried the request (None over HTTP/1.1).
    ``response`` is what the upstream produced (None: nothing); ``faulty`` says the fault
    vocabulary shaped it (see :attr:`Plan.faulty`), so it stands for no real API's answer.
    ``resumed_after`` is the ``Last-Event-ID`` a streamed answer (:func:`sse`) continued after,
    or None when it started from its first event.

    ``method``, ``url``, ``headers`` and ``body`` are read from ``request`` when asked for (the
    loopback server builds a request's headers only when something reads them).
    """

    request: httpx.Request = field(repr=False)
    path: str
    time: float
    monotonic: float
    behaviour: Behaviour | None
    route: Route | None
    status: int | None
    processed: bool
    delivered: bool = False
    # The HTTP/2 stream that carried the request (None over HTTP/1.1 and in-process).
    stream_id: int | None = None
    resumed_after: str | None = None
    response: ResponseData | None = field(default=None, repr=False)
    faulty: bool = False

    @property
    def method(self) -> str:
        return self.request.method

    @property
    def url(self) -> str:
        return str(self.request.url)

    @property
    def headers(self) -> httpx.Headers:
        return self.request.headers

    @property
    def body(self) -> bytes:
        return self.request.content

    def json(self) -> Any:
        """The request body parsed as JSON."""
        return _json.loads(self.body)

    def __repr__(self) -> str:
        return (
            f"JournalEntry({self.method} {self.path} -> {self.status}, "
            f"behaviour={self.behaviour!r}, t={self.monotonic:g})"
        )


@dataclass(frozen=True, slots=True)
class RejectedRequest:
    """A client protocol error: bytes the loopback server refused to read as a request.

    Malformed framing, a head or body past the server's limits, a head that took too long, a
    bad ``Host``: the server answered ``status`` (400, 408, 413, 417, 431, 501 or 505) and
    closed the connection. No route saw it, so it is not among the journal's entries; the
    client sent it, so it is not the upstream's failure either. ``head`` is the start of what
    was received, when known.
    """

    status: int
    reason: str
    head: bytes
    time: float
    monotonic: float

    def __repr__(self) -> str:
        return f"RejectedRequest({self.status}: client protocol error: {self.reason})"


class Journal:
    """The requests an upstream received, oldest first. Thread-safe.

    Iterate it, index it, or ask it: :meth:`count`, :meth:`intervals`, :meth:`attempt`. Every
    question takes the same optional filters: ``method``, ``path`` (the request path, exactly),
    ``route``, ``status``.

    Requests the loopback server refused to read (client protocol errors) are kept apart, in
    :attr:`rejected`.
    """

    def __init__(self) -> None:
        self._entries: list[JournalEntry] = []
        self._rejected: list[RejectedRequest] = []
        self._lock = threading.Lock()

    def append(self, entry: JournalEntry) -> None:
        with self._lock:
            self._entries.append(entry)

    def reject(self, rejected: RejectedRequest) -> None:
        with self._lock:
            self._rejected.append(rejected)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._rejected.clear()

    @property
    def rejected(self) -> list[RejectedRequest]:
        """The client protocol errors the loopback server answered with a 4xx, oldest first."""
        with self._lock:
            return list(self._rejected)

    @property
    def entries(self) -> list[JournalEntry]:
        """A snapshot of every entry, oldest first."""
        with self._lock:
            return list(self._entries)

    def filter(
        self,
        method: str | None = None,
        path: str | None = None,
        *,
        route: Route | None = None,
        status: int | None = None,
    ) -> list[JournalEntry]:
        """The entries that pass every filter given, oldest first."""
        wanted = method.upper() if method else None
        return [
            e
            for e in self.entries
            if (wanted is None or e.method == wanted)
            and (path is None or e.path == path)
            and (route is None or e.route is route)
            and (status is None or e.status == status)
        ]

    def count(
        self,
        method: str | None = None,
        path: str | None = None,
        *,
        route: Route | None = None,
        status: int | None = None,
    ) -> int:
        """How many requests pass the filters: ``journal.count("POST", "/charges")``."""
        return len(self.filter(method, path, route=route, status=status))

    def intervals(
        self,
        method: str | None = None,
        path: str | None = None,
        *,
        route: Route | None = None,
        status: int | None = None,
    ) -> list[float]:
        """Seconds between consecutive matching requests (the client's backoff schedule)."""
        times = [e.monotonic for e in self.filter(method, path, route=route, status=status)]
        return [round(b - a, 9) for a, b in itertools.pairwise(times)]

    def attempt(
        self,
        k: int,
        method: str | None = None,
        path: str | None = None,
        *,
        route: Route | None = None,
        status: int | None = None,
    ) -> JournalEntry:
        """What the client sent on attempt ``k`` (1-based) among the matching requests."""
        matching = self.filter(method, path, route=route, status=status)
        if not 1 <= k <= len(matching):
            raise IndexError(
                f"attempt({k}): there were {len(matching)} matching request(s); "
                "attempts are numbered from 1"
            )
        return matching[k - 1]

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __iter__(self) -> Iterator[JournalEntry]:
        return iter(self.entries)

    @overload
    def __getitem__(self, index: int) -> JournalEntry: ...
    @overload
    def __getitem__(self, index: slice) -> list[JournalEntry]: ...
    def __getitem__(self, index: int | slice) -> JournalEntry | list[JournalEntry]:
        with self._lock:
            return self._entries[index]

    def __repr__(self) -> str:
        rejected = len(self.rejected)
        extra = f", {rejected} rejected as client protocol errors" if rejected else ""
        return f"<Journal of {len(self)} request(s){extra}>"
