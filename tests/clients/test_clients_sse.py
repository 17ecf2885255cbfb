"""The SSE consumer against a real socket: resume, retry:, no duplicates, typed errors."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from _sse_server import Script, numbered, serve
from hypothesis import given
from hypothesis import strategies as st

from apiharness.clients import (
    ResilientTransport,
    ServerSentEvent,
    SSEResume,
    astream_events,
    stream_events,
)
from apiharness.clock import VirtualClock
from apiharness.errors import StreamError, StreamErrorEvent, StreamInterrupted
from apiharness.upstream import SSEEvent, Upstream, sse

SIX = [f"event {i}" for i in range(1, 7)]


def consume(
    kind: str,
    url: str,
    resume: SSEResume,
    transport: Any = None,
    timeout: float = 5.0,
) -> list[str]:
    """The data of every event delivered, read by a sync or an async httpx client."""
    if kind == "sync":
        with httpx.Client(transport=transport, timeout=timeout) as client:
            return [event.data for event in stream_events(client, url, resume=resume)]

    async def main() -> list[str]:
        async with httpx.AsyncClient(transport=transport, timeout=timeout) as client:
            return [event.data async for event in astream_events(client, url, resume=resume)]

    return asyncio.run(main())


@pytest.fixture
def clock() -> Any:
    clock = VirtualClock()
    with clock.patch():
        yield clock


@pytest.mark.parametrize("ending", ["close", "reset"])
def test_a_broken_stream_resumes_after_the_last_event_id(
    kind: str, clock: VirtualClock, ending: str
) -> None:
    script = Script(numbered(6), cuts=[3, None], ending=ending)
    state = SSEResume()
    with serve(script) as url:
        assert consume(kind, url, state) == SIX
    assert [r.get("last-event-id") for r in script.requests] == [None, "3"]
    assert all(r["accept"] == "text/event-stream" for r in script.requests)
    assert all(r["cache-control"] == "no-store" for r in script.requests)
    assert state.reconnects == 1
    assert state.skipped == 0
    assert clock.monotonic() == pytest.approx(3.0)  # the default reconnection time


def test_a_replaying_upstream_delivers_nothing_twice(kind: str, clock: VirtualClock) -> None:
    # It ignores Last-Event-ID and starts over each time, a little further each time.
    script = Script(numbered(6), cuts=[2, 4, None], honour=False)
    state = SSEResume()
    with serve(script) as url:
        assert consume(kind, url, state) == SIX
    assert [r.get("last-event-id") for r in script.requests] == [None, "2", "4"]
    assert state.skipped == 2 + 4


def test_events_without_their_own_id_are_deduplicated_by_position(
    kind: str, clock: VirtualClock
) -> None:
    events = [("1", "id: 1\ndata: a"), ("", "data: b"), ("", "data: c"), ("2", "id: 2\ndata: d")]
    script = Script(events, cuts=[3, None], honour=False)
    state = SSEResume()
    with serve(script) as url:
        assert consume(kind, url, state) == ["a", "b", "c", "d"]
    assert script.requests[1]["last-event-id"] == "1"  # b and c inherited id 1


def test_the_retry_field_sets_the_wait_before_reconnecting(kind: str, clock: VirtualClock) -> None:
    script = Script(numbered(4), cuts=[2, None], head="retry: 250\n\n")
    with serve(script) as url:
        assert consume(kind, url, SSEResume()) == SIX[:4]
    assert clock.monotonic() == pytest.approx(0.25)


def test_consecutive_breaks_back_off_then_give_up_typed(kind: str, clock: VirtualClock) -> None:
    script = Script(numbered(3), cuts=[1, 0], head="retry: 1000\n\n")
    state = SSEResume(max_reconnects=3)
    with serve(script) as url, pytest.raises(StreamInterrupted) as caught:
        consume(kind, url, state)
    assert caught.value.reconnects == 3
    assert caught.value.last_event_id == "1"
    # Waits: 1 s after the first break (which delivered an event), then 2 s and 4 s.
    assert clock.monotonic() == pytest.approx(1 + 2 + 4)
    assert len(script.requests) == 4


def test_a_stalled_stream_is_reopened_after_a_read_timeout(kind: str, clock: VirtualClock) -> None:
    # Real waits: the stall outlasts the read timeout, which is generous enough for a loaded
    # machine to send the first events in time (else one more reconnect, still resumed).
    script = Script(numbered(4), cuts=[2, None], stall=3.0, head="retry: 10\n\n")
    with serve(script) as url:
        assert consume(kind, url, SSEResume(), timeout=0.6) == SIX[:4]
    assert script.requests[-1]["last-event-id"] == "2"


def test_an_error_event_inside_a_200_stream_is_a_typed_error(
    kind: str, clock: VirtualClock
) -> None:
    events = [("1", "id: 1\ndata: ok"), ("", 'event: error\ndata: {"type": "overloaded_error"}')]
    with serve(Script(events)) as url, pytest.raises(StreamErrorEvent) as caught:
        consume(kind, url, SSEResume())
    assert caught.value.event == "error"
    assert caught.value.data == '{"type": "overloaded_error"}'
    assert "overloaded" not in str(caught.value)  # the upstream's text stays off the message


def test_a_clean_end_before_the_end_marker_is_a_break(kind: str, clock: VirtualClock) -> None:
    events = [*numbered(2), ("", "data: [DONE]")]
    script = Script(events, cuts=[1, None], ending="close")
    state = SSEResume(is_done=lambda e: e.data == "[DONE]")
    with serve(script) as url:
        assert consume(kind, url, state) == ["event 1", "event 2"]
    assert len(script.requests) == 2


def test_204_ends_the_stream_and_a_non_stream_body_is_refused(
    kind: str, clock: VirtualClock
) -> None:
    with serve(Script(numbered(2), status="204 No Content")) as url:
        assert consume(kind, url, SSEResume()) == []
    refused = Script(numbered(2), content_type="application/json")
    with serve(refused) as url, pytest.raises(StreamError, match="text/event-stream body"):
        consume(kind, url, SSEResume())


def test_composes_with_resilient_transport_for_the_opening_request(
    kind: str, clock: VirtualClock
) -> None:
    # The transport retries the opening request (503s, a reconnect's 503 too); the consumer
    # resumes the stream. Each layer does its own part.
    script = Script(numbered(4), cuts=[2, None], refusals=["503 Service Unavailable"] * 2)
    inner: Any = httpx.HTTPTransport() if kind == "sync" else httpx.AsyncHTTPTransport()
    state = SSEResume()
    with serve(script) as url:
        got = consume(kind, url, state, transport=ResilientTransport(inner, seed=1))
    assert got == SIX[:4]
    assert len(script.requests) == 4
    assert state.reconnects == 1
    assert script.requests[3]["last-event-id"] == "2"


# -- the state machine alone ---------------------------------------------------------------


OPENED = httpx.Response(
    200,
    headers={"content-type": "text/event-stream"},
    request=httpx.Request("GET", "http://127.0.0.1/stream"),
)


@st.composite
def broken_runs(draw: st.DrawFn) -> tuple[list[bool], list[int], list[bool]]:
    """Which events carry an id field (the first always does), how many events each broken
    connection sends, and whether each reconnect resumes after Last-Event-ID or replays."""
    n = draw(st.integers(1, 12))
    carries = [True, *draw(st.lists(st.booleans(), min_size=n - 1, max_size=n - 1))]
    cuts = draw(st.lists(st.integers(0, n), max_size=4))
    honour = draw(st.lists(st.booleans(), min_size=len(cuts), max_size=len(cuts)))
    return carries, cuts, honour


@given(broken_runs())
def test_every_event_is_delivered_exactly_once_in_order(
    run: tuple[list[bool], list[int], list[bool]],
) -> None:
    carries, cuts, honour = run
    state = SSEResume(max_reconnects=len(cuts) + 1)
    delivered: list[str] = []
    for cut, resumes in [*zip(cuts, honour, strict=True), (len(carries), True)]:
        start = 0
        if resumes and state.last_event_id:  # event i carries the id str(i)
            start = int(state.last_event_id) + 1
        state.opened(OPENED)
        buffer = ""  # httpx-sse's id buffer starts empty on each connection
        for i in range(start, min(len(carries), start + cut)):
            buffer = str(i) if carries[i] else buffer
            got = state.receive(ServerSentEvent(data=f"d{i}", id=buffer))
            if got is not None:
                delivered.append(got.data)
        if cut < len(carries):
            state.interrupted(httpx.ReadError("cut"))
    assert delivered == [f"d{i}" for i in range(len(carries))]


# -- against the harness's own streaming upstream, in process -------------------------------


def _upstream_events(n: int) -> list[SSEEvent]:
    return [SSEEvent(f"event {i}", id=str(i)) for i in range(1, n + 1)]


# The resume-and-retry scenario in process runs on both stacks: tests/httpx2_stack.


def test_in_process_upstream_error_event_after_200(kind: str, clock: VirtualClock) -> None:
    up = Upstream(base_url="https://stream.test")
    up.get("/feed").respond(sse(_upstream_events(4), error_after=2))
    with pytest.raises(StreamErrorEvent) as caught:
        consume(kind, "https://stream.test/feed", SSEResume(), transport=up)
    assert caught.value.event == "error"


def test_repr_shows_the_state_not_the_bookkeeping() -> None:
    state = SSEResume(last_event_id="7")
    state.receive(ServerSentEvent(data="x", id="8"))
    assert "last_event_id='8'" in repr(state)
    assert "_delivered" not in repr(state)
