"""Time, injected: a system clock and a virtual clock shared by the mocks and the clients.

Everything in apiharness that waits or reads the time goes through a :class:`Clock`. The active
clock is process-wide (threads such as the loopback server must see the same one), obtained with
:func:`get_clock` at the moment of use, so a client built before a test switched to virtual time
still follows it.

Under a :class:`VirtualClock`, sleeping advances virtual time instantly by the amount slept.
Sleeps are serialised: two threads or tasks that each sleep five seconds "at once" move the clock
by ten. Virtual time is therefore an upper bound on the real time concurrent code would take,
which is what backoff and deadline assertions need.

:meth:`VirtualClock.patch` makes every common way to read or wait for time virtual, so a user's
own client that knows nothing of apiharness runs in virtual time too::

    from apiharness import VirtualClock

    clock = VirtualClock()
    with clock.patch():
        time.sleep(30)          # returns at once
    assert clock.monotonic() == 30.0

What is covered, and by which layer:

* **Wall clock** — ``time.time``/``time_ns``, ``datetime.datetime.now``/``utcnow``/``today``,
  ``datetime.date.today``, ``time.gmtime``/``localtime``/``strftime``: by `time-machine`_, which
  swaps the C functions themselves, so names bound at import (``from time import time``) and
  ``datetime``'s C methods (which no attribute patch can reach) follow. The virtual wall clock
  starts at the real current time, rounded down to a whole second (HTTP-dates have one-second
  resolution), unless ``start=`` says otherwise.
* **Monotonic time and sleeps** — ``time.monotonic``/``monotonic_ns``/``perf_counter``/
  ``perf_counter_ns``, ``time.sleep``, ``asyncio.sleep`` (and so anyio's sleep on asyncio): the
  module attributes, *and* every module-level alias bound at import (``from time import
  monotonic``; anyio's ``from asyncio import sleep``), found by one scan of ``sys.modules``
  whose per-module results are cached.
* **Waits used as sleeps** — ``threading.Condition.wait(timeout)`` and so ``Event.wait``: in a
  thread that belongs to the clock, a wait with a timeout ends when it is notified, or — once
  every thread of the clock is waiting — by jumping virtual time to the earliest deadline (the
  "autojump" of trio's test clock, restricted to the threads we know). It never lasts longer
  than the real wait would: after ``timeout`` real seconds it times out and moves virtual time
  to its deadline (another thread may be blocked where no wait can be seen). A wait in the standard
  library (``queue``, ``concurrent.futures``) or in the harness itself stays real: those wait
  for another thread's work, not for time to pass.

Evaluated and measured (2 cores, 1,577 modules loaded, CPython 3.11): time-machine 3.6 patches
the wall clock at the C level for about 2 µs per start/stop and 0.75 µs per ``shift``; reading
``time.time`` while travelling costs 0.5 µs, ``datetime.now`` 2.5 µs. It does **not** cover
``monotonic``, ``perf_counter`` or any sleep (measured: ``time.monotonic`` kept real time while
travelling), so it is the reading layer for wall time only. For the rest, the alias scan costs
about 19 ms the first time and about 1 ms once cached (a whole ``patch()`` enter measured 46 ms
the first time, time-machine's import included, then 1.0 to 1.2 ms) — per ``patch()``, not per call.
freezegun was rejected: it replaces the ``datetime`` class (``isinstance`` checks against the
real class break) and does not move time on ``sleep`` either.

To measure real time inside a patched block, read ``time.clock_gettime(time.CLOCK_MONOTONIC)``,
which neither layer touches.

Threads belong to a clock: the thread that enters :meth:`VirtualClock.patch` (or that
:meth:`VirtualClock.adopt` names), and every thread they start. Once a clock is closed (its
scenario over), a thread that still belongs to it sleeps in real time and never touches the
clock of whatever runs next. Event loops keep their own clock real (``loop.time()``): their
timers bound real waits on sockets, such as a read timeout, which no virtual sleep would end.

.. _time-machine: https://github.com/adamchainz/time-machine
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import sys
import threading
import time as _time
from _thread import allocate_lock as _allocate_lock
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from types import ModuleType
from typing import Any, Protocol, TypeVar, runtime_checkable

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
# (time-machine swaps the C function behind ``time.time`` itself, so wall time is read through
# its escape hatch while it travels: see _real_wall.)
_real_sleep = _time.sleep
_real_monotonic = _time.monotonic
_real_monotonic_ns = _time.monotonic_ns
_real_perf_counter = _time.perf_counter
_real_perf_counter_ns = _time.perf_counter_ns
_real_time = _time.time
_real_asyncio_sleep = asyncio.sleep
_real_cond_wait = threading.Condition.wait
_real_thread_start = threading.Thread.start
_real_thread_join = threading.Thread.join

# Modules whose waits and readings stay real: the harness's own machinery, the standard library
# (threading, queue, selectors … wait for work, not for time), the test runner and the wall-clock
# layer. Top-level package names.
_REAL_TIME_PACKAGES = frozenset(sys.stdlib_module_names) | {
    "apiharness",
    "_pytest",
    "pytest",
    "pluggy",
    "xdist",
    "execnet",
    "hypothesis",
    "time_machine",
    "_time_machine",
    "coverage",
}
_THREAD_ATTR = "_apiharness_clock"
_WAIT_SLICE = 0.005  # real seconds between looks at a virtual wait's state


def _real_wall() -> float:
    """Real seconds since the epoch, even while time-machine travels."""
    machine = sys.modules.get("time_machine")
    if machine is not None and machine.escape_hatch.is_travelling():
        return float(machine.escape_hatch.time.time())
    return _real_time()


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

    # The functions themselves, not methods that call them: the loopback server asks for both
    # on every request.
    time = staticmethod(_real_wall)
    monotonic = staticmethod(_real_monotonic)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            _real_sleep(seconds)

    async def asleep(self, seconds: float) -> None:
        await _real_asyncio_sleep(max(seconds, 0.0))

    def __repr__(self) -> str:
        return "SystemClock()"


def _epoch(start: float | datetime | None) -> float:
    if start is None:
        # The real present, to the second: HTTP-dates have one-second resolution, and code
        # that compares a virtual date with a real one stays consistent.
        return float(math.floor(_real_wall()))
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
    which makes backoff schedules easy to assert. ``start`` is the virtual wall-clock time at
    monotonic zero: epoch seconds or an aware datetime; the real present when omitted.
    """

    def __init__(self, start: float | datetime | None = None) -> None:
        self._epoch = _epoch(start)
        self._elapsed = 0.0
        self._cond = threading.Condition()
        self._closed = False
        self._threads: list[threading.Thread] = []
        self._waiting: dict[int, float] = {}  # thread ident -> virtual deadline
        self._on_advance: Callable[[float], None] | None = None
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

    def _move(self, seconds: float) -> None:
        # Called with self._cond held.
        self._elapsed += seconds
        if self._on_advance is not None:
            self._on_advance(seconds)
        self._cond.notify_all()

    def advance(self, seconds: float) -> None:
        """Move virtual time forward by ``seconds`` and wake anyone waiting for it."""
        if seconds < 0:
            raise ConfigurationError(f"time only moves forward; advance({seconds}) is negative")
        with self._cond:
            self._move(seconds)

    def sleep(self, seconds: float) -> None:
        seconds = max(float(seconds), 0.0)
        if not math.isfinite(seconds):
            # "Sleep forever" (anyio's sleep_forever): never returns, never moves the clock.
            threading.Event().wait()
        with self._cond:
            self.sleeps.append(seconds)
            self._move(seconds)

    async def asleep(self, seconds: float) -> None:
        if not math.isfinite(seconds):
            await _real_asyncio_sleep(seconds)
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

    # -- threads -------------------------------------------------------------------------

    def adopt(self, thread: threading.Thread) -> None:
        """Make ``thread`` (and the threads it starts) belong to this clock."""
        setattr(thread, _THREAD_ATTR, self)
        with self._cond:
            self._threads.append(thread)

    def close(self) -> None:
        """End this clock's time: threads that still belong to it sleep in real time."""
        with self._cond:
            self._closed = True
            self._threads.clear()
            self._waiting.clear()
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed

    def _wait(self, cond: threading.Condition, timeout: float) -> bool:
        """A ``Condition.wait(timeout)`` of one of this clock's threads, in virtual time.

        It never lasts longer than the real wait would have: when ``timeout`` real seconds pass
        without a notification (another thread of the clock is busy or blocked elsewhere, so
        time could not jump), virtual time is moved to the deadline and the wait times out.
        """
        me = threading.get_ident()
        timeout = max(timeout, 0.0)
        real_deadline = _real_monotonic() + timeout
        with self._cond:
            deadline = self._elapsed + timeout
            self._waiting[me] = deadline
        # One waiter stays registered on ``cond`` for the whole wait, as in Condition.wait
        # itself: waiting in slices of real waits would lose a notify that lands just as a
        # slice times out (seen: an Event set by another thread read as a 30 s timeout).
        waiter = _allocate_lock()
        waiter.acquire()
        cond._waiters.append(waiter)  # type: ignore[attr-defined]
        saved = cond._release_save()  # type: ignore[attr-defined]
        notified = False
        try:
            while not notified:
                with self._cond:
                    closed = self._closed
                    if not closed:
                        self._jump_if_all_wait()
                        if self._elapsed < deadline and _real_monotonic() >= real_deadline:
                            gap = deadline - self._elapsed  # as long as the real wait
                            self.sleeps.append(gap)
                            self._move(gap)
                        if self._elapsed >= deadline:
                            # Time may have jumped while a notify was on its way to us (a
                            # notified thread still counts as waiting until it runs).
                            notified = waiter.acquire(False)
                            return notified
                    left = max(deadline - self._elapsed, 0.0)
                notified = waiter.acquire(True, left if closed else _WAIT_SLICE)
                if closed:
                    return notified
            return True
        finally:
            cond._acquire_restore(saved)  # type: ignore[attr-defined]
            if not notified:
                try:
                    cond._waiters.remove(waiter)  # type: ignore[attr-defined]
                except ValueError:  # a notify took it as the wait ended: it counts
                    notified = True
            with self._cond:
                self._waiting.pop(me, None)

    def _jump_if_all_wait(self) -> None:
        # Called with self._cond held: when every live thread of this clock is waiting, no one
        # can notify them but time; move it to the earliest finite deadline.
        alive = [t for t in self._threads if t.is_alive()]
        if any(t.ident not in self._waiting for t in alive):
            return
        earliest = min(self._waiting.values(), default=math.inf)
        if math.isfinite(earliest) and earliest > self._elapsed:
            gap = earliest - self._elapsed
            self.sleeps.append(gap)
            self._move(gap)

    # -- patching ------------------------------------------------------------------------

    @contextlib.contextmanager
    def patch(self) -> Iterator[VirtualClock]:
        """Make reading and waiting for time virtual (see the module doc); restore on exit.

        The calling thread, and the threads it starts, belong to this clock for the block.
        """
        import time_machine

        me = threading.current_thread()
        previous_owner = getattr(me, _THREAD_ATTR, None)
        self.adopt(me)
        with self._cond:
            traveller = time_machine.travel(self.time(), tick=False)
            shifter = traveller.start()
            self._on_advance = shifter.shift
        saved_loop_time = asyncio.BaseEventLoop.time
        try:
            with use_clock(self), _patched_functions(self._thread_aware_functions()):
                # Event loops keep real time: their timers bound real waits on sockets (a read
                # timeout), which no virtual sleep will ever end.
                asyncio.BaseEventLoop.time = _real_loop_time  # type: ignore[method-assign]
                yield self
        finally:
            asyncio.BaseEventLoop.time = saved_loop_time  # type: ignore[method-assign]
            with self._cond:
                self._on_advance = None
                traveller.stop()
            setattr(me, _THREAD_ATTR, previous_owner)
            with self._cond:
                if me in self._threads:
                    self._threads.remove(me)

    def _thread_aware_functions(self) -> dict[Callable[..., Any], Callable[..., Any]]:
        """The replacement for each real function, routed by the calling thread's clock."""

        def clock_here() -> VirtualClock | None:
            owner = getattr(threading.current_thread(), _THREAD_ATTR, None)
            if isinstance(owner, VirtualClock):
                return None if owner._closed else owner
            return self

        def sleep(seconds: float) -> None:
            clock = clock_here()
            if clock is None:
                _real_sleep(seconds)  # a thread that outlived its clock: real time from now on
            else:
                clock.sleep(seconds)

        async def asyncio_sleep(delay: float, result: _T | None = None) -> _T | None:
            clock = clock_here()
            if clock is None or delay == 0:
                # sleep(0) is a checkpoint, not a wait (anyio and httpcore yield with it).
                return await _real_asyncio_sleep(delay, result)
            await clock.asleep(delay)
            return result

        def monotonic() -> float:
            return self.monotonic()

        def monotonic_ns() -> int:
            return round(self.monotonic() * 1e9)

        return {
            _real_sleep: sleep,
            _real_asyncio_sleep: asyncio_sleep,
            _real_monotonic: monotonic,
            _real_perf_counter: monotonic,
            _real_monotonic_ns: monotonic_ns,
            _real_perf_counter_ns: monotonic_ns,
        }

    def __repr__(self) -> str:
        return f"VirtualClock(now={self.now().isoformat()}, monotonic={self.monotonic():g})"


def _real_loop_time(self: asyncio.BaseEventLoop) -> float:
    return _real_monotonic()


# -- the patch layer ------------------------------------------------------------------------

_alias_cache: dict[str, tuple[ModuleType, tuple[str, ...]]] = {}


def _patchable(module_name: str) -> bool:
    return module_name.partition(".")[0] not in _REAL_TIME_PACKAGES


def _aliases(originals: dict[int, Callable[..., Any]]) -> list[tuple[ModuleType, str]]:
    """Every (module, name) outside the real-time packages bound to one of ``originals``."""
    found: list[tuple[ModuleType, str]] = []
    for name, module in list(sys.modules.items()):
        if not isinstance(module, ModuleType) or not _patchable(name):
            continue
        cached = _alias_cache.get(name)
        if cached is not None and cached[0] is module:
            names = cached[1]
        else:
            namespace = getattr(module, "__dict__", None) or {}
            names = tuple(k for k, v in list(namespace.items()) if id(v) in originals)
            _alias_cache[name] = (module, names)
        found.extend((module, k) for k in names if id(getattr(module, k, None)) in originals)
    return found


@contextlib.contextmanager
def _patched_functions(
    replacements: dict[Callable[..., Any], Callable[..., Any]],
) -> Iterator[None]:
    by_id = {id(original): replacement for original, replacement in replacements.items()}
    originals = {id(original): original for original in replacements}
    targets: list[tuple[Any, str]] = [
        (_time, "sleep"),
        (_time, "monotonic"),
        (_time, "monotonic_ns"),
        (_time, "perf_counter"),
        (_time, "perf_counter_ns"),
        (asyncio, "sleep"),
    ]
    targets += _aliases(originals)
    saved = [(owner, name, getattr(owner, name)) for owner, name in targets]
    saved_classes = (threading.Condition.wait, threading.Thread.start, threading.Thread.join)
    try:
        for owner, name, value in saved:
            setattr(owner, name, by_id.get(id(value), value))
        threading.Condition.wait = _virtual_cond_wait  # type: ignore[method-assign]
        threading.Thread.start = _inheriting_start  # type: ignore[method-assign]
        threading.Thread.join = _waiting_join  # type: ignore[method-assign]
        yield
    finally:
        for owner, name, value in saved:
            setattr(owner, name, value)
        threading.Condition.wait = saved_classes[0]  # type: ignore[method-assign]
        threading.Thread.start = saved_classes[1]  # type: ignore[method-assign]
        threading.Thread.join = saved_classes[2]  # type: ignore[method-assign]


def _owner() -> VirtualClock | None:
    owner = getattr(threading.current_thread(), _THREAD_ATTR, None)
    if isinstance(owner, VirtualClock) and not owner._closed:
        return owner
    return None


def _caller_is_patchable() -> bool:
    """Whether the code that asked to wait (outside ``threading``) is the user's own."""
    frame = sys._getframe(2)
    while frame is not None and frame.f_globals.get("__name__") == "threading":
        frame = frame.f_back  # type: ignore[assignment]
    return frame is not None and _patchable(str(frame.f_globals.get("__name__", "")))


def _virtual_cond_wait(self: threading.Condition, timeout: float | None = None) -> bool:
    owner = _owner()
    if timeout is None or owner is None or not _caller_is_patchable():
        return bool(_real_cond_wait(self, timeout))
    return owner._wait(self, timeout)


def _inheriting_start(self: threading.Thread) -> None:
    owner = _owner()
    if owner is not None and not self.name.startswith("apiharness-"):
        owner.adopt(self)
    _real_thread_start(self)


def _waiting_join(self: threading.Thread, timeout: float | None = None) -> None:
    # A thread of a virtual clock that joins another is waiting, like one in Condition.wait:
    # the threads it waits for may need time to jump.
    owner = _owner()
    if owner is None:
        _real_thread_join(self, timeout)
        return
    me = threading.get_ident()
    with owner._cond:
        owner._waiting[me] = math.inf
    try:
        _real_thread_join(self, timeout)
    finally:
        with owner._cond:
            owner._waiting.pop(me, None)


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
