"""The example project's tests: its client against a misbehaving upstream, in virtual time.

``upstream`` is an in-process mocked API (an httpx transport); ``upstream_server`` is the same
on a real socket on 127.0.0.1, where faults such as a connection reset really happen.
"""

from __future__ import annotations

import time

import httpx
import pytest

from apiharness import VirtualClock
from apiharness.upstream import Upstream, reset, respond, status
from shop.client import CatalogueClient, CatalogueError

PRODUCT = respond(200, json={"id": "p-1", "name": "teapot"})


def test_client_rides_out_a_503_burst_in_virtual_time(
    upstream: Upstream, clock: VirtualClock
) -> None:
    upstream.get("/products/{id}").respond(status(503).times(3), PRODUCT)
    http = httpx.Client(transport=upstream, base_url=upstream.base_url)
    started = time.clock_gettime(time.CLOCK_MONOTONIC)
    product = CatalogueClient(http).product("p-1")
    wall = time.clock_gettime(time.CLOCK_MONOTONIC) - started
    assert product["name"] == "teapot"
    assert upstream.journal.intervals("GET", "/products/p-1") == [0.5, 1.0, 2.0]
    print(
        f"\n  3 retries, {clock.monotonic():.1f} virtual s, {wall * 1000:.1f} ms of wall time;"
        f" the upstream saw {[e.status for e in upstream.journal]}"
    )


def test_client_gives_up_after_its_attempts(upstream: Upstream, clock: VirtualClock) -> None:
    upstream.get("/products/{id}", expect=4).respond(status(503))
    http = httpx.Client(transport=upstream, base_url=upstream.base_url)
    with pytest.raises(CatalogueError, match="503"):
        CatalogueClient(http, attempts=4).product("p-2")
    assert clock.monotonic() == pytest.approx(0.5 + 1 + 2)


def test_client_ignores_retry_after_but_recovers(upstream: Upstream, clock: VirtualClock) -> None:
    upstream.get("/products/{id}").respond(status(429, retry_after=10), PRODUCT)
    http = httpx.Client(transport=upstream, base_url=upstream.base_url)
    CatalogueClient(http).product("p-3")
    waited = upstream.journal.intervals()
    print(f"\n  the server asked for 10 s (Retry-After); the client waited {waited[0]} s")
    assert waited == [0.5]  # a finding: this client ignores Retry-After


def test_a_connection_reset_on_a_real_socket_escapes_the_client(upstream_server: Upstream) -> None:
    upstream_server.get("/products/{id}").respond(reset(), PRODUCT)
    http = httpx.Client(base_url=upstream_server.base_url)
    with pytest.raises(httpx.ReadError) as info:
        CatalogueClient(http).product("p-4")
    print(
        f"\n  over {upstream_server.base_url}, a TCP reset surfaced as "
        f"{type(info.value).__name__}: the client retries status codes, not dropped connections"
    )
    assert upstream_server.journal.count() == 1
