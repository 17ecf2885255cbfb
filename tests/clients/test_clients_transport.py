"""ResilientTransport against a scripted in-process upstream, sync and async, in virtual time."""

from __future__ import annotations

import asyncio
import email.utils
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from _client_script import Runner, Script

from apiharness import VirtualClock
from apiharness.clients import (
    RETRYABLE_STATUSES,
    Backoff,
    CircuitBreaker,
    CircuitState,
    Event,
    RateLimitWaited,
    ResilientTransport,
    RetryGaveUp,
    RetryPolicy,
    RetryScheduled,
    TokenBucket,
    async_resilient_client,
    logging_hook,
    resilient_client,
)
from apiharness.errors import (
    CircuitOpen,
    ConfigurationError,
    RateLimitExceeded,
    RetryAfterTooLong,
    RetryExhausted,
)

URL = "https://api.example/v1/prices"
FIXED = RetryPolicy(Backoff("none", base=1.0, cap=8.0), max_attempts=4, deadline=60)


def resilient(script: Script, **kwargs: object) -> ResilientTransport:
    kwargs.setdefault("retry", FIXED)
    return ResilientTransport(script.transport(), **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("status", sorted(RETRYABLE_STATUSES))
def test_every_retryable_status_is_retried(clock: VirtualClock, run: Runner, status: int) -> None:
    script = Script(status, status, 200)
    response = run(resilient(script), "GET", URL)
    assert response.status_code == 200
    assert len(script.requests) == 3
    assert clock.sleeps == [2.0, 4.0]


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422, 501, 505])
def test_non_retryable_statuses_come_back_at_once(
    clock: VirtualClock, run: Runner, status: int
) -> None:
    script = Script(status, 200)
    response = run(resilient(script), "GET", URL)
    assert response.status_code == status
    assert response.text == f"body {status}"
    assert len(script.requests) == 1
    assert clock.sleeps == []


def test_retry_after_in_seconds(clock: VirtualClock, run: Runner) -> None:
    script = Script((429, {"Retry-After": "7"}), 200)
    assert run(resilient(script), "GET", URL).status_code == 200
    assert clock.sleeps == [7.0]


def test_retry_after_as_an_http_date(clock: VirtualClock, run: Runner) -> None:
    date = email.utils.formatdate(clock.time() + 12, usegmt=True)  # IMF-fixdate
    script = Script((503, {"Retry-After": date}), 200)
    assert run(resilient(script), "GET", URL).status_code == 200
    assert clock.sleeps == [12.0]


def test_retry_after_beyond_the_maximum_fails_fast(clock: VirtualClock, run: Runner) -> None:
    script = Script((503, {"Retry-After": "3600"}), 200)
    with pytest.raises(RetryAfterTooLong) as info:
        run(resilient(script), "GET", URL)
    assert clock.sleeps == []
    assert len(script.requests) == 1
    assert info.value.retry_after == 3600
    assert info.value.last_response is not None
    assert info.value.last_response.text == "body 503"


def test_deadline_exhaustion(clock: VirtualClock, run: Runner) -> None:
    policy = RetryPolicy(Backoff("none", base=1.0, cap=8.0), max_attempts=10, deadline=10)
    events: list[Event] = []
    script = Script(503)
    with pytest.raises(RetryExhausted) as info:
        run(resilient(script, retry=policy, on_event=events.append), "GET", URL)
    # 2 + 4 = 6 s slept; the next 8 s would end at 14 s, past the 10 s deadline.
    assert clock.sleeps == [2.0, 4.0]
    assert info.value.reason == "deadline"
    assert [(a.status, a.delay) for a in info.value.attempts] == [(503, 0), (503, 2), (503, 4)]
    assert info.value.last_response is not None
    assert info.value.last_response.text == "body 503"
    assert events[-1] == RetryGaveUp("GET https://api.example/v1/prices", 3, "deadline")


def test_attempts_exhaustion_on_transport_errors(clock: VirtualClock, run: Runner) -> None:
    last = httpx.ConnectError("refused")
    script = Script(httpx.ReadTimeout("slow"), 503, last)
    with pytest.raises(RetryExhausted) as info:
        run(resilient(script, retry=RetryPolicy(FIXED.backoff, max_attempts=3)), "GET", URL)
    assert info.value.__cause__ is last
    outcomes = [(a.status, type(a.error).__name__) for a in info.value.attempts]
    assert outcomes == [(None, "ReadTimeout"), (503, "NoneType"), (None, "ConnectError")]
    assert info.value.last_response is None


@pytest.mark.parametrize(
    "error",
    [
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("timed out"),
        httpx.ReadError("connection reset by peer"),
        httpx.RemoteProtocolError("server disconnected without sending a response"),
    ],
)
def test_transport_errors_are_retried(clock: VirtualClock, run: Runner, error: Exception) -> None:
    script = Script(error, 200)
    assert run(resilient(script), "GET", URL).status_code == 200
    assert clock.sleeps == [2.0]


def test_post_is_not_retried(clock: VirtualClock, run: Runner) -> None:
    script = Script(503, 200)
    assert run(resilient(script), "POST", URL, content=b"x").status_code == 503
    error = httpx.ConnectError("refused")
    script = Script(error, 200)
    with pytest.raises(httpx.ConnectError) as info:
        run(resilient(script), "POST", URL, content=b"x")
    assert info.value is error
    assert clock.sleeps == []


def test_post_with_an_idempotency_key_is_retried_with_the_same_body(
    clock: VirtualClock, run: Runner
) -> None:
    script = Script(503, httpx.ReadError("reset"), 201)
    headers = {"Idempotency-Key": "order-42"}
    response = run(resilient(script), "POST", URL, json={"qty": 3}, headers=headers)
    assert response.status_code == 201
    assert script.bodies == [b'{"qty":3}'] * 3


def test_a_streamed_upload_is_buffered_so_a_retry_sends_it_whole(clock: VirtualClock) -> None:
    def chunks() -> Iterator[bytes]:
        yield b"hello, "
        yield b"world"

    script = Script(503, 200)
    with httpx.Client(transport=resilient(script)) as client:
        assert client.put(URL, content=chunks()).status_code == 200
    assert script.bodies == [b"hello, world", b"hello, world"]


def test_each_attempt_timeout_is_clamped_to_the_deadline(clock: VirtualClock, run: Runner) -> None:
    policy = RetryPolicy(Backoff("none", base=1.0, cap=8.0), deadline=10)
    script = Script(503, 200)
    run(resilient(script, retry=policy), "GET", URL, timeout=httpx.Timeout(30, connect=5))
    # 10 s left for the first attempt, 8 s after the 2 s backoff; connect stays at its 5 s.
    assert script.timeouts == [
        {"connect": 5, "read": 10.0, "write": 10.0, "pool": 10.0},
        {"connect": 5, "read": 8.0, "write": 8.0, "pool": 8.0},
    ]


def test_events_describe_each_retry(clock: VirtualClock, run: Runner) -> None:
    events: list[Event] = []
    script = Script((429, {"Retry-After": "3"}), httpx.ConnectError("x"), 200)
    run(resilient(script, on_event=events.append), "GET", URL + "?page=2")
    target = "GET https://api.example/v1/prices"
    assert events == [
        RetryScheduled(target, 1, 3.0, 429, None, True),
        RetryScheduled(target, 2, 4.0, None, "ConnectError", False),
    ]


def test_breaker_opens_fails_fast_probes_and_closes(clock: VirtualClock, run: Runner) -> None:
    breaker = CircuitBreaker(window_size=4, minimum_calls=4, open_duration=30)
    script = Script(500, 500, 500, 500, 200)
    transport = resilient(script, retry=None, breaker=breaker)
    statuses = [run(transport, "GET", URL).status_code for _ in range(4)]
    assert statuses == [500] * 4
    assert breaker.state is CircuitState.OPEN
    with pytest.raises(CircuitOpen):
        run(transport, "GET", URL)
    assert len(script.requests) == 4  # failing fast never reached the upstream
    clock.advance(30)
    assert breaker.state is CircuitState.HALF_OPEN
    assert run(transport, "GET", URL).status_code == 200  # the probe
    assert breaker.state is CircuitState.CLOSED
    assert len(script.requests) == 5


def test_client_errors_do_not_trip_the_breaker(clock: VirtualClock, run: Runner) -> None:
    breaker = CircuitBreaker(window_size=4, minimum_calls=4)
    transport = resilient(Script(404), retry=None, breaker=breaker)
    for _ in range(6):
        run(transport, "GET", URL)
    assert breaker.state is CircuitState.CLOSED
    assert breaker.metrics().failures == 0


def test_retries_feed_the_breaker_which_then_stops_them(clock: VirtualClock, run: Runner) -> None:
    breaker = CircuitBreaker(window_size=3, minimum_calls=3)
    script = Script(503)
    with pytest.raises(CircuitOpen) as info:
        run(resilient(script, breaker=breaker), "GET", URL)
    assert len(script.requests) == 3  # the fourth attempt was refused by the open breaker
    # The attempts the request made before the breaker refused it, as a RetryExhausted has them.
    assert [(a.number, a.status) for a in info.value.attempts] == [(1, 503), (2, 503), (3, 503)]
    assert info.value.__notes__ == [
        "the breaker refused attempt 4 of this request; the earlier ones are in .attempts"
    ]
    # A breaker that is open already refuses the first attempt: there is nothing to carry.
    with pytest.raises(CircuitOpen) as again:
        run(resilient(script, breaker=breaker), "GET", URL)
    assert again.value.attempts == ()
    assert not hasattr(again.value, "__notes__")


def test_rate_limiter_paces_every_attempt(clock: VirtualClock, run: Runner) -> None:
    events: list[Event] = []
    transport = resilient(
        Script(503, 200), limiter=TokenBucket(rate=1, capacity=1), on_event=events.append
    )
    run(transport, "GET", URL)
    run(transport, "GET", URL)
    # attempt 1 free; backoff 2 s refills the bucket; then the second request waits 1 s.
    assert clock.sleeps == [2.0, 1.0]
    assert [type(e) for e in events] == [RetryScheduled, RateLimitWaited]


def test_rate_limit_refusal_gives_the_breaker_permit_back(clock: VirtualClock) -> None:
    breaker = CircuitBreaker(window_size=1, minimum_calls=1, open_duration=1)
    bucket = TokenBucket(rate=1, capacity=1, max_wait=0)
    script = Script(500, 200)
    with httpx.Client(
        transport=resilient(script, retry=None, breaker=breaker, limiter=bucket)
    ) as client:
        client.get(URL)  # opens the breaker
        clock.advance(1)  # half-open; and the bucket has a token again
        bucket.reserve()  # ... which someone else takes
        with pytest.raises(RateLimitExceeded):
            client.get(URL)
        clock.advance(1)
        assert client.get(URL).status_code == 200  # the probe slot was not lost
    assert breaker.state is CircuitState.CLOSED


def test_cancelled_probe_gives_its_slot_back(clock: VirtualClock) -> None:
    breaker = CircuitBreaker(window_size=1, minimum_calls=1, open_duration=1)
    breaker.record(breaker.acquire(), failure=True)
    clock.advance(1)

    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def main() -> None:
        transport = ResilientTransport(httpx.MockTransport(hang), breaker=breaker)
        async with httpx.AsyncClient(transport=transport) as client:
            task = asyncio.ensure_future(client.get(URL))
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(main())
    breaker.acquire()  # the half-open slot is free again


def test_secrets_never_reach_errors_events_or_reprs(clock: VirtualClock, run: Runner) -> None:
    secret = "sk_live_51Hsecret"
    events: list[Event] = []
    transport = resilient(Script(503), on_event=events.append, breaker=CircuitBreaker())
    with pytest.raises(RetryExhausted) as info:
        run(
            transport,
            "GET",
            f"https://user:{secret}@api.example/v1?api_key={secret}",
            headers={"Authorization": f"Bearer {secret}"},
        )
    exposed = [str(info.value), repr(info.value), repr(info.value.attempts)]
    exposed += [repr(events), repr(transport), repr(transport.breaker)]
    assert all(secret not in text for text in exposed)


def test_an_async_only_inner_transport_is_refused_by_a_sync_client() -> None:
    transport = ResilientTransport(httpx.AsyncHTTPTransport())
    with httpx.Client(transport=transport) as client, pytest.raises(ConfigurationError):
        client.get(URL)


def test_one_call_constructors_have_sensible_defaults(clock: VirtualClock) -> None:
    with resilient_client("https://api.example", transport=Script(503, 200).transport()) as c:
        assert c.get("/v1").status_code == 200
        transport = c._transport
        assert isinstance(transport, ResilientTransport)
        assert transport.breaker is not None
        assert transport.limiter is None

    async def main() -> int:
        async with async_resilient_client(
            "https://api.example", transport=Script(503, 200).transport(), rate=5, breaker=False
        ) as client:
            transport = client._transport
            assert isinstance(transport, ResilientTransport)
            assert transport.breaker is None
            assert isinstance(transport.limiter, TokenBucket)
            return (await client.get("/v1")).status_code

    assert asyncio.run(main()) == 200
    assert len(clock.sleeps) == 2
    assert all(0 <= s <= 0.4 for s in clock.sleeps)  # full jitter, first retry: [0, 2 * 0.2]


def test_nothing_is_printed_or_logged_by_default(
    clock: VirtualClock, run: Runner, capsys: pytest.CaptureFixture[str], caplog: Any
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(RetryExhausted):
        run(resilient(Script(503), breaker=CircuitBreaker()), "GET", URL)
    assert capsys.readouterr() == ("", "")
    assert [r for r in caplog.records if r.name.startswith("apiharness")] == []


def test_logging_hook_logs_each_event(clock: VirtualClock, caplog: Any) -> None:
    caplog.set_level(logging.INFO, logger="apiharness.clients")
    with httpx.Client(transport=resilient(Script(503, 200), on_event=logging_hook())) as client:
        client.get(URL, headers={"Authorization": "Bearer sk_live_secret"})
    [record] = [r for r in caplog.records if r.name == "apiharness.clients"]
    assert "RetryScheduled" in record.getMessage()
    assert "sk_live_secret" not in record.getMessage()


def test_a_token_wait_may_not_pass_the_deadline(clock: VirtualClock, run: Runner) -> None:
    policy = RetryPolicy(Backoff("none", base=1.0, cap=8.0), deadline=10)
    bucket = TokenBucket(rate=0.05, capacity=1, max_wait=None)  # one token every 20 s
    script = Script(503, 200)
    with pytest.raises(RateLimitExceeded) as info:
        run(resilient(script, retry=policy, limiter=bucket), "GET", URL)
    # After the first attempt and a 2 s backoff, the next token is 18 s away; 8 s are left.
    assert info.value.wait == pytest.approx(18.0)
    assert info.value.max_wait == pytest.approx(8.0)
    assert clock.sleeps == [2.0]
    assert len(script.requests) == 1
