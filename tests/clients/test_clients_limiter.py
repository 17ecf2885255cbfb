"""The token bucket: pacing, refusing long waits, and following the server's signals."""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from apiharness import VirtualClock
from apiharness.clients import TokenBucket, server_quota
from apiharness.errors import ConfigurationError, RateLimitExceeded


def test_bursts_up_to_capacity_then_paces_at_the_rate(clock: VirtualClock) -> None:
    bucket = TokenBucket(rate=5, capacity=3)
    waits = [bucket.acquire() for _ in range(6)]
    assert waits[:3] == [0, 0, 0]
    assert waits[3:] == pytest.approx([0.2, 0.2, 0.2])
    assert clock.monotonic() == pytest.approx(0.6)


def test_refills_while_idle_but_never_beyond_capacity(clock: VirtualClock) -> None:
    bucket = TokenBucket(rate=1, capacity=2)
    bucket.acquire()
    bucket.acquire()
    clock.advance(100)
    assert bucket.tokens == 2


def test_refuses_a_wait_beyond_max_wait_and_takes_no_token(clock: VirtualClock) -> None:
    bucket = TokenBucket(rate=1, capacity=1, max_wait=2)
    bucket.acquire()
    assert bucket.reserve() == pytest.approx(1.0)
    assert bucket.reserve() == pytest.approx(2.0)
    with pytest.raises(RateLimitExceeded) as info:
        bucket.reserve()
    assert info.value.wait == pytest.approx(3.0)
    assert info.value.max_wait == 2
    assert bucket.tokens == pytest.approx(-2.0)


def test_concurrent_reservations_queue_in_order(clock: VirtualClock) -> None:
    bucket = TokenBucket(rate=10, capacity=1, max_wait=None)
    waits: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(25):
            wait = bucket.reserve()
            with lock:
                waits.append(wait)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # 100 reservations, 1 free: each later one is due exactly 0.1 s after the one before.
    assert sorted(waits) == pytest.approx([n / 10 for n in range(100)])


def test_async_acquire_sleeps_on_the_clock(clock: VirtualClock) -> None:
    bucket = TokenBucket(rate=2, capacity=1)

    async def main() -> None:
        await bucket.aacquire()
        await bucket.aacquire()

    asyncio.run(main())
    assert clock.sleeps == [0.5]


def test_a_429_with_retry_after_pauses_the_bucket(clock: VirtualClock) -> None:
    bucket = TokenBucket(rate=100, capacity=100)
    bucket.observe(httpx.Response(429, headers={"Retry-After": "4"}))
    assert bucket.reserve() == pytest.approx(4.0 + 0.01)


def test_a_429_without_retry_after_costs_one_token_interval(clock: VirtualClock) -> None:
    bucket = TokenBucket(rate=2, capacity=10)
    bucket.observe(httpx.Response(429))
    assert bucket.reserve() == pytest.approx(0.5 + 0.5)


@pytest.mark.parametrize(
    "headers",
    [
        {"RateLimit-Remaining": "0", "RateLimit-Reset": "30"},
        {"RateLimit": '"default";r=0;t=30'},
        {"RateLimit": '"burst";r=5;t=1, "daily";r=0;t=30'},
    ],
)
def test_ratelimit_headers_saying_nothing_remains_pause_until_reset(
    clock: VirtualClock, headers: dict[str, str]
) -> None:
    bucket = TokenBucket(rate=10, capacity=10)
    bucket.observe(httpx.Response(200, headers=headers))
    assert bucket.reserve() == pytest.approx(30.1)


def test_ratelimit_remaining_caps_the_tokens(clock: VirtualClock) -> None:
    bucket = TokenBucket(rate=10, capacity=10)
    bucket.observe(httpx.Response(200, headers={"RateLimit": '"p";r=2;t=60'}))
    assert bucket.tokens == 2


def test_not_adaptive_ignores_the_server(clock: VirtualClock) -> None:
    bucket = TokenBucket(rate=10, capacity=10, adaptive=False)
    bucket.observe(httpx.Response(429, headers={"Retry-After": "60"}))
    assert bucket.reserve() == 0


@pytest.mark.parametrize(
    "headers",
    [
        {"RateLimit-Remaining": "-1", "RateLimit-Reset": "30"},
        {"RateLimit-Remaining": "0"},
        {"RateLimit": "r=0;t=30"},
        {"RateLimit": '"p";r=0'},
        {"RateLimit": '"p";r=0;t=3x'},
    ],
)
def test_malformed_ratelimit_headers_are_ignored(headers: dict[str, str]) -> None:
    assert server_quota(httpx.Headers(headers)) is None


@given(st.text(), st.text())
def test_server_quota_never_raises(name_value: str, other: str) -> None:
    headers = httpx.Headers()
    for key, value in (("RateLimit", name_value), ("RateLimit-Remaining", other)):
        try:
            headers[key] = value
        except (UnicodeEncodeError, ValueError):
            return
    server_quota(headers)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"rate": 0}, "rate"),
        ({"rate": 1, "capacity": 0.5}, "capacity"),
        ({"rate": 1, "max_wait": -1}, "max_wait"),
    ],
)
def test_bad_configuration_is_refused(kwargs: dict[str, float], fragment: str) -> None:
    with pytest.raises(ConfigurationError, match=fragment):
        TokenBucket(**kwargs)
