"""Time, injected: a system clock and a virtual clock shared by the mocks and the clients.

Everything in apiharness that waits or reads the time goes through a :class:`Clock`. The active
clock is process-wide (threads such as the loopback server must see the same one), obtained with
:func:`get_clock` at the moment of use, so a client built before a test switched to virtual time
still follows it.

Under a :class:`VirtualClock`, sleeping advances virtual time instantly by the amount slept.
Sleeps are serialised: two threads or tasks that each sleep five seconds "at once" move the clock
by ten. Virtual time is therefore an upper bound on the real time concurrent code would take,
which is what backoff and deadline assertions need; a scheduler that advances only when every
sleeper is blocked (trio's autojump clock) would be exact but cannot see arbitrary threads.

:meth:`VirtualClock.patch` also reroutes ``time.sleep``, ``time.monotonic``, ``time.time`` and
``asyncio.sleep`` (the module attributes, which is how most code calls them), so a user's own
client that knows nothing of apiharness runs in virtual time too. Event loops keep their own
clock real (``loop.time()``): their timers bound real waits on sockets, such as a read timeout,
which no virtual sleep would ever end::

    from apiharness import VirtualClock

    clock = VirtualClock()
    with clock.patch():
        time.sleep(30)          # returns at once
    assert clock.monotonic() == 30.0

Hand-written rather than taken from freezegun or time-machine: those freeze or shift *wall*
time, but neither makes ``sleep`` advance the clock for every thread and task at once, which is
the whole point here.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time as _time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Protocol, TypeVar, runtime_checkable

from apiharness.errors import ConfigurationError

__all__ = [
    "Clock",
    "SystemClock",
    "VirtualClock",
    "get_clock",
    "use_clock",
]

_T = TypeVar("_T")

# Captured at import, before any patching, so the system clock never calls a patched function.
_real_sleep = _time.sleep
_real_monotonic = _time.monotonic
_real_time = _time.time
_real_asyncio_sleep = asyncio.sleep


@runtime_checkable
class Clock(Protocol):
    """What the harness needs of a clock: wall time, monotonic time, and sleeping."""

    def time(self) -> float:
        """Seconds since the epoch (wall-clock time)."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards; only differences matter."""

    def sleep(self, seconds: float) -> None:
        """Block the calling thread for ``seconds``."""

    async def asleep(self, seconds: float) -> None:
        """Suspend the calling task for ``seconds``."""


class SystemClock:
    """The real clock. The default outside of tests."""

    def time(self) -> float:
        return _real_time()

    def monotonic(self) -> float:
        return _real_monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            _real_sleep(seconds)

    async def asleep(self, seconds: float) -> None:
        await _real_asyncio_sleep(max(seconds, 0.0))

    def __repr__(self) -> str:
        return "SystemClock()"


def _epoch(start: float | datetime | None) -> float:
    if start is None:
        # A fixed, recognisable instant keeps journals and HTTP-dates reproducible.
        return datetime(2030, 1, 1, tzinfo=UTC).timestamp()
    if isinstance(start, datetime):
        if start.tzinfo is None:
            raise ConfigurationError(
                "VirtualClock(start=...) got a naive datetime; pass an aware one, "
                "e.g. datetime(2030, 1, 1, tzinfo=UTC)"
            )
        return start.timestamp()
    if isinstance(start, bool) or not isinstance(start, int | float):
        raise ConfigurationError(
            f"VirtualClock(start=...) takes epoch seconds or an aware datetime, "
            f"not {type(start).__name__}"
        )
    return float(start)


class VirtualClock:
    """A clock whose time moves only when someone sleeps or calls :meth:`advance`.

    Thread-safe and usable from asyncio. ``sleeps`` records every requested sleep, in order,
    which makes backoff schedules easy to assert.
    """

    def __init__(self, start: float | datetime | None = None) -> None:
        self._epoch = _epoch(start)
        self._elapsed = 0.0
        self._cond = threading.Condition()
        self.sleeps: list[float] = []

    # -- reading -------------------------------------------------------------------------

    def time(self) -> float:
        with self._cond:
            return self._epoch + self._elapsed

    def monotonic(self) -> float:
        with self._cond:
            return self._elapsed

    def now(self) -> datetime:
        """The virtual wall-clock time as an aware UTC datetime."""
        return datetime.fromtimestamp(self.time(), tz=UTC)

    # -- moving --------------------------------------------------------------------------

    def advance(self, seconds: float) -> None:
        """Move virtual time forward by ``seconds`` and wake anyone waiting for it."""
        if seconds < 0:
            raise ConfigurationError(f"time only moves forward; advance({seconds}) is negative")
        with self._cond:
            self._elapsed += seconds
            self._cond.notify_all()

    def sleep(self, seconds: float) -> None:
        seconds = max(float(seconds), 0.0)
        with self._cond:
            self.sleeps.append(seconds)
            self._elapsed += seconds
            self._cond.notify_all()

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)
        # Still a suspension point, as a real sleep is: other tasks get to run.
        await _real_asyncio_sleep(0)

    def wait_until(self, deadline: float, *, timeout: float | None = None) -> bool:
        """Block (in real time) until virtual monotonic time reaches ``deadline``.

        Used for waits that nobody should cut short by sleeping, e.g. a request that hangs
        until the test advances the clock. Returns False if ``timeout`` real seconds pass first.
        """
        with self._cond:
            return self._cond.wait_for(lambda: self._elapsed >= deadline, timeout=timeout)

    # -- patching ------------------------------------------------------------------------

    @contextlib.contextmanager
    def patch(self) -> Iterator[VirtualClock]:
        """Route ``time.sleep/monotonic/time``, ``asyncio.sleep`` and the harness to this clock.

        Restores the previous functions and the previously active clock on exit.
        """

        async def _asyncio_sleep(delay: float, result: _T | None = None) -> _T | None:
            await self.asleep(delay)
            return result

        saved = (_time.sleep, _time.monotonic, _time.time, asyncio.sleep)
        saved_loop_time = asyncio.BaseEventLoop.time
        with use_clock(self):
            _time.sleep = self.sleep  # type: ignore[assignment]
            _time.monotonic = self.monotonic
            _time.time = self.time
            asyncio.sleep = _asyncio_sleep  # type: ignore[assignment]
            # Event loops keep real time: their timers bound real waits on sockets (a read
            # timeout), which no virtual sleep will ever end.
            asyncio.BaseEventLoop.time = _real_loop_time  # type: ignore[method-assign]
            try:
                yield self
            finally:
                _time.sleep, _time.monotonic, _time.time, asyncio.sleep = saved
                asyncio.BaseEventLoop.time = saved_loop_time  # type: ignore[method-assign]

    def __repr__(self) -> str:
        return f"VirtualClock(now={self.now().isoformat()}, monotonic={self.monotonic():g})"


def _real_loop_time(self: asyncio.BaseEventLoop) -> float:
    return _real_monotonic()


_active: Clock = SystemClock()
_active_lock = threading.Lock()


def get_clock() -> Clock:
    """The clock in force: the system clock unless a test switched to virtual time."""
    return _active


@contextlib.contextmanager
def use_clock(clock: Clock) -> Iterator[Clock]:
    """Make ``clock`` the active clock for the block; restores the previous one on exit."""
    global _active  # noqa: PLW0603 - the active clock is deliberately process-wide
    if not isinstance(clock, Clock):
        raise ConfigurationError(
            f"use_clock() needs an object with time(), monotonic(), sleep() and asleep(), "
            f"got {type(clock).__name__}"
        )
    with _active_lock:
        previous, _active = _active, clock
    try:
        yield clock
    finally:
        with _active_lock:
            _active = previous
