"""The SSE consumer on both stacks: one resume machine (``SSEResume``), each client's own parser.

An ``httpx2`` client gets httpx2's built-in ``EventSource`` and its ``ServerSentEvent``; an
``httpx`` one gets httpx-sse's. Breaks are each stack's own ``TransportError`` (in process, and
from the stack's real transport on a loopback socket); the resume must not tell them apart.
"""

from __future__ import annotations

import asyncio
from types import ModuleType

import pytest

from apiharness.clients import ResilientTransport, SSEResume, astream_events, stream_events
from apiharness.clock import VirtualClock
from apiharness.errors import StreamErrorEvent
from apiharness.upstream import SSEEvent, Upstream, sse

SIX = [f"event {i}" for i in range(1, 7)]


def _events(n: int) -> list[SSEEvent]:
    return [SSEEvent(f"event {i}", id=str(i)) for i in range(1, n + 1)]


def _event_class(stack: ModuleType) -> type:
    if hasattr(stack, "ServerSentEvent"):  # httpx2 parses SSE itself
        cls: type = stack.ServerSentEvent
        return cls
    from httpx_sse import ServerSentEvent

    return ServerSentEvent


def consume(
    stack: ModuleType, kind: str, url: str, resume: SSEResume, transport: object = None
) -> list[object]:
    """Every event delivered, read by a sync or an async client of ``stack``."""
    options: dict[str, object] = {"timeout": 5.0}
    if transport is not None:
        options["transport"] = transport
    if kind == "sync":
        with stack.Client(**options) as client:
            return list(stream_events(client, url, resume=resume))

    async def main() -> list[object]:
        async with stack.AsyncClient(**options) as client:
            return [event async for event in astream_events(client, url, resume=resume)]

    return asyncio.run(main())


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_in_process_stream_resumes_for_either_stack(
    stack: ModuleType, kind: str, clock: VirtualClock
) -> None:
    up = Upstream(base_url="https://stream.test")
    events = _events(6)
    up.get("/feed").respond(
        sse(events, retry=1500, disconnect_after=2),
        sse(events, reset_after=2),
        sse(events, resume=False),  # this one replays from the start
    )
    state = SSEResume()
    got = consume(stack, kind, "https://stream.test/feed", state, ResilientTransport(up))
    assert [event.data for event in got] == SIX  # type: ignore[attr-defined]
    assert all(isinstance(event, _event_class(stack)) for event in got)
    assert [e.resumed_after for e in up.journal] == [None, "2", None]
    assert [e.headers.get("last-event-id") for e in up.journal] == [None, "2", "4"]
    assert state.skipped == 4
    assert up.journal.intervals(path="/feed") == [pytest.approx(1.5), pytest.approx(1.5)]


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_reset_on_a_socket_is_resumed_for_either_stack(
    stack: ModuleType, kind: str, clock: VirtualClock
) -> None:
    # The stack's own transport raises its own ReadError for the RST: the consumer must catch
    # that stack's TransportError, not only httpx's.
    up = Upstream()
    up.get("/feed").respond(sse(_events(6), reset_after=3), sse(_events(6)))
    state = SSEResume(reconnection_time=0.5)
    with up.serve() as server:
        got = consume(stack, kind, f"{server.base_url}/feed", state)
    assert [event.data for event in got] == SIX  # type: ignore[attr-defined]
    assert state.reconnects == 1
    assert state.last_event_id == "6"
    assert [e.headers.get("last-event-id") for e in up.journal] == [None, "3"]


def test_an_error_event_is_typed_for_either_stack(stack: ModuleType, clock: VirtualClock) -> None:
    up = Upstream(base_url="https://stream.test")
    up.get("/feed").respond(sse(_events(4), error_after=2))
    with pytest.raises(StreamErrorEvent) as caught:
        consume(stack, "sync", "https://stream.test/feed", SSEResume(), transport=up)
    assert caught.value.event == "error"
