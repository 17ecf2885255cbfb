"""Typical user code of the streaming behaviours and provider dialects, type-checked by
`make typecheck` (never executed)."""

from __future__ import annotations

import httpx

from apiharness.upstream import SSEEvent, Upstream, chunked, ndjson, respond, sse
from apiharness.upstream.dialects import Dialect, anthropic, openai


def declare(up: Upstream) -> None:
    events: list[SSEEvent | str] = [SSEEvent("a", id="1"), SSEEvent(comment="ping"), "b"]
    up.get("/events").respond(
        sse(events, delays=[0.0, 0.1, 0.2], disconnect_after=2, retry=1000),
        sse(events, error_after=1, error=SSEEvent('{"error": 1}', event="error")),
    )
    up.get("/rows").respond(ndjson([{"n": 1}], stall=30.0, stall_after=1, reset_after=1))
    up.get("/raw").respond(chunked(respond(200, text="ab"), [(0.0, b"a"), (0.5, b"b")]))


def providers(up: Upstream, dialects: list[Dialect]) -> None:
    for dialect in dialects:
        up.post(f"/{dialect.name}").respond(
            dialect.rate_limited(kind="tokens", retry_after_ms=200),
            dialect.error(500, should_retry=False),
            dialect.overloaded(),
            dialect.stream(["Hel", "lo"], error_after=2, delays=0.1),
            dialect.token_budget(10_000, then=dialect.reply("hi")),
        )


def both(up: Upstream) -> None:
    providers(up, [openai, anthropic])


def resumed(up: Upstream) -> list[str | None]:
    return [entry.resumed_after for entry in up.journal]


def read(http: httpx.Client) -> bytes:
    with http.stream("GET", "/events") as response:
        return b"".join(response.iter_raw())
