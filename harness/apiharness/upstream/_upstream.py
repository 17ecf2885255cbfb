"""The mocked upstream: route declarations, dispatch, and in-process delivery.

:class:`Upstream` is an ``httpx.BaseTransport`` and an ``httpx.AsyncBaseTransport`` at once.
Dispatch (route lookup, policies, the script, the journal) is shared with the loopback server;
delivery in-process is a plain generator that yields the seconds to wait and returns the
response or raises, driven by a five-line sync driver and a five-line async one, so the two
clients never disagree. Wire faults become the exceptions httpx's own transport raises for the
same fault on a socket, mapped in one place (:func:`wire_error`).
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import AsyncIterator, Generator, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from apiharness.clock import Clock, VirtualClock, _real_asyncio_sleep, get_clock
from apiharness.errors import (
    ConfigurationError,
    ExpectationError,
    UnmatchedRequestError,
    UpstreamError,
)
from apiharness.upstream._behaviours import Behaviour, Context, Fault, Plan, ResponseData, declared
from apiharness.upstream._journal import Journal, JournalEntry
from apiharness.upstream._routes import Outcome, Route, Router
from apiharness.upstream._scripts import as_behaviour

if TYPE_CHECKING:
    from apiharness.contract._mock import SpecMock
    from apiharness.recording._upstream import CassetteRoutes
    from apiharness.upstream._server import LoopbackServer

__all__ = ["Exchange", "Upstream", "upstream_asleep", "upstream_sleep", "wire_error"]

# A fault that the client's read timeout ends; not a behaviour of its own.
_TIMEOUT = "timeout"


def wire_error(
    fault: Fault | str, request: httpx.Request, detail: str = ""
) -> httpx.TransportError:
    """The httpx exception a real socket would produce for ``fault`` (the one mapping point).

    Checked against httpx's real transport over a loopback socket by
    ``tests/upstream/test_equivalence.py``; the messages are httpcore's own wording.
    """
    if fault is Fault.HANG or fault == _TIMEOUT:
        return httpx.ReadTimeout("timed out", request=request)
    if fault is Fault.RESET:
        return httpx.ReadError("[Errno 104] Connection reset by peer", request=request)
    if fault is Fault.GARBAGE:
        return httpx.RemoteProtocolError("illegal status line: " + detail, request=request)
    if fault is Fault.TRUNCATE:
        return httpx.RemoteProtocolError(
            f"peer closed connection without sending complete message body ({detail})",
            request=request,
        )
    # CLOSE and DROP: the connection ends before a single byte of response.
    return httpx.RemoteProtocolError(
        "Server disconnected without sending a response.", request=request
    )


def upstream_sleep(clock: Clock, seconds: float) -> None:
    """A wait of the upstream's own. Under a VirtualClock it advances time without joining
    ``clock.sleeps``, which stays the client's own schedule for tests to assert."""
    if isinstance(clock, VirtualClock):
        clock.advance(seconds)
    else:
        clock.sleep(seconds)


async def upstream_asleep(clock: Clock, seconds: float) -> None:
    """The async form of :func:`upstream_sleep`; always a suspension point."""
    if isinstance(clock, VirtualClock):
        clock.advance(seconds)
        await _real_asyncio_sleep(0)
    else:
        await clock.asleep(seconds)


class _Unmatched(Behaviour):
    def plan(self, ctx: Context) -> Plan:  # pragma: no cover - never planned, only shown
        raise NotImplementedError


_UNMATCHED = _Unmatched("<unmatched>")


@dataclass(slots=True)
class Exchange:
    """One request in flight: its plan, its journal entry and the route that took it.

    While ``pending``, the plan still waits on user code (:meth:`Upstream.choose`) and there is
    no journal entry yet.
    """

    request: httpx.Request
    plan: Plan
    entry: JournalEntry | None
    route: Route | None
    arrival: Arrival | None = None

    @property
    def pending(self) -> bool:
        return self.plan.pending is not None


@dataclass(frozen=True, slots=True)
class Arrival:
    """When and where a request arrived: what its journal entry needs besides the plan."""

    path: str
    time: float
    monotonic: float


class _Body(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A body that arrives in timed pieces and may end in a wire error (truncate, dribble)."""

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


def _read_timeout(request: httpx.Request) -> float | None:
    timeout: Mapping[str, float | None] = request.extensions.get("timeout", {})
    return timeout.get("read")


def dribble_pieces(plan: Plan) -> tuple[float, list[bytes]]:
    """The gap between pieces and the pieces of a dribbled body."""
    assert plan.response is not None
    body = plan.response.body
    size = max(1, math.ceil(len(body) / plan.chunks))
    return plan.over / plan.chunks, [body[i : i + size] for i in range(0, len(body), size)]


def response_headers(data: ResponseData, length: int) -> list[tuple[str, str]]:
    return [*data.headers, ("Content-Length", str(length))]


class Upstream(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """A mocked upstream API: declare routes and behaviours, point a client at it.

    ``Upstream(base_url="https://api.test", seed=0)``; use it as the transport of an
    ``httpx.Client`` or ``httpx.AsyncClient``, or serve it on a loopback socket with
    :meth:`serve`::

        up = Upstream()
        up.get("/users/{id}").respond(status(503).times(2), respond(200, json={"id": 1}))
        http = httpx.Client(transport=up, base_url=up.base_url)
        assert http.get("/users/1").status_code == 503

    ``allow_unmatched`` lets requests that match no route pass :meth:`verify` (they are still
    answered 404 with a diagnostic); ``check_expectations`` turns off the ``expect=`` checks.
    """

    def __init__(
        self,
        base_url: str = "https://api.test",
        *,
        seed: int = 0,
        allow_unmatched: bool = False,
        check_expectations: bool = True,
    ) -> None:
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ConfigurationError(f"Upstream(seed=...) takes an int, got {seed!r}")
        self.base_url = base_url
        self.seed = seed
        self.allow_unmatched = allow_unmatched
        self.check_expectations = check_expectations
        self.journal = Journal()
        self.server: LoopbackServer | None = None
        self._router = Router()
        self._unmatched: list[str] = []
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
            self.journal.clear()
            self._unmatched.clear()
            self._order = 0

    def verify(self) -> None:
        """Raise if a request matched no route or a route's ``expect=`` count was not met.

        The ``upstream`` fixtures call this at teardown.
        """
        with self._lock:
            unmatched = list(self._unmatched)
        if unmatched and not self.allow_unmatched:
            raise UnmatchedRequestError(
                f"{len(unmatched)} request(s) matched no route:\n\n" + "\n\n".join(unmatched)
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

    def serve(
        self, *, https: bool = False, host: str = "127.0.0.1", port: int = 0
    ) -> LoopbackServer:
        """A loopback server for this upstream; start it with ``with``.

        ``with up.serve() as server: requests.get(server.base_url + "/users/1")``
        """
        from apiharness.upstream._server import LoopbackServer

        return LoopbackServer(self, https=https, host=host, port=port)

    # -- dispatch (shared by both deliveries) ------------------------------------------------------

    def dispatch(self, request: httpx.Request, clock: Clock, *, choose: bool = True) -> Exchange:
        """Match ``request``, run policies and the script, journal it. The body must be read.

        A callable behaviour runs after the route's lock is released: by default here, or,
        with ``choose=False``, when the caller passes the pending exchange to :meth:`choose`.
        """
        now, monotonic = clock.time(), clock.monotonic()
        path = request.url.path  # decoded on every access: once is enough
        route = self._router.find(request, path)
        if route is None:
            text = self._router.explain(request, self.routes)
            with self._lock:
                self._unmatched.append(text)
            headers = (("Content-Type", "text/plain; charset=utf-8"), ("X-Apiharness", "unmatched"))
            answer = Plan(_UNMATCHED, ResponseData(404, headers, text.encode()))
            entry = self._entry(request, Arrival(path, now, monotonic), answer, route=None)
            self.journal.append(entry)
            return Exchange(request, answer, entry, None)
        arrival = Arrival(path, now, monotonic)
        with route.lock:
            ctx = Context(request, route.rng, monotonic, route)
            plan: Plan | None = None
            for policy in route.policies:
                instead = policy.before(request, route)
                if instead is not None:
                    plan = as_behaviour("a policy's before()", instead).runner().plan(ctx)
                    break
            if plan is None:
                plan = route.runner.plan(ctx)
            if plan.pending is None:
                return Exchange(request, plan, self._record(request, arrival, plan, route), route)
        exchange = Exchange(request, plan, None, route, arrival)
        if choose:
            self.choose(exchange)
        return exchange

    def choose(self, exchange: Exchange) -> None:
        """Run the user code a pending exchange waits on, then journal it (no lock held)."""
        arrival, plan = exchange.arrival, exchange.plan
        assert exchange.route is not None
        assert arrival is not None
        while plan.pending is not None:
            plan = plan.pending()
        with exchange.route.lock:
            exchange.entry = self._record(exchange.request, arrival, plan, exchange.route)
        exchange.plan = plan

    def _record(
        self, request: httpx.Request, arrival: Arrival, plan: Plan, route: Route
    ) -> JournalEntry:
        """Journal a planned request on its route (the route's lock is held)."""
        entry = self._entry(request, arrival, plan, route=route)
        route.record(entry)
        self.journal.append(entry)
        return entry

    def _entry(
        self, request: httpx.Request, arrival: Arrival, plan: Plan, *, route: Route | None
    ) -> JournalEntry:
        delivered_status = (
            plan.response.status if plan.response and plan.fault is not Fault.DROP else None
        )
        return JournalEntry(
            method=request.method,
            url=str(request.url),
            path=arrival.path,
            headers=request.headers,
            body=request.content,
            time=arrival.time,
            monotonic=arrival.monotonic,
            behaviour=plan.behaviour,
            route=route,
            status=delivered_status,
            processed=plan.processed,
            request=request,
        )

    def finish(self, exchange: Exchange, *, delivered: bool) -> None:
        """Record whether the response reached the client, and tell the route's policies."""
        assert exchange.entry is not None, "choose() a pending exchange before finishing it"
        exchange.entry.delivered = delivered
        route = exchange.route
        if route is None or not route.policies:
            return
        outcome = Outcome(exchange.plan.response, delivered, exchange.entry)
        with route.lock:
            for policy in route.policies:
                policy.after(exchange.request, route, outcome)

    # -- in-process delivery ---------------------------------------------------------------------

    def _deliver(self, exchange: Exchange) -> Generator[float, None, httpx.Response]:
        """Sleeps to take (yielded), then the response (returned) or the wire error (raised)."""
        plan, request = exchange.plan, exchange.request
        timeout = _read_timeout(request)
        delivered = False
        try:
            if plan.fault is Fault.HANG:
                if timeout is None:
                    raise UpstreamError(
                        "hang() met a client with no read timeout: on a socket this request "
                        "would never finish. Give the client one, e.g. httpx.Client(timeout=5)"
                    )
                yield timeout
                raise wire_error(Fault.HANG, request)
            if plan.delay:
                if timeout is not None and plan.delay > timeout:
                    yield timeout
                    raise wire_error(_TIMEOUT, request)
                yield plan.delay
            if plan.response is None or plan.fault is Fault.DROP:
                raise wire_error(plan.fault, request, repr(plan.garbage[:8]))
            data = plan.response
            body = b"" if request.method == "HEAD" else data.body
            pieces: list[tuple[float, bytes]] = [(0.0, body)]
            error: Exception | None = None
            if plan.fault is Fault.TRUNCATE:
                pieces = [(0.0, body[: plan.truncate_after])]
                detail = f"received {plan.truncate_after} bytes, expected {len(body)}"
                error = wire_error(Fault.TRUNCATE, request, detail)
            elif plan.chunks > 1 or plan.over:
                gap, chunks = dribble_pieces(plan)
                if timeout is not None and gap > timeout:
                    pieces, error = [(timeout, b"")], wire_error(_TIMEOUT, request)
                else:
                    pieces = [(gap, chunk) for chunk in chunks]
            delivered = error is None
            return httpx.Response(
                data.status,
                headers=response_headers(data, len(body)),
                stream=_Body(pieces, error),
                request=request,
                extensions={"http_version": b"HTTP/1.1"},
            )
        finally:
            self.finish(exchange, delivered=delivered)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        clock = get_clock()
        steps = self._deliver(self.dispatch(request, clock))
        try:
            while True:
                upstream_sleep(clock, next(steps))
        except StopIteration as done:
            response: httpx.Response = done.value
            return response

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        clock = get_clock()
        steps = self._deliver(self.dispatch(request, clock))
        try:
            while True:
                await upstream_asleep(clock, next(steps))
        except StopIteration as done:
            response: httpx.Response = done.value
            return response

    def __repr__(self) -> str:
        return f"<Upstream {self.base_url} routes={len(self._router)} requests={len(self.journal)}>"
