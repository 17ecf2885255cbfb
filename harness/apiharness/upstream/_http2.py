"""HTTP/2 delivery: the upstream on a loopback socket speaking HTTP/2, with stream-level faults.

``up.serve(http2=True)`` serves h2c with prior knowledge (the client starts with the HTTP/2
preface on plain TCP); with ``https=True`` the TLS handshake offers ALPN ``h2`` only. The
framing, HPACK, stream states and flow-control accounting are python-hyper's sans-I/O ``h2``
library (the engine of hypercorn); this module only drives it on an ``asyncio.Protocol``.

Everything above the frames is the HTTP/1.1 server's: requests go through the upstream's
:class:`~apiharness.upstream._dispatch.Dispatcher` (routes, behaviours, scripts, policies,
journal, with the stream id recorded in each entry), and responses are carried out from the
same :func:`~apiharness.upstream._wire.wire_steps`. Wire faults keep their meaning: a
``close()`` or ``reset()`` ends the whole connection (FIN, or RST), as a crashing server's
would, taking every stream on it along.

Stream-level faults are behaviours (:func:`~apiharness.upstream.reset_stream`,
:func:`~apiharness.upstream.goaway`) and server settings (:class:`Http2Settings`):

* ``RST_STREAM`` with any RFC 9113 error code, on the request's stream only;
* ``GOAWAY`` with a last stream id: streams above it are never dispatched (not journaled, not
  processed), streams at or below it are answered, then the connection closes. The frame is
  written with hyperframe rather than through ``h2.H2Connection.close_connection``: h2 closes
  its state machine on a GOAWAY it sends, and could then not answer the streams the frame
  promises to finish (graceful shutdown, RFC 9113 section 6.8);
* ``SETTINGS_MAX_CONCURRENT_STREAMS`` and ``SETTINGS_INITIAL_WINDOW_SIZE``, sent after the
  server's first SETTINGS frame, so they bind once the client acknowledges them; with
  ``window`` set the server never sends WINDOW_UPDATE, so a request body larger than the
  window stalls (``window=0``: every request body, once the client has the setting).

The :class:`~apiharness.upstream.Limits` of the HTTP/1.1 reader do not apply: h2 bounds header
lists itself (64 KiB), and a request body is bounded by the flow-control windows.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Coroutine, Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from apiharness._stacks import httpx
from apiharness.clock import get_clock
from apiharness.errors import ConfigurationError
from apiharness.upstream._behaviours import Plan, StreamFault
from apiharness.upstream._dispatch import Exchange
from apiharness.upstream._server import LoopbackServer, abort_with_rst, off_loop
from apiharness.upstream._stream_faults import ERROR_CODES
from apiharness.upstream._upstream import upstream_asleep
from apiharness.upstream._wire import Abort, Chunk, Hang, Head, Send, Step, Wait, wire_steps

if TYPE_CHECKING:
    import h2.connection
    import h2.events

    from apiharness.upstream._upstream import Upstream

__all__ = ["Http2Server", "Http2Settings"]

# Connection-specific header fields HTTP/2 forbids (RFC 9113 section 8.2.2).
_HOP_BY_HOP = frozenset(
    {b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade"}
)


@dataclass(frozen=True, slots=True)
class Http2Settings:
    """What the HTTP/2 server advertises: ``up.serve(http2=Http2Settings(...))``.

    ``max_concurrent_streams``: SETTINGS_MAX_CONCURRENT_STREAMS (h2's default is 100).
    ``window``: SETTINGS_INITIAL_WINDOW_SIZE for request bodies, and the server then never
    widens a window (no WINDOW_UPDATE): ``window=0`` is a flow-control stall of every upload.
    None keeps the protocol's 65,535 bytes and acknowledges every byte as it arrives.
    """

    max_concurrent_streams: int | None = None
    window: int | None = None

    def __post_init__(self) -> None:
        checks = (
            ("max_concurrent_streams", self.max_concurrent_streams, 0),
            ("window", self.window, 0),
        )
        for name, value, minimum in checks:
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ConfigurationError(
                    f"Http2Settings({name}=...) takes a whole number of at least {minimum} "
                    f"(or None for h2's default), got {value!r}"
                )
            if value > 2**31 - 1:
                raise ConfigurationError(
                    f"Http2Settings({name}=...) must fit in 31 bits (RFC 9113 section 6.5.2), "
                    f"got {value!r}"
                )


@dataclass(slots=True, eq=False)
class _Stream:
    """One client stream: the request as it arrives, then the response as it goes out."""

    id: int
    headers: list[tuple[bytes, bytes]]
    body: bytearray = field(default_factory=bytearray)
    outbox: bytearray = field(default_factory=bytearray)
    finished: bool = False  # the wire steps are done: end the stream once the outbox is out
    gone: bool = False  # reset by the client, or its connection was lost
    waiter: asyncio.Future[None] | None = None  # a hang() waits on it until the stream goes


class _Http2Connection(asyncio.Protocol):
    """One HTTP/2 connection: h2's state machine, fed from and flushed to the socket."""

    def __init__(self, server: Http2Server) -> None:
        import h2.config
        import h2.connection

        self.server = server
        config = h2.config.H2Configuration(client_side=False, header_encoding=None)
        self.h2: h2.connection.H2Connection = h2.connection.H2Connection(config=config)
        self.transport: asyncio.Transport | None = None
        self.streams: dict[int, _Stream] = {}  # received and not yet finished
        self.taken: set[int] = set()  # streams dispatched to the upstream
        self.last_stream: int | None = None  # the last stream id of the GOAWAY sent

    # -- asyncio callbacks ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        from h2.settings import SettingCodes

        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        with contextlib.suppress(OSError, AttributeError):
            transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.connections.add(self)
        self.h2.initiate_connection()
        settings = self.server.settings
        changes: dict[SettingCodes | int, int] = {}
        if settings.max_concurrent_streams is not None:
            changes[SettingCodes.MAX_CONCURRENT_STREAMS] = settings.max_concurrent_streams
        if settings.window is not None:
            changes[SettingCodes.INITIAL_WINDOW_SIZE] = settings.window
        if changes:
            self.h2.update_settings(changes)
        self.flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.connections.discard(self)
        for stream in self.streams.values():
            self._gone(stream)

    def data_received(self, data: bytes) -> None:
        import h2.events
        import h2.exceptions

        try:
            events = self.h2.receive_data(data)
        except h2.exceptions.ProtocolError:
            # h2 has queued a GOAWAY naming the client's protocol error: send it and close.
            self.flush()
            self._close()
            return
        for event in events:
            if isinstance(event, h2.events.RequestReceived):
                self._received(event.stream_id, list(event.headers or ()))
            elif isinstance(event, h2.events.DataReceived):
                self._body(event)
            elif isinstance(event, h2.events.StreamEnded):
                stream = self.streams.get(event.stream_id)
                if stream is not None:
                    self._take(stream)
            elif isinstance(event, h2.events.StreamReset):
                stream = self.streams.pop(event.stream_id, None)
                if stream is not None:
                    self._gone(stream)
            elif isinstance(event, h2.events.WindowUpdated):
                for stream in list(self.streams.values()):
                    self._send_ready(stream)
            elif isinstance(event, h2.events.ConnectionTerminated):
                self.flush()
                self._close()
                return
        self.flush()
        self._close_if_done()

    # -- reading requests ----------------------------------------------------------------------

    def _received(self, stream_id: int, headers: list[tuple[bytes, bytes]]) -> None:
        if self.last_stream is not None and stream_id > self.last_stream:
            return  # after our GOAWAY: never processed, as the frame promised
        self.streams[stream_id] = _Stream(stream_id, headers)
        self.server.peak_streams = max(self.server.peak_streams, len(self.streams))

    def _body(self, event: h2.events.DataReceived) -> None:
        stream = self.streams.get(event.stream_id)
        if stream is not None and event.data:
            stream.body += event.data
        if self.server.settings.window is None and event.flow_controlled_length:
            import h2.exceptions

            with contextlib.suppress(h2.exceptions.StreamClosedError):  # the client reset it
                self.h2.acknowledge_received_data(
                    event.flow_controlled_length,
                    event.stream_id,
                )

    def _request(self, stream: _Stream) -> httpx.Request:
        pseudo: dict[bytes, bytes] = {}
        headers: list[tuple[bytes, bytes]] = []
        for name, value in stream.headers:
            if name.startswith(b":"):
                pseudo[name] = value
            else:
                headers.append((name, value))
        authority = pseudo.get(b":authority", self.server.authority.encode()).decode("latin-1")
        path = pseudo.get(b":path", b"/").decode("latin-1")
        if not any(name == b"host" for name, _ in headers):
            headers.insert(0, (b"host", authority.encode("latin-1")))
        request = httpx.Request(
            pseudo.get(b":method", b"GET").decode("latin-1"),
            f"{self.server.scheme}://{authority}{path}",
            headers=headers,
            stream=httpx.ByteStream(bytes(stream.body)),
        )
        request.read()
        return request

    # -- serving -------------------------------------------------------------------------------

    def _take(self, stream: _Stream) -> None:
        """The request is complete: dispatch it, then carry out its plan."""
        self.taken.add(stream.id)
        try:
            exchange = self.server.upstream.dispatcher.dispatch(
                self._request(stream), get_clock(), choose=False
            )
            if exchange.pending:  # user code runs first, off the loop
                self._spawn(self._serve_slowly(stream, exchange, None))
                return
            self._begin(stream, exchange)
        except Exception as exc:  # user code (a policy) failed: tell the test
            self._fail(stream, exc)

    def _begin(self, stream: _Stream, exchange: Exchange) -> None:
        assert exchange.entry is not None
        exchange.entry.stream_id = stream.id
        plan = exchange.plan
        steps = wire_steps(plan, exchange.request.method, exchange.settle)
        try:
            waiting = self._run(stream, steps, plan)
        except BaseException:
            steps.close()
            raise
        if waiting is None:
            steps.close()
        else:
            self._spawn(self._serve_slowly(stream, exchange, (steps, waiting)))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        # The loop keeps only weak references to tasks: hold them until they finish.
        self.server.tasks.add(task)
        task.add_done_callback(self.server.tasks.discard)

    def _run(
        self, stream: _Stream, steps: Generator[Step, None, None], plan: Plan
    ) -> Wait | Hang | None:
        """Carry out steps on the stream until one must be waited for (returned) or they end."""
        transport = self.transport
        assert transport is not None
        for step in steps:
            if stream.gone or transport.is_closing():
                return None
            if isinstance(step, Wait | Hang):
                self.flush()
                return step
            if isinstance(step, Head):
                self.h2.send_headers(stream.id, _response_headers(step))
            elif isinstance(step, Send | Chunk):
                # HTTP/2 frames bodies itself: a chunk's data is DATA, the last-chunk nothing.
                stream.outbox += step.data
                self._send_ready(stream)
            elif isinstance(step, Abort):
                self.flush()
                abort_with_rst(transport)
                return None
            elif plan.stream_fault is not None:  # Close: what stands in for it over HTTP/1.1
                self._stream_fault(stream, plan.stream_fault, processed=plan.processed)
                return None
            else:  # Close: the connection, with every stream on it
                self.flush()
                self._close()
                return None
        stream.finished = True
        self._send_ready(stream)
        self.flush()
        return None

    def _send_ready(self, stream: _Stream) -> None:
        """Send what the flow-control windows allow; end the stream once all is out."""
        if stream.gone:
            return
        outbox = stream.outbox
        while outbox:
            size = min(
                len(outbox),
                self.h2.local_flow_control_window(stream.id),
                self.h2.max_outbound_frame_size,
            )
            if size <= 0:
                return  # until the client's WINDOW_UPDATE
            last = stream.finished and size == len(outbox)
            self.h2.send_data(stream.id, bytes(outbox[:size]), end_stream=last)
            del outbox[:size]
            if last:
                self._finish(stream)
                return
        if stream.finished:
            self.h2.end_stream(stream.id)
            self._finish(stream)

    def _finish(self, stream: _Stream) -> None:
        self.streams.pop(stream.id, None)
        self._close_if_done()

    def _stream_fault(self, stream: _Stream, fault: StreamFault, *, processed: bool) -> None:
        """RST_STREAM on the stream, or GOAWAY on the connection (the exchange is settled)."""
        from hyperframe.frame import GoAwayFrame

        code = ERROR_CODES[fault.error]
        self.streams.pop(stream.id, None)
        if fault.frame == "RST_STREAM":
            self.h2.reset_stream(stream.id, code)
            self.flush()
            return
        last = stream.id if processed else max(self.taken - {stream.id}, default=0)
        self.last_stream = last if self.last_stream is None else min(last, self.last_stream)
        for later in [s for s in self.streams if s > self.last_stream]:
            del self.streams[later]  # arrived, never dispatched: unprocessed
        self.flush()
        assert self.transport is not None
        self.transport.write(
            GoAwayFrame(0, last_stream_id=self.last_stream, error_code=code).serialize()
        )
        self._close_if_done()

    async def _serve_slowly(
        self,
        stream: _Stream,
        exchange: Exchange,
        running: tuple[Generator[Step, None, None], Wait | Hang] | None,
    ) -> None:
        transport = self.transport
        assert transport is not None
        try:
            if running is None:
                await off_loop(self.server.upstream.dispatcher.choose, exchange)
                self._begin(stream, exchange)
                return
            steps, waiting = running
            with contextlib.closing(steps):
                current: Wait | Hang | None = waiting
                while current is not None and not (stream.gone or transport.is_closing()):
                    if isinstance(current, Hang):
                        stream.waiter = asyncio.get_running_loop().create_future()
                        await stream.waiter  # until the client resets it, or disconnects
                        break
                    await upstream_asleep(get_clock(), current.seconds)
                    if stream.gone or transport.is_closing():
                        break
                    current = self._run(stream, steps, exchange.plan)
        except Exception as exc:  # user code failed: report it to the test
            self._fail(stream, exc)

    def _fail(self, stream: _Stream, exc: Exception) -> None:
        import h2.exceptions

        self.server.record(exc)
        self.streams.pop(stream.id, None)
        if stream.gone or self.transport is None or self.transport.is_closing():
            return
        body = f"apiharness: the upstream raised {type(exc).__name__}; see the test's failure"
        try:
            self.h2.send_headers(
                stream.id,
                [(b":status", b"500"), (b"content-type", b"text/plain; charset=utf-8")],
            )
            self.h2.send_data(stream.id, body.encode(), end_stream=True)
        except h2.exceptions.ProtocolError:  # the head was already out
            self.h2.reset_stream(stream.id, ERROR_CODES["INTERNAL_ERROR"])
        self.flush()
        self._close_if_done()

    # -- the connection ------------------------------------------------------------------------

    def flush(self) -> None:
        data = self.h2.data_to_send()
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def _gone(self, stream: _Stream) -> None:
        stream.gone = True
        if stream.waiter is not None and not stream.waiter.done():
            stream.waiter.set_result(None)

    def _close(self) -> None:
        """Close the connection (FIN) after whatever h2 has still to send."""
        self.flush()
        if self.transport is not None:
            self.transport.close()

    def _close_if_done(self) -> None:
        """After a GOAWAY, close once every stream it promised to finish is finished."""
        if self.last_stream is not None and not any(s <= self.last_stream for s in self.streams):
            self._close()


def _response_headers(head: Head) -> list[tuple[bytes, bytes]]:
    headers = [(b":status", str(head.status).encode())]
    for name, value in head.headers:
        lowered = name.lower().encode("latin-1")
        if lowered not in _HOP_BY_HOP:
            headers.append((lowered, value.encode("latin-1")))
    return headers


class Http2Server(LoopbackServer):
    """An :class:`Upstream` served over HTTP/2 on ``127.0.0.1``: ``up.serve(http2=True)``.

    h2c with prior knowledge on ``http://`` (``httpx.Client(http1=False, http2=True)``), ALPN
    ``h2`` with ``https=True`` (and with ``tls=``: the TLS faults over HTTP/2). Everything else
    is :class:`LoopbackServer`'s: the URL, the CA, :meth:`check`, the life cycle.
    :attr:`peak_streams` is the most streams one connection had open at once (to check that a
    client honoured ``max_concurrent_streams``)::

        with up.serve(http2=Http2Settings(max_concurrent_streams=1)) as server:
            ...
    """

    def __init__(
        self, upstream: Upstream, *, settings: Http2Settings | None = None, **options: Any
    ) -> None:
        """``options``: those of :class:`LoopbackServer` (``https``, ``host``, ``port``,
        ``tls``, ``certificates``) but ``limits``, which bounds the HTTP/1.1 reader only."""
        if settings is not None and not isinstance(settings, Http2Settings):
            raise ConfigurationError(
                f"http2= takes True or apiharness.upstream.Http2Settings(...), "
                f"got {type(settings).__name__}"
            )
        super().__init__(upstream, **options)
        self.settings = settings or Http2Settings()
        self.peak_streams = 0

    def _protocol(self) -> asyncio.Protocol:
        return _Http2Connection(self)

    def _make_tls(self) -> ssl.SSLContext | None:
        context = super()._make_tls()
        if context is not None:
            context.set_alpn_protocols(["h2"])
        return context

    def __repr__(self) -> str:
        state = "serving" if self._thread is not None else "stopped"
        return f"<Http2Server {self.url} {state}>"
