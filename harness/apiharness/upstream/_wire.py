"""What a plan does on the wire, as a sequence of steps, with no I/O (one place for faults).

:func:`wire_steps` turns a request's :class:`~apiharness.upstream.Plan` into the steps a
server would take on a socket: wait, send the head, send bytes, close (FIN), abort (RST), or
hang until the client gives up. Two short drivers carry the steps out, as httpx's
``auth_flow`` is one generator with a sync and an async driver: the in-process transport
(:meth:`Upstream._deliver`) turns them into the ``httpx.Response`` or the exception httpx's
own transport would produce, and the loopback server performs them on the socket. A new fault
is a new branch here, and both deliveries have it.

The generator also settles the exchange (journal ``delivered``, route policies' ``after``)
*before* it yields the step that lets the client see the outcome, and settles an abandoned
exchange as not delivered when it is closed: the settle-before-deliver rule is in the
sequence itself, not in each driver. Drivers must close the generator when they stop early
(``contextlib.closing``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from dataclasses import dataclass

from apiharness.upstream._behaviours import Fault, Plan, ResponseData, StreamBody

__all__ = [
    "Abort",
    "Chunk",
    "Close",
    "Hang",
    "Head",
    "Send",
    "Step",
    "Wait",
    "dribble_pieces",
    "wire_steps",
]


@dataclass(frozen=True, slots=True)
class Wait:
    """Pause ``seconds`` (through the active clock) before the next step."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Head:
    """The status line and headers of the response (Content-Length included)."""

    status: int
    headers: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Send:
    """Bytes on the wire: body bytes after a :class:`Head`, or garbage without one."""

    data: bytes


@dataclass(frozen=True, slots=True)
class Chunk:
    """One chunk of a body in chunked transfer coding (after a :class:`Head` that says
    ``Transfer-Encoding: chunked``); the empty chunk is the last-chunk that ends the body."""

    data: bytes


@dataclass(frozen=True, slots=True)
class Close:
    """End the connection with a FIN (after whatever was sent)."""


@dataclass(frozen=True, slots=True)
class Abort:
    """End the connection with a TCP RST."""


@dataclass(frozen=True, slots=True)
class Hang:
    """Send nothing more until the client gives up (or the server stops)."""


Step = Wait | Head | Send | Chunk | Close | Abort | Hang

_CLOSE, _ABORT, _HANG, _LAST_CHUNK = Close(), Abort(), Hang(), Chunk(b"")


def dribble_pieces(plan: Plan) -> tuple[float, list[bytes]]:
    """The gap between pieces and the pieces of a dribbled body."""
    assert plan.response is not None
    body = plan.response.body
    size = max(1, math.ceil(len(body) / plan.chunks))
    return plan.over / plan.chunks, [body[i : i + size] for i in range(0, len(body), size)]


def _head(data: ResponseData) -> Head:
    """The head of a framed response; a HEAD answer has the same one, Content-Length included,
    and no content (RFC 9110 section 8.6)."""
    return Head(data.status, (*data.headers, ("Content-Length", str(len(data.body)))))


def wire_steps(
    plan: Plan, method: str, settle: Callable[[bool], None]
) -> Generator[Step, None, None]:
    """The steps that deliver ``plan`` for a ``method`` request; ``settle(delivered)`` is
    called once, before the step that shows the client the outcome (or on close).

    A plain delivery (the response at once, whole) is settled here and now, and its steps
    are made once per plan: most requests take this path, and the loopback server's cost per
    request is mostly made of such constant work.
    """
    cache = plan.memo
    if method not in cache:
        cache[method] = _plain_steps(plan, method)
    plain: tuple[Step, ...] | None = cache[method]
    if plain is None:
        return _steps(plan, method, settle)
    settle(True)
    return _replay(plain)


def _replay(steps: tuple[Step, ...]) -> Generator[Step, None, None]:
    yield from steps


def _plain_steps(plan: Plan, method: str) -> tuple[Step, ...] | None:
    """The steps of ``plan`` when it is delivered at once and whole, else None."""
    data = plan.response
    if data is None or plan.fault is not Fault.NONE or plan.delay:
        return None
    if plan.stream is not None and method != "HEAD":
        return None
    body = b"" if method == "HEAD" else data.body
    if plan.chunks != 1 and body:  # dribbled
        return None
    if plan.over and body:
        return None
    return (_head(data), Send(body))


def _steps(plan: Plan, method: str, settle: Callable[[bool], None]) -> Generator[Step, None, None]:
    """The steps of every delivery but a plain one (:func:`_plain_steps`)."""
    settled = False

    def outcome(delivered: bool) -> None:
        nonlocal settled
        settled = True
        settle(delivered)

    try:
        if plan.fault is Fault.HANG:
            yield _HANG
            return
        if plan.delay:
            yield Wait(plan.delay)
        if plan.fault is Fault.RESET:
            outcome(False)
            yield _ABORT
            return
        data = plan.response
        if data is None or plan.fault is Fault.DROP:
            outcome(False)
            if plan.fault is Fault.GARBAGE:
                yield Send(plan.garbage)
            yield _CLOSE
            return
        if plan.stream is not None and method != "HEAD":
            yield from _streamed(data, plan.stream, outcome)
            return
        body = b"" if method == "HEAD" else data.body
        head = _head(data)
        if plan.fault is Fault.TRUNCATE:
            outcome(False)
            yield head
            yield Send(body[: plan.truncate_after])
            yield _CLOSE
            return
        if (plan.chunks == 1 and not plan.over) or not body:
            outcome(True)
            yield head
            yield Send(body)
            return
        gap, chunks = dribble_pieces(plan)
        yield head
        for index, chunk in enumerate(chunks):
            yield Wait(gap)
            if index == len(chunks) - 1:
                outcome(True)  # the last piece completes the response
            yield Send(chunk)
    finally:
        if not settled:
            outcome(False)


def _streamed(
    data: ResponseData, stream: StreamBody, outcome: Callable[[bool], None]
) -> Generator[Step, None, None]:
    """A streamed body: the head, then each chunk after its wait, then the last-chunk (the
    stream is complete) or the fault that cuts it."""
    yield Head(data.status, (*data.headers, ("Transfer-Encoding", "chunked")))
    for wait, chunk in stream.pieces:
        if wait:
            yield Wait(wait)
        if chunk:  # an empty chunk would end the body
            yield Chunk(chunk)
    outcome(stream.end is Fault.NONE)
    if stream.end is Fault.RESET:
        yield _ABORT
    elif stream.end is Fault.CLOSE:
        yield _CLOSE
    else:
        yield _LAST_CHUNK
