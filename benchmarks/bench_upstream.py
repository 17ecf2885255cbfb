"""The mocked upstream against the tools users would pick instead, side by side in one run.

* in-process: sequential requests through one ``httpx.Client`` whose transport is the mock,
  with the target route alone and behind 99 others;
* loopback: sequential requests per second from one httpx client in the same process;
* fixture cost: per-test cost of the loopback fixture in an inner pytest session;
* virtual time: tests that ride out a 5-attempt exponential backoff, virtual vs real sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import io
import logging
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from apiharness import VirtualClock
from apiharness.upstream import Upstream, respond, status
from benchmarks import _noop_server
from benchmarks._common import Table, median_time, serve_uvicorn

BASE = "https://api.test"
PAYLOAD = {"id": 1, "name": "widget"}


# -- in-process ---------------------------------------------------------------------------------


def _ours(routes: int) -> httpx.BaseTransport:
    up = Upstream(base_url=BASE)
    for i in range(routes):
        up.get(f"/r{i}").respond(respond(200, json=PAYLOAD))
    return up


def _bare(routes: int) -> httpx.BaseTransport:
    return httpx.MockTransport(lambda request: httpx.Response(200, json=PAYLOAD))


def _respx(routes: int) -> httpx.BaseTransport:
    import respx

    router = respx.MockRouter(assert_all_called=False)
    for i in range(routes):
        router.get(f"{BASE}/r{i}").respond(200, json=PAYLOAD)
    return httpx.MockTransport(router.handler)


def _pytest_httpx(routes: int) -> httpx.BaseTransport:
    from pytest_httpx import HTTPXMock
    from pytest_httpx._options import _HTTPXMockOptions

    mock = HTTPXMock(_HTTPXMockOptions(assert_all_responses_were_requested=False))
    for i in range(routes):
        mock.add_response(url=f"{BASE}/r{i}", json=PAYLOAD, is_reusable=True)
    return httpx.MockTransport(lambda request: mock._handle_request(None, request))  # type: ignore[arg-type]


IN_PROCESS: dict[str, Callable[[int], httpx.BaseTransport]] = {
    "httpx.MockTransport (bare)": _bare,
    "apiharness Upstream": _ours,
    "respx": _respx,
    "pytest-httpx": _pytest_httpx,
}


def _interleaved(runs: dict[str, Callable[[], None]], rounds: int) -> dict[str, float]:
    """Median seconds of each run, taking turns round by round so that the machine's load
    (shared with other jobs) drifts over every contender alike."""
    return _interleaved_with_cpu(runs, rounds)[0]


def _interleaved_with_cpu(
    runs: dict[str, Callable[[], None]], rounds: int
) -> tuple[dict[str, float], dict[str, float]]:
    """Median wall seconds and median CPU seconds of the whole process (every thread) of each
    run, taken in the same interleaved rounds."""
    wall: dict[str, list[float]] = {name: [] for name in runs}
    cpu: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, func in runs.items():
            gc.collect()
            started, used = time.perf_counter(), time.process_time()
            func()
            wall[name].append(time.perf_counter() - started)
            cpu[name].append(time.process_time() - used)
    return (
        {name: statistics.median(values) for name, values in wall.items()},
        {name: statistics.median(values) for name, values in cpu.items()},
    )


def in_process(smoke: bool) -> list[Table]:
    requests = 100 if smoke else 10_000
    tables = []
    for routes in (1, 100):
        table = Table(
            f"in-process: {requests:,} sequential requests, target behind {routes - 1} others",
            "µs per request",
            baseline="httpx.MockTransport (bare)",
            target="Upstream within 1.3x of bare; 100 routes within 1.2x of 1 route",
        )
        runs: dict[str, Callable[[], None]] = {}
        counts: dict[str, int] = {}
        for name, make in IN_PROCESS.items():
            http = httpx.Client(transport=make(routes), base_url=BASE)
            path = f"/r{routes - 1}"
            # Warm up, and size the run: a contender that needs milliseconds per request
            # (pytest-httpx behind 99 routes) gets fewer requests, said in the row's note.
            probe = median_time(functools.partial(http.get, path), repeat=20)
            count = min(requests, max(100, int(4.0 / probe)))

            def run(http: httpx.Client = http, path: str = path, count: int = count) -> None:
                for _ in range(count):
                    http.get(path)

            runs[name], counts[name] = run, count
        for name, seconds in _interleaved(runs, rounds=2 if smoke else 5).items():
            count = counts[name]
            note = "" if count == requests else f"({count:,} requests, to bound the run time)"
            table.add(name, seconds / count * 1e6, note)
        tables.append(table)
    flat = Table(
        "in-process: cost of 100 routes relative to 1 (same run)",
        "ratio 100 routes / 1 route",
        baseline="apiharness Upstream",
        target="Upstream at most 1.2",
    )
    one, hundred = tables
    for row in one.rows:
        if row.name != "httpx.MockTransport (bare)":
            flat.add(row.name, hundred.value_of(row.name) / row.value)
    return [*tables, flat]


# -- loopback -------------------------------------------------------------------------------------


@contextlib.contextmanager
def _serve_ours() -> Iterator[str]:
    up = Upstream()
    up.get("/item").respond(respond(200, json=PAYLOAD))
    with up.serve() as server:
        yield server.base_url + "/item"


@contextlib.contextmanager
def _serve_httpserver() -> Iterator[str]:
    from pytest_httpserver import HTTPServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one log line per request otherwise
    server = HTTPServer(host="127.0.0.1")
    server.expect_request("/item").respond_with_json(PAYLOAD)
    server.start()
    try:
        yield server.url_for("/item")
    finally:
        server.clear()
        server.stop()


async def _asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = b'{"id":1,"name":"widget"}'
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@contextlib.contextmanager
def _serve_uvicorn(http: str) -> Iterator[str]:
    with serve_uvicorn(_asgi_app, http) as origin:
        yield origin + "/item"


@contextlib.contextmanager
def _serve_noop_thread() -> Iterator[str]:
    listener = _noop_server.listen()
    thread = threading.Thread(target=_noop_server.serve_forever, args=(listener,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/item"
    finally:
        with contextlib.suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)  # wakes accept() on Linux; the thread is a daemon
        listener.close()


@contextlib.contextmanager
def _serve_noop_asyncio() -> Iterator[str]:
    listener = _noop_server.listen()
    listener.setblocking(False)
    loop = asyncio.SelectorEventLoop()  # the loopback server's kind of loop
    started = threading.Event()

    def serve() -> None:
        loop.run_until_complete(loop.create_server(_noop_server.Protocol, sock=listener))
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    started.wait()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/item"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()  # closes the listener and the transports with it


@contextlib.contextmanager
def _serve_noop_process() -> Iterator[str]:
    command = [sys.executable, "-m", "benchmarks._noop_server"]
    root = Path(__file__).resolve().parent.parent
    with subprocess.Popen(command, stdout=subprocess.PIPE, cwd=root, text=True) as process:
        try:
            assert process.stdout is not None
            yield f"http://127.0.0.1:{int(process.stdout.readline())}/item"
        finally:
            process.kill()


SERVERS: dict[str, Callable[[], contextlib.AbstractContextManager[str]]] = {
    "pytest-httpserver": _serve_httpserver,
    "apiharness LoopbackServer": _serve_ours,
    # The two parsers the loopback server could use, each in uvicorn, same minimal app.
    "uvicorn (h11), minimal ASGI app": functools.partial(_serve_uvicorn, "h11"),
    "uvicorn (httptools), minimal ASGI app": functools.partial(_serve_uvicorn, "httptools"),
    # Yardsticks, not contenders (benchmarks/_noop_server.py): a server that parses, matches
    # and records nothing. In the same process it is the ceiling for any Python server sharing
    # the client's GIL; in its own process it shows what the httpx client alone can reach.
    "ceiling: no-op server, same process": _serve_noop_thread,
    # The same no-op on an asyncio event loop, as the loopback server is: the loop's own cost.
    "ceiling: no-op asyncio server, same process": _serve_noop_asyncio,
    "ceiling: no-op server, own process": _serve_noop_process,
}
# The yardstick of issue 13: the loopback server at least 0.9x of its rate.
_YARDSTICK = "ceiling: no-op server, same process"


def loopback(smoke: bool) -> list[Table]:
    requests = 50 if smoke else 3000
    table = Table(
        f"loopback: {requests:,} sequential requests from one httpx client, same process",
        "requests per second",
        baseline="pytest-httpserver",
        higher_is_better=True,
        target="LoopbackServer at least 2.5x pytest-httpserver",
    )
    with contextlib.ExitStack() as stack:
        runs: dict[str, Callable[[], None]] = {}
        for name, serve in SERVERS.items():
            url = stack.enter_context(serve())
            http = stack.enter_context(httpx.Client())

            def run(http: httpx.Client = http, url: str = url) -> None:
                for _ in range(requests):
                    http.get(url).raise_for_status()

            run()  # warm up: connect, first requests
            runs[name] = run
        wall, cpu = _interleaved_with_cpu(runs, rounds=2 if smoke else 5)
    for name, seconds in wall.items():
        table.add(name, requests / seconds)
    # CPU time is disturbed less than wall time by other jobs on the machine. The server in its
    # own process is left out: its CPU time is not this process's.
    cpu_table = Table(
        "loopback: CPU time of the whole process (client and server threads), same run",
        "CPU µs per request",
        baseline=_YARDSTICK,
        target="LoopbackServer at most 1.11x the no-op's (0.9x of its rate)",
    )
    for name, seconds in cpu.items():
        if name != "ceiling: no-op server, own process":
            cpu_table.add(name, seconds / requests * 1e6)
    return [table, cpu_table]


# -- request parsing ------------------------------------------------------------------------------

_REQUEST = (
    b"GET /item HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nAccept: */*\r\n"
    b"Accept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\n"
    b"User-Agent: python-httpx/0.28.1\r\n\r\n"
)


def _parse_with_reader() -> Callable[[], None]:
    from apiharness.upstream import Limits
    from apiharness.upstream._reading import RequestReader

    reader = RequestReader(Limits(), "http", "127.0.0.1:8000")

    def parse() -> None:
        reader.feed(_REQUEST)
        reader.ready.popleft()

    return parse


def _parse_with_h11() -> Callable[[], None]:
    import h11

    conn = h11.Connection(h11.SERVER)
    # h11 moves to the next request only once a response went out: the cheapest one.
    answer = h11.Response(status_code=204, headers=[])

    def parse() -> None:
        conn.receive_data(_REQUEST)
        while not isinstance(conn.next_event(), h11.EndOfMessage):
            pass
        conn.send(answer)
        conn.send(h11.EndOfMessage())
        conn.start_next_cycle()

    return parse


def parsing(smoke: bool) -> list[Table]:
    """The two parsers the loopback server could use, on the request httpx sends."""
    number = 200 if smoke else 20_000
    table = Table(
        f"request parsing: one keep-alive request head, {number:,} times",
        "µs per request",
        baseline="h11 (plus the cheapest response, to reach the next request)",
        target="the loopback server's reader (httptools, with its checks) faster",
    )
    runs = {
        "h11 (plus the cheapest response, to reach the next request)": _parse_with_h11(),
        "apiharness reader (httptools + limits, Host, URL)": _parse_with_reader(),
    }
    for name, func in runs.items():
        table.add(name, median_time(func, repeat=5, number=number) * 1e6)
    return [table]


# -- fixture cost ---------------------------------------------------------------------------------

FIXTURE_TESTS = {
    "no fixture (baseline)": "def test_it(n):\n    pass\n",
    "apiharness upstream_server": "def test_it(n, upstream_server):\n    pass\n",
    "pytest-httpserver httpserver": "def test_it(n, httpserver):\n    pass\n",
}


def fixture_cost(smoke: bool) -> list[Table]:
    tests = 20 if smoke else 300
    table = Table(
        f"fixture cost: an inner pytest session of {tests} tests using the loopback fixture "
        "(session start/stop amortised)",
        "ms per test, minus the no-fixture baseline",
        baseline="pytest-httpserver httpserver",
        target="upstream_server lower",
    )
    totals: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for index, (name, body) in enumerate(FIXTURE_TESTS.items()):
            module = Path(tmp) / f"test_fixture_cost_{index}.py"
            module.write_text(
                f"import pytest\n\n@pytest.mark.parametrize('n', range({tests}))\n{body}"
            )
            # no:hypothesispytest: nothing here uses it, and loading it after earlier topics
            # built strategies makes Hypothesis warn about slow initialisation.
            args = [str(module), "-q", "-p", "apiharness", "-p", "no:cacheprovider"]
            args += ["-p", "no:hypothesispytest", "-p", "no:randomly"]
            args += ["--import-mode=importlib", "-o", "addopts="]
            samples = []
            for _ in range(2 if smoke else 6):  # the first run (imports, warm-up) is dropped
                started = time.perf_counter()
                with contextlib.redirect_stdout(io.StringIO()):
                    code = pytest.main([*args, f"--rootdir={tmp}"])
                samples.append(time.perf_counter() - started)
                if code != 0:
                    raise RuntimeError(f"the inner session for {name!r} failed ({code})")
            totals[name] = statistics.median(samples[1:])
    base = totals.pop("no fixture (baseline)")
    for name, total in totals.items():
        table.add(name, max(total - base, 0.0) / tests * 1000)
    return [table]


# -- virtual time ---------------------------------------------------------------------------------


def _backoff_test() -> None:
    """One test: a naive client rides out four 503s with exponential backoff (base 0.1 s)."""
    up = Upstream()
    up.get("/flaky").respond(status(503).times(4), respond(200, json=PAYLOAD))
    with httpx.Client(transport=up, base_url=up.base_url) as http:
        for attempt in range(5):
            if http.get("/flaky").status_code == 200:
                return
            time.sleep(0.1 * 2**attempt)
    raise AssertionError("the backoff did not end in a 200")


def _virtual() -> None:
    with VirtualClock().patch():
        _backoff_test()


def virtual_time(smoke: bool) -> list[Table]:
    tests, real_tests = 50, 1 if smoke else 3
    table = Table(
        f"virtual time: {tests} tests, each riding out a 5-attempt backoff (0.1, 0.2, 0.4, 0.8 s)",
        f"seconds for {tests} tests",
        baseline="real sleeps",
        target="virtual at least 100x faster",
    )
    started = time.perf_counter()
    for _ in range(real_tests):
        _backoff_test()
    per_real = (time.perf_counter() - started) / real_tests
    table.add("real sleeps", per_real * tests, f"measured {real_tests}, scaled to {tests}")
    table.add("apiharness clock (virtual)", median_time(_virtual, repeat=3, number=tests) * tests)
    return [table]


def run(smoke: bool) -> list[Table]:
    """Every table of this topic, each measured side by side in one run."""
    tables = [*in_process(smoke), *loopback(smoke), *parsing(smoke)]
    return [*tables, *fixture_cost(smoke), *virtual_time(smoke)]
