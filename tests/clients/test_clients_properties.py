"""Whole-transport properties: whatever the upstream does, the client keeps its bounds."""

from __future__ import annotations

import httpx
from _client_script import Script
from hypothesis import given, settings
from hypothesis import strategies as st

from apiharness import VirtualClock
from apiharness.clients import RETRYABLE_STATUSES, Backoff, ResilientTransport, RetryPolicy
from apiharness.errors import RetryAfterTooLong, RetryExhausted

statuses = st.sampled_from([200, 201, 404, 501, *sorted(RETRYABLE_STATUSES)])
retry_after = st.one_of(st.none(), st.integers(0, 120).map(str), st.just("garbage"))
errors = st.sampled_from([httpx.ConnectError, httpx.ReadTimeout, httpx.ReadError])
outcome = st.one_of(
    st.tuples(statuses, retry_after).map(
        lambda sr: sr[0] if sr[1] is None else (sr[0], {"Retry-After": sr[1]})
    ),
    errors.map(lambda cls: cls("fault")),
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(outcome, min_size=1, max_size=12),
    st.sampled_from(["full", "decorrelated", "none"]),
    st.integers(1, 8),
    st.floats(0, 100),
    st.integers(0, 2**16),
)
def test_attempts_and_waits_stay_within_the_policy(
    script_outcomes: list[object], jitter: str, attempts: int, deadline: float, seed: int
) -> None:
    policy = RetryPolicy(
        Backoff(jitter, base=0.5, cap=30),  # type: ignore[arg-type]
        max_attempts=attempts,
        deadline=deadline,
        max_retry_after=60,
    )
    script = Script(*script_outcomes)  # type: ignore[arg-type]
    clock = VirtualClock()
    transport = ResilientTransport(script.transport(), retry=policy, seed=seed)
    given_up: RetryExhausted | RetryAfterTooLong | None = None
    response: httpx.Response | None = None
    with clock.patch(), httpx.Client(transport=transport) as client:
        try:
            response = client.get("https://api.example/x")
        except (RetryExhausted, RetryAfterTooLong) as exc:
            given_up = exc
    if given_up is not None:
        assert len(given_up.attempts) == len(script.requests)
        assert [a.delay for a in given_up.attempts[1:]] == clock.sleeps
    else:
        # A retryable answer or a transport error never escapes as it is: the client retries
        # it or gives up with one of the typed errors above.
        assert response is not None
        assert response.status_code not in RETRYABLE_STATUSES
    assert 1 <= len(script.requests) <= attempts
    assert len(clock.sleeps) == len(script.requests) - 1
    assert sum(clock.sleeps) <= deadline
    assert all(0 <= s <= 60 for s in clock.sleeps)
