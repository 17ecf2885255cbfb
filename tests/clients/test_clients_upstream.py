"""The resilient transport against the harness's mocked upstream, in-process and on loopback,
sync and async, under the virtual clock: the journal shows the schedule the client kept."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest

from apiharness import VirtualClock
from apiharness.clients import (
    RETRYABLE_STATUSES,
    Backoff,
    CircuitBreaker,
    CircuitState,
    ResilientTransport,
    RetryPolicy,
    TokenBucket,
)
from apiharness.errors import CircuitOpen, RetryAfterTooLong, RetryExhausted
from apiharness.upstream import Upstream, close, hang, rate_limit, reset, respond, status

POLICY = RetryPolicy(Backoff("none", base=1.0, cap=8.0), max_attempts=4, deadline=60)


@pytest.fixture(params=["in-process", "loopback"])
def delivery(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def up(request: pytest.FixtureRequest, delivery: str, clock: VirtualClock) -> Upstream:
    fixture = "upstream" if delivery == "in-process" else "upstream_server"
    upstream: Upstream = request.getfixturevalue(fixture)
    return upstream


class Call:
    """Send requests through a ResilientTransport over the chosen delivery and client kind."""

    def __init__(self, up: Upstream, delivery: str, kind: str, **options: Any) -> None:
        options.setdefault("retry", POLICY)
        if delivery == "in-process":
            inner: Any = up
        else:
            inner = httpx.HTTPTransport() if kind == "sync" else httpx.AsyncHTTPTransport()
        self.transport = ResilientTransport(inner, **options)
        self.base_url = up.base_url
        self.kind = kind

    def __call__(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        if self.kind == "sync":
            with httpx.Client(transport=self.transport, base_url=self.base_url) as client:
                return client.request(method, path, **kwargs)

        async def main() -> httpx.Response:
            async with httpx.AsyncClient(
                transport=self.transport, base_url=self.base_url
            ) as client:
                return await client.request(method, path, **kwargs)

        return asyncio.run(main())


@pytest.mark.parametrize("code", sorted(RETRYABLE_STATUSES))
def test_every_retryable_status(up: Upstream, delivery: str, kind: str, code: int) -> None:
    up.get("/items").respond(status(code).times(2), respond(200, json={"ok": True}))
    response = Call(up, delivery, kind)("GET", "/items")
    assert response.json() == {"ok": True}
    assert up.journal.count("GET", "/items") == 3
    assert up.journal.intervals() == [2.0, 4.0]


@pytest.mark.parametrize("code", [400, 401, 403, 404, 409, 422, 501, 505])
def test_every_non_retryable_status(up: Upstream, delivery: str, kind: str, code: int) -> None:
    up.get("/items").respond(status(code), respond(200))
    assert Call(up, delivery, kind)("GET", "/items").status_code == code
    assert up.journal.count() == 1


def test_retry_after_in_both_forms(
    up: Upstream, delivery: str, kind: str, clock: VirtualClock
) -> None:
    later = clock.now() + timedelta(seconds=10)
    up.get("/items").respond(
        status(429, retry_after=3), status(503, retry_after=later), respond(200)
    )
    assert Call(up, delivery, kind)("GET", "/items").status_code == 200
    # The date named t+10 s; the client got it at t+3 s, so it waited the remaining 7 s.
    assert up.journal.intervals() == [3.0, 7.0]


def test_retry_after_too_long_fails_fast(up: Upstream, delivery: str, kind: str) -> None:
    up.get("/items").respond(status(503, retry_after=3600), respond(200))
    with pytest.raises(RetryAfterTooLong):
        Call(up, delivery, kind)("GET", "/items")
    assert up.journal.count() == 1


def test_deadline_exhaustion(up: Upstream, delivery: str, kind: str) -> None:
    up.get("/items").respond(status(503))
    policy = RetryPolicy(Backoff("none", base=1.0, cap=8.0), max_attempts=10, deadline=10)
    with pytest.raises(RetryExhausted) as info:
        Call(up, delivery, kind, retry=policy)("GET", "/items")
    assert info.value.reason == "deadline"
    assert up.journal.intervals() == [2.0, 4.0]  # a further 8 s would pass the deadline
    assert [a.status for a in info.value.attempts] == [503, 503, 503]


@pytest.mark.parametrize("fault", [reset, close])
def test_wire_faults_are_retried(up: Upstream, delivery: str, kind: str, fault: Any) -> None:
    up.get("/items").respond(fault(), respond(200))
    assert Call(up, delivery, kind)("GET", "/items").status_code == 200
    assert up.journal.count() == 2


def test_a_hang_ends_in_a_read_timeout_that_is_retried(
    up: Upstream, delivery: str, kind: str
) -> None:
    up.get("/items").respond(hang(), respond(200))
    response = Call(up, delivery, kind)("GET", "/items", timeout=0.2)
    assert response.status_code == 200
    assert up.journal.count() == 2


def test_non_idempotent_requests_are_retried_only_with_a_key(
    up: Upstream, delivery: str, kind: str
) -> None:
    up.post("/charges").respond(status(503), respond(201))
    call = Call(up, delivery, kind)
    assert call("POST", "/charges", json={"amount": 5}).status_code == 503
    up.reset()
    up.post("/charges").respond(status(503), respond(201))
    headers = {"Idempotency-Key": "charge-1"}
    assert call("POST", "/charges", json={"amount": 5}, headers=headers).status_code == 201
    assert up.journal.attempt(1).body == up.journal.attempt(2).body == b'{"amount":5}'


def test_breaker_opens_fails_fast_probes_and_closes(
    up: Upstream, delivery: str, kind: str, clock: VirtualClock
) -> None:
    up.get("/items").respond(status(500).times(4), respond(200))
    breaker = CircuitBreaker(window_size=4, minimum_calls=4, open_duration=30)
    call = Call(up, delivery, kind, retry=None, breaker=breaker)
    assert [call("GET", "/items").status_code for _ in range(4)] == [500] * 4
    assert breaker.state is CircuitState.OPEN
    for _ in range(3):
        with pytest.raises(CircuitOpen):
            call("GET", "/items")
    assert up.journal.count() == 4  # failing fast never reached the upstream
    clock.advance(30)
    assert call("GET", "/items").status_code == 200  # the probe
    assert breaker.state is CircuitState.CLOSED
    assert up.journal.count() == 5


def test_the_limiter_follows_the_servers_ratelimit_headers(
    up: Upstream, delivery: str, kind: str
) -> None:
    up.get("/items").respond(rate_limit(5, per=10))
    call = Call(up, delivery, kind, limiter=TokenBucket(rate=100, capacity=100))
    assert [call("GET", "/items").status_code for _ in range(12)] == [200] * 12
    assert up.journal.count(status=429) == 0  # it paused when told nothing remained
