"""Reference resilient clients: transport overhead and breaker throughput.

1. Per-request cost of ``ResilientTransport`` (retry + breaker + rate limiter, all enabled) on a
   healthy in-process upstream, against the same httpx client with the bare transport. An
   in-process no-op upstream is the harshest setting: with any real network in between, the
   ratio only shrinks. Target: under 1.3x.
2. Circuit-breaker throughput, two threads sharing one breaker, against pybreaker, for a call
   that does nothing (pure breaker overhead) and for one that blocks 0.2 ms without the GIL
   (where a breaker that holds its lock during the call serialises the threads). Target: faster.

Clients are built once per contender (construction costs about 17 ms, NOTES.md).
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable

import httpx
import pybreaker

from apiharness.clients import CircuitBreaker, ResilientTransport, TokenBucket
from benchmarks._common import Table, median_time


def _ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=b"{}")


def overhead(smoke: bool) -> Table:
    number, rounds = (200, 3) if smoke else (1000, 15)
    clients = {
        "httpx.Client, bare MockTransport": httpx.Client(transport=httpx.MockTransport(_ok)),
        "httpx.Client, ResilientTransport(retry+breaker+limiter)": httpx.Client(
            transport=ResilientTransport(
                httpx.MockTransport(_ok),
                breaker=CircuitBreaker(),
                limiter=TokenBucket(rate=1e9, capacity=1e9),
            )
        ),
    }
    table = Table(
        "ResilientTransport overhead on a healthy in-process upstream",
        unit="µs per GET (median of rounds)",
        baseline="httpx.Client, bare MockTransport",
        target="under 1.3x",
    )
    # Rounds alternate between the contenders, so load from other processes on a shared
    # machine falls on both alike.
    samples: dict[str, list[float]] = {name: [] for name in clients}
    for client in clients.values():
        client.get("http://api.example/x")  # warm up
    for _ in range(rounds):
        for name, client in clients.items():
            seconds = median_time(
                lambda c=client: c.get("http://api.example/x"),  # type: ignore[misc]
                repeat=1,
                number=number,
            )
            samples[name].append(seconds * 1e6)
    for name, values in samples.items():
        table.add(name, statistics.median(values))
    for client in clients.values():
        client.close()
    return table


def _throughput(call: Callable[[], object], seconds: float) -> float:
    """Calls per second that two threads, each calling in a loop, complete together."""
    counts = [0, 0]
    stop = threading.Event()
    start = threading.Barrier(3)

    def worker(slot: int) -> None:
        start.wait()
        n = 0
        while not stop.is_set():
            for _ in range(50):
                call()
            n += 50
        counts[slot] = n

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    stop.wait(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.perf_counter() - began)


def breaker_throughput(smoke: bool) -> list[Table]:
    seconds = 0.3 if smoke else 2.0
    ours = CircuitBreaker()
    theirs = pybreaker.CircuitBreaker(fail_max=5, reset_timeout=60)

    def noop() -> None:
        return None

    def blocking() -> None:
        time.sleep(0.0002)  # releases the GIL, like a call waiting on the network

    tables = []
    for label, func in (("a no-op call", noop), ("a call blocking 0.2 ms", blocking)):
        table = Table(
            f"Circuit breaker throughput, 2 threads, {label}",
            unit="calls per second (median of 3)",
            baseline="pybreaker",
            higher_is_better=True,
            target="faster than pybreaker",
        )
        for name, run in (
            ("pybreaker", lambda f=func: theirs.call(f)),
            ("apiharness CircuitBreaker", lambda f=func: ours.call(f)),
        ):
            samples = sorted(_throughput(run, seconds) for _ in range(3))
            table.add(name, samples[1])
        tables.append(table)
    return tables


def run(smoke: bool) -> list[Table]:
    return [overhead(smoke), *breaker_throughput(smoke)]
