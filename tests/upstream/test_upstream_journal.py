"""The journal, and the upstream in virtual time."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from apiharness import VirtualClock
from apiharness.upstream import Upstream, respond, status


def backoff_client(http: httpx.Client, path: str, attempts: int, base: float) -> httpx.Response:
    """A user's naive retry loop: it knows nothing of apiharness and sleeps with time.sleep."""
    for attempt in range(attempts):
        response = http.get(path, headers={"X-Attempt": str(attempt + 1)})
        if response.status_code < 500 or attempt + 1 == attempts:
            return response
        time.sleep(base * 2**attempt)
    raise AssertionError("unreachable")


def test_five_attempts_over_thirty_virtual_seconds_take_milliseconds(clock: VirtualClock) -> None:
    up = Upstream()
    route = up.get("/flaky").respond(status(503).times(4), respond(200, json={"ok": True}))
    http = httpx.Client(transport=up, base_url=up.base_url)
    started = time.perf_counter()
    response = backoff_client(http, "/flaky", attempts=5, base=2)
    wall = time.perf_counter() - started
    assert response.json() == {"ok": True}
    assert clock.sleeps == [2, 4, 8, 16]
    assert up.journal.intervals("GET", "/flaky") == [2, 4, 8, 16]
    assert clock.monotonic() == 30
    assert wall < 10  # milliseconds in practice; real sleeps would take 30 s
    assert up.journal.attempt(3).headers["X-Attempt"] == "3"
    assert up.journal.attempt(1, status=200).headers["X-Attempt"] == "5"
    assert [e.status for e in route.calls] == [503, 503, 503, 503, 200]
    assert up.journal.count(status=503) == 4


def test_entries_record_the_request_and_the_virtual_time(clock: VirtualClock) -> None:
    up = Upstream()
    route = up.post("/orders/{id}").respond(respond(201, json={}))
    http = httpx.Client(transport=up, base_url=up.base_url)
    clock.advance(5)
    http.post("/orders/9", json={"qty": 2}, params={"x": "1"}, headers={"X-Trace": "t"})
    (entry,) = up.journal
    assert entry.method == "POST"
    assert entry.url == "https://api.test/orders/9?x=1"
    assert entry.path == "/orders/9"
    assert entry.headers["x-trace"] == "t"
    assert entry.json() == {"qty": 2}
    assert entry.body == b'{"qty":2}'
    assert entry.time == clock.time()
    assert entry.monotonic == 5
    assert entry.route is route
    assert repr(entry.behaviour) == "respond(201, json={})"
    assert (entry.status, entry.processed, entry.delivered) == (201, True, True)
    assert "POST /orders/9 -> 201" in repr(entry)


def test_async_client_in_virtual_time(clock: VirtualClock) -> None:
    up = Upstream()
    up.get("/x").respond(status(429, retry_after=3), status(200))

    async def run() -> list[int]:
        codes = []
        async with httpx.AsyncClient(transport=up, base_url=up.base_url) as http:
            for _ in range(2):
                response = await http.get("/x")
                codes.append(response.status_code)
                if "retry-after" in response.headers:
                    await asyncio.sleep(int(response.headers["retry-after"]))
        return codes

    assert asyncio.run(run()) == [429, 200]
    assert up.journal.intervals() == [3]


def test_journal_queries_filter_and_explain() -> None:
    up = Upstream(allow_unmatched=True)
    up.get("/a").respond(status(200))
    http = httpx.Client(transport=up, base_url=up.base_url)
    http.get("/a")
    http.post("/a")
    http.get("/b")
    assert up.journal.count() == 3
    assert up.journal.count("get") == 2
    assert up.journal.count(path="/a") == 2
    assert up.journal.count(route=up.routes[0]) == 1
    assert [e.route is None for e in up.journal] == [False, True, True]
    assert len(up.journal[0:2]) == 2
    with pytest.raises(IndexError, match="there were 1 matching request"):
        up.journal.attempt(2, "POST")
    with pytest.raises(IndexError, match="numbered from 1"):
        up.journal.attempt(0)
    up.reset()
    assert len(up.journal) == 0
    assert up.routes == []


def test_the_clock_works_without_pytest() -> None:
    up = Upstream()
    up.get("/x").respond(status(503), status(200))
    clock = VirtualClock()
    with clock.patch():
        http = httpx.Client(transport=up, base_url=up.base_url)
        http.get("/x")
        time.sleep(10)
        http.get("/x")
    assert up.journal.intervals() == [10]
