"""Backoff schedules: the AWS "Exponential Backoff and Jitter" formulas, as properties."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apiharness.clients import Backoff, RetryPolicy
from apiharness.clients._retry import GiveUp, Retry
from apiharness.errors import ConfigurationError

bases = st.floats(min_value=0.001, max_value=10.0)
seeds = st.integers(min_value=0, max_value=2**32)


@st.composite
def base_and_cap(draw: st.DrawFn) -> tuple[float, float]:
    base = draw(bases)
    return base, draw(st.floats(min_value=base, max_value=base * 10_000))


def test_no_jitter_is_the_capped_exponential_from_retry_one() -> None:
    backoff = Backoff("none", base=0.5, cap=5.0)
    delays = [backoff.delay(n, 0.0, random.Random(0)) for n in range(1, 6)]
    # The first retry is attempt 1 in the post's formula: base * 2 ** 1, not base * 2 ** 0.
    assert delays == [1.0, 2.0, 4.0, 5.0, 5.0]


@given(base_and_cap(), st.integers(min_value=1, max_value=2000), seeds)
def test_full_jitter_stays_within_zero_and_the_capped_exponential(
    bc: tuple[float, float], n: int, seed: int
) -> None:
    base, cap = bc
    delay = Backoff("full", base=base, cap=cap).delay(n, base, random.Random(seed))
    assert 0.0 <= delay <= min(cap, base * 2.0 ** min(n, 1000))


@given(base_and_cap(), st.lists(seeds, min_size=1, max_size=30))
def test_decorrelated_jitter_stays_within_base_and_three_times_previous(
    bc: tuple[float, float], draws: list[int]
) -> None:
    base, cap = bc
    backoff = Backoff("decorrelated", base=base, cap=cap)
    previous = base
    for n, seed in enumerate(draws, start=1):
        delay = backoff.delay(n, previous, random.Random(seed))
        assert base <= delay <= min(cap, 3 * previous)
        previous = delay  # the state is the capped value, as the post's `sleep` variable is


def test_decorrelated_state_is_the_capped_value() -> None:
    # With cap == base every draw is capped to base, so the upper end stays 3 * base; a
    # schedule that kept the uncapped draw as its state would keep growing past it.
    backoff = Backoff("decorrelated", base=1.0, cap=1.0)
    rng = random.Random(7)
    previous = 1.0
    for n in range(1, 50):
        previous = backoff.delay(n, previous, rng)
        assert previous == 1.0


def test_full_jitter_spreads_over_the_whole_range() -> None:
    backoff = Backoff("full", base=1.0, cap=100.0)
    rng = random.Random(1)
    samples = [backoff.delay(3, 1.0, rng) for _ in range(500)]
    assert min(samples) < 0.1 * 8
    assert max(samples) > 0.9 * 8
    assert len(set(samples)) > 400


@given(
    st.sampled_from(["full", "decorrelated", "none"]),
    base_and_cap(),
    st.floats(min_value=0.0, max_value=100.0),
    st.lists(st.floats(min_value=0.0, max_value=5.0), min_size=50, max_size=50),
    seeds,
)
def test_the_sum_of_delays_never_exceeds_the_deadline(
    jitter: str,
    bc: tuple[float, float],
    deadline: float,
    durations: list[float],
    seed: int,
) -> None:
    base, cap = bc
    policy = RetryPolicy(
        Backoff(jitter, base=base, cap=cap),  # type: ignore[arg-type]
        max_attempts=50,
        deadline=deadline,
    )
    now = 0.0
    state = policy.start(method="GET", has_idempotency_key=False, now=now, rng=random.Random(seed))
    slept = 0.0
    for duration in durations:
        now += duration  # the attempt itself takes time, which counts against the deadline
        decision = state.on_response(503, None, now=now, wall=now)
        if isinstance(decision, GiveUp):
            break
        assert isinstance(decision, Retry)
        slept += decision.delay
        now += decision.delay
        assert slept <= deadline
    assert slept <= deadline
    assert now - sum(durations[: len(state.attempts)]) == pytest.approx(slept)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"jitter": "equal"}, "not one of"),
        ({"base": 0}, "positive"),
        ({"base": 2.0, "cap": 1.0}, "at least base"),
        ({"cap": float("inf")}, "finite"),
    ],
)
def test_bad_backoff_is_refused_with_advice(kwargs: dict[str, object], fragment: str) -> None:
    with pytest.raises(ConfigurationError, match=fragment):
        Backoff(**kwargs)  # type: ignore[arg-type]
