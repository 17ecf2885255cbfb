"""Typical user code of apiharness.clients, type-checked by `make typecheck` (never executed)."""

from __future__ import annotations

import httpx

from apiharness.clients import (
    Backoff,
    CircuitBreaker,
    CircuitState,
    Event,
    ResilientTransport,
    RetryPolicy,
    ServerSentEvent,
    SSEResume,
    TokenBucket,
    astream_events,
    async_resilient_client,
    logging_hook,
    resilient_client,
    stream_events,
)
from apiharness.errors import CircuitOpen, RetryExhausted, StreamErrorEvent, StreamInterrupted


def compose_with_my_client() -> httpx.Client:
    transport = ResilientTransport(
        httpx.HTTPTransport(retries=0),
        retry=RetryPolicy(Backoff("decorrelated", base=0.5, cap=30), max_attempts=6),
        breaker=CircuitBreaker(window="time", window_size=60, open_duration=15),
        limiter=TokenBucket(rate=10, capacity=20),
        on_event=logging_hook(),
    )
    return httpx.Client(base_url="https://api.example", transport=transport)


def one_call() -> int | None:
    events: list[Event] = []
    with resilient_client("https://api.example", rate=5, on_event=events.append) as client:
        try:
            return client.get("/prices").status_code
        except RetryExhausted as exc:
            return exc.attempts[-1].status
        except CircuitOpen as exc:
            print(exc.retry_in)
            return None


async def one_call_async() -> bool:
    breaker = CircuitBreaker()
    async with async_resilient_client("https://api.example", breaker=breaker) as client:
        await client.get("/prices")
    return breaker.state is CircuitState.CLOSED


def read_a_stream() -> list[str]:
    resume = SSEResume(is_done=lambda event: event.data == "[DONE]", max_reconnects=3)
    with httpx.Client(transport=ResilientTransport(httpx.HTTPTransport())) as client:
        try:
            events: list[ServerSentEvent] = list(
                stream_events(client, "https://api.example/feed", resume=resume)
            )
        except StreamErrorEvent as exc:
            return [exc.data]
        except StreamInterrupted as exc:
            return [exc.last_event_id]
    return [event.data for event in events]


async def read_a_stream_async() -> str:
    async with httpx.AsyncClient() as client:
        async for event in astream_events(client, "https://api.example/feed"):
            return event.data
    return ""
