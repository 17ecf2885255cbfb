"""Typical user code passing what the behaviours accept at runtime, type-checked by
`make typecheck` (never executed): callables wherever a behaviour goes, and event lists whose
type mypy infers as ``list[object]``, without a cast."""

from __future__ import annotations

from typing import assert_type

import httpx

from apiharness.upstream import (
    Behaviour,
    SSEEvent,
    Upstream,
    chance,
    delay,
    every,
    rate_limit,
    respond,
    sse,
    status,
)
from apiharness.upstream.dialects import openai


def by_header(request: httpx.Request) -> Behaviour:
    return status(503) if "x-fail" in request.headers else respond(200)


def answer(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"path": request.url.path})


def callables_where_behaviours_go(up: Upstream) -> None:
    up.get("/slow").respond(
        delay(2, then=by_header),
        delay(between=(0.1, 0.5), then=answer),
        delay(1, then=lambda request: respond(200, text=request.url.path)),
        chance(0.2, status(503), otherwise=by_header),
        every(3, status(500), otherwise=answer),
        rate_limit(5, per=60, then=by_header),
        openai.token_budget(10_000, then=answer),
    )


def mixed_events(up: Upstream) -> None:
    events = [SSEEvent("a", id="1"), "b"]
    assert_type(events, list[object])  # mypy's join of SSEEvent and str
    up.get("/events").respond(sse(events), sse(iter(events), error_after=1))
    up.get("/tuple").respond(sse((SSEEvent(comment="ping"), "c")))
