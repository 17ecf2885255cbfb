"""The mocked upstream: route declarations and in-process delivery.

:class:`Upstream` is a sync and an async transport at once, of httpx and of httpx2 (whichever are
installed; :mod:`apiharness._stacks`).
Dispatch and settlement (route lookup, policies, the script, the journal) are its
:class:`~apiharness.upstream._dispatch.Dispatcher`, shared with the loopback server; what a plan
does on the wire is :func:`~apiharness.upstream._wire.wire_steps`, shared too. In-process
delivery is the steps' driver: a generator that yields the seconds to wait and returns the
response or raises, itself driven by a five-line sync driver and a five-line async one, so the
two clients never disagree. Wire faults become the exceptions httpx's own transport raises for
the same fault on a socket, mapped in one place (:func:`wire_error`).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import threading
from collections.abc import AsyncIterator, Generator, Iterable, Iterator, Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Any

from apiharness._stacks import TransportBase, httpx, stack_of, stream_type
from apiharness.clock import Clock, VirtualClock, _real_asyncio_sleep, get_clock
from apiharness.errors import (
    ConfigurationError,
    ExpectationError,
    UnmatchedRequestError,
    UpstreamError,
)
from apiharness.upstream._behaviours import Fault, declared
from apiharness.upstream._dispatch import Dispatcher, Exchange
from apiharness.upstream._journal import Journal
from apiharness.upstream._routes import Route, Router
from apiharness.upstream._wire import Abort, Chunk, Close, Hang, Head, Send, Wait, wire_steps

if TYPE_CHECKING:
    from apiharness.contract._mock import SpecMock
    from apiharness.contract._pact import PactRoutes
    from apiharness.recording._upstream import CassetteRoutes
    from apiharness.upstream._http2 import Http2Settings
    from apiharness.upstream._reading import Limits
    from apiharness.upstream._server import LoopbackServer
    from apiharness.upstream._tls import TLSCertificates, TLSFault

__all__ = [
    "TimedBody",
    "Upstream",
    "upstream_asleep",
    "upstream_sleep",
    "wire_error",
]

# A fault that the client's read timeout ends; not a behaviour of its own.
_TIMEOUT = "timeout"


def wire_error(fault: Fault | str, request: httpx.Request, detail: str = "") -> Exception:
    """The exception a real socket would produce for ``fault`` (the one mapping point), of the
    request's own stack: ``httpx.ReadTimeout`` for an httpx request, ``httpx2.ReadTimeout`` for
    an httpx2 one.

    Checked against each stack's real transport over a loopback socket by
    ``tests/upstream/test_upstream_equivalence.py``; the messages are httpcore's own wording.
    """
    stack = stack_of(request)
    if fault is Fault.HANG or fault == _TIMEOUT:
        error = stack.ReadTimeout("timed out", request=request)
    elif fault is Fault.RESET:
        error = stack.ReadError("[Errno 104] Connection reset by peer", request=request)
    elif fault is Fault.GARBAGE:
        error = stack.RemoteProtocolError("illegal status line: " + detail, request=request)
    elif fault is Fault.TRUNCATE:
        error = stack.RemoteProtocolError(
            f"peer closed connection without sending complete message body ({detail})",
            request=request,
        )
    else:  # CLOSE and DROP: the connection ends before a single byte of response.
        error = stack.RemoteProtocolError(
            "Server disconnected without sending a response.", request=request
        )
    assert isinstance(error, Exception)
    return error


def upstream_sleep(clock: Clock, seconds: float) -> None:
    """A wait of the upstream's own. Under a VirtualClock it advances time without joining
    ``clock.sleeps``, which stays the client's own schedule for tests to assert. An endless
    wait (``inf``: a stream that stalls for good) blocks for real, so only a real timeout of
    the client's ends it."""
    if not math.isfinite(seconds):
        threading.Event().wait()
    if isinstance(clock, VirtualClock):
        clock.advance(seconds)
    else:
        clock.sleep(seconds)


async def upstream_asleep(clock: Clock, seconds: float) -> None:
    """The async form of :func:`upstream_sleep`; always a suspension point."""
    if not math.isfinite(seconds):
        await asyncio.Event().wait()  # until the connection's task is cancelled
    if isinstance(clock, VirtualClock):
        clock.advance(seconds)
        await _real_asyncio_sleep(0)
    else:
        await clock.asleep(seconds)


class _Timed:
    """A body that arrives in timed pieces and may end in a wire error (truncate, dribble,
    streams); the waits go through the active clock (shared with the cassette player). Made a
    byte stream of a request's stack by :func:`timed_body`."""

    def __init__(self, pieces: list[tuple[float, bytes]], error: Exception | None) -> None:
        self.pieces, self.error = pieces, error

    def __iter__(self) -> Iterator[bytes]:
        for wait, data in self.pieces:
            if wait:
                upstream_sleep(get_clock(), wait)
            yield data
        if self.error is not None:
            raise self.error

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for wait, data in self.pieces:
            if wait:
                await upstream_asleep(get_clock(), wait)
            yield data
        if self.error is not None:
            raise self.error


class TimedBody(_Timed, httpx.SyncByteStream, httpx.AsyncByteStream):
    """A timed body as a byte stream of apiharness's home stack (httpx where installed); a
    response to a request of either stack takes :meth:`of` instead."""

    @staticmethod
    def of(
        stack: ModuleType, pieces: list[tuple[float, bytes]], error: Exception | None
    ) -> httpx.SyncByteStream:
        """A timed body as a byte stream (sync and async) of ``stack`` (httpx or httpx2)."""
        body: httpx.SyncByteStream = stream_type(stack, _Timed)(pieces, error)
        return body


def _read_timeout(request: httpx.Request) -> float | None:
    timeout: Mapping[str, float | None] = request.extensions.get("timeout", {})
    return timeout.get("read")


class _Received:
    """What an httpx client on a socket would receive from the wire steps."""

    def __init__(self, request: httpx.Request) -> None:
        self.request = request
        self.timeout = _read_timeout(request)
        self.head: Head | None = None
        self.pieces: list[tuple[float, bytes]] = []  # body pieces and the wait before each
        self.sent, self.gap, self.garbled = 0, 0.0, b""
        self.error: Exception | None = None

    def hang(self) -> float:
        """The seconds until the client's read timeout gives up on a hang."""
        if self.timeout is None:
            raise UpstreamError(
                "hang() met a client with no read timeout: on a socket this request would "
                "never finish. Give the client one, e.g. httpx.Client(timeout=5)"
            )
        self.error = wire_error(Fault.HANG, self.request)
        return self.timeout

    def wait(self, seconds: float) -> float:
        """The seconds to wait now (before the head); a wait past the read timeout ends it."""
        cut = self.timeout is not None and seconds > self.timeout
        if cut:
            assert self.timeout is not None
            self.error = wire_error(_TIMEOUT, self.request)
            seconds = self.timeout
        if self.head is None:
            return seconds
        if cut:
            self.pieces.append((self.gap + seconds, b""))
        else:
            self.gap += seconds
        return 0.0  # taken while the body is read

    def take(self, step: Head | Send | Chunk | Close | Abort) -> None:
        if isinstance(step, Head):
            self.head = step
        elif isinstance(step, Chunk):
            if step.data:
                self.pieces.append((self.gap, step.data))
                self.sent, self.gap = self.sent + len(step.data), 0.0
        elif isinstance(step, Send):
            if self.head is None:
                self.garbled += step.data
            else:
                self.pieces.append((self.gap, step.data))
                self.sent, self.gap = self.sent + len(step.data), 0.0
        elif isinstance(step, Abort):
            self.error = wire_error(Fault.RESET, self.request)
        elif self.garbled:  # Close: what the client makes of it depends on what it got
            self.error = wire_error(Fault.GARBAGE, self.request, repr(self.garbled[:8]))
        elif self.head is None:
            self.error = wire_error(Fault.CLOSE, self.request)
        else:
            promised = next((int(v) for k, v in self.head.headers if k == "Content-Length"), None)
            detail = (
                "incomplete chunked read"
                if promised is None
                else f"received {self.sent} bytes, expected {promised}"
            )
            self.error = wire_error(Fault.TRUNCATE, self.request, detail)

    def response(self) -> httpx.Response:
        if self.head is None:
            assert self.error is not None
            raise self.error
        stack = stack_of(self.request)
        response: httpx.Response = stack.Response(
            self.head.status,
            headers=self.head.headers,
            stream=TimedBody.of(stack, self.pieces, self.error),
            request=self.request,
            extensions={"http_version": b"HTTP/1.1"},
        )
        return response


class Upstream(TransportBase):
    """A mocked upstream API: declare routes and behaviours, point a client at it.

    ``Upstream(base_url="https://api.test", seed=0)``; use it as the transport of an
    ``httpx.Client`` or ``httpx.AsyncClient`` (or of an ``httpx2`` one: the upstream answers
    each request with its own stack's objects and exceptions), or serve it on a loopback socket with
    :meth:`serve`::

        up = Upstream()
        up.get("/users/{id}").respond(status(503).times(2), respond(200, json={"id": 1}))
        http = httpx.Client(transport=up, base_url=up.base_url)
        assert http.get("/users/1").status_code == 503

    ``allow_unmatched`` lets requests that match no route pass :meth:`verify` (they are still
    answered 404 with a diagnostic); ``check_expectations`` turns off the ``expect=`` checks;
    ``allow_rejected`` lets requests the loopback server refused as client protocol errors
    (``journal.rejected``) pass :meth:`verify`.
    """

    def __init__(
        self,
        base_url: str = "https://api.test",
        *,
        seed: int = 0,
        allow_unmatched: bool = False,
        check_expectations: bool = True,
        allow_rejected: bool = False,
    ) -> None:
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ConfigurationError(f"Upstream(seed=...) takes an int, got {seed!r}")
        self.base_url = base_url
        self.seed = seed
        self.allow_unmatched = allow_unmatched
        self.check_expectations = check_expectations
        self.allow_rejected = allow_rejected
        self.journal = Journal()
        self.server: LoopbackServer | None = None
        self._router = Router()
        # The part that answers requests; both deliveries use it and nothing else of ours.
        self.dispatcher = Dispatcher(self._router, self.journal)
        self._order = 0
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        """Where clients should send requests; a path in it prefixes every route."""
        return self._base_url

    @base_url.setter
    def base_url(self, value: str) -> None:
        try:
            url = httpx.URL(value)
        except (TypeError, httpx.InvalidURL) as exc:
            raise ConfigurationError(f"base_url must be an absolute URL, got {value!r}") from exc
        if url.scheme not in {"http", "https"} or not url.host:
            raise ConfigurationError(
                f"base_url must be an absolute http(s) URL like 'https://api.test', got {value!r}"
            )
        self._base_url = str(url).rstrip("/")
        self._prefix = url.path.rstrip("/")

    # -- declaring -----------------------------------------------------------------------------

    @declared
    def route(
        self,
        method: str,
        path: str,
        *,
        host: str | None = None,
        query: Mapping[str, str | None] | None = None,
        headers: Mapping[str, str | None] | None = None,
        expect: int | None = None,
    ) -> Route:
        """Declare a route; it answers an empty 200 until given a script with ``.respond()``.

        ``path`` is a template (``/users/{id}``) under the base URL's path. ``query`` and
        ``headers`` match when every given name is present with the given value (None: any
        value). ``expect`` is the number of calls the test must make, checked at teardown.
        Declaring an identical route again returns the existing one.
        """
        with self._lock:
            order = self._order
            self._order += 1
        made = Route(
            method,
            self._prefix + path if isinstance(path, str) and path.startswith("/") else path,
            host=host,
            query=query,
            headers=headers,
            expect=expect,
            order=order,
            seed=self.seed,
        )
        return self._router.add(made)

    def get(self, path: str, **matchers: Any) -> Route:
        """``route("GET", path, ...)``"""
        return self.route("GET", path, **matchers)

    def post(self, path: str, **matchers: Any) -> Route:
        """``route("POST", path, ...)``"""
        return self.route("POST", path, **matchers)

    def put(self, path: str, **matchers: Any) -> Route:
        """``route("PUT", path, ...)``"""
        return self.route("PUT", path, **matchers)

    def patch(self, path: str, **matchers: Any) -> Route:
        """``route("PATCH", path, ...)``"""
        return self.route("PATCH", path, **matchers)

    def delete(self, path: str, **matchers: Any) -> Route:
        """``route("DELETE", path, ...)``"""
        return self.route("DELETE", path, **matchers)

    def head(self, path: str, **matchers: Any) -> Route:
        """``route("HEAD", path, ...)``"""
        return self.route("HEAD", path, **matchers)

    def options(self, path: str, **matchers: Any) -> Route:
        """``route("OPTIONS", path, ...)``"""
        return self.route("OPTIONS", path, **matchers)

    @property
    def routes(self) -> list[Route]:
        """Every declared route, in declaration order."""
        return self._router.routes()

    def reset(self) -> None:
        """Forget every route, the journal and the unmatched requests."""
        with self._lock:
            self._router.clear()
            self.dispatcher.clear()
            self._order = 0

    def verify(self, *, allow_rejected: bool | None = None) -> None:
        """Raise if a request matched no route, was refused, or an ``expect=`` count was not met.

        A request the loopback server refused to read (a client protocol error: malformed
        framing, a head or body past the limits, a bad ``Host``; see ``journal.rejected``)
        fails it too, as an :class:`~apiharness.errors.UnmatchedRequestError` listing each
        refusal's status and reason: the client under test sent bytes no server would accept.
        A test that sends bad bytes on purpose passes ``allow_rejected=True`` (or sets
        ``upstream.allow_rejected = True``; marker: ``@pytest.mark.upstream(allow_rejected=True)``);
        ``allow_rejected=None`` uses the attribute.

        The ``upstream`` fixtures call this at teardown.
        """
        unmatched = self.dispatcher.unmatched()
        if unmatched and not self.allow_unmatched:
            raise UnmatchedRequestError(
                f"{len(unmatched)} request(s) matched no route:\n\n" + "\n\n".join(unmatched)
            )
        rejected = self.journal.rejected
        allowed = self.allow_rejected if allow_rejected is None else allow_rejected
        if rejected and not allowed:
            # The repr holds status and reason only, never the received bytes (which may carry
            # credentials).
            lines = "\n".join(f"  {r!r}" for r in rejected)
            raise UnmatchedRequestError(
                f"{len(rejected)} request(s) were refused as client protocol errors (the client "
                f"sent bytes the server could not read as HTTP/1.1):\n{lines}\nIf the test sends "
                "malformed requests on purpose, call upstream.verify(allow_rejected=True) or set "
                "upstream.allow_rejected = True (marker: "
                "@pytest.mark.upstream(allow_rejected=True))."
            )
        if not self.check_expectations:
            return
        unmet = [r for r in self.routes if r.expect is not None and r.call_count != r.expect]
        if unmet:
            lines = "\n".join(
                f"  {r!r}: expected {r.expect} call(s), got {r.call_count}" for r in unmet
            )
            raise ExpectationError(
                f"route call counts were not met:\n{lines}\nIf the counts do not matter, drop "
                "expect= from the route, or set upstream.check_expectations = False "
                "(marker: @pytest.mark.upstream(check_expectations=False))."
            )

    def from_spec(
        self,
        spec: Any,
        *,
        seed: int | None = None,
        validate_requests: bool = True,
        use_examples: bool = True,
    ) -> SpecMock:
        """Serve every operation of an OpenAPI description (path, URL, dict or loaded spec).

        Examples where the spec has them, else bodies generated from the response schemas
        (seeded); bad requests get problem+json 400/422 unless ``validate_requests=False``.
        Returns a :class:`~apiharness.contract.SpecMock` (see :mod:`apiharness.contract`)::

            mock = up.from_spec("openapi.yaml")
            mock.route("getCharge").respond(status(503), mock.answer("getCharge"))
        """
        from apiharness.contract._mock import mock_from_spec

        return mock_from_spec(
            self, spec, seed=seed, validate_requests=validate_requests, use_examples=use_examples
        )

    def from_cassette(self, cassette: str | os.PathLike[str], **options: Any) -> CassetteRoutes:
        """Declare routes answering with a VCR.py cassette's recorded responses.

        Faults then compose with the recording:
        ``up.get("/v1/items").respond(reset(), recorded.responder("GET", "/v1/items"))``.
        Implemented in :func:`apiharness.recording.serve_cassette` (options documented there).
        """
        from apiharness.recording._upstream import serve_cassette

        return serve_cassette(self, cassette, **options)

    def from_pact(
        self, pact: str | os.PathLike[str], *, states: Iterable[str] | None = None
    ) -> PactRoutes:
        """Serve a pact file's HTTP interactions (Pact V2-V4), with their request matching rules.

        A request is answered by the first interaction it satisfies; one that satisfies none
        gets a 404 saying why and fails :meth:`verify`. Faults compose with the pact:
        ``served.route("get item 7").respond(status(503), served.responder())``.
        ``states`` serves only interactions whose provider states are among those given.
        Implemented in :func:`apiharness.contract.serve_pact`.
        """
        from apiharness.contract._pact import serve_pact

        return serve_pact(self, pact, states=states)

    def serve(
        self,
        *,
        https: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
        limits: Limits | None = None,
        tls: TLSFault | str | None = None,
        certificates: TLSCertificates | None = None,
        http2: bool | Http2Settings = False,
    ) -> LoopbackServer:
        """A loopback server for this upstream; start it with ``with``.

        ``with up.serve() as server: requests.get(server.base_url + "/users/1")``

        ``https=True`` serves TLS with a throwaway CA (``server.ca_path``); ``tls=`` serves a
        TLS fault with the same routes, behaviours and journal (``"expired"``,
        ``"not-yet-valid"``, ``"wrong-host"``, ``"self-signed"``, ``"unknown-ca"``,
        ``"incomplete-chain"``, ``"handshake-stall"``, ``"mtls-required"``; see
        :class:`~apiharness.upstream.TLSFault`); ``certificates=`` shares one
        :class:`~apiharness.upstream.TLSCertificates` between servers.

        ``limits`` bounds what a client may send (:class:`~apiharness.upstream.Limits`:
        request head 64 KiB, body 16 MiB, 10 s for a head to arrive, by default); past them
        the request is refused (431, 413, 408) and journaled in ``journal.rejected``.

        ``http2=True`` (or :class:`~apiharness.upstream.Http2Settings`) serves HTTP/2 instead
        (:class:`~apiharness.upstream.Http2Server`, needs ``apiharness[http2]``): h2c with
        prior knowledge, or ALPN ``h2`` with ``https=True``.
        """
        if http2 is not False and limits is not None:
            raise ConfigurationError(
                "limits= bounds the HTTP/1.1 server's reader; the HTTP/2 server is bounded "
                "by its flow-control windows (Http2Settings(window=...)): drop limits="
            )
        served: dict[str, Any] = {
            "https": https,
            "host": host,
            "port": port,
            "tls": tls,
            "certificates": certificates,
        }
        if http2 is not False:
            from apiharness.upstream._http2 import Http2Server

            return Http2Server(self, settings=None if http2 is True else http2, **served)
        from apiharness.upstream._server import LoopbackServer

        return LoopbackServer(self, limits=limits, **served)

    # -- in-process delivery ---------------------------------------------------------------------

    def _deliver(self, exchange: Exchange) -> Generator[float, None, httpx.Response]:
        """The in-process driver of the wire steps: the seconds to wait before the response
        (yielded), then the response (returned) or the wire error (raised)."""
        received = _Received(exchange.request)
        steps = wire_steps(exchange.plan, exchange.request.method, exchange.settle)
        with contextlib.closing(steps):
            for step in steps:
                if isinstance(step, Hang):
                    yield received.hang()
                elif isinstance(step, Wait):
                    seconds = received.wait(step.seconds)
                    if seconds:
                        yield seconds
                else:
                    received.take(step)
                if received.error is not None:
                    break
        return received.response()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        clock = get_clock()
        steps = self._deliver(self.dispatcher.dispatch(request, clock))
        try:
            while True:
                upstream_sleep(clock, next(steps))
        except StopIteration as done:
            response: httpx.Response = done.value
            return response

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        clock = get_clock()
        steps = self._deliver(self.dispatcher.dispatch(request, clock))
        try:
            while True:
                await upstream_asleep(clock, next(steps))
        except StopIteration as done:
            response: httpx.Response = done.value
            return response

    def __repr__(self) -> str:
        return f"<Upstream {self.base_url} routes={len(self._router)} requests={len(self.journal)}>"
