"""Loopback delivery: the upstream on a real socket on 127.0.0.1, for any client.

A raw asyncio server in a background thread rather than werkzeug or uvicorn: it starts and
stops in about a millisecond (uvicorn's stop takes over 100 ms, pytest-httpserver's up to
500 ms), keeps connections alive (werkzeug closes each one), and gives direct control over
the socket, which the faults need: ``reset()`` sets ``SO_LINGER`` to zero so closing sends a
real TCP RST, ``truncate()`` writes a head whose Content-Length lies, ``dribble()`` writes the
body piece by piece. Plain responses are written in one ``write`` call on a ``TCP_NODELAY``
socket (Nagle plus delayed ACK would add ~40 ms per request).

**Requests** are read by :mod:`._reading` with httptools, the binding of llhttp (Node.js's
parser, which uvicorn uses), not by hand: its framing is strict where the hand-written parser
was lenient (a negative chunk size spun the server; a negative Content-Length re-served one
request without end). httptools rather than h11, measured in ``make bench
BENCH_ARGS=upstream`` (1 Dec 2026, a quiet 2-core machine): parsing the request head httpx
sends costs the reader, checks included, 2.8 µs against h11's 30 µs (h11 must also be handed
a response before it reads the next request), and as a callback parser it is driven by an
``asyncio.Protocol`` with no extra buffering. End to end, one httpx client in the same
process, requests per second: this server 2,835, uvicorn with httptools 2,229, uvicorn with
h11 2,059, pytest-httpserver 1,151, beside the no-op yardstick's 2,957 (0.96x; from 0.83x to
0.98x in other runs, see ``docs/performance.md``).
A request the server cannot accept (malformed, past the
:class:`~apiharness.upstream.Limits`) is answered 400, 408, 413, 417, 431, 501 or 505, the
connection is closed, and it is journaled in ``journal.rejected``: a client protocol error is
never a ``ServerThreadError``, and the server goes on serving every other connection.

**Responses** are carried out from :func:`~apiharness.upstream._wire.wire_steps`, the same
sans-I/O steps the in-process transport drives: :meth:`_Connection._run` performs steps on
the socket until one needs waiting; only then does a task take over (a plain response needs
none).

The server's event loop keeps real time under the ``clock`` fixture (see
:meth:`apiharness.VirtualClock.patch`), so its timers never stall; waits the *upstream* makes
(``delay``, ``dribble``) still go through the active clock, as in-process.

Exceptions raised while serving (a callable behaviour or a policy failing) are answered with a
500, collected, and re-raised in the test thread by :meth:`LoopbackServer.check` as a
:class:`~apiharness.errors.ServerThreadError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
import ssl
import struct
import threading
import traceback
from collections.abc import Callable, Generator, Iterator
from http import HTTPStatus
from types import TracebackType
from typing import TYPE_CHECKING, Protocol

from apiharness._stacks import httpx
from apiharness.clock import _real_asyncio_sleep, get_clock
from apiharness.errors import ConfigurationError, ServerThreadError
from apiharness.upstream._dispatch import Exchange
from apiharness.upstream._journal import RejectedRequest
from apiharness.upstream._reading import (
    Limits,
    ParsedRequest,
    Refusal,
    RequestReader,
    WireRequest,
)
from apiharness.upstream._tls import TLSCertificates, TLSFault, parse_tls_fault
from apiharness.upstream._upstream import upstream_asleep
from apiharness.upstream._wire import Abort, Chunk, Hang, Head, Send, Step, Wait, wire_steps

if TYPE_CHECKING:
    from apiharness.upstream._upstream import Upstream

__all__ = ["LoopbackServer", "abort_with_rst", "off_loop"]

_REASONS = {int(s): s.phrase for s in HTTPStatus}
# Requests read ahead of a slow response before the server stops reading the connection.
_MAX_QUEUED = 16
# The lingering close after an answer of the server's own: how long, and how much it discards.
_LINGER_SECONDS = 2.0
_LINGER_BYTES = 1 << 20


@functools.lru_cache(maxsize=1024)
def _head(status: int, headers: tuple[tuple[str, str], ...], close: bool) -> bytes:
    """A response head; cached, as tests get the same few responses over and over."""
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}"]
    lines.extend(f"{name}: {value}" for name, value in headers)
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def off_loop(func: Callable[[Exchange], None], exchange: Exchange) -> None:
    """``func(exchange)`` in a daemon thread (one that never returns must not hold up the
    interpreter's exit, as an executor's worker would)."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()

    def settle(error: BaseException | None) -> None:
        if done.done():  # the task was cancelled: the server is stopping
            return
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)

    def run() -> None:
        error: BaseException | None = None
        try:
            func(exchange)
        except BaseException as exc:  # handed to the awaiting task
            error = exc
        with contextlib.suppress(RuntimeError):  # the loop closed: the server stopped
            loop.call_soon_threadsafe(settle, error)

    threading.Thread(target=run, name="apiharness-upstream-callable", daemon=True).start()
    await done


def abort_with_rst(transport: asyncio.Transport) -> None:
    """End the connection with a TCP RST: SO_LINGER with a zero timeout makes close() send RST
    instead of FIN."""
    sock = transport.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


class _Served(Protocol):
    """What the server needs of a connection it serves (HTTP/1.1 here, HTTP/2 in ``_http2``)."""

    transport: asyncio.Transport | None


class _Connection(asyncio.Protocol):
    """One client connection: parses requests in order and carries out their plans."""

    def __init__(self, server: LoopbackServer) -> None:
        self.server = server
        self.reader = RequestReader(server.limits, server.scheme, server.authority)
        self.busy = False
        self.paused = False
        self.ended = False  # the client sent EOF
        self.transport: asyncio.Transport | None = None
        self.closed: asyncio.Future[None] | None = None
        self.head_timer: asyncio.TimerHandle | None = None
        # After the server's own answer-and-close: how many more bytes it reads and discards.
        self.lingering: int | None = None
        self.linger_timer: asyncio.TimerHandle | None = None

    # -- asyncio callbacks ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.closed = asyncio.get_running_loop().create_future()
        sock = transport.get_extra_info("socket")
        with contextlib.suppress(OSError, AttributeError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.connections.discard(self)
        self._stop_head_timer()
        if self.linger_timer is not None:
            self.linger_timer.cancel()
        if self.closed is not None and not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        if self.lingering is not None:
            self.lingering -= len(data)
            if self.lingering <= 0 and self.transport is not None:
                self.transport.close()
            return
        reader = self.reader
        reader.feed(data)
        if reader.in_head and self.head_timer is None:
            self.head_timer = asyncio.get_running_loop().call_later(
                reader.limits.header_timeout, self._head_timed_out
            )
        elif not reader.in_head and self.head_timer is not None:
            self._stop_head_timer()
        if not self.busy:
            self.serve_ready()
        elif len(reader.ready) > _MAX_QUEUED and not self.paused:
            # A client pipelining far ahead of a slow response waits for it, in the kernel.
            assert self.transport is not None
            self.transport.pause_reading()
            self.paused = True

    def eof_received(self) -> bool | None:
        # The client sent its last byte (a half-close, or the first sign of a full close):
        # what it asked for is still answered, then the connection closes. A hang() ends here.
        if self.lingering is not None:
            return False  # it has stopped sending: the lingering close is over
        self.reader.eof()
        self.ended = True
        if self.closed is not None and not self.closed.done():
            self.closed.set_result(None)
        if not self.busy:
            self.serve_ready()
        # serve_ready closes once the answers are out; over TLS asyncio closes at EOF anyway
        # (and warns when asked to keep the connection open).
        return not self.server.https

    # -- serving -------------------------------------------------------------------------------

    def _stop_head_timer(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None

    def _head_timed_out(self) -> None:
        self.head_timer = None
        self.reader.timed_out()
        if not self.busy:
            self.serve_ready()

    def serve_ready(self) -> None:
        """Answer the requests read so far, in order, until one needs the slow path."""
        transport, ready = self.transport, self.reader.ready
        assert transport is not None
        if self.lingering is not None:
            return
        while ready and not self.busy and not transport.is_closing():
            item = ready.popleft()
            if isinstance(item, Refusal):
                self._refuse(item)
                return
            if not self._serve(item):
                return
        if not transport.is_closing() and not self.busy:
            if self.reader.to_client:  # 100 Continue: the response before it is out
                transport.write(bytes(self.reader.to_client))
                self.reader.to_client.clear()
            if self.paused:
                transport.resume_reading()
                self.paused = False
            if self.ended:
                transport.close()

    def _serve(self, parsed: ParsedRequest) -> bool:
        """Serve one request; False when it goes on in a task (or failed)."""
        try:
            exchange = self.server.upstream.dispatcher.dispatch(
                WireRequest(parsed),
                get_clock(),
                choose=False,
                path=parsed.path,
                segments=parsed.segments,
            )
            steps = waiting = None
            if not exchange.pending:  # else user code runs first, off the loop
                steps = wire_steps(exchange.plan, parsed.method, exchange.settle)
                try:
                    waiting = self._run(steps, parsed.keep_alive)
                except BaseException:
                    steps.close()
                    raise
                if waiting is None:  # the fast path: done without a task
                    steps.close()
                    return True
        except Exception as exc:  # user code (a callable, a policy) failed: tell the test
            self._fail(exc)
            return False
        self.busy = True
        task = asyncio.get_running_loop().create_task(
            self._serve_slowly(exchange, parsed.keep_alive, steps, waiting)
        )
        # The loop keeps only weak references to tasks: hold them until they finish.
        self.server.tasks.add(task)
        task.add_done_callback(self.server.tasks.discard)
        return False

    def _refuse(self, refusal: Refusal) -> None:
        """Journal the client's error, then answer the refused request and close.

        Journaled first, as every exchange settles before the client sees its outcome: a test
        that reads the answer finds the refusal in the journal.
        """
        assert self.transport is not None
        self._stop_head_timer()
        clock = get_clock()
        self.server.upstream.journal.reject(
            RejectedRequest(
                refusal.status, refusal.reason, refusal.head, clock.time(), clock.monotonic()
            )
        )
        self._answer_and_close(refusal.status, f"apiharness: {refusal.reason}\n")

    def _run(self, steps: Iterator[Step], keep_alive: bool) -> Wait | Hang | None:
        """The socket driver: carry out steps until one must be waited for (returned) or
        they end (None). Bytes go out in one write per run (Nagle-free, one segment)."""
        transport = self.transport
        assert transport is not None
        out: list[bytes] = []
        for step in steps:
            # The steps are final classes: compared by type, the most common first.
            if type(step) is Head:
                out.append(_head(step.status, step.headers, not keep_alive))
            elif type(step) is Send:
                out.append(step.data)
            elif type(step) is Chunk:
                # chunk-size in hex, the data; the empty chunk is the last (RFC 9112 §7.1)
                size = b"%x\r\n" % len(step.data)
                out.append(size + step.data + b"\r\n" if step.data else b"0\r\n\r\n")
            elif type(step) is Wait or type(step) is Hang:
                transport.write(b"".join(out))
                return step
            elif type(step) is Abort:
                if out:  # what went before the reset (a stream's events) goes out first
                    transport.write(b"".join(out))
                abort_with_rst(transport)
                return None
            else:  # Close
                transport.write(b"".join(out))
                transport.close()
                return None
        transport.write(b"".join(out))
        if not keep_alive:
            transport.close()
        return None

    async def _serve_slowly(
        self,
        exchange: Exchange,
        keep_alive: bool,
        steps: Generator[Step, None, None] | None,
        waiting: Wait | Hang | None,
    ) -> None:
        transport, closed = self.transport, self.closed
        assert transport is not None
        assert closed is not None
        try:
            if steps is None:
                # A callable behaviour may take its time (or wait for another request): in a
                # thread of its own, so the loop keeps serving every other connection.
                await off_loop(self.server.upstream.dispatcher.choose, exchange)
                steps = wire_steps(exchange.plan, exchange.request.method, exchange.settle)
                waiting = self._run(steps, keep_alive)
            with contextlib.closing(steps):
                while waiting is not None and not transport.is_closing():
                    if isinstance(waiting, Hang):
                        await closed  # until the client gives up, or the server stops
                        break
                    await upstream_asleep(get_clock(), waiting.seconds)
                    if transport.is_closing():
                        break
                    waiting = self._run(steps, keep_alive)
        except Exception as exc:  # user code failed: report it to the test
            self._fail(exc)
        finally:
            self.busy = False
        if not transport.is_closing():
            self.serve_ready()

    def _fail(self, exc: Exception) -> None:
        self.server.record(exc)
        assert self.transport is not None
        if self.transport.is_closing():
            return
        self._answer_and_close(
            500, f"apiharness: the upstream raised {type(exc).__name__}; see the test's failure"
        )

    def _answer_and_close(self, status: int, text: str) -> None:
        """A short text answer of the server's own (a refusal, a failure), then FIN."""
        assert self.transport is not None
        body = text.encode()
        headers = (
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(body))),
        )
        self.transport.write(_head(status, headers, True) + body)
        self._linger()

    def _linger(self) -> None:
        """Close once the client has stopped sending: a lingering close (RFC 9112 §9.6).

        Closing a socket with unread input makes the kernel send RST, which can destroy the
        answer before the client reads it: a client still uploading a 100 KB head would see
        "connection reset" instead of its 431. So the server half-closes (FIN after the
        answer), then reads and discards up to ``_LINGER_BYTES`` for up to
        ``_LINGER_SECONDS`` before it closes, as nginx and Apache do.
        """
        transport = self.transport
        assert transport is not None
        self._stop_head_timer()
        self.lingering = _LINGER_BYTES
        if transport.can_write_eof():
            transport.write_eof()
        self.linger_timer = asyncio.get_running_loop().call_later(_LINGER_SECONDS, transport.close)


class _Stall(asyncio.Protocol):
    """The ``handshake-stall`` variant: accepts the TCP connection, reads the ClientHello and
    whatever follows, and never answers; only the client's own timeout ends the wait."""

    def __init__(self, server: LoopbackServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.connections.discard(self)

    def data_received(self, data: bytes) -> None:
        pass  # the handshake never goes on


class LoopbackServer:
    """An :class:`Upstream` served on ``127.0.0.1`` on a free port, in a background thread.

    Use it as a context manager (``with up.serve() as server``) or call :meth:`start` and
    :meth:`stop`. ``https=True`` serves TLS with a throwaway CA made by trustme: hand
    :attr:`ca_path` (a PEM file) or :meth:`ssl_context` to the client::

        with up.serve(https=True) as server:
            httpx.get(server.base_url + "/ping", verify=server.ssl_context())
            requests.get(server.base_url + "/ping", verify=server.ca_path)

    ``tls=`` serves a TLS fault instead (a :class:`~apiharness.upstream.TLSFault` or its
    name: ``"expired"``, ``"not-yet-valid"``, ``"wrong-host"``, ``"self-signed"``,
    ``"unknown-ca"``, ``"incomplete-chain"``, ``"handshake-stall"``, ``"mtls-required"``);
    :attr:`ca_path` is still the CA a correct client trusts, which is what makes the fault
    one. ``certificates=`` shares one :class:`~apiharness.upstream.TLSCertificates` between
    servers (the ``tls_certificates`` fixture does, in the session's temp folder); without it
    the server makes its own and removes it when it stops.
    """

    def __init__(
        self,
        upstream: Upstream,
        *,
        https: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
        limits: Limits | None = None,
        tls: TLSFault | str | None = None,
        certificates: TLSCertificates | None = None,
    ) -> None:
        self.tls = None if tls is None else parse_tls_fault(tls)
        if certificates is not None and not isinstance(certificates, TLSCertificates):
            raise ConfigurationError(
                "certificates= takes apiharness.upstream.TLSCertificates(...), got "
                f"{type(certificates).__name__}"
            )
        if limits is not None and not isinstance(limits, Limits):
            raise ConfigurationError(
                f"limits= takes apiharness.upstream.Limits(...), got {type(limits).__name__}"
            )
        self.upstream = upstream
        self.limits = limits or Limits()
        self.https = https or self.tls is not None
        self.host = host
        self.port = port
        self.connections: set[_Served] = set()
        #: TCP connections accepted so far, counted before any TLS handshake: a client that
        #: refuses the certificate still shows here (and nowhere in the journal).
        self.accepted = 0
        self.tasks: set[asyncio.Task[None]] = set()
        self._errors: list[BaseException] = []
        self._errors_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._given_certificates = certificates
        self.certificates: TLSCertificates | None = None

    # -- addresses -----------------------------------------------------------------------------

    @property
    def scheme(self) -> str:
        return "https" if self.https else "http"

    @property
    def authority(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """The server's root URL, ``http://127.0.0.1:PORT``."""
        return f"{self.scheme}://{self.authority}"

    @property
    def base_url(self) -> str:
        """The root URL plus the upstream's base path: what clients should use."""
        return self.url + httpx.URL(self.upstream.base_url).path.rstrip("/")

    def _certificates(self, what: str) -> TLSCertificates:
        if self.certificates is None:
            raise ConfigurationError(
                f"{what} exists only for started servers with https=True or tls=..."
            )
        return self.certificates

    @property
    def ca_path(self) -> str:
        """The CA certificate (PEM) a correct client trusts, for ``https``/``tls`` servers."""
        return self._certificates("ca_path").ca_path

    def ssl_context(self, *, cert: str | None = None) -> ssl.SSLContext:
        """A client SSL context that trusts this server's throwaway CA (and presents the
        client certificate file ``cert``, if given: see :attr:`client_cert_path`)."""
        return self._certificates("ssl_context()").client_context(cert=cert)

    @property
    def client_cert_path(self) -> str:
        """A client key and certificate chain (PEM) that the ``mtls-required`` variant
        accepts: ``httpx.Client(cert=...)``, ``requests.get(..., cert=...)``."""
        return self._certificates("client_cert_path").client_cert_path

    # -- life cycle ----------------------------------------------------------------------------

    def _make_tls(self) -> ssl.SSLContext | None:
        """The server's TLS context; None when it speaks no TLS (http, or a stalled handshake)."""
        if not self.https:
            return None
        self.certificates = self._given_certificates or TLSCertificates()
        if self.tls is TLSFault.HANDSHAKE_STALL:
            return None
        return self.certificates.server_context(self.tls)

    def _protocol(self) -> asyncio.Protocol:
        """The protocol that serves one accepted connection."""
        return _Connection(self)

    def start(self) -> LoopbackServer:
        """Bind a free port and serve in a background thread; returns self."""
        if self._thread is not None:
            raise ConfigurationError("this LoopbackServer is already started")
        tls = self._make_tls()
        serve: Callable[[], asyncio.Protocol] = (
            functools.partial(_Stall, self)
            if self.tls is TLSFault.HANDSHAKE_STALL
            else self._protocol
        )

        def protocol() -> asyncio.Protocol:
            # asyncio calls the factory on accept, before the handshake (on the loop's thread).
            self.accepted += 1
            return serve()

        # IPPROTO_TCP explicitly: with proto 0 asyncio skips TCP_NODELAY on accepted sockets.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        # SO_REUSEADDR: a fixed --port can be reused right after a previous mock stopped.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            raise ConfigurationError(
                f"cannot listen on {self.host}:{self.port} ({exc.strerror}); "
                "choose another port, or 0 for a free one"
            ) from None
        sock.listen(1024)
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        loop = asyncio.SelectorEventLoop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            server = None
            try:
                server = loop.run_until_complete(loop.create_server(protocol, sock=sock, ssl=tls))
                ready.set()
                loop.run_forever()
            except BaseException as exc:  # surfaced through check()
                self.record(exc)
            finally:
                ready.set()
                if server is not None:
                    server.close()
                for connection in list(self.connections):
                    if connection.transport is not None:
                        connection.transport.abort()
                for task in self.tasks:
                    task.cancel()
                with contextlib.suppress(Exception):
                    loop.run_until_complete(
                        asyncio.gather(*self.tasks, _real_asyncio_sleep(0), return_exceptions=True)
                    )
                loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=run, name=f"apiharness-upstream:{self.port}")
        self._thread.daemon = True
        self._thread.start()
        ready.wait()
        self.upstream.server = self
        self.check()
        return self

    def stop(self) -> None:
        """Stop serving, drop open connections, remove certificates it made itself."""
        if self._thread is None or self._loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop already closed after a failure
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._thread = None
        if self.upstream.server is self:
            self.upstream.server = None
        if self.certificates is not None and self.certificates is not self._given_certificates:
            self.certificates.cleanup()
        self.certificates = None

    # -- errors from the server thread -------------------------------------------------------------

    def record(self, exc: BaseException) -> None:
        with self._errors_lock:
            self._errors.append(exc)

    @property
    def errors(self) -> list[BaseException]:
        """Exceptions raised while serving, not yet re-raised by :meth:`check`."""
        with self._errors_lock:
            return list(self._errors)

    def check(self) -> None:
        """Re-raise, in the caller's thread, what went wrong in the server thread."""
        with self._errors_lock:
            errors, self._errors = self._errors, []
        if errors:
            first = errors[0]
            where = "".join(traceback.format_exception(first)[-3:]).strip()
            raise ServerThreadError(
                f"{len(errors)} exception(s) in the loopback server thread; the first was "
                f"{type(first).__name__}: {first}\n{where}"
            ) from first

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        if exc_type is None:
            self.check()

    def __repr__(self) -> str:
        state = "serving" if self._thread is not None else "stopped"
        fault = f" tls={self.tls.value}" if self.tls is not None else ""
        return f"<LoopbackServer {self.url}{fault} {state}>"
