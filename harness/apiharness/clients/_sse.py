"""A Server-Sent Events consumer that resumes: ``Last-Event-ID``, ``retry:``, no duplicates.

    import httpx
    from apiharness.clients import ResilientTransport, stream_events

    with httpx.Client(transport=ResilientTransport(httpx.HTTPTransport())) as client:
        for event in stream_events(client, "https://api.example/feed"):
            print(event.event, event.data)

Bytes become events in the client's own stack: httpx-sse (``EventSource.iter_sse``) for an
``httpx`` client, httpx2's built-in ``EventSource`` for an ``httpx2`` one; both follow the
WHATWG HTML §9.2 parsing rules and yield a ``ServerSentEvent`` with the same four fields
(``event``, ``data``, ``id``, ``retry``), each stack's own class. (httpx-sse reads an httpx2
response too, but it imports httpx and raises httpx's errors, so it is not used for httpx2.)
What no library does is the reconnection half of that section, so it is
written here, once, as a state machine with no I/O (:class:`SSEResume`), driven by a sync and
an async loop of a few lines (:func:`stream_events`, :func:`astream_events`):

* each request carries ``Accept: text/event-stream``, ``Cache-Control: no-store`` and, once an
  event carried an id, ``Last-Event-ID`` (the "last event ID buffer" survives reconnections);
* a broken stream (any ``TransportError`` of the client's stack: a reset, a body cut short, a
  read timeout on a stalled stream), or a clean end before the end marker when one is
  expected, is reopened after the reconnection time: 3 s until a ``retry:`` field sets it,
  doubled for each further failure that delivered nothing (capped at ``max_delay``), at most
  ``max_reconnects`` times in a row; then :class:`~apiharness.errors.StreamInterrupted` is raised;
* an upstream that replays events after a reconnect (it ignored ``Last-Event-ID``, or resumed
  from an earlier id) delivers nothing twice: each event is known by its id and its position
  after that id, and events already delivered are skipped. Events of a stream that never sent
  an id are not deduplicated: without ids a replay cannot be told from new events;
* an error event inside a 200 stream (``event: error`` by default; ``is_error`` decides) raises
  :class:`~apiharness.errors.StreamErrorEvent`, a typed error, instead of passing as data;
* ``204 No Content`` ends the stream (the spec's "stop reconnecting"); another non-2xx status
  raises ``httpx.HTTPStatusError`` and a body that is not ``text/event-stream`` raises
  :class:`~apiharness.errors.StreamError`. Retrying the *opening* request (a 503, a 429 with
  Retry-After) is the job of the transport: compose with
  :class:`~apiharness.clients.ResilientTransport`.

Where the parsers depart from the spec the machine corrects it: an event with an empty data
buffer is not delivered (its ``id`` and ``retry`` still count), and a negative ``retry`` is
ignored. Both parsers model ``data:`` with an empty value like no data line at all, so such an
event is not delivered either. httpx2's parser is given no event size limit, as httpx-sse has
none: an oversized event must not turn into a reconnection loop.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from apiharness._stacks import classes, httpx, stack_of
from apiharness.clock import get_clock
from apiharness.errors import ConfigurationError, StreamError, StreamErrorEvent, StreamInterrupted

__all__ = [
    "DEFAULT_RECONNECTION_TIME",
    "SSEResume",
    "ServerSentEvent",
    "astream_events",
    "is_error_event",
    "stream_events",
]

_NO_HTTPX_SSE = (
    "the SSE consumer parses httpx responses with httpx-sse, which is not installed: "
    "pip install 'apiharness[httpx]' (httpx with httpx-sse), or use an httpx2 client"
)

if TYPE_CHECKING:
    from httpx_sse import ServerSentEvent
else:
    try:  # httpx-sse's class where httpx is installed; httpx2's twin where it is the only stack
        from httpx_sse import ServerSentEvent
    except ImportError:
        try:
            from httpx2 import ServerSentEvent
        except ImportError:
            raise ConfigurationError(_NO_HTTPX_SSE) from None

# A broken stream, in whichever stack the client is.
_TRANSPORT_ERRORS = classes("TransportError")

#: Seconds before reconnecting until the stream sends ``retry:`` (WHATWG: "a few seconds").
DEFAULT_RECONNECTION_TIME = 3.0
#: How many delivered events' keys are remembered for deduplication.
_REMEMBERED = 100_000


def is_error_event(event: ServerSentEvent) -> bool:
    """The default test for an in-stream error: ``event: error`` (Anthropic's format, and the
    name the WHATWG ``EventSource`` uses for failures)."""
    return event.event == "error"


@dataclass
class SSEResume:
    """The reconnection rules of one logical stream, with no I/O.

    A driver calls :meth:`request_headers` before each request, :meth:`opened` with the
    response, :meth:`receive` with each event httpx-sse parsed (it returns the event to deliver,
    or None), :meth:`ended` when a body ends cleanly and :meth:`interrupted` when it breaks;
    the last two return the seconds to wait before reconnecting, or None when the stream is
    over. ``is_done`` recognises an end marker (``data: [DONE]``, ``event: message_stop``):
    the stream is over once it is seen, and a clean end before it is treated as a break.
    """

    reconnection_time: float = DEFAULT_RECONNECTION_TIME
    max_reconnects: int = 5
    max_delay: float = 60.0
    is_error: Callable[[ServerSentEvent], bool] = is_error_event
    is_done: Callable[[ServerSentEvent], bool] | None = None
    #: The "last event ID buffer": sent as Last-Event-ID on every reconnection.
    last_event_id: str = ""
    #: Reconnections made so far, and the events skipped as replays.
    reconnects: int = 0
    skipped: int = 0
    finished: bool = False
    _failures: int = field(default=0, repr=False)  # consecutive breaks that delivered nothing
    # The parser's id buffer on this connection (it starts empty on each one).
    _connection_id: str = field(default="", repr=False)
    _ordinal: int = field(default=0, repr=False)  # events since the one that set the id
    _delivered: set[tuple[str, int]] = field(default_factory=set, repr=False)
    _order: deque[tuple[str, int]] = field(default_factory=deque, repr=False)

    def request_headers(self) -> dict[str, str]:
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-store"}
        if self.last_event_id:
            headers["Last-Event-ID"] = self.last_event_id
        return headers

    def opened(self, response: httpx.Response) -> bool:
        """Check a response before reading it: False means 204, the stream is over."""
        # A new connection: the parser's id buffer starts empty, ours carries on, and the
        # upstream resumes after the event that set it (position 0 after that id).
        self._connection_id, self._ordinal = "", 0
        if response.status_code == 204:
            self.finished = True
            return False
        response.raise_for_status()
        kind = response.headers.get("content-type", "").partition(";")[0].strip().lower()
        if kind != "text/event-stream":
            raise StreamError(
                f"expected a text/event-stream body from {response.request.url.path}, got "
                f"{kind or 'no Content-Type'}; point the consumer at the streaming endpoint"
            )
        return True

    def receive(self, event: ServerSentEvent) -> ServerSentEvent | None:
        """The event to deliver, or None (a replay, no data, or the end marker)."""
        if event.retry is not None and event.retry >= 0:
            self.reconnection_time = event.retry / 1000
        if event.id != self._connection_id:  # this event carried an id field
            self._connection_id = self.last_event_id = event.id
            self._ordinal = 0
        else:
            self._ordinal += 1
        if event.data == "":
            return None  # WHATWG: an empty data buffer dispatches nothing
        if self.is_done is not None and self.is_done(event):
            self.finished = True
            return None
        if self.is_error(event):
            self.finished = True
            raise StreamErrorEvent(
                f"the upstream sent an {event.event!r} event inside a successful stream",
                event=event.event,
                data=event.data,
                id=event.id,
            )
        if self.last_event_id:
            key = (self.last_event_id, self._ordinal)
            if key in self._delivered:
                self.skipped += 1
                return None
            self._remember(key)
        self._failures = 0
        return event

    def ended(self) -> float | None:
        """The body ended cleanly: over, unless an end marker was expected and not seen."""
        if self.finished or self.is_done is None:
            self.finished = True
            return None
        return self.interrupted(httpx.RemoteProtocolError("the stream ended before its end marker"))

    def interrupted(self, error: Exception) -> float:
        """The stream broke: the seconds to wait before reconnecting (or raise)."""
        if self._failures >= self.max_reconnects:
            self.finished = True
            raise StreamInterrupted(
                f"the stream broke {self._failures + 1} times in a row without a new event "
                f"({type(error).__name__}); gave up after {self.reconnects} reconnection(s)",
                reconnects=self.reconnects,
                last_event_id=self.last_event_id,
            ) from error
        # The server's retry: is a floor: max_delay caps only the doubling.
        backoff = min(self.reconnection_time * 2**self._failures, self.max_delay)
        self._failures += 1
        self.reconnects += 1
        return float(max(backoff, self.reconnection_time))

    def _remember(self, key: tuple[str, int]) -> None:
        self._delivered.add(key)
        self._order.append(key)
        if len(self._order) > _REMEMBERED:
            self._delivered.discard(self._order.popleft())


def _event_source(response: httpx.Response) -> Any:
    """The SSE parser of ``response``'s stack over it: httpx2's own, else httpx-sse's (imported
    here: it imports httpx, absent where httpx2 is the only stack)."""
    stack = stack_of(response)
    if hasattr(stack, "EventSource"):
        return stack.EventSource(response, max_event_size=None)
    try:
        from httpx_sse import EventSource
    except ImportError:
        raise ConfigurationError(_NO_HTTPX_SSE) from None

    return EventSource(response)


def _events(response: httpx.Response) -> Iterator[ServerSentEvent]:
    source = _event_source(response)
    events: Iterator[ServerSentEvent] = (
        source.iter_sse() if hasattr(source, "iter_sse") else iter(source)
    )
    return events


def _aevents(response: httpx.Response) -> AsyncIterator[ServerSentEvent]:
    source = _event_source(response)
    events: AsyncIterator[ServerSentEvent] = (
        source.aiter_sse() if hasattr(source, "aiter_sse") else aiter(source)
    )
    return events


def stream_events(
    client: httpx.Client,
    url: str | httpx.URL,
    *,
    method: str = "GET",
    resume: SSEResume | None = None,
    **request: Any,
) -> Iterator[ServerSentEvent]:
    """Each event of the stream at ``url``, once, reconnecting and resuming as needed.

    ``resume`` holds the rules and state (pass one to read ``last_event_id`` or
    ``reconnects`` afterwards); other keywords go to ``client.stream``. Waits go through
    :func:`apiharness.clock.get_clock`, so the ``clock`` fixture runs them in virtual time.
    """
    state = resume if resume is not None else SSEResume()
    extra = dict(request.pop("headers", None) or {})
    while True:
        try:
            headers = {**extra, **state.request_headers()}
            with client.stream(method, url, headers=headers, **request) as response:
                if not state.opened(response):
                    return
                for parsed in _events(response):
                    if (event := state.receive(parsed)) is not None:
                        yield event
                    if state.finished:
                        return
            delay = state.ended()
        except _TRANSPORT_ERRORS as exc:
            delay = state.interrupted(exc)
        if delay is None:
            return
        get_clock().sleep(delay)


async def astream_events(
    client: httpx.AsyncClient,
    url: str | httpx.URL,
    *,
    method: str = "GET",
    resume: SSEResume | None = None,
    **request: Any,
) -> AsyncIterator[ServerSentEvent]:
    """The ``AsyncClient`` twin of :func:`stream_events` (httpx or httpx2)."""
    state = resume if resume is not None else SSEResume()
    extra = dict(request.pop("headers", None) or {})
    while True:
        try:
            headers = {**extra, **state.request_headers()}
            async with client.stream(method, url, headers=headers, **request) as response:
                if not state.opened(response):
                    return
                async for parsed in _aevents(response):
                    if (event := state.receive(parsed)) is not None:
                        yield event
                    if state.finished:
                        return
            delay = state.ended()
        except _TRANSPORT_ERRORS as exc:
            delay = state.interrupted(exc)
        if delay is None:
            return
        await get_clock().asleep(delay)
