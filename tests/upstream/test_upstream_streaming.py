"""sse() and ndjson(): what a kept parser reads from them, and the mid-stream faults, the same
in-process and on a real socket (chunked transfer, real FIN and RST)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import httpx
import httpx_sse
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apiharness import VirtualClock, use_clock
from apiharness.errors import DeclarationError
from apiharness.upstream import (
    Behaviour,
    SSEEvent,
    Upstream,
    chunked,
    delay,
    ndjson,
    respond,
    sse,
)

TIMEOUT = 0.5  # real seconds on the socket (generous: the machine is shared); virtual in-process

EVENTS = [SSEEvent(f"event {n}", id=str(n)) for n in range(1, 6)]


def read_sse(response: httpx.Response) -> list[httpx_sse.ServerSentEvent]:
    """The events a kept parser (httpx-sse) reads from a streamed response."""
    return list(httpx_sse.EventSource(response).iter_sse())


def events_then_error(
    http: httpx.Client, path: str, headers: dict[str, str] | None = None
) -> tuple[list[str], type[BaseException] | None]:
    """The data of each event read before the stream ended, and what ended it."""
    seen: list[str] = []
    try:
        with http.stream("GET", path, headers=headers) as response:
            for event in httpx_sse.EventSource(response).iter_sse():
                seen.append(event.data)
    except httpx.HTTPError as exc:
        return seen, type(exc)
    return seen, None


async def events_then_error_async(
    http: httpx.AsyncClient, path: str
) -> tuple[list[str], type[BaseException] | None]:
    seen: list[str] = []
    try:
        async with http.stream("GET", path) as response:
            async for event in httpx_sse.EventSource(response).aiter_sse():
                seen.append(event.data)
    except httpx.HTTPError as exc:
        return seen, type(exc)
    return seen, None


# -- the format, judged by a kept parser --------------------------------------------------------

_text = st.text(
    st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=30
)
_field = _text.filter(lambda s: "\r" not in s and "\n" not in s)
_events = st.builds(
    SSEEvent,
    data=_text,
    event=st.none() | _field.filter(bool),
    id=st.none() | _field,
    retry=st.none() | st.integers(0, 10**6),
)


@settings(max_examples=60, deadline=None)
@given(events=st.lists(_events, min_size=1, max_size=6))
def test_a_kept_parser_reads_back_every_field_of_every_event(events: list[SSEEvent]) -> None:
    up = Upstream()
    up.get("/s").respond(sse(events))
    http = httpx.Client(transport=up, base_url=up.base_url)
    with http.stream("GET", "/s") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        read = read_sse(response)
    # WHATWG: data lines split on CR, LF or CRLF come back joined with LF.
    want = [e.data.replace("\r\n", "\n").replace("\r", "\n") for e in events if e.data is not None]
    assert [e.data for e in read] == want
    assert [e.event for e in read] == [e.event or "message" for e in events]
    # The last event id persists from event to event until another sets it.
    last, ids = "", []
    for event in events:
        last = event.id if event.id is not None else last
        ids.append(last)
    assert [e.id for e in read] == ids
    assert [e.retry for e in read] == [e.retry for e in events]


def test_comments_and_heartbeats_are_sent_and_not_dispatched() -> None:
    up = Upstream()
    up.get("/s").respond(sse([SSEEvent(comment="ping"), "a", SSEEvent(comment=""), "b"]))
    with httpx.Client(transport=up, base_url=up.base_url) as http:
        with http.stream("GET", "/s") as response:
            raw = b"".join(response.iter_raw())
        with http.stream("GET", "/s") as response:
            read = read_sse(response)
    assert raw.startswith(b": ping\n\n")
    assert b":\n\n" in raw.replace(b": \n", b":\n")
    assert [e.data for e in read] == ["a", "b"]


def test_each_event_is_a_chunk_of_its_own_in_chunked_transfer_on_the_socket() -> None:
    up = Upstream()
    up.get("/s").respond(sse(["a", "b", "c"], retry=1500))
    with (
        up.serve() as server,
        httpx.Client(base_url=server.base_url, timeout=TIMEOUT) as http,
        http.stream("GET", "/s") as response,
    ):
        assert response.headers["transfer-encoding"] == "chunked"
        assert "content-length" not in response.headers
        chunks = list(response.iter_raw())
    # Nothing waits between them, so they may arrive together; the bytes are what counts.
    assert b"".join(chunks) == b"retry: 1500\n\ndata: a\n\ndata: b\n\ndata: c\n\n"
    assert up.journal[0].delivered is True


def test_ndjson_serves_one_compact_json_value_per_line() -> None:
    items = [{"n": 1}, [1, 2], "x", None, 2.5]
    up = Upstream()
    up.get("/n").respond(ndjson(items))
    http = httpx.Client(transport=up, base_url=up.base_url)
    with http.stream("GET", "/n") as response:
        assert response.headers["content-type"] == "application/x-ndjson"
        lines = list(response.iter_lines())
    assert [json.loads(line) for line in lines] == items


# -- faults: the same in-process and on the socket ----------------------------------------------

FAULTS: dict[str, Behaviour] = {
    "complete": sse(EVENTS),
    "disconnect": sse(EVENTS, disconnect_after=2),
    "reset": sse(EVENTS, delays=[0, 0, TIMEOUT / 5, 0, 0], reset_after=2),
    "stall-past-timeout": sse(EVENTS, stall=TIMEOUT * 4, stall_after=3),
    "stall-within-timeout": sse(EVENTS, stall=TIMEOUT / 5, stall_after=3),
    "delays-within-timeout": sse(EVENTS, delays=TIMEOUT / 10),
    "error-event": sse(EVENTS, error_after=1),
    "malformed": sse(EVENTS[:2], malformed_after=1),
    "delayed-head": delay(TIMEOUT / 5, then=sse(EVENTS[:1], disconnect_after=1)),
}

ALL = [e.data for e in EVENTS]
ERROR = '{"error": {"type": "server_error", "message": "The stream failed after it started."}}'
EXPECTED: dict[str, tuple[list[str | None], type[BaseException] | None]] = {
    "complete": (list(ALL), None),
    "disconnect": (ALL[:2], httpx.RemoteProtocolError),
    "reset": (ALL[:2], httpx.ReadError),
    "stall-past-timeout": (ALL[:3], httpx.ReadTimeout),
    "stall-within-timeout": (list(ALL), None),
    "delays-within-timeout": (list(ALL), None),
    "error-event": ([ALL[0], ERROR], None),
    "malformed": ([ALL[0], '{"id": 1, "name": "unterminated', ALL[1]], None),
    "delayed-head": (ALL[:1], httpx.RemoteProtocolError),
}


def faulty() -> Upstream:
    up = Upstream()
    for name, behaviour in FAULTS.items():
        up.get(f"/{name}").respond(behaviour)
    return up


def test_every_stream_fault_reads_the_same_events_and_error_in_process_and_on_the_socket() -> None:
    up = faulty()
    with use_clock(VirtualClock()):
        with httpx.Client(transport=up, base_url=up.base_url, timeout=TIMEOUT) as http:
            in_process = {name: events_then_error(http, f"/{name}") for name in FAULTS}

        async def run_async() -> dict[str, object]:
            async with httpx.AsyncClient(
                transport=up, base_url=up.base_url, timeout=TIMEOUT
            ) as client:
                return {name: await events_then_error_async(client, f"/{name}") for name in FAULTS}

        in_process_async = asyncio.run(run_async())
    with up.serve() as server:
        with httpx.Client(base_url=server.base_url, timeout=TIMEOUT) as http:
            on_socket = {name: events_then_error(http, f"/{name}") for name in FAULTS}

        async def run_socket() -> dict[str, object]:
            async with httpx.AsyncClient(base_url=server.base_url, timeout=TIMEOUT) as client:
                return {name: await events_then_error_async(client, f"/{name}") for name in FAULTS}

        on_socket_async = asyncio.run(run_socket())
    assert on_socket == EXPECTED
    assert in_process == EXPECTED
    assert on_socket_async == EXPECTED
    assert in_process_async == EXPECTED


def test_the_in_process_errors_carry_httpcore_wording() -> None:
    up = faulty()
    http = httpx.Client(transport=up, base_url=up.base_url)
    with pytest.raises(httpx.RemoteProtocolError) as in_process:
        http.get("/disconnect")
    with (
        up.serve() as server,
        httpx.Client(base_url=server.base_url) as http,
        pytest.raises(httpx.RemoteProtocolError) as on_socket,
    ):
        http.get("/disconnect")
    assert str(in_process.value) == str(on_socket.value)


@pytest.mark.parametrize("name", ["complete", "disconnect", "reset", "error-event"])
def test_the_journal_agrees_across_deliveries(name: str) -> None:
    up = faulty()
    with (
        use_clock(VirtualClock()),
        httpx.Client(transport=up, base_url=up.base_url, timeout=TIMEOUT) as http,
    ):
        events_then_error(http, f"/{name}")
    with up.serve() as server, httpx.Client(base_url=server.base_url, timeout=TIMEOUT) as http:
        events_then_error(http, f"/{name}")
    first, second = up.journal
    assert (first.status, first.delivered) == (second.status, second.delivered)
    assert first.status == 200
    assert first.delivered is (name in {"complete", "error-event"})


def test_per_event_delays_and_stalls_pass_in_virtual_time() -> None:
    up = Upstream()
    up.get("/s").respond(sse(EVENTS[:3], delays=[1.0, 2.0, 4.0], stall=30.0, stall_after=1))
    clock = VirtualClock()
    arrivals: list[float] = []
    with use_clock(clock), httpx.Client(transport=up, base_url=up.base_url, timeout=60) as http:
        start = clock.monotonic()
        with http.stream("GET", "/s") as response:
            for _ in httpx_sse.EventSource(response).iter_sse():
                arrivals.append(clock.monotonic() - start)
    assert arrivals == [1.0, 1.0 + 30.0 + 2.0, 1.0 + 30.0 + 2.0 + 4.0]
    assert clock.sleeps == []  # the upstream's waits are not the client's schedule


# -- resume -------------------------------------------------------------------------------------


@pytest.mark.parametrize("delivery", ["in-process", "socket"])
def test_a_reconnect_with_last_event_id_continues_after_it_and_is_journaled(delivery: str) -> None:
    up = Upstream()
    up.get("/s").respond(sse(EVENTS, disconnect_after=2), sse(EVENTS))

    def run(http: httpx.Client) -> list[str]:
        seen, error = events_then_error(http, "/s")
        assert error is httpx.RemoteProtocolError
        more, error = events_then_error(http, "/s", headers={"Last-Event-ID": "2"})
        assert error is None
        return seen + more

    if delivery == "socket":
        with up.serve() as server, httpx.Client(base_url=server.base_url) as http:
            seen = run(http)
    else:
        with httpx.Client(transport=up, base_url=up.base_url) as http:
            seen = run(http)
    assert seen == ALL  # nothing lost, nothing twice
    assert [entry.resumed_after for entry in up.journal] == [None, "2"]


def test_resume_counts_faults_from_the_resumed_event_and_ignores_unknown_ids() -> None:
    up = Upstream()
    up.get("/s").respond(sse(EVENTS, disconnect_after=2))
    with httpx.Client(transport=up, base_url=up.base_url) as http:
        resumed = events_then_error(http, "/s", headers={"Last-Event-ID": "1"})
        unknown = events_then_error(http, "/s", headers={"Last-Event-ID": "nope"})
        last = events_then_error(http, "/s", headers={"Last-Event-ID": "5"})
    assert resumed == (ALL[1:3], httpx.RemoteProtocolError)
    assert unknown == (ALL[:2], httpx.RemoteProtocolError)
    # Nothing remains after the last event: the cut comes at once, as declared.
    assert last == ([], httpx.RemoteProtocolError)
    assert [e.resumed_after for e in up.journal] == ["1", None, "5"]


def test_resume_false_always_starts_over() -> None:
    up = Upstream()
    up.get("/s").respond(sse(EVENTS[:2], resume=False))
    with httpx.Client(transport=up, base_url=up.base_url) as http:
        seen = events_then_error(http, "/s", headers={"Last-Event-ID": "1"})
    assert seen == (ALL[:2], None)
    assert up.journal[0].resumed_after is None


# -- declarations -------------------------------------------------------------------------------


def bad_declarations() -> Iterator[tuple[str, object]]:
    yield "line break", lambda: SSEEvent("x", id="1\n2")
    yield "empty event", SSEEvent
    yield "both ends", lambda: sse(["a"], disconnect_after=1, reset_after=1)
    yield "past the end", lambda: sse(["a"], error_after=2)
    yield "delays count", lambda: sse(["a", "b"], delays=[1.0])
    yield "negative delay", lambda: ndjson([1], delays=-1)
    yield "not json", lambda: ndjson([object()])
    yield "a string", lambda: sse("abc")
    yield "neither event nor str", lambda: sse([SSEEvent("a"), b"b"])
    yield "a mapping as an event", lambda: sse([{"data": "a"}])
    yield "pieces short of the body", lambda: chunked(respond(200, text="ab"), [(0.0, b"a")])
    yield "empty piece", lambda: chunked(respond(200, text="a"), [(0.0, b""), (0.0, b"a")])
    yield "unknown option", lambda: sse(["a"], disconect_after=1)  # type: ignore[call-arg]


@pytest.mark.parametrize("make", [pytest.param(make, id=what) for what, make in bad_declarations()])
def test_bad_declarations_raise_declaration_errors(make: object) -> None:
    assert callable(make)
    with pytest.raises(DeclarationError):
        make()
