"""The circuit breaker: closed, open, half-open, over a count- or time-based sliding window.

* **Closed**: calls pass; each outcome enters the sliding window (the last ``window_size``
  calls, or the calls of the last ``window_size`` seconds). Once the window holds at least
  ``minimum_calls`` calls and its failure rate is **at or above** ``failure_rate_threshold``,
  the breaker opens. At-or-above is what resilience4j and Polly do; opossum trips only strictly
  above. We follow the former because with strictly-above a threshold of 100 % could never trip
  and "50 %" would need a majority, not half, of the calls to fail.
* **Open**: every call fails fast with :class:`~apiharness.errors.CircuitOpen` and never runs,
  until ``open_duration`` seconds have passed.
* **Half-open**: up to ``half_open_probes`` calls are let through; the rest fail fast. A failed
  probe opens the breaker again (for a fresh ``open_duration``); once all probes succeed, it
  closes with an empty window.

A failure is whatever the caller reports as one; the HTTP transport counts 5xx responses and
transport errors by default (4xx are the caller's fault, not the upstream's). With
``slow_call_duration`` set, a successful call that took at least that long counts as a failure
too, and is also counted in ``metrics().slow_calls``.

The lock guards state transitions only, never the call: :meth:`acquire` and :meth:`record` take
it for a few microseconds each, so two threads' calls run in parallel (pybreaker holds its lock
for the whole call). The critical sections never await, so the same breaker is safe to share
between threads and asyncio tasks. Outcomes of calls admitted before a transition are ignored:
they describe a state that no longer exists.

Hand-written: pybreaker counts consecutive failures (no rate, no window) and serialises calls;
aiobreaker and purgatory are asyncio-only; none offers a time-based window with probes.
"""

from __future__ import annotations

import enum
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, ParamSpec, TypeVar

from apiharness.clients._events import BreakerRejected, BreakerStateChanged, EventHook, emit
from apiharness.clock import Clock, get_clock
from apiharness.errors import CircuitOpen, ConfigurationError

__all__ = ["BreakerMetrics", "CircuitBreaker", "CircuitState", "Permit"]

_P = ParamSpec("_P")
_T = TypeVar("_T")


class CircuitState(enum.StrEnum):
    """The three states of a circuit breaker."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


@dataclass(frozen=True)
class BreakerMetrics:
    """A snapshot of a breaker: its state and the window's contents."""

    state: CircuitState
    calls: int
    failures: int
    slow_calls: int
    failure_rate: float
    rejected: int
    retry_in: float


class Permit:
    """Handed out by :meth:`CircuitBreaker.acquire`; give it back to ``record`` or ``release``."""

    __slots__ = ("done", "generation", "probe")

    def __init__(self, generation: int, probe: bool) -> None:
        self.generation = generation
        self.probe = probe
        self.done = False


class _Window:
    """Outcomes in the window, with running counts so the rate costs O(1).

    A count window is a ring of the last ``size`` outcomes; a time window a queue of
    ``(time, failed, slow)`` evicted as it ages. ``add`` is the hot path of every call.
    """

    def __init__(self, kind: Literal["count", "time"], size: float) -> None:
        self.timed = kind == "time"
        self.size = size
        self.calls = 0
        self.failures = 0
        self.slow = 0
        self._ring: list[tuple[bool, bool] | None] = [None] * (0 if self.timed else int(size))
        self._next = 0
        self._queue: deque[tuple[float, bool, bool]] = deque()

    def add(self, now: float, failed: bool, slow: bool) -> None:
        self.failures += failed
        self.slow += slow
        if self.timed:
            self._queue.append((now, failed, slow))
            self.calls += 1
            return
        ring, index = self._ring, self._next
        old = ring[index]
        ring[index] = (failed, slow)
        self._next = (index + 1) % len(ring)
        if old is None:
            self.calls += 1
        else:
            self.failures -= old[0]
            self.slow -= old[1]

    def evict(self, now: float) -> None:
        queue = self._queue
        while queue and queue[0][0] <= now - self.size:
            _, failed, slow = queue.popleft()
            self.calls -= 1
            self.failures -= failed
            self.slow -= slow

    def outcomes(self) -> list[bool]:
        """Whether each call in the window failed, oldest first (for inspection and tests)."""
        if self.timed:
            return [failed for _, failed, _ in self._queue]
        ring, start = self._ring, self._next
        ordered = ring[start:] + ring[:start]
        return [entry[0] for entry in ordered if entry is not None]

    def clear(self) -> None:
        self._queue.clear()
        self._ring = [None] * len(self._ring)
        self._next = self.calls = self.failures = self.slow = 0

    def rate(self) -> float:
        return self.failures / self.calls if self.calls else 0.0


# Not a Literal: comparisons with it must not narrow `self._state` for the type checker, since
# the state changes under the lock between checks.
_CLOSED: CircuitState = CircuitState.CLOSED


class CircuitBreaker:
    """A thread- and asyncio-safe circuit breaker with a sliding window.

        breaker = CircuitBreaker(failure_rate_threshold=0.5, minimum_calls=10, open_duration=30)
        client = httpx.Client(
            transport=ResilientTransport(httpx.HTTPTransport(), breaker=breaker)
        )

    Or around any callable (every exception counts as a failure)::

        breaker.call(fetch_prices, "EUR")

    ``clock`` defaults to the active clock, read at every use.
    """

    def __init__(
        self,
        *,
        name: str = "default",
        failure_rate_threshold: float = 0.5,
        window: Literal["count", "time"] = "count",
        window_size: float = 20,
        minimum_calls: int = 10,
        open_duration: float = 30.0,
        half_open_probes: int = 1,
        slow_call_duration: float | None = None,
        on_event: EventHook | None = None,
        clock: Clock | None = None,
    ) -> None:
        _check(
            0 < failure_rate_threshold <= 1,
            f"failure_rate_threshold={failure_rate_threshold!r}"
            " must be in (0, 1], e.g. 0.5 for 50 %",
        )
        _check(window in ("count", "time"), f"window={window!r} must be 'count' or 'time'")
        _check(
            0 < window_size < float("inf"),
            f"window_size={window_size!r} must be positive "
            "(calls for a count window, seconds for a time window)",
        )
        _check(
            isinstance(minimum_calls, int) and minimum_calls >= 1,
            f"minimum_calls={minimum_calls!r} must be an int >= 1",
        )
        _check(
            window != "count" or minimum_calls <= window_size,
            f"minimum_calls={minimum_calls!r} exceeds window_size={window_size!r}: a count "
            "window that small could never trip",
        )
        _check(
            0 <= open_duration < float("inf"),
            f"open_duration={open_duration!r} must be a finite number of seconds >= 0",
        )
        _check(
            isinstance(half_open_probes, int) and half_open_probes >= 1,
            f"half_open_probes={half_open_probes!r} must be an int >= 1",
        )
        _check(
            slow_call_duration is None or slow_call_duration > 0,
            f"slow_call_duration={slow_call_duration!r} must be positive or None",
        )
        self.name = name
        self.failure_rate_threshold = failure_rate_threshold
        self.minimum_calls = minimum_calls
        self.open_duration = open_duration
        self.half_open_probes = half_open_probes
        self.slow_call_duration = slow_call_duration
        self.on_event = on_event
        self._clock = clock
        self._lock = threading.Lock()
        self._window = _Window(window, window_size)
        self._state = CircuitState.CLOSED
        self._generation = 0
        self._opened_at = 0.0
        self._probes_admitted = 0
        self._probes_passed = 0
        self._rejected = 0

    def __repr__(self) -> str:
        return f"CircuitBreaker(name={self.name!r}, state={self.state.value!r})"

    def _now(self) -> float:
        return (self._clock or get_clock()).monotonic()

    # -- inspection ----------------------------------------------------------------------

    @property
    def state(self) -> CircuitState:
        """The current state (an open breaker whose time is up reports half-open)."""
        return self.metrics().state

    def metrics(self) -> BreakerMetrics:
        """State and window counts, consistent with each other."""
        now = self._now()
        with self._lock:
            events = self._refresh(now)
            window = self._window
            snapshot = BreakerMetrics(
                state=self._state,
                calls=window.calls,
                failures=window.failures,
                slow_calls=window.slow,
                failure_rate=window.rate(),
                rejected=self._rejected,
                retry_in=self._retry_in(now),
            )
        self._emit(events)
        return snapshot

    # -- the protocol --------------------------------------------------------------------

    def acquire(self) -> Permit:
        """Permission for one call, or :class:`~apiharness.errors.CircuitOpen` at once."""
        # Fast path, without the lock or the clock: a closed breaker admits everyone. The
        # generation is read first, so a transition racing with this read yields a permit of
        # an older generation, whose outcome is then ignored as stale (never misattributed).
        generation = self._generation
        if self._state is _CLOSED:
            return Permit(generation, probe=False)
        now = self._now()
        with self._lock:
            events = self._refresh(now)
            state = self._state
            if state is CircuitState.CLOSED:
                permit = Permit(self._generation, probe=False)
            elif state is CircuitState.HALF_OPEN and self._probes_admitted < self.half_open_probes:
                self._probes_admitted += 1
                permit = Permit(self._generation, probe=True)
            else:
                self._rejected += 1
                retry_in = self._retry_in(now)
                events.append(BreakerRejected(self.name, retry_in))
                permit = None
        self._emit(events)
        if permit is None:
            raise CircuitOpen(
                f"circuit breaker {self.name!r} is {state.value}; the call was not made "
                f"(next probe in {retry_in:g} s)",
                name=self.name,
                retry_in=retry_in,
            )
        return permit

    def record(self, permit: Permit, *, failure: bool, duration: float | None = None) -> None:
        """Report how the call admitted by ``permit`` ended; ``duration`` in seconds."""
        slow = False
        if not failure and duration is not None and self.slow_call_duration is not None:
            slow = duration >= self.slow_call_duration
        window = self._window
        if window.timed or permit.probe:
            self._record(permit, failure or slow, slow)
            return
        self._record_closed(permit.generation, failure or slow, slow, permit)

    def _record_closed(
        self, generation: int, failed: bool, slow: bool, permit: Permit | None = None
    ) -> None:
        # The hot path: a count window and a call admitted while closed. It needs no clock: if
        # the generation still matches, no transition happened, so the breaker is still closed.
        window = self._window
        with self._lock:
            if permit is not None:
                if permit.done:
                    return
                permit.done = True
            if generation != self._generation:
                return  # admitted under a state that has since ended; its outcome is stale
            window.add(0.0, failed, slow)
            calls = window.calls
            if calls < self.minimum_calls or window.failures < self.failure_rate_threshold * calls:
                return
            events = self._transition(CircuitState.OPEN, self._now())
        self._emit(events)

    def _record(self, permit: Permit, failed: bool, slow: bool) -> None:
        now = self._now()
        with self._lock:
            if permit.done:
                return
            permit.done = True
            events = self._refresh(now)
            if permit.generation != self._generation:
                pass  # admitted under a state that has since ended; its outcome is stale
            elif self._state is CircuitState.CLOSED:
                window = self._window
                window.add(now, failed, slow)
                calls = window.calls
                if calls >= self.minimum_calls and window.failures >= (
                    self.failure_rate_threshold * calls
                ):
                    events += self._transition(CircuitState.OPEN, now)
            elif failed:  # a probe failed
                events += self._transition(CircuitState.OPEN, now)
            else:
                self._probes_passed += 1
                if self._probes_passed >= self.half_open_probes:
                    events += self._transition(CircuitState.CLOSED, now)
        self._emit(events)

    def release(self, permit: Permit) -> None:
        """Give back a permit whose call ended with no verdict (e.g. it was cancelled)."""
        with self._lock:
            if permit.done:
                return
            permit.done = True
            if permit.probe and permit.generation == self._generation:
                self._probes_admitted -= 1

    def call(self, func: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        """Run ``func`` through the breaker; any exception it raises counts as a failure."""
        generation = self._generation  # read before the state: see acquire()
        if self._state is _CLOSED and self.slow_call_duration is None and not self._window.timed:
            # The common case without a Permit or a clock read (see _record_closed).
            try:
                result = func(*args, **kwargs)
            except Exception:
                self._record_closed(generation, True, False)
                raise
            self._record_closed(generation, False, False)
            return result
        permit = self.acquire()
        timed = self.slow_call_duration is not None
        started = self._now() if timed else 0.0
        try:
            result = func(*args, **kwargs)
        except Exception:
            self.record(permit, failure=True, duration=self._now() - started if timed else None)
            raise
        except BaseException:
            self.release(permit)
            raise
        self.record(permit, failure=False, duration=self._now() - started if timed else None)
        return result

    def reset(self) -> None:
        """Close the breaker and empty its window, as after a deploy that fixed the upstream."""
        now = self._now()
        with self._lock:
            events = self._transition(CircuitState.CLOSED, now)
        self._emit(events)

    # -- internals (called with the lock held) -------------------------------------------

    def _refresh(self, now: float) -> list[BreakerStateChanged | BreakerRejected]:
        if self._window.timed:
            self._window.evict(now)
        if self._state is CircuitState.OPEN and now - self._opened_at >= self.open_duration:
            return self._transition(CircuitState.HALF_OPEN, now)
        return []

    def _retry_in(self, now: float) -> float:
        if self._state is CircuitState.OPEN:
            return max(0.0, self._opened_at + self.open_duration - now)
        return 0.0

    def _transition(
        self, new: CircuitState, now: float
    ) -> list[BreakerStateChanged | BreakerRejected]:
        old, rate = self._state, self._window.rate()
        self._state = new
        self._generation += 1
        self._probes_admitted = self._probes_passed = 0
        self._window.clear()
        if new is CircuitState.OPEN:
            self._opened_at = now
        if old is new:
            return []
        return [BreakerStateChanged(self.name, old.value, new.value, rate)]

    def _emit(self, events: list[BreakerStateChanged | BreakerRejected]) -> None:
        # Outside the lock: a slow or re-entrant hook must not stall or deadlock other callers.
        for event in events:
            emit(self.on_event, event)


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigurationError(f"CircuitBreaker({message})")
