"""The resilient transport over real loopback sockets: real HTTP, real resets and timeouts,
with the backoff in virtual time."""

from __future__ import annotations

import email.utils

import httpx
import pytest
from _client_script import Runner
from _loopback_server import refused_url, serve

from apiharness import VirtualClock
from apiharness.clients import (
    RETRYABLE_STATUSES,
    Backoff,
    CircuitBreaker,
    CircuitState,
    ResilientTransport,
    RetryPolicy,
)
from apiharness.errors import CircuitOpen, RetryExhausted

POLICY = RetryPolicy(Backoff("none", base=1.0, cap=8.0), max_attempts=4, deadline=60)


def transport(kind: str, **kwargs: object) -> ResilientTransport:
    inner = httpx.HTTPTransport() if kind == "sync" else httpx.AsyncHTTPTransport()
    kwargs.setdefault("retry", POLICY)
    return ResilientTransport(inner, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("status", sorted(RETRYABLE_STATUSES))
def test_retryable_statuses_over_the_wire(
    clock: VirtualClock, run: Runner, kind: str, status: int
) -> None:
    with serve((status, {}), (200, {})) as server:
        response = run(transport(kind), "GET", server.url + "/x")  # type: ignore[attr-defined]
    assert response.status_code == 200
    assert len(server.seen) == 2
    assert clock.sleeps == [2.0]


@pytest.mark.parametrize("status", [404, 501])
def test_non_retryable_statuses_over_the_wire(
    clock: VirtualClock, run: Runner, kind: str, status: int
) -> None:
    with serve((status, {}), (200, {})) as server:
        response = run(transport(kind), "GET", server.url)  # type: ignore[attr-defined]
    assert response.status_code == status
    assert len(server.seen) == 1


def test_retry_after_ms_is_read_before_retry_after(
    clock: VirtualClock, run: Runner, kind: str
) -> None:
    steps = [
        (429, {"retry-after-ms": "1500", "Retry-After": "5"}),
        (503, {"retry-after-ms": "soon", "Retry-After": "3"}),  # invalid: Retry-After counts
        (529, {"retry-after-ms": "250.5"}),
        (200, {}),
    ]
    with serve(*steps) as server:
        assert run(transport(kind), "GET", server.url).status_code == 200  # type: ignore[attr-defined]
    assert clock.sleeps == [1.5, 3.0, 0.2505]


def test_x_should_retry_overrides_the_status(clock: VirtualClock, run: Runner, kind: str) -> None:
    with serve((503, {"x-should-retry": "false"}), (200, {})) as server:
        response = run(transport(kind), "GET", server.url)  # type: ignore[attr-defined]
    assert response.status_code == 503
    assert len(server.seen) == 1
    with serve((400, {"x-should-retry": "true"}), (200, {})) as server:
        response = run(transport(kind), "GET", server.url)  # type: ignore[attr-defined]
    assert response.status_code == 200
    assert len(server.seen) == 2
    with serve((503, {"x-should-retry": "maybe"}), (200, {})) as server:  # neither: the status
        assert run(transport(kind), "GET", server.url).status_code == 200  # type: ignore[attr-defined]


def test_retry_after_both_forms_over_the_wire(clock: VirtualClock, run: Runner, kind: str) -> None:
    date = email.utils.formatdate(clock.time() + 30, usegmt=True)
    steps = [(429, {"Retry-After": "5"}), (503, {"Retry-After": date}), (200, {})]
    with serve(*steps) as server:
        assert run(transport(kind), "GET", server.url).status_code == 200  # type: ignore[attr-defined]
    # The date was 30 s ahead when the test began; 5 s of it passed in the first wait.
    assert clock.sleeps == [5.0, 25.0]


@pytest.mark.parametrize("fault", ["reset", "close"])
def test_wire_faults_are_retried(clock: VirtualClock, run: Runner, kind: str, fault: str) -> None:
    with serve(fault, (200, {})) as server:
        assert run(transport(kind), "GET", server.url).status_code == 200  # type: ignore[attr-defined]
    assert len(server.seen) == 2


def test_connection_refused_exhausts_the_attempts(
    clock: VirtualClock, run: Runner, kind: str
) -> None:
    with pytest.raises(RetryExhausted) as info:
        run(transport(kind), "GET", refused_url())
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert [type(a.error) for a in info.value.attempts] == [httpx.ConnectError] * 4
    assert clock.sleeps == [2.0, 4.0, 8.0]


def test_a_real_read_timeout_is_retried(clock: VirtualClock) -> None:
    # Sync only: the socket timeout is real; asyncio's timeouts follow the patched clock.
    with (
        serve(("hang", 2.0), (200, {})) as server,
        httpx.Client(transport=transport("sync"), timeout=0.2) as client,
    ):
        assert client.get(server.url).status_code == 200  # type: ignore[attr-defined]
    assert clock.sleeps == [2.0]


def test_breaker_over_the_wire(clock: VirtualClock, run: Runner, kind: str) -> None:
    breaker = CircuitBreaker(window_size=3, minimum_calls=3, open_duration=10)
    with serve((502, {}), (502, {}), (502, {}), (200, {})) as server:
        url = server.url  # type: ignore[attr-defined]
        resilient = transport(kind, retry=None, breaker=breaker)
        assert [run(resilient, "GET", url).status_code for _ in range(3)] == [502] * 3
        with pytest.raises(CircuitOpen):
            run(resilient, "GET", url)
        assert len(server.seen) == 3
        clock.advance(10)
        assert run(resilient, "GET", url).status_code == 200
    assert breaker.state is CircuitState.CLOSED
