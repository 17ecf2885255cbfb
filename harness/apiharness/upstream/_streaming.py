"""Streamed answers: Server-Sent Events and NDJSON, with the faults streams meet mid-way.

``sse(events, ...)`` serves ``text/event-stream`` and ``ndjson(items, ...)`` serves
``application/x-ndjson``, each event (or item) in a chunk of its own, in chunked transfer
coding. The options are the mid-stream faults, and they compose::

    up.get("/v1/stream").respond(
        sse([SSEEvent("a", id="1"), SSEEvent("b", id="2"), "c"], delays=0.5, disconnect_after=2),
        sse([SSEEvent("a", id="1"), SSEEvent("b", id="2"), "c"]),   # the reconnect resumes
    )

The encoder is hand-written: it is a few lines of the WHATWG HTML "server-sent events" format
(§9.2.6: ``field: value`` lines, a blank line ends an event, data split into one ``data:`` line
per line) and no kept library encodes the malformed and cut streams the faults need; clients are
judged with a kept parser (httpx-sse) in the tests.

The events are planned per request, so a stream resumes: when the request carries
``Last-Event-ID`` naming one of the events' ids, the answer continues after that event and the
journal records it (``JournalEntry.resumed_after``). Fault counts (``disconnect_after=2``)
count the events of *this* answer, after any resume.
"""

from __future__ import annotations

import json as _json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from apiharness.errors import DeclarationError
from apiharness.upstream._behaviours import (
    Behaviour,
    Context,
    Fault,
    HeadersArg,
    Plan,
    Respond,
    ResponseData,
    StreamBody,
    _args,
    _headers,
    as_response,
    check_count,
    check_number,
    check_status,
    declared,
)

__all__ = ["SSEEvent", "chunked", "ndjson", "sse"]

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
# What a client that parses each event's data as JSON chokes on: it stops mid-string.
_MALFORMED = '{"id": 1, "name": "unterminated'
_SSE_ERROR = _json.dumps(
    {"error": {"type": "server_error", "message": "The stream failed after it started."}}
)


@dataclass(frozen=True, slots=True)
class SSEEvent:
    """One server-sent event: ``data`` (a ``\\n`` in it makes several ``data:`` lines),
    optional ``event`` type, ``id``, ``retry`` (milliseconds) and a ``comment`` line.

    ``SSEEvent(comment="ping")`` with nothing else is a heartbeat: a comment clients ignore.
    A plain string given to :func:`sse` is ``SSEEvent(data=that string)``.
    """

    data: str | None = None
    event: str | None = None
    id: str | None = None
    retry: int | None = None
    comment: str | None = None

    def __post_init__(self) -> None:
        for name in ("data", "event", "id", "comment"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise DeclarationError(f"SSEEvent({name}=...) takes a str, got {value!r}")
        for name in ("event", "id"):
            value = getattr(self, name)
            if value is not None and _LINE_BREAK.search(value):
                raise DeclarationError(
                    f"SSEEvent({name}={value!r}) must not contain a line break: the field "
                    "would end early (WHATWG HTML §9.2.6); use data= for multi-line text"
                )
        if self.comment is not None and _LINE_BREAK.search(self.comment):
            raise DeclarationError(
                f"SSEEvent(comment={self.comment!r}) must be one line; "
                "send several comment events for several lines"
            )
        if self.retry is not None:
            check_count("SSEEvent(retry=...) (milliseconds)", self.retry, minimum=0)
        if all(getattr(self, f) is None for f in ("data", "event", "id", "retry", "comment")):
            raise DeclarationError(
                "SSEEvent() needs at least one field: data=, event=, id=, retry= or comment="
            )

    def encode(self) -> bytes:
        """The event in the wire format, ending with the blank line that dispatches it."""
        lines = [] if self.comment is None else [f": {self.comment}"]
        if self.event is not None:
            lines.append(f"event: {self.event}")
        if self.id is not None:
            lines.append(f"id: {self.id}")
        if self.retry is not None:
            lines.append(f"retry: {self.retry}")
        if self.data is not None:
            lines.extend(f"data: {line}" for line in _LINE_BREAK.split(self.data))
        return ("\n".join(lines) + "\n\n").encode()


def as_event(where: str, value: object) -> SSEEvent:
    """``value`` as an event: an :class:`SSEEvent`, or a str as its data."""
    if isinstance(value, SSEEvent):
        return value
    if isinstance(value, str):
        return SSEEvent(data=value)
    raise DeclarationError(f"{where} takes SSEEvent(...) values or str data, got {value!r}")


@dataclass(frozen=True, slots=True)
class _Faults:
    """Where each mid-stream fault strikes, counted in events of one answer."""

    delays: tuple[float, ...] | float
    stall: float
    stall_after: int
    disconnect_after: int | None
    reset_after: int | None
    malformed_after: int | None
    error_after: int | None


class _Stream(Behaviour):
    """A streamed answer, planned per request (resume reads the request)."""

    __slots__ = ("entries", "error", "faults", "ids", "malformed", "preamble", "response", "resume")

    def __init__(
        self,
        description: str,
        response: ResponseData,
        entries: tuple[bytes, ...],
        ids: tuple[str | None, ...],
        *,
        preamble: bytes,
        malformed: bytes,
        error: bytes,
        faults: _Faults,
        resume: bool,
    ) -> None:
        super().__init__(description)
        self.response, self.entries, self.ids = response, entries, ids
        self.preamble, self.malformed, self.error = preamble, malformed, error
        self.faults, self.resume = faults, resume

    def _start(self, ctx: Context) -> tuple[int, str | None]:
        """The index of the first event to send, and the id resumed after (if any)."""
        if not self.resume:
            return 0, None
        last = ctx.request.headers.get("last-event-id")
        if last is None:
            return 0, None
        for index in range(len(self.ids) - 1, -1, -1):
            if self.ids[index] == last:
                return index + 1, last
        return 0, None  # an id this stream never sent: start over, as a server would

    def plan(self, ctx: Context) -> Plan:
        start, resumed = self._start(ctx)
        faults = self.faults
        pieces: list[tuple[float, bytes]] = []
        if self.preamble:
            pieces.append((0.0, self.preamble))
        end = Fault.NONE
        for index in range(start, len(self.entries) + 1):
            sent = index - start  # faults count this answer's events
            if sent == faults.stall_after and faults.stall:
                pieces.append((faults.stall, b""))
            if sent == faults.malformed_after:
                pieces.append((0.0, self.malformed))
            if sent == faults.error_after:
                pieces.append((0.0, self.error))
                break
            if sent == faults.disconnect_after:
                end = Fault.CLOSE
                break
            if sent == faults.reset_after:
                end = Fault.RESET
                break
            if index == len(self.entries):
                break
            wait = faults.delays if isinstance(faults.delays, float) else faults.delays[index]
            pieces.append((wait, self.entries[index]))
        if end is Fault.NONE and faults.disconnect_after is not None:
            end = Fault.CLOSE  # fewer events remained than the count: cut after all of them
        if end is Fault.NONE and faults.reset_after is not None:
            end = Fault.RESET
        return Plan(
            self,
            self.response,
            stream=_merge_stalls(pieces, end),
            resumed_after=resumed,
        )


class _Chunked(Behaviour):
    """A response whose body is sent in given pieces, each after its wait."""

    __slots__ = ("response", "stream")

    def __init__(self, response: ResponseData, pieces: tuple[tuple[float, bytes], ...]) -> None:
        super().__init__(f"chunked({response.status}, {len(pieces)} pieces)")
        self.response, self.stream = response, StreamBody(pieces)

    def plan(self, ctx: Context) -> Plan:
        return Plan(self, self.response, stream=self.stream)


@declared
def chunked(response: Respond, pieces: Sequence[tuple[float, bytes]]) -> Behaviour:
    """Send ``response`` with its body in ``pieces`` — ``(seconds to wait first, bytes)``
    each, which must make up the body — in chunked transfer coding. Cassettes of streamed
    bodies replay through it, at their recorded pace.
    ``chunked(respond(200, text="ab"), [(0.0, b"a"), (0.5, b"b")])``
    """
    base = as_response("chunked(response)", response, response)
    given = tuple(pieces) if isinstance(pieces, Sequence) else None
    if given is None or not all(
        isinstance(p, tuple) and len(p) == 2 and isinstance(p[1], bytes) and p[1] for p in given
    ):
        raise DeclarationError(
            f"chunked(pieces) takes (seconds, non-empty bytes) pairs, got {pieces!r:.80}"
        )
    timed = tuple((check_number("chunked(pieces) wait", w), data) for w, data in given)
    if b"".join(data for _, data in timed) != base.response.body:
        raise DeclarationError(
            "chunked(pieces): the pieces must make up the response's body, in order"
        )
    return _Chunked(base.response, timed)


def _merge_stalls(pieces: list[tuple[float, bytes]], end: Fault) -> StreamBody:
    """A stall is a wait with no bytes: it moves onto the next piece's wait."""
    merged: list[tuple[float, bytes]] = []
    carried = 0.0
    for wait, data in pieces:
        if not data:
            carried += wait
            continue
        merged.append((wait + carried, data))
        carried = 0.0
    if carried:
        merged.append((carried, b""))
    return StreamBody(tuple(merged), end)


def _faults(
    name: str,
    count: int,
    *,
    delays: float | Sequence[float],
    stall: float,
    stall_after: int,
    disconnect_after: int | None,
    reset_after: int | None,
    malformed_after: int | None,
    error_after: int | None,
) -> _Faults:
    if disconnect_after is not None and reset_after is not None:
        raise DeclarationError(
            f"{name}() takes disconnect_after= or reset_after=, not both: a stream ends once"
        )
    if isinstance(delays, int | float) and not isinstance(delays, bool):
        each: tuple[float, ...] | float = check_number(f"{name}(delays=...)", delays)
    elif isinstance(delays, Sequence) and not isinstance(delays, str | bytes):
        if len(delays) != count:
            raise DeclarationError(
                f"{name}(delays=...) gives {len(delays)} delays for {count} events; give one "
                "per event, or a single number for all"
            )
        each = tuple(check_number(f"{name}(delays=[...])", d) for d in delays)
    else:
        raise DeclarationError(
            f"{name}(delays=...) takes seconds before each event, a number or one per event, "
            f"got {delays!r}"
        )
    counts = {
        "stall_after": stall_after,
        "disconnect_after": disconnect_after,
        "reset_after": reset_after,
        "malformed_after": malformed_after,
        "error_after": error_after,
    }
    for option, value in counts.items():
        if value is not None:
            check_count(f"{name}({option}=...)", value, minimum=0)
            if value > count:
                raise DeclarationError(
                    f"{name}({option}={value}) is past the end: there are {count} events; "
                    f"pass at most {count}"
                )
    return _Faults(
        each,
        check_number(f"{name}(stall=...)", stall),
        stall_after,
        disconnect_after,
        reset_after,
        malformed_after,
        error_after,
    )


def _response(
    status: int, content_type: str, headers: HeadersArg | None, extra: dict[str, str]
) -> ResponseData:
    pairs = _headers(headers)
    given = {name.lower() for name, _ in pairs}
    defaults = {"Content-Type": content_type, **extra}
    pairs = (*((k, v) for k, v in defaults.items() if k.lower() not in given), *pairs)
    return ResponseData(status, pairs, b"")


def _entries(name: str, values: object) -> list[object]:
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise DeclarationError(
            f"{name}() takes a list of events, got {values!r}; e.g. {name}(['a', 'b'])"
        )
    return list(values)


@declared
def sse(
    # Any iterable: mypy infers list[object] for [SSEEvent(...), "b"], which a user should not
    # have to cast. Each item is checked here (a DeclarationError names a wrong one).
    events: Iterable[object],
    *,
    status: int = 200,
    headers: HeadersArg | None = None,
    retry: int | None = None,
    delays: float | Sequence[float] = 0.0,
    stall: float = 0.0,
    stall_after: int = 0,
    disconnect_after: int | None = None,
    reset_after: int | None = None,
    malformed_after: int | None = None,
    error_after: int | None = None,
    error: SSEEvent | str | None = None,
    resume: bool = True,
) -> Behaviour:
    """Answer ``text/event-stream``: each event in a chunk of its own, then the last chunk.

    ``events`` are :class:`SSEEvent` values or plain strings (data-only events), in any
    iterable; anything else is a :class:`~apiharness.errors.DeclarationError`. Options:

    * ``retry``: a ``retry:`` field (milliseconds) sent first, for the client's reconnects;
    * ``delays``: seconds before each event (a number for all, or one per event);
    * ``stall`` seconds with no bytes at all after ``stall_after`` events (past the client's
      read timeout: ``httpx.ReadTimeout``);
    * ``disconnect_after=n``: after ``n`` events, close the connection (FIN) mid-body —
      ``httpx.RemoteProtocolError`` ("incomplete chunked read");
    * ``reset_after=n``: after ``n`` events, a TCP RST — ``httpx.ReadError``;
    * ``malformed_after=n``: after ``n`` events, one event whose data is cut-off JSON;
    * ``error_after=n``: after ``n`` events, the in-stream ``error`` event (default an
      ``event: error`` with a JSON error body), and the stream ends — all after a ``200``;
    * ``resume``: honour ``Last-Event-ID`` (continue after the event with that id).

    Fault counts count this answer's events, after any resume. Waits go through the active
    clock: under the ``clock`` fixture they cost no real time.
    ``sse([SSEEvent("hi", id="1"), "there"], delays=0.1, disconnect_after=1)``
    """
    given = [as_event("sse(events)", e) for e in _entries("sse", events)]
    failure = (
        SSEEvent(_SSE_ERROR, event="error") if error is None else as_event("sse(error=)", error)
    )
    preamble = b""
    if retry is not None:
        preamble = SSEEvent(retry=check_count("sse(retry=...)", retry, minimum=0)).encode()
    return _declare(
        "sse",
        locals(),
        given,
        tuple(event.encode() for event in given),
        tuple(event.id for event in given),
        content_type="text/event-stream; charset=utf-8",
        extra={"Cache-Control": "no-cache"},
        preamble=preamble,
        malformed=SSEEvent(_MALFORMED).encode(),
        error=failure.encode(),
        resume=bool(resume),
    )


# The options sse() and ndjson() share, with their defaults (left out of the repr).
_DEFAULTS: dict[str, object] = {
    "status": 200,
    "headers": None,
    "retry": None,
    "delays": 0.0,
    "stall": 0.0,
    "stall_after": 0,
    "disconnect_after": None,
    "reset_after": None,
    "malformed_after": None,
    "error_after": None,
    "error": None,
    "resume": True,
}
_FAULT_OPTIONS = (
    "delays",
    "stall",
    "stall_after",
    "disconnect_after",
    "reset_after",
    "malformed_after",
    "error_after",
)


def _declare(
    name: str,
    options: dict[str, Any],
    shown: object,
    entries: tuple[bytes, ...],
    ids: tuple[str | None, ...],
    *,
    content_type: str,
    extra: dict[str, str],
    preamble: bytes,
    malformed: bytes,
    error: bytes,
    resume: bool,
) -> _Stream:
    """The streamed behaviour ``name(...)`` declared with ``options`` (its arguments)."""
    faults = _faults(name, len(entries), **{key: options[key] for key in _FAULT_OPTIONS})
    head = _response(
        check_status(f"{name}(status=...)", options["status"]),
        content_type,
        options["headers"],
        extra,
    )
    response = ResponseData(head.status, head.headers, preamble + b"".join(entries))
    given = {
        key: value for key, value in options.items() if key in _DEFAULTS and value != _DEFAULTS[key]
    }
    return _Stream(
        f"{name}({_args(shown, **given)})",
        response,
        entries,
        ids,
        preamble=preamble,
        malformed=malformed,
        error=error,
        faults=faults,
        resume=resume,
    )


def _ndjson_line(value: object) -> bytes:
    try:
        return (_json.dumps(value, separators=(",", ":"), allow_nan=False) + "\n").encode()
    except (TypeError, ValueError) as exc:
        raise DeclarationError(
            f"ndjson() items must be JSON values (dict, list, str, number, bool, None), "
            f"got {value!r}: {exc}"
        ) from None


@declared
def ndjson(
    items: Iterable[object],
    *,
    status: int = 200,
    headers: HeadersArg | None = None,
    delays: float | Sequence[float] = 0.0,
    stall: float = 0.0,
    stall_after: int = 0,
    disconnect_after: int | None = None,
    reset_after: int | None = None,
    malformed_after: int | None = None,
    error_after: int | None = None,
    error: object = None,
) -> Behaviour:
    """Answer ``application/x-ndjson``: one JSON value per line, each line a chunk.

    The options are :func:`sse`'s (NDJSON has no ids, so no resume): ``malformed_after=n``
    sends a line of cut-off JSON, ``error_after=n`` the line ``error`` (default
    ``{"error": {...}}``) and ends the stream.
    ``ndjson([{"n": 1}, {"n": 2}], delays=0.2, reset_after=1)``
    """
    lines = tuple(_ndjson_line(item) for item in _entries("ndjson", items))
    failure = _ndjson_line(_json.loads(_SSE_ERROR) if error is None else error)
    return _declare(
        "ndjson",
        locals(),
        [_json.loads(line) for line in lines],
        lines,
        (None,) * len(lines),
        content_type="application/x-ndjson",
        extra={},
        preamble=b"",
        malformed=(_MALFORMED + "\n").encode(),
        error=failure,
        resume=False,
    )
