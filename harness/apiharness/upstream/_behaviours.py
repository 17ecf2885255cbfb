"""Behaviours: what the mocked upstream does with a request, as values.

A behaviour is declared once (and validated then, not at request time) and *planned* per
request: :meth:`Behaviour.plan` turns it into a :class:`Plan` — the response to produce (if
any), how long to wait first, and which wire fault, if any, to commit while delivering it. The
in-process transport and the loopback server both carry out the same plans, which is what makes
the fault vocabulary one vocabulary.

Stateful behaviours (scripts, rate limits) live in :mod:`._scripts`; they hand out a fresh
*runner* per route, so one declared value can serve several routes without sharing state.
"""

from __future__ import annotations

import difflib
import enum
import functools
import inspect
import json as _json
import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any, ParamSpec, Protocol, TypeVar

from apiharness._stacks import httpx
from apiharness.errors import DeclarationError

__all__ = [
    "Behaviour",
    "Context",
    "Fault",
    "Plan",
    "RequestHandler",
    "Respond",
    "ResponseData",
    "Runner",
    "StreamBody",
    "StreamFault",
    "close",
    "declared",
    "delay",
    "dribble",
    "drop_after_processing",
    "garbage",
    "hang",
    "malformed_json",
    "reset",
    "respond",
    "status",
    "truncate",
    "wrong_content_type",
]

_P = ParamSpec("_P")
_R = TypeVar("_R")

#: What every place that takes a behaviour also takes: a callable choosing one per request
#: (or answering with a response of the request's stack), wrapped by ``as_behaviour``.
RequestHandler = Callable[[httpx.Request], "Behaviour | httpx.Response"]


def declared(func: Callable[_P, _R]) -> Callable[_P, _R]:
    """Turn a call with unknown or missing arguments into a :class:`DeclarationError`.

    Python would raise a bare ``TypeError``; this names the argument, suggests the closest
    accepted one, and lists the signature, at declaration time.
    """
    signature = inspect.signature(func)
    name = func.__name__

    def explain(args: tuple[object, ...], kwargs: dict[str, object]) -> str | None:
        try:
            signature.bind(*args, **kwargs)
        except TypeError as exc:
            unknown = [key for key in kwargs if key not in signature.parameters]
            if unknown:
                close_to = difflib.get_close_matches(unknown[0], list(signature.parameters), n=1)
                hint = f"; did you mean {close_to[0]!r}?" if close_to else ""
                return (
                    f"{name}() got an unknown argument {unknown[0]!r}{hint} "
                    f"It accepts: {name}{signature}"
                )
            missing = _missing_arguments(signature, args, kwargs)
            if missing:
                # Our own wording: Python's changed after 3.11 ("... keyword-only argument").
                return (
                    f"{name}() is missing the argument {missing[0]!r}; "
                    f"it is called as {name}{signature}"
                )
            return f"{name}(): {exc}; it is called as {name}{signature}"
        return None

    @functools.wraps(func)
    def checked(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        # Called first, checked only on a TypeError: declaring in bulk costs nothing extra.
        try:
            return func(*args, **kwargs)
        except TypeError:
            problem = explain(args, kwargs)
            if problem is None:
                raise  # the arguments fit: the TypeError came from inside
            raise DeclarationError(problem) from None

    return checked


def _missing_arguments(
    signature: inspect.Signature, args: tuple[object, ...], kwargs: dict[str, object]
) -> list[str]:
    """The required parameters a call leaves out, or ``[]`` if it is wrong in another way."""
    try:
        bound = signature.bind_partial(*args, **kwargs)
    except TypeError:
        return []
    return [
        parameter.name
        for parameter in signature.parameters.values()
        if parameter.default is inspect.Parameter.empty
        and parameter.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        and parameter.name not in bound.arguments
    ]


# -- validation helpers (shared by every declaration) -------------------------------------------


def check_number(where: str, value: object, *, minimum: float = 0.0, strict: bool = False) -> float:
    """``value`` as a float, or a DeclarationError naming ``where`` and the fix."""
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise DeclarationError(f"{where} must be a number, got {value!r}")
    if value < minimum or (strict and value == minimum):
        bound = f"greater than {minimum:g}" if strict else f"at least {minimum:g}"
        raise DeclarationError(f"{where} must be {bound}, got {value!r}")
    return float(value)


def check_count(where: str, value: object, *, minimum: int = 1) -> int:
    """``value`` as an int of at least ``minimum``, or a DeclarationError."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise DeclarationError(f"{where} must be an integer of at least {minimum}, got {value!r}")
    return value


def check_status(where: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 100 <= value <= 599:
        raise DeclarationError(
            f"{where} must be an HTTP status code between 100 and 599, got {value!r}; "
            "e.g. status(503)"
        )
    return value


def retry_after_value(value: object) -> str:
    """Retry-After in delta-seconds or HTTP-date form (RFC 9110, section 10.2.3)."""
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise DeclarationError(
                "retry_after= got a naive datetime; pass an aware one, "
                "e.g. datetime(2030, 1, 1, tzinfo=UTC)"
            )
        return format_datetime(value.astimezone(UTC), usegmt=True)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DeclarationError(
            f"retry_after= takes whole seconds (int), a timedelta or an aware datetime, "
            f"got {type(value).__name__}"
        )
    if value < 0 or value != int(value):
        raise DeclarationError(
            f"retry_after= must be a whole, non-negative number of seconds (delta-seconds), "
            f"got {value!r}; round it, or pass a datetime for the HTTP-date form"
        )
    return str(int(value))


# -- plans --------------------------------------------------------------------------------------


class Fault(enum.Enum):
    """What goes wrong on the wire while a plan is delivered."""

    NONE = "none"
    HANG = "hang"  # never answer
    RESET = "reset"  # TCP RST, no response
    CLOSE = "close"  # FIN before any response
    GARBAGE = "garbage"  # random bytes, then FIN
    TRUNCATE = "truncate"  # head promises more body than is sent, then FIN
    DROP = "drop"  # the response was produced (side effect done), then FIN without it


@dataclass(frozen=True, slots=True)
class StreamFault:
    """An HTTP/2 stream-level fault (RFC 9113): ``RST_STREAM`` or ``GOAWAY`` with ``error``,
    an error code name of RFC 9113 section 7. Only the HTTP/2 server reads it; the plan's
    :class:`Fault` says what HTTP/1.1 and the in-process transport do instead."""

    frame: str  # "RST_STREAM" or "GOAWAY"
    error: str


@dataclass(frozen=True, slots=True)
class ResponseData:
    """A response the upstream produced: status, headers (without Content-Length) and body."""

    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or None."""
        lowered = name.lower()
        return next((value for key, value in self.headers if key.lower() == lowered), None)

    def with_headers(
        self, extra: Mapping[str, str], *, replace_existing: bool = True
    ) -> ResponseData:
        """A copy with ``extra`` headers set (replacing same-named ones)."""
        names = {key.lower() for key in extra}
        kept = tuple(h for h in self.headers if not (replace_existing and h[0].lower() in names))
        return replace(self, headers=kept + tuple(extra.items()))


@dataclass(frozen=True, slots=True)
class StreamBody:
    """A body sent in chunked transfer coding, piece by piece: ``pieces`` are the seconds to
    wait before each chunk and the chunk; ``end`` is how the stream ends: ``Fault.NONE`` (the
    last chunk, complete), ``Fault.CLOSE`` (FIN mid-body) or ``Fault.RESET`` (RST mid-body).
    The response's ``body`` holds what a complete stream would carry, for the journal."""

    pieces: tuple[tuple[float, bytes], ...]
    end: Fault = Fault.NONE


@dataclass(frozen=True, slots=True)
class Plan:
    """One request's fate: produce ``response`` (None: nothing is produced), wait ``delay``
    seconds first, then deliver it, committing ``fault`` on the way."""

    behaviour: Behaviour
    response: ResponseData | None
    delay: float = 0.0
    fault: Fault = Fault.NONE
    garbage: bytes = b""
    truncate_after: int = 0
    chunks: int = 1
    over: float = 0.0
    # A streamed body (SSE, NDJSON): chunked, timed, possibly cut; None for a framed body.
    stream: StreamBody | None = None
    # The Last-Event-ID a streamed answer resumed after (journaled), if any.
    resumed_after: str | None = None
    # User code (a callable behaviour) still to run: it returns the real plan. The upstream
    # runs it after releasing the route's lock, and the loopback server off its event loop,
    # so a callable that waits blocks neither the route nor other connections.
    pending: Callable[[], Plan] | None = None
    # What the HTTP/2 server does instead of ``fault`` (reset the stream, send GOAWAY).
    stream_fault: StreamFault | None = None
    # What is derived from the plan, made once per plan (one plan serves every request of a
    # fixed response): the wire steps by method (``_wire``) and the journal's view of it
    # (``_dispatch``). Not compared, not copied by ``replace``.
    memo: dict[str | None, Any] = field(default_factory=dict, init=False, compare=False, repr=False)

    @property
    def processed(self) -> bool:
        """Whether the upstream performed the operation (produced a response)."""
        return self.response is not None

    @property
    def faulty(self) -> bool:
        """Whether the fault vocabulary shaped this answer: a wire fault, a wait, a slow body,
        or an error answer (``status()``, ``rate_limit``, ``malformed_json`` ...). Contracts
        (Pact export) take only answers that are not."""
        return (
            self.response is None
            or self.fault is not Fault.NONE
            or self.stream_fault is not None
            or self.delay > 0
            or self.chunks > 1
            or self.behaviour.injected
        )


def then_map(plan: Plan, change: Callable[[Plan], Plan]) -> Plan:
    """``change(plan)``: at once, or for a pending plan once its user code has chosen."""
    if plan.pending is None:
        return change(plan)
    pending = plan.pending
    return replace(plan, pending=lambda: then_map(pending(), change))


@dataclass(slots=True)
class Context:
    """What a behaviour may look at while planning: the request, seeded randomness, the time."""

    request: httpx.Request
    rng: random.Random
    monotonic: float
    route: Any = field(default=None)


class Runner(Protocol):
    """A behaviour bound to one route: plans requests, keeping whatever state it needs."""

    def plan(self, ctx: Context) -> Plan: ...


class Behaviour:
    """Base of every behaviour. Stateless behaviours are their own runner."""

    __slots__ = ("_repr",)
    #: Made by the fault vocabulary to misbehave (an error answer), not to stand for the API.
    injected: bool = False

    def __init__(self, description: str) -> None:
        self._repr = description

    def plan(self, ctx: Context) -> Plan:
        raise NotImplementedError  # pragma: no cover - every subclass plans

    def runner(self) -> Runner:
        """A runner for one route; stateful behaviours return a fresh one per call."""
        return self

    def times(self, n: int) -> Behaviour:
        """This behaviour for ``n`` requests, then the next step of the script.

        ``up.get("/x").respond(status(503).times(3), respond(200))``
        """
        from apiharness.upstream._scripts import Times

        return Times(self, check_count("times(n)", n))

    def __repr__(self) -> str:
        return self._repr


def _args(*args: object, **kwargs: object) -> str:
    shown = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items() if v is not None]
    return ", ".join(shown)


# -- responses ----------------------------------------------------------------------------------


class Respond(Behaviour):
    """Answer with a fixed response."""

    __slots__ = ("_plan", "injected", "response")

    def __init__(self, response: ResponseData, description: str, *, injected: bool = False) -> None:
        super().__init__(description)
        self.response = response
        self.injected = injected
        self._plan: Plan | None = None

    def plan(self, ctx: Context) -> Plan:
        # Plans are immutable: one serves every request (building one costs microseconds).
        planned = self._plan
        if planned is None or planned.response is not self.response:
            planned = self._plan = Plan(self, self.response)
        return planned


_MISSING: Any = object()


def _body(json: object, text: str | None, content: bytes | None) -> tuple[bytes, str | None]:
    present = {
        "json": json is not _MISSING,
        "text": text is not None,
        "content": content is not None,
    }
    given = [name for name, is_given in present.items() if is_given]
    if len(given) > 1:
        raise DeclarationError(
            f"respond() takes one of json=, text= or content=, got {' and '.join(given)}"
        )
    if json is not _MISSING:
        try:
            encoded = _json.dumps(json, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise DeclarationError(
                f"respond(json=...) must be JSON-serialisable: {exc}; "
                "convert it first, or pass content= bytes"
            ) from None
        return encoded.encode(), "application/json"
    if text is not None:
        if not isinstance(text, str):
            raise DeclarationError(f"respond(text=...) takes a str, got {type(text).__name__}")
        return text.encode(), "text/plain; charset=utf-8"
    if content is not None:
        if not isinstance(content, bytes | bytearray):
            raise DeclarationError(
                f"respond(content=...) takes bytes, got {type(content).__name__}; "
                "use text= for str or json= for data"
            )
        return bytes(content), None
    return b"", None


# A mapping, or (name, value) pairs when a field repeats (two Set-Cookie lines).
HeadersArg = Mapping[str, str] | Sequence[tuple[str, str]]


def _headers(value: HeadersArg | None) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    given: object = value  # checked as it comes: callers may pass anything
    pairs: list[Any] = [None]  # anything else fails the check below
    if isinstance(given, Mapping):
        pairs = list(given.items())
    elif isinstance(given, Sequence) and not isinstance(given, str | bytes):
        pairs = list(given)
    if not all(
        isinstance(pair, tuple) and len(pair) == 2 and all(isinstance(x, str) for x in pair)
        for pair in pairs
    ):
        raise DeclarationError(
            f"headers= takes a mapping of str to str, or a list of (name, value) str pairs when "
            f'a name repeats, got {value!r}; e.g. headers={{"X-Request-Id": "1"}} or '
            'headers=[("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")]'
        )
    if any(k.lower() in {"content-length", "transfer-encoding"} for k, _ in pairs):
        raise DeclarationError(
            "headers= must not set Content-Length or Transfer-Encoding: the upstream frames "
            "the body itself; use truncate() for a Content-Length that lies"
        )
    return tuple(pairs)


@declared
def respond(
    status: int = 200,
    *,
    json: object = _MISSING,
    text: str | None = None,
    content: bytes | None = None,
    headers: HeadersArg | None = None,
    retry_after: int | timedelta | datetime | None = None,
) -> Respond:
    """Answer with ``status`` and a body given as ``json=``, ``text=`` or ``content=``.

    ``up.get("/users/1").respond(respond(200, json={"id": 1}))``
    """
    code = check_status("respond(status)", status)
    body, content_type = _body(json, text, content)
    pairs = _headers(headers)
    if content_type and not any(k.lower() == "content-type" for k, _ in pairs):
        pairs = (("Content-Type", content_type), *pairs)
    if retry_after is not None:
        pairs = (*pairs, ("Retry-After", retry_after_value(retry_after)))
    shown = _args(
        code,
        json=None if json is _MISSING else json,
        text=text,
        content=content,
        headers=headers,
        retry_after=retry_after,
    )
    return Respond(ResponseData(code, pairs, body), f"respond({shown})")


@declared
def status(
    code: int,
    *,
    retry_after: int | timedelta | datetime | None = None,
    headers: HeadersArg | None = None,
) -> Respond:
    """Answer with an empty ``code`` response, optionally with ``Retry-After``.

    ``retry_after`` is whole seconds (or a timedelta) for the delta-seconds form, or an aware
    datetime for the HTTP-date form: ``status(429, retry_after=2)``.
    """
    made = respond(check_status("status(code)", code), headers=headers, retry_after=retry_after)
    made._repr = f"status({_args(code, retry_after=retry_after, headers=headers)})"
    made.injected = True
    return made


def as_response(where: str, value: object, default: Respond) -> Respond:
    """The response a wrapping behaviour works on (``respond(...)``/``status(...)``)."""
    if value is None:
        return default
    if not isinstance(value, Respond):
        raise DeclarationError(
            f"{where} takes a response made with respond(...) or status(...), got {value!r}"
        )
    return value


@declared
def malformed_json(status: int = 200) -> Respond:
    """A body labelled ``application/json`` that is not valid JSON (it stops mid-string)."""
    made = respond(check_status("malformed_json(status)", status))
    body = b'{"id": 1, "name": "unterminated'
    made.response = ResponseData(
        made.response.status, (("Content-Type", "application/json"),), body
    )
    made._repr = f"malformed_json({status})"
    made.injected = True
    return made


_HTML = b"<!doctype html><html><body><h1>Service temporarily unavailable</h1></body></html>"


@declared
def wrong_content_type(
    response: Respond | None = None, *, content_type: str = "text/html; charset=utf-8"
) -> Respond:
    """A response whose Content-Type is not what the API promises.

    Without ``response``: a 200 HTML page, what a captive portal or a misconfigured proxy
    serves. With one: its status and body, relabelled ``content_type``.
    """
    base = as_response("wrong_content_type(response)", response, respond(200, content=_HTML))
    if not isinstance(content_type, str) or not content_type:
        raise DeclarationError(
            f"wrong_content_type(content_type=...) takes a str, got {content_type!r}"
        )
    relabelled = base.response.with_headers({"Content-Type": content_type})
    shown = f"wrong_content_type({_args(response, content_type=content_type)})"
    return Respond(relabelled, shown, injected=True)


# -- timing and wire faults ---------------------------------------------------------------------


class _Fixed(Behaviour):
    """A behaviour whose plan is fixed at declaration."""

    __slots__ = ("_plan",)

    def __init__(self, description: str, **plan: Any) -> None:
        super().__init__(description)
        self._plan = Plan(self, **plan)

    def plan(self, ctx: Context) -> Plan:
        return self._plan


class Delay(Behaviour):
    """Wait, then do what ``then`` does."""

    __slots__ = ("between", "seconds", "then")

    def __init__(
        self, seconds: float, between: tuple[float, float] | None, then: Behaviour, description: str
    ) -> None:
        super().__init__(description)
        self.seconds, self.between, self.then = seconds, between, then

    def _wait(self, ctx: Context) -> float:
        return ctx.rng.uniform(*self.between) if self.between else self.seconds

    def plan(self, ctx: Context) -> Plan:
        return self.planned(ctx, self.then)

    def planned(self, ctx: Context, then: Runner) -> Plan:
        wait = self._wait(ctx)
        return then_map(then.plan(ctx), lambda inner: replace(inner, delay=inner.delay + wait))

    def runner(self) -> Runner:
        inner = self.then.runner()
        return self if inner is self.then else _BoundDelay(self, inner)


class _BoundDelay:
    def __init__(self, delay: Delay, then: Runner) -> None:
        self.delay, self.then = delay, then

    def plan(self, ctx: Context) -> Plan:
        return self.delay.planned(ctx, self.then)


@declared
def delay(
    seconds: float | None = None,
    *,
    between: tuple[float, float] | None = None,
    then: Behaviour | RequestHandler | None = None,
) -> Behaviour:
    """Wait ``seconds`` (or a seeded random time ``between=(low, high)``), then answer ``then``
    (a behaviour, or a callable ``request -> behaviour``; default: an empty 200).

    Waits go through the active clock: under the ``clock`` fixture they cost no real time.
    A wait longer than the client's read timeout ends in ``httpx.ReadTimeout``.
    ``delay(2, then=respond(200, json={"ok": True}))``
    """
    from apiharness.upstream._scripts import as_behaviour

    if (seconds is None) == (between is None):
        raise DeclarationError("delay() takes either seconds or between=(low, high), exactly one")
    window: tuple[float, float] | None = None
    if between is not None:
        if not isinstance(between, tuple | list) or len(between) != 2:
            raise DeclarationError(f"delay(between=...) takes (low, high), got {between!r}")
        low = check_number("delay(between=...) low", between[0])
        high = check_number("delay(between=...) high", between[1])
        if high < low:
            raise DeclarationError(f"delay(between=({low:g}, {high:g})): high is below low")
        window = (low, high)
    wait = check_number("delay(seconds)", seconds) if seconds is not None else 0.0
    inner = respond(200) if then is None else as_behaviour("delay(then=...)", then)
    shown = _args(seconds, between=between, then=then)
    return Delay(wait, window, inner, f"delay({shown})")


@declared
def hang() -> Behaviour:
    """Never answer. The client's read timeout is what ends the request (``httpx.ReadTimeout``)."""
    return _Fixed("hang()", response=None, fault=Fault.HANG)


@declared
def reset() -> Behaviour:
    """Read the request, then reset the connection (a TCP RST; ``httpx.ReadError``)."""
    return _Fixed("reset()", response=None, fault=Fault.RESET)


@declared
def close() -> Behaviour:
    """Read the request, then close the connection without answering."""
    return _Fixed("close()", response=None, fault=Fault.CLOSE)


class _Garbage(Behaviour):
    __slots__ = ("size",)

    def __init__(self, size: int) -> None:
        super().__init__(f"garbage({size})")
        self.size = size

    def plan(self, ctx: Context) -> Plan:
        noise = bytearray(ctx.rng.randbytes(self.size))
        # Never the start of a status line, so no client can mistake it for a response.
        noise[0] = 0x00 if noise[0] == ord("H") else noise[0]
        return Plan(self, None, fault=Fault.GARBAGE, garbage=bytes(noise))


@declared
def garbage(n: int = 64) -> Behaviour:
    """Answer ``n`` seeded random bytes instead of HTTP, then close the connection."""
    return _Garbage(check_count("garbage(n)", n))


def _long_body(size: int) -> Respond:
    return respond(200, json={"data": "x" * max(size, 64)})


@declared
def truncate(*, after: int, response: Respond | None = None) -> Behaviour:
    """Send the head and ``after`` bytes of the body, then close: Content-Length promised more.

    ``truncate(after=10, response=respond(200, json=big))``
    """
    cut = check_count("truncate(after=...)", after, minimum=0)
    base = as_response("truncate(response=...)", response, _long_body(cut * 2))
    if cut >= len(base.response.body):
        raise DeclarationError(
            f"truncate(after={cut}) cuts nothing: the body is {len(base.response.body)} bytes; "
            "pass a smaller after= or a longer response="
        )
    description = f"truncate({_args(after=cut, response=response)})"
    return _Fixed(description, response=base.response, fault=Fault.TRUNCATE, truncate_after=cut)


@declared
def dribble(chunks: int = 4, *, over: float = 2.0, response: Respond | None = None) -> Behaviour:
    """Send the body in ``chunks`` pieces spread over ``over`` seconds (a slow body).

    The head goes out at once; each piece follows ``over / chunks`` seconds after the last. A
    gap longer than the client's read timeout ends in ``httpx.ReadTimeout``.
    """
    pieces = check_count("dribble(chunks)", chunks)
    seconds = check_number("dribble(over=...)", over)
    base = as_response("dribble(response=...)", response, _long_body(pieces))
    if len(base.response.body) < pieces:
        raise DeclarationError(
            f"dribble({pieces}) needs a body of at least {pieces} bytes, "
            f"got {len(base.response.body)}"
        )
    description = f"dribble({_args(pieces, over=seconds, response=response)})"
    return _Fixed(description, response=base.response, chunks=pieces, over=seconds)


@declared
def drop_after_processing(response: Respond | None = None) -> Behaviour:
    """Perform the operation (the journal marks it processed), then drop the connection
    without answering: the lost response that idempotency keys exist for."""
    base = as_response("drop_after_processing(response)", response, respond(200))
    return _Fixed(
        f"drop_after_processing({_args(response)})", response=base.response, fault=Fault.DROP
    )
