"""The HTTP/2 upstream on real sockets, with a real HTTP/2 client (httpx with h2).

Each stream-level fault is checked on the wire, and the tests pin what httpx (httpcore 1.0)
does with it: the exception it raises, and whether its pool retries on a new connection.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import h2.config
import h2.connection
import h2.events
import httpx
import pytest
from hyperframe.frame import DataFrame, Frame, GoAwayFrame, HeadersFrame

from apiharness import ServerThreadError
from apiharness.errors import ConfigurationError, DeclarationError
from apiharness.upstream import (
    Behaviour,
    Http2Server,
    Http2Settings,
    LoopbackServer,
    Upstream,
    close,
    delay,
    goaway,
    hang,
    reset,
    reset_stream,
    respond,
    sse,
)


@pytest.fixture
def served() -> Iterator[Http2Server]:
    with Upstream().serve(http2=True) as server:
        assert isinstance(server, Http2Server)
        yield server


def h2c(server: LoopbackServer, **options: object) -> httpx.Client:
    """httpx speaking HTTP/2 with prior knowledge (no ALPN on plain TCP)."""
    return httpx.Client(
        http1=False,
        http2=True,
        base_url=server.base_url,
        timeout=options.pop("timeout", 5),  # type: ignore[arg-type]
    )


def test_h2c_prior_knowledge_serves_routes_bodies_and_journals_stream_ids(
    served: Http2Server,
) -> None:
    up = served.upstream
    up.get("/users/{id}").respond(respond(200, json={"id": 7}, headers={"X-Seen": "yes"}))
    up.post("/echo").respond(lambda request: respond(201, content=request.content))
    up.get("/big").respond(respond(200, content=bytes(range(256)) * 1200))  # > 64 KiB window
    with h2c(served) as http:
        got = http.get("/users/7")
        assert (got.http_version, got.json(), got.headers["x-seen"]) == ("HTTP/2", {"id": 7}, "yes")
        assert http.post("/echo", content=b"x" * 70_000).content == b"x" * 70_000
        assert http.get("/big").content == bytes(range(256)) * 1200
        assert http.head("/users/1").content == b""
    assert [e.stream_id for e in up.journal] == [1, 3, 5, 7]
    assert up.journal[1].body == b"x" * 70_000
    assert up.journal[0].headers["host"] == served.authority
    assert up.journal[0].url == f"{served.url}/users/7"


def test_a_streamed_answer_goes_out_as_data_frames_and_a_cut_stream_is_an_error(
    served: Http2Server,
) -> None:
    up = served.upstream
    up.get("/events").respond(sse(["one", "two", "three"]))
    up.get("/cut").respond(sse(["one", "two", "three"], disconnect_after=1))
    with h2c(served) as http:
        with http.stream("GET", "/events") as response:
            assert response.http_version == "HTTP/2"
            assert "transfer-encoding" not in response.headers  # no chunked coding in HTTP/2
            assert response.read() == b"data: one\n\ndata: two\n\ndata: three\n\n"
        with pytest.raises(httpx.RemoteProtocolError), http.stream("GET", "/cut") as response:
            response.read()
    assert [e.status for e in up.journal] == [200, 200]


def test_alpn_h2_over_tls_with_the_throwaway_ca() -> None:
    up = Upstream()
    up.get("/ping").respond(respond(200, text="pong"))
    with up.serve(https=True, http2=True) as server:
        assert server.url.startswith("https://")
        with httpx.Client(http2=True, verify=server.ssl_context(), base_url=server.base_url) as c:
            got = c.get("/ping")
        assert (got.http_version, got.text) == ("HTTP/2", "pong")
        # A client that offers only http/1.1 gets no protocol it can speak.
        with (
            httpx.Client(verify=server.ssl_context(), base_url=server.base_url) as http1,
            pytest.raises(httpx.RemoteProtocolError),
        ):
            http1.get("/ping")
    assert up.journal[0].stream_id == 1


def test_concurrent_streams_share_one_connection(served: Http2Server) -> None:
    served.upstream.get("/slow").respond(delay(0.3, then=respond(200)))

    async def run() -> list[int]:
        async with httpx.AsyncClient(http1=False, http2=True, base_url=served.base_url) as c:
            return [
                r.status_code for r in await asyncio.gather(*[c.get("/slow") for _ in range(4)])
            ]

    started = time.monotonic()
    assert asyncio.run(run()) == [200] * 4
    assert time.monotonic() - started < 1.0  # in parallel, not 4 x 0.3 s
    assert served.peak_streams == 4
    assert sorted(e.stream_id or 0 for e in served.upstream.journal) == [1, 3, 5, 7]


def test_max_concurrent_streams_one_is_honoured_by_httpx() -> None:
    up = Upstream()
    up.get("/slow").respond(delay(0.2, then=respond(200)))
    with up.serve(http2=Http2Settings(max_concurrent_streams=1)) as server:

        async def run() -> list[int]:
            async with httpx.AsyncClient(http1=False, http2=True, base_url=server.base_url) as c:
                await c.get("/slow")  # the client has the SETTINGS frame by now
                return [
                    r.status_code for r in await asyncio.gather(*[c.get("/slow") for _ in range(3)])
                ]

        assert asyncio.run(run()) == [200] * 3
        assert isinstance(server, Http2Server)
        assert server.peak_streams == 1
    # One connection, one stream at a time: the streams were opened in turn.
    assert [e.stream_id for e in up.journal] == [1, 3, 5, 7]
    gaps = up.journal.intervals()[1:]
    assert all(gap >= 0.19 for gap in gaps), gaps


@pytest.mark.parametrize("error", ["REFUSED_STREAM", "CANCEL", "INTERNAL_ERROR"])
def test_rst_stream_reaches_httpx_as_remote_protocol_error_and_is_not_retried(
    served: Http2Server, error: str
) -> None:
    served.upstream.get("/r").respond(reset_stream(error).times(1), respond(200))
    with h2c(served) as http:
        with pytest.raises(httpx.RemoteProtocolError, match=f"error_code:{_code(error)}"):
            http.get("/r")
        # Only that stream died: the connection goes on serving.
        assert http.get("/r").status_code == 200
    entries = served.upstream.journal.entries
    # httpx's pool did not retry even REFUSED_STREAM (RFC 9113 section 8.7 allows it).
    assert [(e.stream_id, e.processed, e.delivered) for e in entries] == [
        (1, False, False),
        (3, True, True),
    ]


def test_rst_stream_after_processing_is_journaled_as_processed(served: Http2Server) -> None:
    served.upstream.post("/charges").respond(
        reset_stream("INTERNAL_ERROR", processed=True, response=respond(201))
    )
    with h2c(served) as http, pytest.raises(httpx.RemoteProtocolError):
        http.post("/charges", json={})
    (entry,) = served.upstream.journal
    assert (entry.processed, entry.delivered, entry.status) == (True, False, None)


def test_goaway_above_a_finished_stream_is_retried_by_httpx_on_a_new_connection(
    served: Http2Server,
) -> None:
    served.upstream.get("/a").respond(respond(200))
    served.upstream.get("/g").respond(goaway().times(1), respond(200, text="again"))
    with h2c(served) as http:
        assert http.get("/a").status_code == 200
        assert http.get("/g").text == "again"  # GOAWAY(last_stream_id=1) on stream 3
    # Stream 3 was above the last stream id: unprocessed, retried as stream 1 of a new one.
    assert [(e.path, e.stream_id, e.processed) for e in served.upstream.journal] == [
        ("/a", 1, True),
        ("/g", 3, False),
        ("/g", 1, True),
    ]


def test_goaway_on_the_first_stream_names_last_stream_id_zero_and_httpx_does_not_retry(
    served: Http2Server,
) -> None:
    # httpcore retries only when last_stream_id is truthy: 0 (nothing processed) is raised.
    served.upstream.get("/g").respond(goaway().times(1), respond(200))
    with h2c(served) as http, pytest.raises(httpx.RemoteProtocolError, match="last_stream_id:0"):
        http.get("/g")
    assert served.upstream.journal.count() == 1


def test_goaway_finishes_lower_streams_but_httpx_fails_them(served: Http2Server) -> None:
    """RFC 9113 section 6.8: streams at or below the last stream id may still complete.
    The server answers stream 1 after GOAWAY(last_stream_id=1); httpcore fails it anyway
    (it raises for every stream once the connection is terminated: encode/httpcore#730)."""
    up = served.upstream
    arrived = threading.Event()

    def arrive(request: httpx.Request) -> Behaviour:
        arrived.set()
        return delay(0.3, then=respond(200))

    up.get("/slow").respond(arrive)
    up.get("/g").respond(goaway().times(1), respond(200))

    async def run() -> tuple[BaseException | int, int]:
        async with httpx.AsyncClient(http1=False, http2=True, base_url=served.base_url) as c:
            slow = asyncio.ensure_future(c.get("/slow"))
            assert await asyncio.to_thread(arrived.wait, 5)
            retried = (await c.get("/g")).status_code
            try:
                return (await slow).status_code, retried
            except httpx.HTTPError as exc:
                return exc, retried

    slow, retried = asyncio.run(run())
    assert retried == 200
    assert isinstance(slow, httpx.RemoteProtocolError)
    assert "last_stream_id:1" in str(slow)
    assert [(e.path, e.stream_id) for e in up.journal] == [("/slow", 1), ("/g", 3), ("/g", 1)]


def test_goaway_after_processing_a_post_is_not_repeated_by_httpx(served: Http2Server) -> None:
    served.upstream.post("/charges").respond(goaway(processed=True).times(1), respond(201))
    with h2c(served) as http, pytest.raises(httpx.RemoteProtocolError, match="last_stream_id:1"):
        http.post("/charges", json={"amount": 1})
    (entry,) = served.upstream.journal
    assert (entry.stream_id, entry.processed, entry.delivered) == (1, True, False)


def read_frames(sock: socket.socket, until: type[Frame] | None) -> list[Frame]:
    """Frames from the server until one of type ``until`` (None: until it closes)."""
    buffer, frames = b"", []
    while True:
        while len(buffer) >= 9:
            frame, length = Frame.parse_frame_header(memoryview(buffer[:9]))
            if len(buffer) < 9 + length:
                break
            frame.parse_body(memoryview(buffer[9 : 9 + length]))
            buffer = buffer[9 + length :]
            frames.append(frame)
            if until is not None and isinstance(frame, until):
                return frames
        chunk = sock.recv(65536)
        if not chunk:
            return frames
        buffer += chunk


def test_graceful_goaway_answers_lower_streams_and_never_dispatches_later_ones() -> None:
    """RFC 9113 section 6.8, on the wire with a raw client: GOAWAY(last_stream_id=1) for
    stream 3; stream 1 is still answered; stream 5, opened after the GOAWAY, is ignored."""
    up = Upstream()
    up.get("/slow").respond(delay(0.3, then=respond(200, text="slow")))
    up.get("/g").respond(goaway())
    up.get("/late").respond(respond(200))
    with up.serve(http2=True) as server:
        client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        client.initiate_connection()
        head = [(":method", "GET"), (":scheme", "http"), (":authority", server.authority)]
        client.send_headers(1, [*head, (":path", "/slow")], end_stream=True)
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(client.data_to_send())
            while not up.journal.count("GET", "/slow"):
                time.sleep(0.01)
            client.send_headers(3, [*head, (":path", "/g")], end_stream=True)
            sock.sendall(client.data_to_send())
            (*_, away) = read_frames(sock, GoAwayFrame)
            assert isinstance(away, GoAwayFrame)
            assert (away.last_stream_id, away.error_code) == (1, 0)
            # The client has not read the GOAWAY yet: it opens stream 5.
            client.send_headers(5, [*head, (":path", "/late")], end_stream=True)
            sock.sendall(client.data_to_send())
            rest = read_frames(sock, None)  # until the server closes
    answered = {f.stream_id for f in rest if isinstance(f, HeadersFrame)}
    ended = {f.stream_id for f in rest if isinstance(f, DataFrame) and "END_STREAM" in f.flags}
    assert (answered, ended) == ({1}, {1})
    assert [(e.path, e.stream_id, e.delivered) for e in up.journal] == [
        ("/slow", 1, True),
        ("/g", 3, False),
    ]


def test_flow_control_stall_window_zero_times_httpx_out() -> None:
    up = Upstream()
    up.post("/upload").respond(respond(200))
    with up.serve(http2=Http2Settings(window=0)) as server, h2c(server) as http:
        assert http.post("/upload", content=b"small").status_code == 200  # before SETTINGS
        started = time.monotonic()
        # The body outgrows what the client may send: it waits for a WINDOW_UPDATE that
        # never comes, reading, until the read timeout.
        with pytest.raises(httpx.ReadTimeout):
            http.post("/upload", content=b"x" * 100_000, timeout=0.5)
        assert 0.4 < time.monotonic() - started < 3
    assert up.journal.count() == 1  # the stalled request never arrived whole


def test_wire_faults_keep_their_meaning_on_the_connection(served: Http2Server) -> None:
    up = served.upstream
    up.get("/hang").respond(hang())
    up.get("/close").respond(close())
    up.get("/reset").respond(reset())
    with h2c(served, timeout=0.3) as http:
        with pytest.raises(httpx.ReadTimeout):
            http.get("/hang")
        with pytest.raises(httpx.RemoteProtocolError):
            http.get("/close")
        with pytest.raises((httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError)):
            http.get("/reset")
    assert [e.processed for e in up.journal] == [False, False, False]


def test_callable_failure_answers_500_and_surfaces_in_check(served: Http2Server) -> None:
    def broken(request: httpx.Request) -> None:
        raise RuntimeError("boom")

    served.upstream.get("/broken").respond(broken)
    with h2c(served) as http:
        assert http.get("/broken").status_code == 500
    with pytest.raises(ServerThreadError, match="RuntimeError: boom"):
        served.check()


def test_stream_faults_over_http1_and_in_process_are_the_nearest_http1_faults() -> None:
    up = Upstream()
    up.get("/refused").respond(reset_stream())
    up.post("/lost").respond(goaway(processed=True))
    with httpx.Client(transport=up, base_url=up.base_url) as http:
        with pytest.raises(httpx.RemoteProtocolError):
            http.get("/refused")
        with pytest.raises(httpx.RemoteProtocolError):
            http.post("/lost")
    with (
        up.serve() as server,
        httpx.Client(base_url=server.base_url) as http,
        pytest.raises(httpx.RemoteProtocolError),
    ):
        http.get("/refused")
    assert [(e.processed, e.stream_id) for e in up.journal] == [
        (False, None),
        (True, None),
        (False, None),
    ]


def test_declarations_and_settings_are_checked() -> None:
    with pytest.raises(DeclarationError, match="RFC 9113 section 7"):
        reset_stream("NOPE")
    with pytest.raises(DeclarationError, match="contradiction"):
        reset_stream("REFUSED_STREAM", processed=True)
    with pytest.raises(ConfigurationError, match="at least 0"):
        Http2Settings(window=-1)
    with pytest.raises(ConfigurationError, match="31 bits"):
        Http2Settings(max_concurrent_streams=2**31)
    with pytest.raises(ConfigurationError, match="drop limits="):
        Upstream().serve(http2=True, limits=__import__("apiharness").upstream.Limits())
    assert repr(reset_stream("cancel")) == "reset_stream('CANCEL')"
    assert repr(goaway(processed=True)) == "goaway('NO_ERROR', processed=True)"


def _code(name: str) -> int:
    return {"REFUSED_STREAM": 7, "CANCEL": 8, "INTERNAL_ERROR": 2}[name]
