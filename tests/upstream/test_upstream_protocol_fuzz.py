"""Protocol fuzz: Hypothesis sends malformed and adversarial requests over real sockets.

Two targets: the loopback server in this process, and ``apiharness mock`` as the user runs it
(a subprocess). Requests start from well-formed ones and are mutated where parsers break —
framing headers, chunk sizes, control bytes, sizes near the limits — then sent in pieces
split at drawn points. Invariants, per request: an answer or a close within a bound, no 500
(that would be the harness failing, not the client); then a well-formed request on a new
connection gets its normal answer, within the bound too. Over the run: no connection, thread or
file descriptor is left behind, and memory stays bounded.

The bound is :data:`BOUND` seconds of wall time *plus the time the client's and the server's
threads spent runnable but waiting for a CPU* (Linux's ``/proc/PID/task/TID/schedstat``): on a
loaded CI machine (load 12-15 on 2 cores) a correct server can take longer than 5 s of wall
time to answer, while a server that hangs waits idle, accrues no such time, and still fails
after 5 s.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apiharness.upstream import Limits, LoopbackServer, Upstream, respond

BOUND = 5.0  # seconds to answer or close, besides the time spent waiting for a CPU (Budget)
# The longest a single blocking call waits before the budget is looked at again.
SLICE = 0.25
PAYMENTS = Path(__file__).parents[2] / "fixtures" / "openapi" / "payments.yaml"
FUZZ = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)

# One client for the well-formed requests (building one costs ~17 ms), one connection each.
# Its timeout is only a backstop: the answer's time is checked against a Budget.
CLIENT = httpx.Client(timeout=60.0, limits=httpx.Limits(max_keepalive_connections=0))

# Bytes that parsers have tripped on: framing, numbers, separators, control characters.
TOKENS = [
    b"\x00",
    b"\r",
    b"\n",
    b"\r\n",
    b"\r\n\r\n",
    b" ",
    b"\t",
    b":",
    b"-1",
    b"0x",
    b"1_0",
    b"+5",
    b"ffffffffffffffff",
    b"99999999999999999999",
    b"Content-Length: 5\r\n",
    b"Content-Length: -1\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b"Transfer-Encoding: gzip, chunked\r\n",
    b"Expect: 100-continue\r\n",
    b"Host: evil.example/x?\r\n",
    b"Connection: close\r\n",
    b"\xff\xfe",
    b"%00",
    b"HTTP/1.0",
    b"HTTP/2.0",
    b"a" * 70_000,
]
BASES = [
    b"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n",
    b"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 5\r\n\r\nhello",
    b"POST {path} HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5\r\nhello\r\n0\r\n\r\n",
    b"GET http://{host}{path} HTTP/1.1\r\nHost: {host}\r\n\r\n",
]


@st.composite
def hostile_requests(draw: st.DrawFn, path: bytes) -> tuple[bytes, list[int]]:
    """A well-formed request mutated a few times, and where to split it into writes."""
    data = bytearray(draw(st.sampled_from(BASES)).replace(b"{path}", path))
    data = data.replace(b"{host}", b"127.0.0.1")
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["insert", "replace", "delete", "truncate"]))
        token = draw(st.sampled_from(TOKENS) | st.binary(min_size=1, max_size=8))
        if kind == "insert":
            data[at:at] = token
        elif kind == "replace":
            data[at : at + len(token)] = token
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 8))]
        else:
            del data[at:]
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=4, unique=True)))
    return bytes(data), cuts


def waited_for_cpu(pids: tuple[int, ...]) -> float:
    """Seconds the threads of ``pids`` have spent runnable but not running, summed (0 where
    the kernel does not say)."""
    nanoseconds = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{pid}/task").iterdir():
                with contextlib.suppress(OSError, IndexError, ValueError):
                    nanoseconds += int((task / "schedstat").read_text().split()[1])
    return nanoseconds / 1e9


class Budget:
    """:data:`BOUND` seconds from now, extended by the time this process and ``server_pid``
    wait for a CPU from now on: a server starved by other work is slow, not hung."""

    def __init__(self, server_pid: int) -> None:
        self.pids = tuple({os.getpid(), server_pid})
        self.started = time.monotonic()
        self.waited = waited_for_cpu(self.pids)

    def spent(self) -> tuple[float, float]:
        """The wall seconds since the start, and the seconds excused for waiting for a CPU."""
        waited = max(waited_for_cpu(self.pids) - self.waited, 0.0)
        return time.monotonic() - self.started, waited

    def within(self) -> bool:
        wall, waited = self.spent()
        return wall < BOUND + waited

    def check(self, what: str) -> None:
        wall, waited = self.spent()
        assert wall < BOUND + waited, f"{what}: {wall:.1f} s, {waited:.1f} s of it waiting for CPU"


def send(port: int, data: bytes, cuts: list[int], server_pid: int | None = None) -> bytes:
    """Write ``data`` in pieces cut at ``cuts``, half-close, read until closed (or fail)."""
    budget = Budget(server_pid or os.getpid())
    bounds = [0, *cuts, len(data)]
    with socket.create_connection(("127.0.0.1", port), timeout=60.0) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            for start, end in itertools.pairwise(bounds):
                if end > start:
                    sock.sendall(data[start:end])
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server refused early and closed: allowed
        sock.settimeout(SLICE)
        received = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            except TimeoutError:
                chunk = None
            if chunk == b"":
                break
            received += chunk or b""
            budget.check("the server kept the connection open")
    return received


def statuses(received: bytes) -> list[int]:
    """The status codes of the responses in ``received`` (interim 100 included)."""
    return [int(code) for code in re.findall(rb"(?:^|\r\n)HTTP/1\.1 (\d{3}) ", received)]


def check_answer(received: bytes) -> None:
    if received:
        assert received.startswith(b"HTTP/1.1 "), received[:100]
    # 501 and 505 answer what the client asked for (CONNECT, HTTP/2.0); any other 5xx would
    # be the harness failing.
    assert all(code < 500 or code in (501, 505) for code in statuses(received)), received[:300]


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def rss_kib(pid: int | str = "self") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")  # pragma: no cover - Linux only


# -- the loopback server in this process ------------------------------------------------------


@pytest.fixture(scope="module")
def loopback() -> Iterator[LoopbackServer]:
    up = Upstream()
    up.get("/ok").respond(respond(200, text="ok"))
    up.post("/ok").respond(respond(201, text="made"))
    with up.serve(limits=Limits(max_head_bytes=32 * 1024, header_timeout=2.0)) as server:
        yield server


@dataclass
class Baseline:
    fds: int
    threads: int
    rss: int


@pytest.fixture(scope="module")
def baseline(loopback: LoopbackServer) -> Baseline:
    CLIENT.get(loopback.base_url + "/ok")  # warm the caches first
    return Baseline(open_fds(), threading.active_count(), rss_kib())


@FUZZ
@given(case=hostile_requests(b"/ok"))
def test_loopback_server_survives_hostile_requests(
    loopback: LoopbackServer, case: tuple[bytes, list[int]]
) -> None:
    check_answer(send(loopback.port, *case))
    budget = Budget(os.getpid())
    assert CLIENT.get(loopback.base_url + "/ok").text == "ok"
    budget.check("a well-formed request after it")
    loopback.check()  # never the test's upstream failing


def test_loopback_server_leaks_nothing(loopback: LoopbackServer, baseline: Baseline) -> None:
    # Usually runs after the fuzz test (file order), but under xdist the two may run on
    # different workers: so it sends hostile requests of its own too, then every connection
    # it and the fuzz opened must be closed.
    for bad in (
        b"GET /ok HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        b"GET /o\x00k HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /ok HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n",
    ):
        check_answer(send(loopback.port, bad, []))
    budget = Budget(os.getpid())
    while loopback.connections and budget.within():
        time.sleep(0.01)
    assert loopback.connections == set()
    assert threading.active_count() <= baseline.threads
    assert open_fds() <= baseline.fds + 2
    assert rss_kib() - baseline.rss < 64 * 1024  # KiB: bounded, not growing per request
    assert loopback.upstream.journal.rejected, "the fuzz should have produced refusals"


# -- `apiharness mock`, as a user runs it ------------------------------------------------------


@dataclass
class Mock:
    process: subprocess.Popen[str]
    port: int
    base_url: str


@pytest.fixture(scope="module")
def mock() -> Iterator[Mock]:
    exe = shutil.which("apiharness", path=str(Path(sys.executable).parent))
    assert exe is not None
    with subprocess.Popen(
        [exe, "mock", str(PAYMENTS)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        port = int(httpx.URL(base_url).port or 0)
        try:
            yield Mock(process, port, base_url)
        finally:
            process.send_signal(signal.SIGTERM)
            _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err


@FUZZ
@given(case=hostile_requests(b"/v1/cards/card_abcdef"))
def test_apiharness_mock_survives_hostile_requests(
    mock: Mock, case: tuple[bytes, list[int]]
) -> None:
    check_answer(send(mock.port, *case, server_pid=mock.process.pid))
    assert mock.process.poll() is None, "apiharness mock exited"
    budget = Budget(mock.process.pid)
    assert CLIENT.get(mock.base_url + "/cards/card_abcdef").status_code == 200
    budget.check("a well-formed request after it")


def test_apiharness_mock_leaks_nothing(mock: Mock) -> None:
    pid = mock.process.pid
    before = (len(os.listdir(f"/proc/{pid}/fd")), rss_kib(pid))
    for _ in range(50):
        send(mock.port, b"GET /v1/a\x00b HTTP/1.1\r\nHost: x\r\n\r\n", [], pid)
        send(mock.port, b"GET /v1/cards/x HTTP/1.1\r\nHost: evil.example/x?\r\n\r\n", [], pid)
    assert CLIENT.get(mock.base_url + "/cards/card_abcdef").status_code == 200
    assert len(os.listdir(f"/proc/{pid}/fd")) <= before[0] + 2
    assert rss_kib(pid) - before[1] < 32 * 1024
    assert mock.process.poll() is None
