"""The HTTP/2 upstream against hypercorn (h2's best-known server), side by side in one run.

Requests per second over loopback from one httpx client speaking HTTP/2 in the same process
(the fixture case), to the same minimal answer: sequential requests on one connection, and
concurrent streams (an ``httpx.AsyncClient`` with 20 requests in flight on one connection);
h2c with prior knowledge and ALPN ``h2`` over TLS. hypercorn serves the minimal ASGI app of
``bench_upstream``; the apiharness server matches a route, journals each request and carries out
the wire steps besides.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import httpx

from apiharness.upstream import Upstream, respond
from benchmarks._common import Table
from benchmarks.bench_upstream import PAYLOAD, _asgi_app, _interleaved

CONCURRENCY = 20


@contextlib.contextmanager
def _serve_ours(tls: bool) -> Iterator[Served]:
    up = Upstream()
    up.get("/item").respond(respond(200, json=PAYLOAD))
    with up.serve(http2=True, https=tls) as server:
        yield server.base_url + "/item", server.ssl_context() if tls else None
        up.journal.clear()


@contextlib.contextmanager
def _serve_hypercorn(tls: bool) -> Iterator[Served]:
    import trustme
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = Config()
    config.bind = [f"fd://{sock.fileno()}"]
    config.loglevel = "WARNING"
    config.accesslog = None
    client_context = None
    with tempfile.TemporaryDirectory(prefix="bench-http2-") as folder:
        if tls:
            ca = trustme.CA()
            cert = ca.issue_cert("127.0.0.1")
            config.certfile = os.path.join(folder, "cert.pem")
            config.keyfile = os.path.join(folder, "key.pem")
            cert.cert_chain_pems[0].write_to_path(config.certfile)
            cert.private_key_pem.write_to_path(config.keyfile)
            client_context = ssl.create_default_context()
            ca.configure_trust(client_context)
        loop = asyncio.new_event_loop()
        stop = asyncio.Event()

        async def main() -> None:
            await serve(_asgi_app, config, shutdown_trigger=stop.wait)  # type: ignore[arg-type]

        thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
        thread.start()
        _wait_listening(port)
        try:
            scheme = "https" if tls else "http"
            yield f"{scheme}://127.0.0.1:{port}/item", client_context
        finally:
            loop.call_soon_threadsafe(stop.set)
            thread.join(timeout=10)
            with contextlib.suppress(OSError):  # hypercorn closed the descriptor itself
                sock.close()


def _wait_listening(port: int) -> None:
    """Until hypercorn listens on the socket handed to it (it binds in its own loop)."""
    for _ in range(5000):
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
            return
        time.sleep(0.001)
    raise RuntimeError(f"hypercorn did not listen on port {port}")


Served = tuple[str, ssl.SSLContext | None]
SERVERS: dict[str, Callable[[bool], contextlib.AbstractContextManager[Served]]] = {
    "hypercorn, minimal ASGI app": _serve_hypercorn,
    "apiharness Http2Server": _serve_ours,
}


#: httpcore leaves Nagle on; over HTTP/2 it writes a WINDOW_UPDATE and then the next request's
#: HEADERS, and the second small write waits for the delayed ACK of the first (tens of ms per
#: request, for every server alike). Measured here: ~40-80 req/s without it.
_NODELAY = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]


def _client(tls: bool, context: ssl.SSLContext | None) -> httpx.Client:
    # h2c needs prior knowledge (http1=False); over TLS ALPN picks h2.
    if tls and context is not None:
        transport = httpx.HTTPTransport(http2=True, verify=context, socket_options=_NODELAY)
    else:
        transport = httpx.HTTPTransport(http2=True, http1=False, socket_options=_NODELAY)
    return httpx.Client(transport=transport)


def _table(title: str, baseline: str) -> Table:
    return Table(title, "requests per second", baseline=baseline, higher_is_better=True)


def sequential(smoke: bool) -> list[Table]:
    requests = 30 if smoke else 300
    tables = []
    for tls in (False, True):
        how = "ALPN h2 over TLS" if tls else "h2c, prior knowledge"
        table = _table(
            f"HTTP/2 ({how}): {requests:,} sequential requests from one httpx client",
            "hypercorn, minimal ASGI app",
        )
        with contextlib.ExitStack() as stack:
            runs: dict[str, Callable[[], None]] = {}
            for name, serve in SERVERS.items():
                url, context = stack.enter_context(serve(tls))
                http = stack.enter_context(_client(tls, context))

                def run(http: httpx.Client = http, url: str = url) -> None:
                    for _ in range(requests):
                        response = http.get(url).raise_for_status()
                        assert response.http_version == "HTTP/2"

                run()  # warm up: connect, first requests
                runs[name] = run
            for name, seconds in _interleaved(runs, rounds=2 if smoke else 3).items():
                table.add(name, requests / seconds)
        tables.append(table)
    return tables


def concurrent(smoke: bool) -> list[Table]:
    batches = 3 if smoke else 20
    requests = batches * CONCURRENCY
    table = _table(
        f"HTTP/2 (h2c): {requests:,} requests, {CONCURRENCY} streams in flight on one "
        "connection (httpx.AsyncClient)",
        "hypercorn, minimal ASGI app",
    )
    runner = asyncio.Runner()
    with contextlib.ExitStack() as stack:
        stack.callback(runner.close)
        runs: dict[str, Callable[[], None]] = {}
        for name, serve in SERVERS.items():
            url, _ = stack.enter_context(serve(False))
            http = httpx.AsyncClient(
                transport=httpx.AsyncHTTPTransport(http2=True, http1=False, socket_options=_NODELAY)
            )
            stack.callback(runner.run, http.aclose())

            async def batch(http: httpx.AsyncClient = http, url: str = url) -> None:
                for _ in range(batches):
                    answers = await asyncio.gather(*(http.get(url) for _ in range(CONCURRENCY)))
                    assert all(a.status_code == 200 for a in answers)

            def run(batch: Callable[[], Coroutine[Any, Any, None]] = batch) -> None:
                runner.run(batch())

            run()
            runs[name] = run
        for name, seconds in _interleaved(runs, rounds=2 if smoke else 3).items():
            table.add(name, requests / seconds)
    return [table]


def run(smoke: bool) -> list[Table]:
    return [*sequential(smoke), *concurrent(smoke)]
