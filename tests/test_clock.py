"""The virtual clock: instant sleeps, shared time across threads and tasks, clean restore."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apiharness import ConfigurationError, SystemClock, VirtualClock, get_clock, use_clock


def test_sleep_advances_instantly_and_is_recorded() -> None:
    clock = VirtualClock()
    started = time.perf_counter()
    for delay in (1, 2, 4, 8, 16):
        clock.sleep(delay)
    # Real sleeps would take 31 s; virtual ones take microseconds. The bound is far from both,
    # so a loaded machine cannot fail it and a real sleep cannot pass it.
    assert time.perf_counter() - started < 10
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
        started = time.perf_counter()
        assert asyncio.run(main()) == "done"
    assert clock.monotonic() == 60
    assert clock.sleeps == [60]
    assert time.perf_counter() - started < 20  # a real sleep takes 60 s


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
    started = time.perf_counter()
    time.sleep(3600)
    assert clock.monotonic() == 3600
    assert time.perf_counter() - started < 60  # a real sleep takes an hour


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
        started = time.perf_counter()
        before, after = asyncio.run(main())
        assert 0.04 <= after - before < 5
        assert time.perf_counter() - started >= 0.04
    assert asyncio.BaseEventLoop.time is original
