"""Hostile requests on a real socket: each defect found by probing main, as a test.

Every case sends raw bytes to the loopback server; the answer must be a clear 4xx and a
closed connection, journaled in ``journal.rejected``, never a ``ServerThreadError``, and the
next well-formed request must be served as usual.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from apiharness.errors import UnmatchedRequestError
from apiharness.upstream import Limits, LoopbackServer, RejectedRequest, Upstream, respond

BOUND = 5.0  # seconds within which the server answers or closes (generous on a shared machine)


@pytest.fixture
def served() -> Iterator[LoopbackServer]:
    up = Upstream()
    up.get("/ok").respond(respond(200, text="ok"))
    up.get("/x").respond(respond(200, text="routed to /x"))
    up.get("/p").respond(lambda r: respond(200, text=str(r.url)))
    up.post("/echo").respond(lambda r: respond(200, content=r.content))
    with up.serve() as server:
        yield server


def exchange(
    server: LoopbackServer, *pieces: bytes, shut: bool = True, timeout: float = BOUND
) -> tuple[bytes, float]:
    """Send ``pieces`` (separate writes), half-close, read until the server closes.

    Returns what was received and the seconds it took; fails if the server neither answers
    nor closes within ``timeout``.
    """
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for piece in pieces:
            sock.sendall(piece)
        if shut:
            sock.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received, time.monotonic() - started


def still_serves(server: LoopbackServer) -> None:
    assert httpx.get(server.base_url + "/ok", timeout=BOUND).text == "ok"
    server.check()  # nothing reached the test as the upstream's own failure


def refused(server: LoopbackServer, status: int, *pieces: bytes) -> RejectedRequest:
    received, _ = exchange(server, *pieces)
    assert received.startswith(f"HTTP/1.1 {status} ".encode()), received[:200]
    assert b"Connection: close" in received
    still_serves(server)
    rejected = server.upstream.journal.rejected
    assert [r.status for r in rejected] == [status]
    return rejected[0]


def post(headers: bytes, body: bytes = b"") -> bytes:
    return b"POST /echo HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n" + body


def test_a_negative_chunk_size_is_refused_not_spun_on(served: LoopbackServer) -> None:
    rejected = refused(served, 400, post(b"Transfer-Encoding: chunked\r\n", b"-1\r\nabc\r\n"))
    assert "chunk size" in rejected.reason
    assert len(served.upstream.journal) == 1  # only the well-formed request that followed


def test_a_negative_content_length_is_refused_not_served_forever(served: LoopbackServer) -> None:
    refused(served, 400, post(b"Content-Length: -5\r\n", b"abcde"))
    assert [e.path for e in served.upstream.journal] == ["/ok"]


@pytest.mark.parametrize(
    ("name", "request_bytes"),
    [
        (
            "conflicting Content-Length",
            post(b"Content-Length: 3\r\nContent-Length: 4\r\n", b"abcd"),
        ),
        ("Content-Length 1_0", post(b"Content-Length: 1_0\r\n", b"0123456789")),
        ("chunk size 0x3", post(b"Transfer-Encoding: chunked\r\n", b"0x3\r\nabc\r\n0\r\n\r\n")),
        (
            "chunk data past its size",
            post(b"Transfer-Encoding: chunked\r\n", b"3\r\nabcdef\r\n0\r\n\r\n"),
        ),
        (
            "Content-Length with chunked",
            post(b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n"),
        ),
        ("NUL in the path", b"GET /a\x00b HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("malformed Host", b"GET /ok HTTP/1.1\r\nHost: evil.example/x?\r\n\r\n"),
        ("two Hosts", b"GET /ok HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
        ("no Host in HTTP/1.1", b"GET /ok HTTP/1.1\r\n\r\n"),
        ("request line", b"NONSENSE\r\n\r\n"),
    ],
)
def test_strict_framing_gets_400(served: LoopbackServer, name: str, request_bytes: bytes) -> None:
    refused(served, 400, request_bytes)
    assert not any(e.path == "/x" for e in served.upstream.journal)


def test_a_bad_request_after_good_ones_is_answered_in_order(served: LoopbackServer) -> None:
    good = b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n"
    received, _ = exchange(served, good + good + post(b"Content-Length: x\r\n"))
    assert received.count(b"HTTP/1.1 200 OK") == 2
    assert received.index(b"HTTP/1.1 400 ") > received.rindex(b"HTTP/1.1 200 OK")


def test_the_host_header_never_changes_the_path(served: LoopbackServer) -> None:
    received, _ = exchange(served, b"GET /p?q=1 HTTP/1.1\r\nHost: other.example:8080\r\n\r\n")
    assert received.endswith(b"http://other.example:8080/p?q=1")
    assert served.upstream.journal[-1].path == "/p"


def test_an_absolute_form_target_is_parsed(served: LoopbackServer) -> None:
    # RFC 9112 section 3.2.2: the target's authority wins over Host.
    received, _ = exchange(served, b"GET http://h.example:81/p?q=1 HTTP/1.1\r\nHost: x\r\n\r\n")
    assert received.startswith(b"HTTP/1.1 200 ")
    assert received.endswith(b"http://h.example:81/p?q=1")
    assert served.upstream.journal[-1].path == "/p"
    served.check()


@pytest.mark.parametrize("split", [False, True], ids=["one read", "split"])
def test_a_100_kb_head_gets_431_however_it_arrives(served: LoopbackServer, split: bool) -> None:
    head = b"GET /ok HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n"
    pieces = [head[i : i + 8192] for i in range(0, len(head), 8192)] if split else [head]
    refused(served, 431, *pieces)


def test_head_and_body_limits_are_configurable() -> None:
    up = Upstream()
    up.post("/echo").respond(lambda r: respond(200, content=r.content))
    limits = Limits(max_head_bytes=2048, max_body_bytes=10)
    with up.serve(limits=limits) as server:
        assert exchange(server, post(b"Content-Length: 10\r\n", b"0123456789"))[0].endswith(
            b"0123456789"
        )
        refused_large = exchange(server, post(b"Content-Length: 11\r\n", b"01234567890"))[0]
        assert refused_large.startswith(b"HTTP/1.1 413 ")
        chunked = post(
            b"Transfer-Encoding: chunked\r\n", b"6\r\nabcdef\r\n6\r\nabcdef\r\n0\r\n\r\n"
        )
        assert exchange(server, chunked)[0].startswith(b"HTTP/1.1 413 ")
        assert exchange(server, post(b"X: " + b"a" * 3000 + b"\r\n"))[0].startswith(
            b"HTTP/1.1 431 "
        )
        assert [r.status for r in up.journal.rejected] == [413, 413, 431]
        server.check()


def test_a_head_that_dribbles_past_the_header_timeout_gets_408() -> None:
    up = Upstream()
    up.get("/ok").respond(respond(200, text="ok"))
    with up.serve(limits=Limits(header_timeout=0.3)) as server:
        received, took = exchange(server, b"GET /ok HTTP/1.1\r\nHost: x\r\n", shut=False)
        assert received.startswith(b"HTTP/1.1 408 ")
        assert 0.3 <= took < BOUND
        # An idle keep-alive connection is not a slow head: it is not cut.
        with httpx.Client(base_url=server.base_url) as http:
            assert http.get("/ok").text == "ok"
            time.sleep(0.5)  # longer than the header timeout, idle between requests
            assert http.get("/ok").text == "ok"
            assert len(server.connections) == 1
        server.check()
    assert [r.status for r in up.journal.rejected] == [408]


def test_expect_100_continue_is_honoured(served: LoopbackServer) -> None:
    with socket.create_connection(("127.0.0.1", served.port), timeout=BOUND) as sock:
        sock.sendall(post(b"Content-Length: 5\r\nExpect: 100-continue\r\n"))
        interim = sock.recv(65536)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"  # before the body was sent
        sock.sendall(b"hello")
        final = sock.recv(65536)
    assert final.startswith(b"HTTP/1.1 200 ")
    assert final.endswith(b"hello")
    # A body past the limit is refused without being sent.
    refused_early = exchange(
        served, post(b"Content-Length: 999999999999\r\nExpect: 100-continue\r\n"), shut=False
    )[0]
    assert refused_early.startswith(b"HTTP/1.1 413 ")


def test_the_client_stopping_mid_request_is_answered(served: LoopbackServer) -> None:
    received, _ = exchange(served, post(b"Content-Length: 10\r\n", b"abc"))
    assert received.startswith(b"HTTP/1.1 400 ")
    still_serves(served)


def test_an_upgrade_request_is_served_as_a_plain_request(served: LoopbackServer) -> None:
    upgrade = b"GET /ok HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"
    received, _ = exchange(served, upgrade + b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
    assert received.count(b"HTTP/1.1 200 OK") == 2
    assert received.endswith(b"routed to /x")


def test_rejected_requests_have_a_clear_representation(served: LoopbackServer) -> None:
    rejected = refused(served, 400, b"GET /a\x00b HTTP/1.1\r\nHost: x\r\n\r\n")
    assert repr(rejected).startswith("RejectedRequest(400: client protocol error: ")
    assert "1 rejected as client protocol errors" in repr(served.upstream.journal)


def test_verify_fails_on_a_refused_request_and_names_it_without_its_bytes(
    served: LoopbackServer,
) -> None:
    up = served.upstream
    up.verify()  # nothing refused yet
    secret = b"Bearer sk-live-hostile-0123456789"
    refused(served, 400, post(b"Authorization: " + secret + b"\r\nContent-Length: -1\r\n"))
    with pytest.raises(UnmatchedRequestError) as info:
        up.verify()
    text = str(info.value)
    assert "1 request(s) were refused as client protocol errors" in text
    assert "RejectedRequest(400: client protocol error: " in text
    assert "allow_rejected=True" in text
    assert "sk-live" not in text
    assert "Authorization" not in text
    up.verify(allow_rejected=True)  # the keyword opts out for one call
    up.allow_rejected = True
    up.verify()  # ... the attribute for the upstream
    with pytest.raises(UnmatchedRequestError):
        up.verify(allow_rejected=False)  # the keyword wins over the attribute
    up.allow_rejected = False
    up.journal.clear()
    up.verify()  # clearing the journal forgets the refusals
