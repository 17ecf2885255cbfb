"""The ``streaming`` catalogue: what a Server-Sent Events consumer must survive.

Chosen with ``apiharness grade --catalogue streaming``; every scenario reads a stream through
the adapter's ``stream(path)``. The stream is six numbered events, each carrying an id, in the
format of the adapter's ``dialect`` attribute when it has one (``"openai"``: chat completion
chunks and ``data: [DONE]``, answering ``POST /v1/chat/completions``; ``"anthropic"``: the
Messages event sequence, answering ``POST /v1/messages``), else plain JSON events answering
``GET /v1/stream``. A scenario recognises each delivered event by the marker ``tok-N`` in
its data, so a client may hand back the data as text, as decoded JSON or as its own objects'
JSON.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import replace

from apiharness.conformance._catalogue import scenario
from apiharness.conformance._resource import LLM_PATHS
from apiharness.conformance._trial import Outcome, Trial, Verdict
from apiharness.upstream import Behaviour, JournalEntry, SSEEvent, sse
from apiharness.upstream.dialects import anthropic, openai

DIALECTS = {"openai": openai, "anthropic": anthropic}

__all__ = ["STREAM_PATH", "TOKENS", "delivered_tokens", "stream_events_for"]

CATALOGUE = "streaming"
STREAM_PATH = "/v1/stream"
#: The markers of the six content events, in order.
TOKENS = tuple(f"tok-{n}" for n in range(1, 7))
_MARKER = re.compile(r"tok-(\d+)")

WHATWG_SSE = "WHATWG HTML §9.2 (server-sent events)"
#: stall-bounded: real seconds a consumer has to notice a silent stream and act.
STALL_LIMIT = 8.0


def stream_events_for(dialect: str | None) -> list[SSEEvent]:
    """The six-token stream in ``dialect``'s event format, every event with an id."""
    if dialect is None:
        return [SSEEvent(json.dumps({"text": tok}), id=str(n)) for n, tok in enumerate(TOKENS, 1)]
    speaks = DIALECTS[dialect]
    events = speaks.stream_events(TOKENS, speaks.default_model)
    return [replace(event, id=str(n)) for n, event in enumerate(events)]


def _id_of_token(events: Sequence[SSEEvent], n: int) -> str:
    """The id of the event carrying the ``n``-th token (1-based)."""
    return next(e.id or "" for e in events if e.data and f'"tok-{n}"' in e.data)


def _events_before_token(events: Sequence[SSEEvent], n: int) -> int:
    """How many events precede the one carrying the ``n``-th token."""
    return next(i for i, e in enumerate(events) if e.data and f'"tok-{n}"' in e.data)


def delivered_tokens(value: object) -> list[int] | None:
    """The token numbers in the data the adapter returned, in order (None: not a list)."""
    if not isinstance(value, list):
        return None
    numbers: list[int] = []
    for item in value:
        text = item if isinstance(item, str) else json.dumps(item, default=str)
        numbers.extend(int(found) for found in _MARKER.findall(text))
    return numbers


def _dialect(t: Trial) -> str | None:
    dialect = getattr(t.client.adapter, "dialect", None)
    return dialect if dialect in LLM_PATHS else None


def _endpoint(t: Trial) -> tuple[str, str]:
    """The method and path the stream answers, for the adapter's dialect."""
    dialect = _dialect(t)
    return ("GET", STREAM_PATH) if dialect is None else ("POST", LLM_PATHS[dialect])


def _serve(t: Trial, *answers: Behaviour) -> None:
    t.up.route(*_endpoint(t)).respond(*answers)


def _requests(t: Trial) -> list[JournalEntry]:
    return t.up.journal.filter(*_endpoint(t))


def _read(t: Trial) -> tuple[Outcome, list[int] | None]:
    out = t.stream(_endpoint(t)[1], catalogue=CATALOGUE)
    return out, delivered_tokens(out.value) if out.error is None else None


def _break_and_read(
    t: Trial, *, retry: int | None = None, replay: bool = False
) -> tuple[list[SSEEvent], Outcome, list[int] | None, int]:
    """Serve the stream cut after its third token, then whole (from the start if ``replay``);
    read it through the adapter. Returns the events, the outcome, its tokens and the requests."""
    events = stream_events_for(_dialect(t))
    cut = _events_before_token(events, 4)
    _serve(
        t,
        sse(events, retry=retry, disconnect_after=cut),
        sse(events, retry=retry, resume=not replay),
    )
    out, tokens = _read(t)
    return events, out, tokens, len(_requests(t))


def _all_six(t: Trial, out: Outcome, tokens: list[int] | None, n: int) -> Verdict | None:
    """None when the call returned all six tokens once, in order; else a failing verdict."""
    if out.timed_out:
        return t.fail(f"{out.describe()} ({n} request(s))")
    if out.error is not None:
        return t.fail(f"{out.describe()} after {n} request(s)")
    if tokens != list(range(1, 7)):
        return t.fail(f"delivered tokens {tokens} over {n} request(s), not 1..6 once each")
    return None


@scenario(
    "resume-after-disconnect",
    "a stream whose connection closes after 3 of 6 events is reopened with Last-Event-ID "
    "naming the third, and all 6 events are delivered",
    WHATWG_SSE + ", §9.2.3 (reconnect; Last-Event-ID)",
    catalogue=CATALOGUE,
)
def _resume_after_disconnect(t: Trial) -> Verdict:
    events, out, tokens, n = _break_and_read(t)
    bad = _all_six(t, out, tokens, n)
    if bad:
        return bad
    sent = _requests(t)[1].headers.get("last-event-id")
    want = _id_of_token(events, 3)
    if sent != want:
        return t.fail(f"delivered all 6, but reconnected with Last-Event-ID {sent!r}, not {want!r}")
    return t.ok(f"reconnected with Last-Event-ID {sent!r}; 6 events over {n} requests")


@scenario(
    "no-duplicate-events",
    "when the upstream replays a stream from its start after a reconnect, no event is "
    "delivered twice: each of 6 events arrives once, in order",
    WHATWG_SSE + " (the id identifies an event); eventsource#291",
    catalogue=CATALOGUE,
)
def _no_duplicate_events(t: Trial) -> Verdict:
    _, out, tokens, n = _break_and_read(t, replay=True)
    bad = _all_six(t, out, tokens, n)
    return bad or t.ok(f"6 events once each over {n} requests, the replayed ones skipped")


@scenario(
    "in-stream-error-typed",
    "an error event after 2 events of a 200 stream ends the call with one of the client's "
    "declared errors, not a normal return",
    "anthropic-sdk-python#688 (errors inside a 200 stream); Anthropic and OpenAI streaming docs",
    catalogue=CATALOGUE,
)
def _in_stream_error_typed(t: Trial) -> Verdict:
    dialect = _dialect(t)
    events = stream_events_for(dialect)
    error = None
    if dialect is not None:  # the provider's own in-stream error event
        speaks = DIALECTS[dialect]
        error = speaks.stream_error_event(speaks.type_for(500), "The server had an error.")
    _serve(t, sse(events, error_after=_events_before_token(events, 3), error=error))
    out = t.stream(_endpoint(t)[1], catalogue=CATALOGUE)
    if out.error is None:
        got = delivered_tokens(out.value)
        return t.fail(f"returned tokens {got} as if the stream had succeeded")
    if not out.typed:
        return t.fail(f"{out.describe()} for an error event")
    return t.ok(f"raised {type(out.error).__name__}")


@scenario(
    "stall-bounded",
    f"a stream that goes silent (no bytes) after 2 of 6 events is resumed, or ended with the "
    f"client's own error, within {STALL_LIMIT:g} real seconds",
    "AWS Builders' Library, 'Timeouts, retries and backoff with jitter'; " + WHATWG_SSE,
    wall_limit=STALL_LIMIT,
    ticking=True,
    catalogue=CATALOGUE,
)
def _stall_bounded(t: Trial) -> Verdict:
    events = stream_events_for(_dialect(t))
    # An endless stall: the upstream waits on the virtual clock, and only an infinite wait
    # blocks for real (a finite one would be skipped in no real time).
    stalled = sse(events, stall=float("inf"), stall_after=_events_before_token(events, 3))
    _serve(t, stalled, sse(events))
    out, tokens = _read(t)
    n = len(_requests(t))
    if out.timed_out:
        return t.fail(f"still reading after {out.wall_seconds:.1f} s ({n} request(s))")
    if out.error is not None:
        if not out.typed:
            return t.fail(f"{out.describe()} for a stalled stream")
        return t.ok(f"raised {type(out.error).__name__} after {out.wall_seconds:.1f} s")
    if tokens != list(range(1, 7)):
        return t.fail(f"returned tokens {tokens} over {n} request(s), not 1..6 once each")
    return t.ok(f"resumed: 6 events over {n} requests in {out.wall_seconds:.1f} s")


@scenario(
    "retry-field-honoured",
    "after a stream that set retry: 2500 breaks, the client waits at least 2.5 s before "
    "reconnecting, and delivers all 6 events",
    WHATWG_SSE + ", §9.2.4 (the retry field sets the reconnection time)",
    catalogue=CATALOGUE,
)
def _retry_field_honoured(t: Trial) -> Verdict:
    _, out, tokens, n = _break_and_read(t, retry=2500)
    bad = _all_six(t, out, tokens, n)
    if bad:
        return bad
    first, second = _requests(t)[:2]
    gap = second.monotonic - first.monotonic
    did = f"reconnected {gap:.2f} s after the break"
    return t.ok(did) if gap + 1e-6 >= 2.5 else t.fail(did)
