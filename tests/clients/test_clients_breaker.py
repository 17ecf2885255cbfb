"""The circuit breaker: trip boundary, windows, half-open probes, concurrency, and a state
machine test that holds its invariants under any sequence of calls."""

from __future__ import annotations

import asyncio
import threading

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from apiharness import VirtualClock
from apiharness.clients import BreakerStateChanged, CircuitBreaker, CircuitState, Event, Permit
from apiharness.errors import CircuitOpen, ConfigurationError


def outcomes(breaker: CircuitBreaker, failures: list[bool]) -> None:
    for failed in failures:
        breaker.record(breaker.acquire(), failure=failed)


def test_trips_at_the_threshold_not_only_above() -> None:
    clock = VirtualClock()
    breaker = CircuitBreaker(
        window_size=10, minimum_calls=10, failure_rate_threshold=0.5, clock=clock
    )
    outcomes(breaker, [False] * 6 + [True] * 4)  # 4 of 10 failed: 40 % stays closed
    assert breaker.metrics().failure_rate == 0.4
    assert breaker.state is CircuitState.CLOSED
    outcomes(breaker, [True])  # the oldest success drops out: 5 of 10, exactly 50 %, trips
    assert breaker.state is CircuitState.OPEN


def test_needs_the_minimum_number_of_calls() -> None:
    breaker = CircuitBreaker(window_size=10, minimum_calls=5, clock=VirtualClock())
    outcomes(breaker, [True] * 4)
    assert breaker.state is CircuitState.CLOSED
    outcomes(breaker, [True])
    assert breaker.state is CircuitState.OPEN


def test_open_fails_fast_then_probes_then_closes() -> None:
    clock = VirtualClock()
    events: list[Event] = []
    breaker = CircuitBreaker(
        name="prices",
        window_size=4,
        minimum_calls=2,
        open_duration=30,
        half_open_probes=2,
        on_event=events.append,
        clock=clock,
    )
    outcomes(breaker, [True, True])
    ran = []
    with pytest.raises(CircuitOpen) as info:
        breaker.call(ran.append, 1)
    assert ran == []
    assert info.value.name == "prices"
    assert info.value.retry_in == 30
    clock.advance(29.9)
    with pytest.raises(CircuitOpen):
        breaker.acquire()
    clock.advance(0.1)
    assert breaker.state is CircuitState.HALF_OPEN
    first, second = breaker.acquire(), breaker.acquire()
    with pytest.raises(CircuitOpen):  # only two probes at a time
        breaker.acquire()
    breaker.record(first, failure=False)
    assert breaker.state is CircuitState.HALF_OPEN
    breaker.record(second, failure=False)
    assert breaker.state is CircuitState.CLOSED
    assert breaker.metrics().calls == 0  # a closed breaker starts from an empty window
    changes = [(e.old, e.new) for e in events if isinstance(e, BreakerStateChanged)]
    assert changes == [("closed", "open"), ("open", "half-open"), ("half-open", "closed")]
    assert breaker.metrics().rejected == 3


def test_a_failed_probe_opens_again_for_a_full_duration() -> None:
    clock = VirtualClock()
    breaker = CircuitBreaker(window_size=2, minimum_calls=2, open_duration=10, clock=clock)
    outcomes(breaker, [True, True])
    clock.advance(10)
    breaker.record(breaker.acquire(), failure=True)
    assert breaker.state is CircuitState.OPEN
    assert breaker.metrics().retry_in == 10


def test_a_released_probe_frees_its_slot() -> None:
    clock = VirtualClock()
    breaker = CircuitBreaker(window_size=2, minimum_calls=2, open_duration=1, clock=clock)
    outcomes(breaker, [True, True])
    clock.advance(1)
    probe = breaker.acquire()
    with pytest.raises(CircuitOpen):
        breaker.acquire()
    breaker.release(probe)
    breaker.release(probe)  # twice is harmless
    breaker.acquire()


def test_outcomes_from_before_a_transition_are_ignored() -> None:
    clock = VirtualClock()
    breaker = CircuitBreaker(window_size=2, minimum_calls=2, clock=clock)
    late = breaker.acquire()
    outcomes(breaker, [True, True])
    assert breaker.state is CircuitState.OPEN
    breaker.reset()
    breaker.record(late, failure=True)
    assert breaker.metrics().calls == 0


def test_time_window_forgets_old_calls() -> None:
    clock = VirtualClock()
    breaker = CircuitBreaker(window="time", window_size=10, minimum_calls=3, clock=clock)
    outcomes(breaker, [True, True])
    clock.advance(10)  # both fall out of the window
    outcomes(breaker, [True])
    metrics = breaker.metrics()
    assert (metrics.state, metrics.calls, metrics.failures) == (CircuitState.CLOSED, 1, 1)
    outcomes(breaker, [True, True])
    assert breaker.state is CircuitState.OPEN


def test_slow_calls_count_as_failures() -> None:
    breaker = CircuitBreaker(
        window_size=4, minimum_calls=4, slow_call_duration=2.0, clock=VirtualClock()
    )
    for duration in (0.1, 2.0, 0.1):
        breaker.record(breaker.acquire(), failure=False, duration=duration)
    metrics = breaker.metrics()
    assert (metrics.failures, metrics.slow_calls, metrics.calls) == (1, 1, 3)
    breaker.record(breaker.acquire(), failure=False, duration=5.0)
    assert breaker.state is CircuitState.OPEN  # 2 of 4 slow: 50 %


def test_call_counts_exceptions_and_returns_results() -> None:
    breaker = CircuitBreaker(window_size=2, minimum_calls=2, clock=VirtualClock())
    assert breaker.call(lambda x: x * 2, 21) == 42

    def boom() -> None:
        raise RuntimeError("upstream down")

    with pytest.raises(RuntimeError):
        breaker.call(boom)
    assert breaker.state is CircuitState.OPEN


def test_calls_run_in_parallel_not_under_the_lock() -> None:
    # Each call waits for the other to be inside too: a breaker that held its lock during the
    # call (as pybreaker does) would deadlock here until the barrier timed out.
    breaker = CircuitBreaker()
    barrier = threading.Barrier(2, timeout=10)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            breaker.call(barrier.wait)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert breaker.metrics().calls == 2


def test_many_threads_keep_the_counts_consistent() -> None:
    breaker = CircuitBreaker(window_size=1000, minimum_calls=1000, failure_rate_threshold=1.0)

    def worker(failed: bool) -> None:
        for _ in range(200):
            breaker.record(breaker.acquire(), failure=failed)

    threads = [threading.Thread(target=worker, args=(i % 2 == 0,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    metrics = breaker.metrics()
    assert (metrics.calls, metrics.failures, metrics.failure_rate) == (800, 400, 0.5)


def test_shared_between_asyncio_tasks() -> None:
    asyncio.run(_shared_between_asyncio_tasks())


async def _shared_between_asyncio_tasks() -> None:
    clock = VirtualClock()
    breaker = CircuitBreaker(window_size=10, minimum_calls=10, clock=clock)

    async def call(failed: bool) -> None:
        permit = breaker.acquire()
        await asyncio.sleep(0)
        breaker.record(permit, failure=failed)

    await asyncio.gather(*(call(i % 2 == 0) for i in range(10)))
    assert breaker.state is CircuitState.OPEN
    with pytest.raises(CircuitOpen):
        await call(False)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"failure_rate_threshold": 0}, "failure_rate_threshold"),
        ({"failure_rate_threshold": 1.5}, "failure_rate_threshold"),
        ({"window": "sliding"}, "window="),
        ({"window_size": 0}, "window_size"),
        ({"window_size": 5, "minimum_calls": 6}, "could never trip"),
        ({"minimum_calls": 0}, "minimum_calls"),
        ({"open_duration": -1}, "open_duration"),
        ({"half_open_probes": 0}, "half_open_probes"),
        ({"slow_call_duration": 0}, "slow_call_duration"),
    ],
)
def test_bad_configuration_is_refused_with_advice(kwargs: dict[str, object], fragment: str) -> None:
    with pytest.raises(ConfigurationError, match=fragment):
        CircuitBreaker(**kwargs)  # type: ignore[arg-type]


class BreakerMachine(RuleBasedStateMachine):
    """Any interleaving of calls, outcomes, releases and time keeps the breaker's promises."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = VirtualClock()
        self.events: list[Event] = []
        self.breaker = CircuitBreaker(
            window_size=5,
            minimum_calls=3,
            failure_rate_threshold=0.6,
            open_duration=10,
            half_open_probes=2,
            on_event=self.events.append,
            clock=self.clock,
        )
        self.outstanding: list[Permit] = []
        self.opened_at: float | None = None
        self.probes_in_flight = 0

    def _observe(self) -> None:
        # Follow the transitions the breaker announced, to check it against its own events.
        for event in self.events:
            if isinstance(event, BreakerStateChanged):
                if event.new == "open":
                    self.opened_at = self.clock.monotonic()
                    self.probes_in_flight = 0
                elif event.new in ("half-open", "closed"):
                    if event.old == "open":
                        # Never out of open before the open duration has passed.
                        assert self.opened_at is not None
                        assert self.clock.monotonic() - self.opened_at >= 10
                    self.opened_at = None
                    self.probes_in_flight = 0
        self.events.clear()

    @rule()
    def call(self) -> None:
        before = self.breaker.metrics().state  # may move open -> half-open on its own
        self._observe()
        opened_at = self.opened_at
        try:
            permit = self.breaker.acquire()
        except CircuitOpen:
            self._observe()
            return
        self._observe()
        # Never admitted while open before the open duration has passed.
        assert before is not CircuitState.OPEN
        if opened_at is not None:
            assert self.clock.monotonic() - opened_at >= 10
        if permit.probe:
            self.probes_in_flight += 1
            assert self.probes_in_flight <= 2
        self.outstanding.append(permit)

    @precondition(lambda self: self.outstanding)
    @rule(index=st.integers(min_value=0), failed=st.booleans(), release=st.booleans())
    def finish(self, index: int, failed: bool, release: bool) -> None:
        permit = self.outstanding.pop(index % len(self.outstanding))
        current_probe = permit.probe and permit.generation == self.breaker._generation
        if release:
            self.breaker.release(permit)
        else:
            self.breaker.record(permit, failure=failed)
        if current_probe and release:
            self.probes_in_flight -= 1
        self._observe()

    @rule(seconds=st.sampled_from([0.5, 3.0, 9.9, 10.0, 25.0]))
    def wait(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @invariant()
    def failure_rate_matches_the_window(self) -> None:
        metrics = self.breaker.metrics()
        self._observe()
        outcomes = self.breaker._window.outcomes()
        assert metrics.calls == len(outcomes) <= 5
        assert metrics.failures == sum(outcomes)
        expected = metrics.failures / metrics.calls if metrics.calls else 0.0
        assert metrics.failure_rate == expected
        if metrics.state is CircuitState.CLOSED and metrics.calls >= 3:
            assert metrics.failure_rate < 0.6  # at or above the threshold it would be open
        if metrics.state is not CircuitState.CLOSED:
            assert metrics.calls == 0


BreakerMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
test_breaker_state_machine = BreakerMachine.TestCase
