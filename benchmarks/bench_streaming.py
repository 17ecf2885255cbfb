"""Server-Sent Events served per second: apiharness's ``sse()`` in-process and on the loopback
socket, beside sse-starlette (the SSE response most Python teams would reach for) under uvicorn
on a loopback socket and through httpx's ASGI transport in-process, in the same run.

Every row streams the same events (a JSON ``data`` line and an ``id``, no waits) to the same
httpx client, which reads each response to its end; the figure is events delivered per second
of wall time, the median of several streams.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx

from benchmarks._common import Table, median_time, serve_uvicorn

BASELINE = "sse-starlette under uvicorn, loopback"


def _payloads(count: int) -> list[tuple[str, str]]:
    return [(str(n), json.dumps({"n": n, "text": "token " * 4})) for n in range(count)]


def _upstream(count: int) -> Any:
    from apiharness.upstream import SSEEvent, Upstream, sse

    up = Upstream(base_url="http://bench.test")
    up.get("/events").respond(sse([SSEEvent(d, id=i) for i, d in _payloads(count)]))
    return up


def _starlette_app(count: int) -> Any:
    from sse_starlette.sse import EventSourceResponse
    from starlette.applications import Starlette
    from starlette.routing import Route

    payloads = _payloads(count)

    async def events() -> AsyncIterator[dict[str, str]]:
        for event_id, data in payloads:
            yield {"id": event_id, "data": data}

    async def endpoint(request: Any) -> EventSourceResponse:
        return EventSourceResponse(events())

    return Starlette(routes=[Route("/events", endpoint)])


def _drain(http: httpx.Client, url: str) -> int:
    with http.stream("GET", url) as response:
        return sum(len(chunk) for chunk in response.iter_bytes())


def _rate(read: Callable[[], int], count: int, repeat: int) -> float:
    read()  # warm up: connection, imports, caches
    return count / median_time(read, repeat=repeat)


def events_per_second(smoke: bool) -> list[Table]:
    count, repeat = (20, 2) if smoke else (2000, 7)
    table = Table(
        f"SSE: {count} events per stream, read to the end by one httpx client",
        "events/s",
        BASELINE,
        higher_is_better=True,
    )
    up = _upstream(count)
    with httpx.Client(transport=up, base_url=up.base_url) as http:
        table.add(
            "apiharness sse(), in-process", _rate(lambda: _drain(http, "/events"), count, repeat)
        )
    with up.serve() as server, httpx.Client(base_url=server.base_url) as http:
        table.add(
            "apiharness sse(), LoopbackServer",
            _rate(lambda: _drain(http, "/events"), count, repeat),
        )
    app = _starlette_app(count)
    with serve_uvicorn(app, "httptools") as base, httpx.Client(base_url=base) as http:
        table.add(BASELINE, _rate(lambda: _drain(http, "/events"), count, repeat))
    # httpx's ASGI transport is async only: the in-process yardstick runs on an event loop.
    table.add(
        "sse-starlette via httpx.ASGITransport, in-process",
        count / _asgi_seconds(app, repeat),
    )
    return [table]


def _asgi_seconds(app: Any, repeat: int) -> float:
    import asyncio
    import statistics

    async def measure() -> float:
        samples = []
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench.test") as http:
            for round_ in range(repeat + 1):
                start = time.perf_counter()
                async with http.stream("GET", "/events") as response:
                    async for _ in response.aiter_bytes():
                        pass
                if round_:  # the first is the warm-up
                    samples.append(time.perf_counter() - start)
        return statistics.median(samples)

    return asyncio.run(measure())


def run(smoke: bool) -> list[Table]:
    """Every table of this topic, each measured side by side in one run."""
    return events_per_second(smoke)
