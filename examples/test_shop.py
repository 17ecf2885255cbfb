"""The example project's tests: its client against a misbehaving upstream, in virtual time."""

from __future__ import annotations

import time

import httpx
import pytest

from apiharness import VirtualClock
from shop.client import CatalogueClient, CatalogueError


def flaky_upstream(failures: int) -> httpx.MockTransport:
    """An upstream that answers 503 ``failures`` times, then the product."""
    calls = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] <= failures:
            return httpx.Response(503)
        return httpx.Response(200, json={"id": request.url.path.rsplit("/", 1)[-1]})

    return httpx.MockTransport(handler)


def test_client_rides_out_a_503_burst_in_virtual_time(clock: VirtualClock) -> None:
    http = httpx.Client(transport=flaky_upstream(3), base_url="https://shop.test")
    started = time.perf_counter()
    product = CatalogueClient(http).product("p-1")
    wall = time.perf_counter() - started
    assert product == {"id": "p-1"}
    assert clock.sleeps == [0.5, 1.0, 2.0]
    print(f"\n  3 retries, {clock.monotonic():.1f} virtual s, {wall * 1000:.1f} ms of wall time")


def test_client_gives_up_after_its_attempts(clock: VirtualClock) -> None:
    http = httpx.Client(transport=flaky_upstream(10), base_url="https://shop.test")
    with pytest.raises(CatalogueError, match="503"):
        CatalogueClient(http, attempts=4).product("p-2")
    assert clock.monotonic() == pytest.approx(0.5 + 1 + 2)
