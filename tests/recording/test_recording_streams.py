"""Streamed bodies in cassettes: chunks and timing in an extension field plain vcrpy ignores,
replayed piece by piece in virtual time, redacted like any other body, recorded through a real
mitmdump from a real event stream."""

from __future__ import annotations

from pathlib import Path

import httpx
import httpx_sse
import pytest
import vcr
from hypothesis import given, settings
from hypothesis import strategies as st

from apiharness import VirtualClock, use_clock
from apiharness.errors import CassetteError
from apiharness.recording import Cassette, CassettePlayer, Recorder, Redactor
from apiharness.recording._cassette import (
    CHUNKS_KEY,
    Interaction,
    RecordedRequest,
    RecordedResponse,
    refit_chunks,
    split_chunks,
)
from apiharness.upstream import SSEEvent, Upstream, sse

URL = "https://api.example.test/v1/stream"
EVENTS = [b"data: one\n\n", b"data: two\n\n", b"data: three\n\n"]
WAITS = [0.0, 0.5, 1.25]


def streamed_cassette(path: Path | None = None) -> Cassette:
    body = b"".join(EVENTS)
    response = RecordedResponse(
        200,
        "OK",
        (("Content-Type", "text/event-stream"), ("Content-Length", str(len(body)))),
        body,
        tuple((wait, len(e)) for wait, e in zip(WAITS, EVENTS, strict=True)),
    )
    return Cassette([Interaction(RecordedRequest("GET", URL), response)], path)


def test_chunks_survive_a_round_trip_through_yaml() -> None:
    text = streamed_cassette().to_yaml()
    assert CHUNKS_KEY in text
    (again,) = Cassette.from_yaml(text)
    assert again.response.chunks == ((0.0, 11), (0.5, 11), (1.25, 13))
    assert split_chunks(again.response.body, again.response.chunks) == list(
        zip(WAITS, EVENTS, strict=True)
    )


@pytest.mark.parametrize(
    "chunks", ["nope", [[0.0, 5]], [[-1, 35]], [[0.0, 0], [0.0, 35]], [[True, 35]]]
)
def test_chunks_that_do_not_fit_the_body_are_refused_with_advice(chunks: object) -> None:
    data = streamed_cassette().to_dict()
    data["interactions"][0]["response"][CHUNKS_KEY] = chunks
    with pytest.raises(CassetteError, match="delete the key"):
        Cassette.from_dict(data)


def test_plain_vcrpy_ignores_the_field_and_replays_the_whole_body(tmp_path: Path) -> None:
    path = streamed_cassette(tmp_path / "stream.yaml").save()
    with vcr.VCR(record_mode="none").use_cassette(str(path)), httpx.Client() as http:
        response = http.get(URL)
    assert response.content == b"".join(EVENTS)
    with (
        vcr.VCR(record_mode="none").use_cassette(str(path)),
        httpx.Client() as http,
        http.stream("GET", URL) as streamed,
    ):
        events = [e.data for e in httpx_sse.EventSource(streamed).iter_sse()]
    assert events == ["one", "two", "three"]


def test_the_player_replays_chunk_by_chunk_in_virtual_time() -> None:
    clock = VirtualClock()
    arrivals: list[tuple[float, bytes]] = []
    with use_clock(clock), httpx.Client(transport=CassettePlayer(streamed_cassette())) as http:
        start = clock.monotonic()
        with http.stream("GET", URL) as response:
            arrivals.extend((clock.monotonic() - start, piece) for piece in response.iter_raw())
    assert arrivals == [(0.0, EVENTS[0]), (0.5, EVENTS[1]), (1.75, EVENTS[2])]


@pytest.mark.parametrize("delivery", ["in-process", "socket"])
def test_a_served_cassette_streams_its_recorded_chunks(delivery: str, tmp_path: Path) -> None:
    up = Upstream(base_url="https://api.example.test")
    up.from_cassette(streamed_cassette(tmp_path / "s.yaml").save())
    if delivery == "socket":
        with (
            up.serve() as server,
            httpx.Client(base_url=server.base_url) as http,
            http.stream("GET", "/v1/stream") as response,
        ):
            assert response.headers["transfer-encoding"] == "chunked"
            events = [e.data for e in httpx_sse.EventSource(response).iter_sse()]
    else:
        clock = VirtualClock()
        with use_clock(clock), httpx.Client(transport=up, base_url=up.base_url) as http:
            with http.stream("GET", "/v1/stream") as response:
                pieces = list(response.iter_raw())
            assert clock.monotonic() == pytest.approx(1.75)
        assert pieces == EVENTS
        events = ["one", "two", "three"]
    assert events == ["one", "two", "three"]


# -- redaction ----------------------------------------------------------------------------------

SECRET = "tok_live_9f8e7d6c5b4a"


def test_a_streamed_body_is_redacted_like_any_other_and_its_chunks_refitted() -> None:
    events = [
        b'data: {"n": 1}\n\n',
        b'data: {"access_token": "' + SECRET.encode() + b'", "n": 2}\n\n',
        b"data: echo " + SECRET.encode() + b"\n\n",
        b'data: {"n": 4}\n\n',
    ]
    body = b"".join(events)
    response = RecordedResponse(
        200,
        "OK",
        (("Content-Type", "text/event-stream"),),
        body,
        tuple((0.1, len(e)) for e in events),
    )
    redacted = Redactor().redact(Interaction(RecordedRequest("GET", URL), response)).response
    assert SECRET.encode() not in redacted.body
    assert SECRET not in Cassette([Interaction(RecordedRequest("GET", URL), redacted)]).to_yaml()
    pieces = [piece for _, piece in split_chunks(redacted.body, redacted.chunks)]
    # Every piece is still one whole event: the boundaries kept their place in the text.
    assert pieces[0] == events[0]
    assert pieces[1] == b'data: {"access_token": "REDACTED", "n": 2}\n\n'
    assert pieces[2] == b"data: echo REDACTED\n\n"
    assert pieces[3] == events[3]


def test_a_secret_split_across_chunks_leaves_no_part_in_any_chunk() -> None:
    body = b"data: " + SECRET.encode() + b"\n\n"
    cut = 6 + len(SECRET) // 2
    response = RecordedResponse(
        200,
        "OK",
        (("Content-Type", "text/event-stream"),),
        body,
        ((0.0, cut), (0.3, len(body) - cut)),
    )
    redactor = Redactor(secrets={"API_TOKEN": SECRET})
    redacted = redactor.redact(Interaction(RecordedRequest("GET", URL), response)).response
    pieces = split_chunks(redacted.body, redacted.chunks)
    assert b"".join(p for _, p in pieces) == b"data: REDACTED\n\n"
    assert all(SECRET[:4].encode() not in p and SECRET[-4:].encode() not in p for _, p in pieces)
    assert sum(w for w, _ in pieces) == pytest.approx(0.3)  # no wait is lost


@settings(max_examples=200, deadline=None)
@given(
    body=st.binary(min_size=1, max_size=60),
    cuts=st.lists(st.integers(1, 59), max_size=6),
    spans=st.lists(st.tuples(st.integers(0, 59), st.integers(1, 8)), max_size=3),
    waits=st.lists(st.floats(0, 5), min_size=8, max_size=8),
)
def test_refitted_chunks_always_tile_the_new_body(
    body: bytes, cuts: list[int], spans: list[tuple[int, int]], waits: list[float]
) -> None:
    bounds = sorted({c for c in cuts if c < len(body)} | {len(body)})
    sizes = [b - a for a, b in zip([0, *bounds], bounds, strict=False)]
    chunks = tuple(zip(waits, sizes, strict=False))
    new = body
    for start, length in sorted(spans, reverse=True):
        if start < len(new):
            new = new[:start] + b"REDACTED" + new[start + length :]
    fitted = refit_chunks(body, new, chunks)
    assert sum(size for _, size in fitted) == len(new)
    assert all(size >= 1 for _, size in fitted)
    assert sum(w for w, _ in fitted) == pytest.approx(sum(w for w, _ in chunks))
    if new == body:
        assert fitted == chunks


# -- recording through a real mitmdump ----------------------------------------------------------


def test_recording_a_live_event_stream_keeps_its_chunks_and_pace(tmp_path: Path) -> None:
    up = Upstream()
    events = [SSEEvent(f"event {n}", id=str(n)) for n in range(4)]
    up.get("/v1/stream").respond(sse(events, delays=[0.0, 0.3, 0.3, 0.3]))
    cassette = tmp_path / "live.yaml"
    with (
        up.serve() as server,
        Recorder(cassette, upstream=server.base_url) as recorder,
        httpx.Client(base_url=recorder.base_url, timeout=10) as http,
        http.stream("GET", "/v1/stream") as response,
    ):
        live = [e.data for e in httpx_sse.EventSource(response).iter_sse()]
    assert live == [f"event {n}" for n in range(4)]
    (recorded,) = Cassette.load(cassette)
    chunks = recorded.response.chunks
    assert len(chunks) == 4  # one chunk per event, as the upstream sent them
    assert [size for _, size in chunks] == [len(e.encode()) for e in events]
    assert all(0.2 <= wait < 2.0 for wait, _ in chunks[1:])
    # The recording replays chunk by chunk, at the recorded pace, in virtual time.
    clock = VirtualClock()
    with (
        use_clock(clock),
        httpx.Client(transport=CassettePlayer(cassette)) as http,
        http.stream("GET", server.base_url + "/v1/stream") as response,
    ):
        replayed = [e.data for e in httpx_sse.EventSource(response).iter_sse()]
    assert replayed == live
    assert clock.monotonic() == pytest.approx(sum(w for w, _ in chunks))
