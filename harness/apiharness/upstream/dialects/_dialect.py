"""What every provider dialect shares: the error answer, rate-limit headers, the token budget.

A :class:`Dialect` answers as one provider does; its subclasses (:mod:`._openai`,
:mod:`._anthropic`) hold the provider's own facts — status-to-type tables, header names, body
shapes, stream events — each with its source beside it. The methods have the same names and
arguments in every dialect, so a test or a catalogue can run over ``[openai, anthropic]``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, ClassVar

from apiharness._stacks import httpx
from apiharness.clock import get_clock
from apiharness.errors import DeclarationError
from apiharness.upstream._behaviours import (
    Behaviour,
    Context,
    Plan,
    RequestHandler,
    Respond,
    Runner,
    check_count,
    check_number,
    check_status,
    declared,
    respond,
    then_map,
)
from apiharness.upstream._scripts import as_behaviour
from apiharness.upstream._streaming import SSEEvent, sse

__all__ = ["Dialect", "go_duration", "rfc3339"]


def go_duration(seconds: float) -> str:
    """A duration as Go's ``time.Duration.String`` writes it: ``6m0s``, ``1s``, ``12ms``,
    ``1h0m0s``, ``20.5s`` — the form of OpenAI's ``x-ratelimit-reset-*`` headers (their docs'
    examples are ``1s`` and ``6m0s``; ``12ms`` is seen on the wire)."""
    if seconds <= 0:
        return "0s"
    if seconds < 1:
        millis = seconds * 1000
        return f"{millis:g}ms" if millis >= 1 else f"{seconds * 1_000_000:g}µs"
    whole_minutes, secs = divmod(round(seconds, 3), 60)
    hours, minutes = divmod(int(whole_minutes), 60)
    shown = f"{secs:.3f}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{hours}h{minutes}m{shown}"
    if minutes:
        return f"{minutes}m{shown}"
    return shown


def rfc3339(timestamp: float) -> str:
    """A UTC time in RFC 3339 (``2026-12-01T03:04:05Z``), the form of Anthropic's
    ``anthropic-ratelimit-*-reset`` headers."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


Quota = tuple[int, int, float]  # limit, remaining, seconds until fully replenished


class Dialect:
    """How one provider answers: errors, rate limits, replies and streams, as behaviours.

    Use the ready-made instances ``openai`` and ``anthropic`` from
    :mod:`apiharness.upstream.dialects`.
    """

    name = "dialect"
    #: The status each error type is sent with, and the type each status gets.
    error_types: ClassVar[Mapping[int, str]] = {}
    default_messages: ClassVar[Mapping[int, str]] = {}
    request_id_header = "x-request-id"

    # -- provider specifics (subclasses) -------------------------------------------------------

    def error_body(self, status: int, message: str, type: str, code: str | None) -> object:
        raise NotImplementedError

    def quota_headers(self, kind: str, quota: Quota, now: float) -> dict[str, str]:
        raise NotImplementedError

    def reply_body(self, text: str, model: str) -> object:
        raise NotImplementedError

    def stream_events(self, texts: Sequence[str], model: str) -> list[SSEEvent]:
        raise NotImplementedError

    def stream_error_event(self, type: str, message: str) -> SSEEvent:
        raise NotImplementedError

    stream_error_type = "api_error"

    overloaded_status = 503
    rate_limit_code: str | None = None
    default_model = "model"

    # -- shared ---------------------------------------------------------------------------------

    def type_for(self, status: int) -> str:
        """The error type this provider sends with ``status``."""
        if status in self.error_types:
            return self.error_types[status]
        return self.error_types[500 if status >= 500 else 400]

    @declared
    def error(
        self,
        status: int,
        message: str | None = None,
        *,
        type: str | None = None,
        code: str | None = None,
        retry_after: float | None = None,
        retry_after_ms: int | None = None,
        should_retry: bool | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Respond:
        """The provider's error answer for ``status``: its JSON body shape and type, and the
        headers its SDK reads — ``retry-after`` (seconds), ``retry-after-ms``,
        ``x-should-retry: true|false`` (both SDKs let it override the status)."""
        code_ = check_status(f"{self.name}.error(status)", status)
        kind = type if type is not None else self.type_for(code_)
        text = message if message is not None else self.default_messages.get(code_, kind)
        extra: dict[str, str] = {self.request_id_header: self._request_id()}
        if retry_after is not None:
            extra["retry-after"] = f"{check_number('error(retry_after=...)', retry_after):g}"
        if retry_after_ms is not None:
            extra["retry-after-ms"] = str(
                check_count("error(retry_after_ms=...)", retry_after_ms, minimum=0)
            )
        if should_retry is not None:
            if not isinstance(should_retry, bool):
                raise DeclarationError(f"should_retry= takes True or False, got {should_retry!r}")
            extra["x-should-retry"] = "true" if should_retry else "false"
        extra.update(headers or {})
        made = respond(code_, json=self.error_body(code_, text, kind, code), headers=extra)
        made._repr = f"{self.name}.error({code_}, type={kind!r})"
        return made

    def _request_id(self) -> str:
        return "req_apiharness"

    @declared
    def rate_limited(
        self,
        *,
        retry_after: float | None = 1,
        retry_after_ms: int | None = None,
        kind: str = "requests",
        limit: int = 60,
        reset: float | None = None,
        should_retry: bool | None = None,
    ) -> Behaviour:
        """A ``429`` as the provider sends it when a budget is spent: the rate-limit error
        body, ``retry-after``/``retry-after-ms``, and the provider's rate-limit headers with
        ``kind`` (``"requests"`` or ``"tokens"``) at zero remaining, resetting in ``reset``
        seconds (default: ``retry_after``)."""
        if kind not in ("requests", "tokens"):
            raise DeclarationError(
                f"rate_limited(kind=...) is 'requests' or 'tokens', got {kind!r}"
            )
        check_count("rate_limited(limit=...)", limit)
        wait = reset if reset is not None else (retry_after or 0.0)
        check_number("rate_limited(reset=...)", wait)
        message = self.rate_limit_message(kind, limit)
        base = self.error(
            429,
            message,
            code=self.rate_limit_code,
            type=self.rate_limit_type(kind),
            retry_after=retry_after,
            retry_after_ms=retry_after_ms,
            should_retry=should_retry,
        )
        return _WithQuota(
            self, base, kind, (limit, 0, wait), f"{self.name}.rate_limited(kind={kind!r})"
        )

    def rate_limit_type(self, kind: str) -> str:
        return self.type_for(429)

    def rate_limit_message(self, kind: str, limit: int) -> str:
        return f"Rate limit reached on {kind}: limit {limit}."

    @declared
    def overloaded(
        self, *, retry_after: float | None = None, should_retry: bool | None = None
    ) -> Respond:
        """The provider's "overloaded" answer (Anthropic: ``529 overloaded_error``)."""
        made = self.error(
            self.overloaded_status, retry_after=retry_after, should_retry=should_retry
        )
        made._repr = f"{self.name}.overloaded()"
        return made

    @declared
    def reply(self, text: str = "Hello!", *, model: str | None = None) -> Respond:
        """A successful, non-streamed completion carrying ``text``, in the provider's shape."""
        made = respond(200, json=self.reply_body(text, model or self.default_model))
        made._repr = f"{self.name}.reply({text!r})"
        return made

    @declared
    def stream(
        self,
        texts: Sequence[str],
        *,
        model: str | None = None,
        error_after: int | None = None,
        error_type: str | None = None,
        **faults: Any,
    ) -> Behaviour:
        """A streamed answer carrying ``texts``, in the provider's events
        (:meth:`stream_events`). ``error_after=n`` sends the provider's in-stream error (of
        ``error_type``; OpenAI ``server_error``, Anthropic ``overloaded_error`` by default)
        after ``n`` events, after the ``200``; the other options are
        :func:`~apiharness.upstream.sse`'s faults, all counted in SSE events."""
        kind = error_type or self.stream_error_type
        message = self.default_messages.get(self.status_for(kind), kind)
        made = sse(
            self.stream_events(list(texts), model or self.default_model),
            error_after=error_after,
            error=self.stream_error_event(kind, message),
            **faults,
        )
        made._repr = f"{self.name}.stream({list(texts)!r})"
        return made

    def status_for(self, type: str) -> int:
        """The status this provider sends errors of ``type`` with (500 if none)."""
        return next((s for s, t in self.error_types.items() if t == type), 500)

    @declared
    def token_budget(
        self,
        tokens_per_minute: int,
        *,
        then: Behaviour | RequestHandler | None = None,
        cost: Callable[[httpx.Request], int] | None = None,
    ) -> Behaviour:
        """Spend a tokens-per-minute budget: a token bucket of ``tokens_per_minute`` that
        refills continuously, as the providers describe theirs. Each request costs
        ``cost(request)`` tokens — by default the larger of its ``max_tokens`` and its body's
        length in characters / 4 (OpenAI's rate-limit guide counts the larger of the two) —
        and is answered ``then`` (default :meth:`reply`) with the provider's token headers, or
        ``429`` with ``retry-after`` set to when the bucket holds enough again. Measured on the
        active clock, so it works in virtual time.
        """
        budget = check_count(f"{self.name}.token_budget(tokens_per_minute)", tokens_per_minute)
        inner = self.reply() if then is None else as_behaviour("token_budget(then=...)", then)
        return _TokenBudget(self, budget, inner, cost or estimate_tokens)


def estimate_tokens(request: httpx.Request) -> int:
    """max(``max_tokens`` of the JSON body, characters / 4)."""
    import json

    body = request.content
    wanted = 0
    try:
        parsed = json.loads(body) if body else {}
    except ValueError:
        parsed = {}
    if isinstance(parsed, dict):
        for key in ("max_tokens", "max_completion_tokens", "max_output_tokens"):
            value = parsed.get(key)
            if isinstance(value, int) and not isinstance(value, bool):
                wanted = max(wanted, value)
    return max(wanted, math.ceil(len(body.decode("utf-8", "replace")) / 4))


class _WithQuota(Behaviour):
    """A response labelled with the provider's rate-limit headers, computed when served."""

    __slots__ = ("base", "dialect", "kind", "quota")

    def __init__(
        self, dialect: Dialect, base: Behaviour, kind: str, quota: Quota, description: str
    ) -> None:
        super().__init__(description)
        self.dialect, self.base, self.kind, self.quota = dialect, base, kind, quota

    def plan(self, ctx: Context) -> Plan:
        headers = self.dialect.quota_headers(self.kind, self.quota, get_clock().time())
        return _labelled(self.base.plan(ctx), headers)


def _labelled(plan: Plan, headers: dict[str, str]) -> Plan:
    def label(planned: Plan) -> Plan:
        if planned.response is None:
            return planned
        return replace(planned, response=planned.response.with_headers(headers))

    return then_map(plan, label)


class _TokenBudget(Behaviour):
    __slots__ = ("budget", "cost", "dialect", "then")

    def __init__(
        self,
        dialect: Dialect,
        budget: int,
        then: Behaviour,
        cost: Callable[[httpx.Request], int],
    ) -> None:
        super().__init__(f"{dialect.name}.token_budget({budget})")
        self.dialect, self.budget, self.then, self.cost = dialect, budget, then, cost

    def runner(self) -> Runner:
        return _TokenBudgetRunner(self)


class _TokenBudgetRunner:
    """A token bucket of ``budget`` tokens refilled at ``budget / 60`` per second."""

    def __init__(self, spec: _TokenBudget) -> None:
        self.spec = spec
        self.then = spec.then.runner()
        self.tokens = float(spec.budget)
        self.at: float | None = None

    def plan(self, ctx: Context) -> Plan:
        spec, now = self.spec, ctx.monotonic
        rate = spec.budget / 60.0
        if self.at is not None:
            self.tokens = min(float(spec.budget), self.tokens + (now - self.at) * rate)
        self.at = now
        cost = spec.cost(ctx.request)
        wall = get_clock().time()
        if cost > self.tokens:
            short = cost - self.tokens
            wait = math.ceil(short / rate) if cost <= spec.budget else None
            full = (spec.budget - self.tokens) / rate
            denied = spec.dialect.error(
                429,
                spec.dialect.rate_limit_message("tokens", spec.budget),
                code=spec.dialect.rate_limit_code,
                type=spec.dialect.rate_limit_type("tokens"),
                retry_after=wait,
                should_retry=None if wait is not None else False,
            )
            headers = spec.dialect.quota_headers(
                "tokens", (spec.budget, int(self.tokens), full), wall
            )
            return _labelled(denied.plan(ctx), headers)
        self.tokens -= cost
        full = (spec.budget - self.tokens) / rate
        headers = spec.dialect.quota_headers("tokens", (spec.budget, int(self.tokens), full), wall)
        return _labelled(self.then.plan(ctx), headers)
