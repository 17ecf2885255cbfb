"""The retry state machine on its own: what is retried, when, and what giving up carries."""

from __future__ import annotations

import random

import httpx
import pytest

from apiharness.clients import (
    IDEMPOTENT_METHODS,
    RETRYABLE_STATUSES,
    Accept,
    Backoff,
    GiveUp,
    Retry,
    RetryPolicy,
    RetryState,
)
from apiharness.errors import ConfigurationError, RetryAfterTooLong, RetryExhausted

NON_RETRYABLE = [200, 201, 204, 301, 304, 400, 401, 403, 404, 409, 410, 422, 501, 505]
FIXED = Backoff("none", base=1.0, cap=8.0)


def start(policy: RetryPolicy | None = None, method: str = "GET", key: bool = False) -> RetryState:
    return (policy or RetryPolicy(FIXED)).start(
        method=method, has_idempotency_key=key, now=0.0, rng=random.Random(0)
    )


def test_the_retryable_statuses_are_exactly_the_issues_list() -> None:
    # The clients issue's list, and 529: Anthropic's overloaded_error, which the llm catalogue
    # (issue 17) expects retried with backoff.
    assert frozenset({408, 425, 429, 500, 502, 503, 504, 529}) == RETRYABLE_STATUSES
    assert frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"}) == IDEMPOTENT_METHODS


@pytest.mark.parametrize("status", sorted(RETRYABLE_STATUSES))
def test_every_retryable_status_is_retried(status: int) -> None:
    assert start().on_response(status, None, now=0, wall=0) == Retry(2.0)


@pytest.mark.parametrize("status", NON_RETRYABLE)
def test_other_statuses_stand(status: int) -> None:
    assert start().on_response(status, None, now=0, wall=0) == Accept()


@pytest.mark.parametrize(
    "error",
    [
        httpx.ConnectError("refused"),
        httpx.ConnectTimeout("slow"),
        httpx.ReadTimeout("slow"),
        httpx.ReadError("reset"),
        httpx.WriteError("reset"),
        httpx.RemoteProtocolError("closed without response"),
    ],
)
def test_transport_errors_are_retried(error: Exception) -> None:
    assert isinstance(start().on_error(error, now=0), Retry)


@pytest.mark.parametrize(
    "error",
    [httpx.LocalProtocolError("bad"), httpx.PoolTimeout("pool"), ValueError("bug")],
)
def test_other_errors_stand(error: Exception) -> None:
    assert start().on_error(error, now=0) == Accept()


@pytest.mark.parametrize("method", ["POST", "PATCH", "CONNECT"])
def test_non_idempotent_methods_are_not_retried_without_a_key(method: str) -> None:
    assert start(method=method).on_response(503, None, now=0, wall=0) == Accept()
    assert start(method=method).on_error(httpx.ConnectError("x"), now=0) == Accept()
    assert isinstance(start(method=method, key=True).on_response(503, None, now=0, wall=0), Retry)


def test_methods_are_compared_case_insensitively() -> None:
    policy = RetryPolicy(FIXED, methods=frozenset({"get"}))
    assert isinstance(start(policy, method="GET").on_response(503, None, now=0, wall=0), Retry)


def test_exhaustion_carries_every_attempt_with_its_delay() -> None:
    state = start(RetryPolicy(FIXED, max_attempts=3))
    error = httpx.ConnectError("refused")
    assert state.on_response(503, None, now=0, wall=0) == Retry(2.0)
    assert state.on_error(error, now=2) == Retry(4.0)
    decision = state.on_response(500, None, now=6, wall=6)
    assert isinstance(decision, GiveUp)
    exc = decision.error
    assert isinstance(exc, RetryExhausted)
    assert exc.reason == "attempts"
    got = [(a.number, a.delay, a.status, a.error) for a in exc.attempts]
    assert got == [(1, 0.0, 503, None), (2, 2.0, None, error), (3, 4.0, 500, None)]
    assert "503, ConnectError, 500" in str(exc)


def test_retry_after_replaces_the_backoff() -> None:
    state = start()
    assert state.on_response(429, "7", now=0, wall=100) == Retry(7.0, retry_after=True)
    date = "Thu, 01 Jan 1970 00:01:50 GMT"  # 110 s after the epoch; wall time is 107
    assert state.on_response(503, date, now=7, wall=107) == Retry(3.0, retry_after=True)
    assert state.on_response(503, "garbage", now=10, wall=110) == Retry(8.0)


def test_retry_after_can_be_ignored() -> None:
    state = start(RetryPolicy(FIXED, respect_retry_after=False))
    assert state.on_response(429, "7", now=0, wall=0) == Retry(2.0)


@pytest.mark.parametrize(
    ("policy", "header", "limit"),
    [
        (RetryPolicy(FIXED, max_retry_after=10, deadline=None), "11", 10.0),
        (RetryPolicy(FIXED, max_retry_after=None, deadline=30), "31", 25.0),
    ],
)
def test_too_long_a_retry_after_fails_fast(policy: RetryPolicy, header: str, limit: float) -> None:
    state = start(policy)
    decision = state.on_response(503, header, now=5, wall=5)
    assert isinstance(decision, GiveUp)
    exc = decision.error
    assert isinstance(exc, RetryAfterTooLong)
    assert (exc.retry_after, exc.limit, len(exc.attempts)) == (float(header), limit, 1)


def test_a_retry_after_exactly_at_the_limit_is_honoured() -> None:
    state = start(RetryPolicy(FIXED, max_retry_after=10, deadline=None))
    assert state.on_response(503, "10", now=0, wall=0) == Retry(10.0, retry_after=True)


def test_no_backoff_delay_may_pass_the_deadline() -> None:
    state = start(RetryPolicy(FIXED, max_attempts=10, deadline=5.0))
    assert state.on_response(503, None, now=0.5, wall=0) == Retry(2.0)
    decision = state.on_response(503, None, now=3.0, wall=0)  # 4 s more would end at 7 > 5
    assert isinstance(decision, GiveUp)
    assert isinstance(decision.error, RetryExhausted)
    assert decision.error.reason == "deadline"


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"max_attempts": 0}, "max_attempts"),
        ({"max_attempts": True}, "max_attempts"),
        ({"deadline": -1}, "deadline"),
        ({"max_retry_after": float("nan")}, "max_retry_after"),
        ({"statuses": frozenset({503, 404})}, r"\[404\]"),
        ({"statuses": frozenset({501})}, "501"),
    ],
)
def test_bad_policies_are_refused_with_advice(kwargs: dict[str, object], fragment: str) -> None:
    with pytest.raises(ConfigurationError, match=fragment):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]
