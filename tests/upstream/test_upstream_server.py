"""Loopback delivery: real sockets, any client, faults on the wire, TLS, thread errors."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import requests

from apiharness import ServerThreadError, VirtualClock
from apiharness.upstream import (
    LoopbackServer,
    Upstream,
    delay,
    garbage,
    hang,
    reset,
    respond,
    status,
    truncate,
)


@pytest.fixture
def served() -> Iterator[LoopbackServer]:
    up = Upstream()
    with up.serve() as server:
        yield server


def raw_exchange(server: LoopbackServer, payload: bytes) -> bytes:
    """Send ``payload`` on a fresh connection; everything received until the server closes."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(payload)
        received = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return received
            received += chunk


def test_serves_httpx_sync_and_async_and_requests(served: LoopbackServer) -> None:
    served.upstream.get("/users/{id}").respond(respond(200, json={"id": 7}))
    served.upstream.post("/echo").respond(
        lambda request: respond(201, content=request.content, headers={"X-Seen": request.method})
    )
    assert served.url.startswith("http://127.0.0.1:")
    with httpx.Client(base_url=served.base_url) as http:
        assert http.get("/users/7").json() == {"id": 7}
        echoed = http.post("/echo", content=b"payload")
        assert (echoed.status_code, echoed.content, echoed.headers["x-seen"]) == (
            201,
            b"payload",
            "POST",
        )

    async def run() -> int:
        async with httpx.AsyncClient(base_url=served.base_url) as http:
            return (await http.get("/users/1")).status_code

    assert asyncio.run(run()) == 200
    assert requests.get(served.base_url + "/users/2", timeout=5).json() == {"id": 7}
    # A chunked request body (a generator) arrives whole.
    sent = requests.post(served.base_url + "/echo", data=iter([b"ab", b"cd"]), timeout=5)
    assert sent.content == b"abcd"
    assert served.upstream.journal[-1].body == b"abcd"
    assert served.upstream.journal.count("GET") == 3


def test_keep_alive_reuses_one_connection(served: LoopbackServer) -> None:
    served.upstream.get("/k").respond(status(204))
    with httpx.Client(base_url=served.base_url) as http:
        for _ in range(20):
            assert http.get("/k").status_code == 204
        assert len(served.connections) == 1


def test_pipelined_requests_are_answered_in_order(served: LoopbackServer) -> None:
    served.upstream.get("/n/{i}").respond(lambda r: respond(200, json=r.url.path))
    payload = (
        b"GET /n/1 HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /n/2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    received = raw_exchange(served, payload)
    assert received.index(b'"/n/1"') < received.index(b'"/n/2"')


def test_connection_close_and_http_1_0_close_after_the_response(served: LoopbackServer) -> None:
    served.upstream.get("/c").respond(status(200))
    for request in (
        b"GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET /c HTTP/1.0\r\n\r\n",
    ):
        received = raw_exchange(served, request)  # returns only once the server closes
        assert received.startswith(b"HTTP/1.1 200 OK\r\n")
        assert b"Connection: close" in received


def test_a_malformed_request_gets_400(served: LoopbackServer) -> None:
    assert raw_exchange(served, b"NONSENSE\r\n\r\n").startswith(b"HTTP/1.1 400")


def test_concurrent_clients(served: LoopbackServer) -> None:
    served.upstream.get("/c/{n}").respond(lambda r: respond(200, text=r.url.path))
    failures: list[str] = []

    def worker(n: int) -> None:
        with requests.Session() as session:
            for i in range(10):
                got = session.get(f"{served.base_url}/c/{n}-{i}", timeout=10)
                if got.text != f"/c/{n}-{i}":
                    failures.append(got.text)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert len(served.upstream.journal) == 120


def test_reset_is_a_real_tcp_rst(served: LoopbackServer) -> None:
    served.upstream.get("/r").respond(reset())
    with pytest.raises(ConnectionResetError):
        raw_exchange(served, b"GET /r HTTP/1.1\r\nHost: x\r\n\r\n")
    with pytest.raises(requests.ConnectionError, match="reset"):
        requests.get(served.base_url + "/r", timeout=5)


def test_truncate_and_garbage_on_the_wire(served: LoopbackServer) -> None:
    served.upstream.get("/t").respond(truncate(after=3, response=respond(content=b"abcdefgh")))
    served.upstream.get("/g").respond(garbage(40))
    received = raw_exchange(served, b"GET /t HTTP/1.1\r\nHost: x\r\n\r\n")
    assert b"Content-Length: 8\r\n" in received
    assert received.endswith(b"\r\n\r\nabc")
    noise = raw_exchange(served, b"GET /g HTTP/1.1\r\nHost: x\r\n\r\n")
    assert len(noise) == 40
    assert not noise.startswith(b"H")
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        requests.get(served.base_url + "/t", timeout=5)


def test_garbage_bytes_are_reproducible_from_the_seed() -> None:
    def noise(seed: int) -> bytes:
        up = Upstream(seed=seed)
        up.get("/g").respond(garbage(32))
        with up.serve() as server:
            return raw_exchange(server, b"GET /g HTTP/1.1\r\nHost: x\r\n\r\n")

    assert noise(5) == noise(5)
    assert noise(5) != noise(6)


def test_delay_over_loopback_is_virtual_under_the_clock(clock: VirtualClock) -> None:
    up = Upstream()
    up.get("/slow").respond(delay(600, then=respond(200, json="late")))
    with up.serve() as server:
        started = time.perf_counter()
        assert requests.get(server.base_url + "/slow", timeout=5).json() == "late"
        assert time.perf_counter() - started < 5
    assert clock.monotonic() >= 600
    assert up.journal[0].time == pytest.approx(clock.time() - 600, abs=1)


def test_hang_holds_until_the_client_gives_up_and_stop_is_prompt() -> None:
    up = Upstream()
    up.get("/h").respond(hang())
    server = up.serve().start()
    with pytest.raises(requests.ReadTimeout):
        requests.get(server.base_url + "/h", timeout=0.2)
    # A second client is still hanging when the server stops: stop must not wait for it.
    outcome: list[type[BaseException]] = []

    def hang_on() -> None:
        try:
            requests.get(server.base_url + "/h", timeout=30)
        except requests.RequestException as exc:
            outcome.append(type(exc))

    hanging = threading.Thread(target=hang_on)
    hanging.start()
    # Synchronise on the journal, not on a sleep: the second request has reached the hang.
    deadline = time.monotonic() + 10
    while len(up.journal) < 2 and time.monotonic() < deadline:
        time.sleep(0.001)
    assert len(up.journal) == 2
    started = time.perf_counter()
    server.stop()
    # Waiting for the client would take its 30 s timeout; stopping takes milliseconds.
    assert time.perf_counter() - started < 10
    hanging.join()
    assert outcome == [requests.ConnectionError]  # dropped by stop(), not timed out


def test_errors_in_the_server_thread_reach_the_test() -> None:
    up = Upstream()

    def broken(request: httpx.Request) -> respond:  # type: ignore[valid-type]
        raise KeyError("missing-fixture-data")

    up.get("/boom").respond(broken)
    server = up.serve().start()
    try:
        got = requests.get(server.base_url + "/boom", timeout=5)
        assert got.status_code == 500
        assert "KeyError" in got.text
        with pytest.raises(ServerThreadError, match="KeyError") as info:
            server.check()
        assert isinstance(info.value.__cause__, KeyError)
        server.check()  # reported once
    finally:
        server.stop()
    with pytest.raises(ServerThreadError), up.serve() as again:
        requests.get(again.base_url + "/boom", timeout=5)


def test_https_with_a_throwaway_ca() -> None:
    up = Upstream()
    up.get("/secure").respond(respond(200, json={"tls": True}))
    with up.serve(https=True) as server:
        assert server.base_url.startswith("https://127.0.0.1:")
        with httpx.Client(base_url=server.base_url, verify=server.ssl_context()) as http:
            assert http.get("/secure").json() == {"tls": True}
        assert requests.get(server.base_url + "/secure", verify=server.ca_path, timeout=5).ok
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(server.base_url + "/secure", timeout=5)
        ca_path = server.ca_path
    assert up.journal[0].url.startswith("https://")
    assert not os.path.exists(ca_path)  # the CA goes with the server


def test_base_url_and_server_attribute() -> None:
    up = Upstream(base_url="https://api.test/v1")
    up.get("/ping").respond(status(204))
    with up.serve() as server:
        assert up.server is server
        assert server.base_url == server.url + "/v1"
        assert httpx.get(server.base_url + "/ping").status_code == 204
    assert up.server is None


def test_a_failing_policy_is_reported_too() -> None:
    class Broken:
        def before(self, request: httpx.Request, route: object) -> None:
            return None

        def after(self, request: httpx.Request, route: object, outcome: object) -> None:
            raise ValueError("policy bookkeeping failed")

    up = Upstream()
    up.get("/p").add_policy(Broken())  # type: ignore[arg-type]
    server = up.serve().start()
    try:
        requests.get(server.base_url + "/p", timeout=5)
        with pytest.raises(ServerThreadError, match="policy bookkeeping failed"):
            server.check()
    finally:
        server.stop()


def test_delayed_empty_and_head_responses_on_the_wire(clock: VirtualClock) -> None:
    up = Upstream()
    up.get("/empty").respond(delay(2))
    up.head("/h").respond(delay(1, then=respond(200, json={"big": "x" * 100})))
    with up.serve() as server:
        got = requests.get(server.base_url + "/empty", timeout=5)
        assert (got.status_code, got.content) == (200, b"")
        head = requests.head(server.base_url + "/h", timeout=5)
        assert (head.status_code, head.content) == (200, b"")
    assert up.journal.intervals() == [2]  # arrival times: the second came after the first's wait


def test_non_ascii_header_values_are_journaled_not_a_server_error(served: LoopbackServer) -> None:
    # HTTP/1.1 allows obs-text (bytes 0x80-0xFF) in field values (RFC 9110 section 5.5);
    # requests sends a str header as latin-1.
    served.upstream.get("/h").respond(respond(200, text="ok"))
    received = raw_exchange(
        served, b"GET /h HTTP/1.1\r\nHost: x\r\nX-Name: caf\xe9\r\nConnection: close\r\n\r\n"
    )
    assert received.startswith(b"HTTP/1.1 200 ")
    served.check()
    assert served.upstream.journal[-1].headers.raw[-2] == (b"X-Name", b"caf\xe9")


def test_a_waiting_callable_blocks_no_other_connection(served: LoopbackServer) -> None:
    entered, release = threading.Event(), threading.Event()

    def held(request: httpx.Request) -> object:
        entered.set()
        assert release.wait(timeout=10)
        return respond(200, text="slow")

    served.upstream.get("/held").respond(held)
    served.upstream.get("/fast").respond(respond(200, text="fast"))
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        slow = pool.submit(requests.get, served.base_url + "/held", timeout=10)
        assert entered.wait(timeout=10)  # the slow request is inside the callable
        assert requests.get(served.base_url + "/fast", timeout=2).text == "fast"
        assert not slow.done()
        release.set()
        assert slow.result().text == "slow"
    served.check()
    assert [entry.path for entry in served.upstream.journal] == ["/fast", "/held"]


def test_a_callable_failing_off_the_loop_reaches_the_test(served: LoopbackServer) -> None:
    def broken(request: httpx.Request) -> object:
        raise RuntimeError("callable exploded")

    served.upstream.get("/boom").respond(broken)
    assert requests.get(served.base_url + "/boom", timeout=5).status_code == 500
    with pytest.raises(ServerThreadError, match="callable exploded"):
        served.check()
