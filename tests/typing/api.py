"""Typical user code, type-checked with mypy --strict by `make typecheck` (never executed)."""

from __future__ import annotations

import time

import httpx

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


def mocked_upstream() -> int:
    from apiharness.upstream import (
        Behaviour,
        JournalEntry,
        Outcome,
        Route,
        Upstream,
        chance,
        delay,
        respond,
        status,
    )

    up = Upstream(base_url="https://api.test", seed=1)
    route: Route = up.get("/users/{id}", expect=2).respond(
        status(503, retry_after=2).times(2),
        chance(0.1, delay(3), otherwise=respond(200, json={"id": 1})),
        lambda request: respond(200, text=request.method),
    )

    class Policy:
        def before(self, request: httpx.Request, route: Route) -> Behaviour | None:
            return respond(409) if "Idempotency-Key" not in request.headers else None

        def after(self, request: httpx.Request, route: Route, outcome: Outcome) -> None:
            return None

    route.add_policy(Policy())
    http = httpx.Client(transport=up, base_url=up.base_url)
    http.get("/users/1")
    entry: JournalEntry = up.journal.attempt(1, "GET")
    with up.serve() as server:
        httpx.get(server.base_url + "/users/1")
    intervals: list[float] = up.journal.intervals()
    return entry.status or len(intervals)


def grade_my_client() -> bool:
    from apiharness.conformance import CATALOGUE, Scorecard, grade

    card: Scorecard = grade("myproject.conformance:make_client", scenarios=list(CATALOGUE)[:2])
    card.write_json("scorecard.json")
    return card.ok and all(r.passed for r in card.results)
