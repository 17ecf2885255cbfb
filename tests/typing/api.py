"""Typical user code, type-checked with mypy --strict by `make typecheck` (never executed)."""

from __future__ import annotations

import time

import apiharness
from apiharness import ApiHarnessError, Clock, VirtualClock, get_clock, use_clock


def virtual_backoff() -> float:
    clock = VirtualClock()
    with clock.patch():
        time.sleep(1.5)
    assert isinstance(get_clock(), Clock)
    return clock.monotonic()


def switch_clock(clock: Clock) -> str:
    with use_clock(clock) as active:
        return repr(active)


def catch_everything() -> str | None:
    try:
        virtual_backoff()
    except ApiHarnessError as exc:
        return str(exc)
    return apiharness.__version__


def grade_my_client() -> bool:
    from apiharness.conformance import CATALOGUE, Scorecard, grade

    card: Scorecard = grade("myproject.conformance:make_client", scenarios=list(CATALOGUE)[:2])
    card.write_json("scorecard.json")
    return card.ok and all(r.passed for r in card.results)
