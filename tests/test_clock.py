"""The virtual clock: instant sleeps, shared time across threads and tasks, clean restore."""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
import time
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apiharness import ConfigurationError, SystemClock, VirtualClock, get_clock, use_clock


def test_sleep_advances_instantly_and_is_recorded() -> None:
    clock = VirtualClock()
    started = time.clock_gettime(time.CLOCK_MONOTONIC)
    for delay in (1, 2, 4, 8, 16):
        clock.sleep(delay)
    # Real sleeps would take 31 s; virtual ones take microseconds. The bound is far from both,
    # so a loaded machine cannot fail it and a real sleep cannot pass it.
    assert time.clock_gettime(time.CLOCK_MONOTONIC) - started < 10
    assert clock.monotonic() == 31
    assert clock.sleeps == [1, 2, 4, 8, 16]


@given(st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), max_size=20))
def test_sequential_sleeps_add_up(delays: list[float]) -> None:
    clock = VirtualClock()
    for delay in delays:
        clock.sleep(delay)
    assert clock.monotonic() == pytest.approx(sum(delays))


def test_negative_sleep_is_zero_and_advance_refuses_negative() -> None:
    clock = VirtualClock()
    clock.sleep(-5)
    assert clock.monotonic() == 0
    with pytest.raises(ConfigurationError, match="only moves forward"):
        clock.advance(-1)


def test_concurrent_sleepers_lose_no_time() -> None:
    clock = VirtualClock()
    barrier = threading.Barrier(4)

    def worker() -> None:
        barrier.wait()
        clock.sleep(5)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Sleeps are serialised (see the module docstring): no sleep is lost to a race.
    assert clock.monotonic() == 20
    assert clock.sleeps == [5, 5, 5, 5]


def test_wall_time_and_now_follow_the_start() -> None:
    start = datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)
    clock = VirtualClock(start)
    clock.advance(61)
    assert clock.now() == datetime(2031, 5, 6, 7, 9, 10, tzinfo=UTC)
    assert clock.time() == start.timestamp() + 61


def test_bad_start_values_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="naive datetime"):
        VirtualClock(datetime(2030, 1, 1))
    with pytest.raises(ConfigurationError, match="not str"):
        VirtualClock("yesterday")  # type: ignore[arg-type]


def test_patch_routes_stdlib_and_restores() -> None:
    real = (time.sleep, time.monotonic, time.time, asyncio.sleep)
    clock = VirtualClock()
    with clock.patch():
        assert get_clock() is clock
        before = time.monotonic()
        time.sleep(30)
        assert time.monotonic() - before == 30
        assert time.time() == clock.time()
    assert (time.sleep, time.monotonic, time.time, asyncio.sleep) == real
    assert isinstance(get_clock(), SystemClock)


def test_patched_asyncio_sleep_advances_and_returns_result() -> None:
    clock = VirtualClock()

    async def main() -> str:
        return await asyncio.sleep(60, result="done")

    with clock.patch():
        started = time.clock_gettime(time.CLOCK_MONOTONIC)
        assert asyncio.run(main()) == "done"
    assert clock.monotonic() == 60
    assert clock.sleeps == [60]
    assert time.clock_gettime(time.CLOCK_MONOTONIC) - started < 20  # a real sleep takes 60 s


def test_asleep_is_a_suspension_point() -> None:
    clock = VirtualClock()
    order: list[str] = []

    async def sleeper(name: str) -> None:
        order.append(f"{name} start")
        await clock.asleep(10)
        order.append(f"{name} end")

    async def main() -> None:
        await asyncio.gather(sleeper("a"), sleeper("b"))

    asyncio.run(main())
    assert order == ["a start", "b start", "a end", "b end"]
    assert clock.monotonic() == 20


def test_wait_until_wakes_when_advanced() -> None:
    clock = VirtualClock()
    woke = threading.Event()

    def waiter() -> None:
        if clock.wait_until(7, timeout=5):
            woke.set()

    thread = threading.Thread(target=waiter)
    thread.start()
    clock.advance(3)
    assert not woke.wait(0.05)
    clock.advance(4)
    thread.join()
    assert woke.is_set()


def test_use_clock_restores_on_error_and_refuses_non_clocks() -> None:
    clock = VirtualClock()
    seen = []

    def fail_inside() -> None:
        with use_clock(clock):
            seen.append(get_clock())
            raise RuntimeError

    with pytest.raises(RuntimeError):
        fail_inside()
    assert seen == [clock]
    assert isinstance(get_clock(), SystemClock)
    not_a_clock: object = object()
    with pytest.raises(ConfigurationError, match="needs an object with time"):
        use_clock(not_a_clock).__enter__()  # type: ignore[arg-type]


def test_clock_fixture_is_virtual(clock: VirtualClock) -> None:
    started = time.clock_gettime(time.CLOCK_MONOTONIC)
    time.sleep(3600)
    assert clock.monotonic() == 3600
    assert time.clock_gettime(time.CLOCK_MONOTONIC) - started < 60  # a real sleep takes an hour


def test_event_loops_keep_real_time_for_socket_timeouts() -> None:
    clock = VirtualClock()
    original = asyncio.BaseEventLoop.time

    async def main() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        before = loop.time()
        clock.advance(1000)  # virtual time jumps; a loop timer must not fire early
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.Event().wait(), timeout=0.05)
        return before, loop.time()

    with clock.patch():
        started = time.clock_gettime(time.CLOCK_MONOTONIC)
        before, after = asyncio.run(main())
        assert 0.04 <= after - before < 5
        assert time.clock_gettime(time.CLOCK_MONOTONIC) - started >= 0.04
    assert asyncio.BaseEventLoop.time is original


# -- every way to read or wait for time is virtual and consistent (issue 24, point 1) ----------

from time import monotonic as bound_monotonic  # noqa: E402 - bound at import on purpose
from time import perf_counter as bound_perf_counter  # noqa: E402
from time import sleep as bound_sleep  # noqa: E402
from time import time as bound_time  # noqa: E402


def _real_now() -> float:
    return time.clock_gettime(time.CLOCK_REALTIME)


def test_every_reading_is_virtual_and_consistent_also_when_bound_at_import() -> None:
    import datetime as dt

    start = datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)
    clock = VirtualClock(start)
    with clock.patch():
        readings = [
            time.monotonic,
            time.perf_counter,
            bound_monotonic,
            bound_perf_counter,
            lambda: time.monotonic_ns() / 1e9,
            lambda: time.perf_counter_ns() / 1e9,
        ]
        walls = [
            time.time,
            bound_time,
            lambda: time.time_ns() / 1e9,
            lambda: dt.datetime.now(UTC).timestamp(),
            lambda: dt.datetime.now().timestamp(),
            lambda: dt.datetime.today().timestamp(),
            lambda: dt.datetime.utcnow().replace(tzinfo=UTC).timestamp(),
        ]
        before = [f() for f in readings + walls]
        bound_sleep(90)
        assert dt.date.today() == dt.date(2031, 5, 6)
        after = [f() for f in readings + walls]
    assert [round(b - a, 3) for a, b in zip(before, after, strict=True)] == [90.0] * len(before)
    assert before[len(readings)] == start.timestamp()
    assert clock.sleeps == [90]
    assert abs(time.time() - _real_now()) < 5  # restored


def test_the_virtual_wall_clock_starts_at_the_real_present_unless_told() -> None:
    assert abs(VirtualClock().time() - _real_now()) < 2
    assert VirtualClock(1_000_000).time() == 1_000_000


def test_waits_used_as_sleeps_are_virtual() -> None:
    clock = VirtualClock()
    cond = threading.Condition()
    real_started = time.clock_gettime(time.CLOCK_MONOTONIC)
    with clock.patch():
        assert threading.Event().wait(30) is False
        with cond:
            assert cond.wait(12) is False
        flag = threading.Event()
        flag.set()
        assert flag.wait(1000) is True  # a set event does not move time
    assert clock.monotonic() == 42
    assert time.clock_gettime(time.CLOCK_MONOTONIC) - real_started < 2


def test_a_wait_ends_when_notified_before_its_virtual_deadline() -> None:
    clock = VirtualClock()
    done = threading.Event()
    with clock.patch():

        def worker() -> None:
            time.sleep(5)
            done.set()

        thread = threading.Thread(target=worker)
        thread.start()  # belongs to the clock: started by its thread
        assert done.wait(60) is True
        thread.join()
    assert 5 <= clock.monotonic() < 60


def test_asyncio_and_anyio_sleeps_are_virtual() -> None:
    import anyio

    clock = VirtualClock()

    async def main() -> None:
        await asyncio.sleep(7)
        await anyio.sleep(11)

    with clock.patch():
        anyio.run(main)
    assert clock.sleeps == [7, 11]


def test_a_thread_that_outlives_its_clock_never_touches_the_next_one() -> None:
    first, second = VirtualClock(), VirtualClock()
    stop = threading.Event()
    slept = []

    def loop_forever() -> None:
        while not stop.is_set():
            time.sleep(1)
            slept.append(1)

    with first.patch():
        zombie = threading.Thread(target=loop_forever, daemon=True)
        zombie.start()
        while len(slept) < 3:
            pass  # the zombie's sleeps are instant on its own clock
    first.close()
    with second.patch():
        time.sleep(0.5)
        bound_sleep(1.5)  # meanwhile the zombie sleeps in real time, on no clock
        assert zombie.is_alive()
        real = time.clock_gettime(time.CLOCK_MONOTONIC)
        while time.clock_gettime(time.CLOCK_MONOTONIC) - real < 0.3:
            time.sleep(0)
    stop.set()
    zombie.join(5)
    assert [s for s in second.sleeps if s] == [0.5, 1.5]
    assert second.monotonic() == 2


def test_a_virtual_wait_never_outlasts_its_real_timeout() -> None:
    """A thread of the clock blocked where no wait shows (a plain lock) stops time from
    jumping; the wait then ends after its real timeout, as the real one would, not never."""
    clock = VirtualClock()
    lock = threading.Lock()
    lock.acquire()
    with clock.patch():
        blocked = threading.Thread(target=lock.acquire)  # belongs to the clock, never waits
        blocked.start()
        real = time.clock_gettime(time.CLOCK_MONOTONIC)
        assert threading.Event().wait(0.2) is False
        took = time.clock_gettime(time.CLOCK_MONOTONIC) - real
        lock.release()
        blocked.join()
    assert 0.2 <= took < 5
    assert clock.monotonic() == pytest.approx(0.2)


def test_a_set_event_is_never_read_as_a_timeout() -> None:
    # A virtual wait used to wait in 5 ms slices of real waits, and a notify that landed as a
    # slice timed out was lost: the set Event then read as a 30 s timeout. Setters here fire
    # at random real moments, so many sets meet a slice boundary.
    clock = VirtualClock()
    misses: list[float] = []

    def busy(seconds: float) -> None:  # a real pause that no patched clock shortens
        end = time.clock_gettime(time.CLOCK_MONOTONIC) + seconds
        while time.clock_gettime(time.CLOCK_MONOTONIC) < end:
            pass

    def pair(delay: float) -> None:
        event = threading.Event()
        setter = threading.Thread(target=lambda: (busy(delay), event.set()))
        setter.start()
        if not event.wait(timeout=30):
            misses.append(delay)
        setter.join()

    with clock.patch():
        delays = [random.Random(i).uniform(0.0, 0.012) for i in range(150)]
        workers = [
            threading.Thread(target=lambda part=part: [pair(d) for d in part])
            for part in (delays[0::3], delays[1::3], delays[2::3])
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    assert misses == []
