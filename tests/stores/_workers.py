"""Work done by the separate OS processes of test_stores_processes.py.

Processes come from a *forkserver*: a clean single-threaded server process that imports this
module once and forks a child per worker, so each test pays milliseconds per process instead of
a fresh interpreter's imports (and no child inherits pytest's threads, as plain fork would).
Each worker waits on a barrier so they all start at once, then reports its result on a queue.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import queue
import time
from collections.abc import Callable
from typing import Any

import httpx

from apiharness.errors import RateLimitExceeded
from apiharness.oauth import AuthorizationCodeFlow, TokenManager
from apiharness.stores import RedisDedupStore, RedisResultStore, RedisTokenBucket, RedisTokenStore

Worker = Callable[..., Any]


def run_processes(worker: Worker, n: int, *args: Any) -> list[Any]:
    """Run ``worker(*args)`` in ``n`` processes started together; their results."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    barrier = context.Barrier(n)
    results = context.Queue()
    processes = [
        context.Process(target=_run, args=(worker, barrier, results, args)) for _ in range(n)
    ]
    for process in processes:
        process.start()
    try:
        # The first call starts the forkserver, which imports the package: generous on a
        # loaded 2-core machine.
        outcomes = [results.get(timeout=120) for _ in processes]
    except queue.Empty:
        raise AssertionError("a worker process did not report within 120 s") from None
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
    errors = [o for o in outcomes if isinstance(o, str) and o.startswith("ERROR")]
    assert errors == []
    return outcomes


def _run(worker: Worker, barrier: Any, results: Any, args: tuple[Any, ...]) -> None:
    try:
        results.put(worker(barrier, *args))
    except BaseException as exc:  # reported to the test, not lost in a child's stderr
        results.put(f"ERROR {type(exc).__name__}: {exc}")


def claim_ids(barrier: Any, url: str, ids: list[str]) -> list[str]:
    store = RedisDedupStore(url, ttl=60)
    barrier.wait()
    return [i for i in ids if store.claim(i, now=0.0)]


def keys_for(barrier: Any, url: str, operations: list[str]) -> list[str]:
    store = RedisResultStore(url)
    barrier.wait()
    return [store.key_for(op) for op in operations]


def spend(barrier: Any, url: str, rate: float, capacity: float, seconds: float) -> int:
    """Take every token available without waiting for ``seconds``; how many it got."""
    bucket = RedisTokenBucket(url, "shared", rate=rate, capacity=capacity, max_wait=None)
    barrier.wait()
    taken, end = 0, time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            bucket.reserve(within=0)
            taken += 1
        except RateLimitExceeded:
            time.sleep(0.002)
    return taken


def make_flow(endpoints: tuple[str, str, str]) -> AuthorizationCodeFlow:
    """The client ``app`` of the authorization server at these (authorize, token, redirect)."""
    authorize, token, redirect = endpoints
    return AuthorizationCodeFlow(
        client_id="app",
        authorization_endpoint=authorize,
        token_endpoint=token,
        redirect_uri=redirect,
    )


def refresh(barrier: Any, url: str, key: bytes, endpoints: tuple[str, str, str]) -> str:
    """The access token this process's manager hands out, as a digest."""
    manager = TokenManager(make_flow(endpoints), store=RedisTokenStore(url, key=key), leeway=60)
    with httpx.Client() as client:
        barrier.wait()
        token = manager.get_token(client)
    return hashlib.sha256(token.access_token.get_secret_value().encode()).hexdigest()
