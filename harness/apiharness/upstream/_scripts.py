"""Scripts and stateful behaviours: sequences, cycles, seeded chance, every n-th, rate limits,
and callables.

A script is a value like any behaviour; its state (where the sequence is, how many requests the
rate-limit window holds) lives in the runner that :meth:`Behaviour.runner` makes for each route.
Runners are driven under their route's lock, so they need no locking of their own. A callable
is the exception: its plan is *pending* and the user code runs after the lock is released (see
``Plan.pending``), so whatever state a callable keeps is its own to guard.
"""

from __future__ import annotations

import collections
import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import cast

from apiharness._stacks import httpx, is_a
from apiharness.errors import DeclarationError
from apiharness.upstream._behaviours import (
    Behaviour,
    Context,
    Plan,
    RequestHandler,
    Respond,
    ResponseData,
    Runner,
    check_count,
    check_number,
    declared,
    respond,
    then_map,
)

__all__ = ["Times", "as_behaviour", "chance", "cycle", "every", "rate_limit", "sequence"]

_FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding"})


def as_behaviour(where: str, value: object) -> Behaviour:
    """``value`` as a behaviour: behaviours pass, callables ``request -> behaviour`` are wrapped."""
    if isinstance(value, Behaviour):
        return value
    if callable(value):
        return _Callable(value)
    raise DeclarationError(
        f"{where} takes behaviours such as respond(200), status(503) or hang(), or a callable "
        f"(httpx.Request) -> behaviour; got {value!r}"
    )


class _Callable(Behaviour):
    """A behaviour chosen per request by user code."""

    __slots__ = ("func",)

    def __init__(self, func: Callable[[httpx.Request], object]) -> None:
        super().__init__(f"<callable {getattr(func, '__qualname__', func)!s}>")
        self.func = func

    def plan(self, ctx: Context) -> Plan:
        return Plan(self, None, pending=functools.partial(self._chosen, ctx))

    def _chosen(self, ctx: Context) -> Plan:
        chosen = self.func(ctx.request)
        if is_a(chosen, "Response"):  # httpx's or httpx2's: the same surface
            chosen = cast("httpx.Response", chosen)
            # The upstream frames the body itself (as for respond()): drop the response's own
            # framing headers, or a client would see Content-Length twice.
            headers = tuple(
                (name, value)
                for name, value in chosen.headers.items()
                if name.lower() not in _FRAMING_HEADERS
            )
            chosen = Respond(
                ResponseData(chosen.status_code, headers, chosen.read()),
                f"<{type(chosen).__module__}.Response [{chosen.status_code}]>",
            )
        if not isinstance(chosen, Behaviour):
            raise DeclarationError(
                f"the callable {self._repr} returned {chosen!r}; it must return a behaviour "
                "such as respond(200, json=...) (or an httpx.Response)"
            )
        return chosen.runner().plan(ctx)


class Times(Behaviour):
    """A step that serves ``n`` requests before a script moves on."""

    __slots__ = ("behaviour", "n")

    def __init__(self, behaviour: Behaviour, n: int) -> None:
        super().__init__(f"{behaviour!r}.times({n})")
        self.behaviour, self.n = behaviour, n

    def runner(self) -> Runner:
        return self.behaviour.runner()


class _Steps(Behaviour):
    __slots__ = ("looping", "steps")

    def __init__(self, steps: Sequence[Behaviour], looping: bool, description: str) -> None:
        super().__init__(description)
        self.steps, self.looping = tuple(steps), looping

    def runner(self) -> Runner:
        return _StepRunner(self)


class _StepRunner:
    def __init__(self, script: _Steps) -> None:
        self.runners = [step.runner() for step in script.steps]
        self.counts = [step.n if isinstance(step, Times) else 1 for step in script.steps]
        self.looping = script.looping
        self.index = 0
        self.used = 0

    def plan(self, ctx: Context) -> Plan:
        planned = self.runners[self.index].plan(ctx)
        self.used += 1
        if self.used >= self.counts[self.index]:
            last = self.index == len(self.runners) - 1
            if not last:
                self.index, self.used = self.index + 1, 0
            elif self.looping:
                self.index, self.used = 0, 0
        return planned


def _steps(where: str, behaviours: Sequence[object]) -> list[Behaviour]:
    if not behaviours:
        raise DeclarationError(f"{where} needs at least one behaviour, e.g. respond(200)")
    return [as_behaviour(where, b) for b in behaviours]


def script_of(behaviours: Sequence[object], where: str = "respond()") -> Behaviour:
    """The behaviour a route serves for ``route.respond(*behaviours)``."""
    steps = _steps(where, behaviours)
    if len(steps) == 1 and not isinstance(steps[0], Times):
        return steps[0]
    return _Steps(steps, False, f"sequence({', '.join(map(repr, steps))})")


def sequence(*behaviours: Behaviour | RequestHandler) -> Behaviour:
    """Serve the behaviours in order, each once (or ``.times(n)``); the last one repeats.

    ``sequence(status(503).times(3), respond(200))`` — "503 three times, then 200". A nested
    script counts as one step.
    """
    steps = _steps("sequence()", behaviours)
    return _Steps(steps, False, f"sequence({', '.join(map(repr, steps))})")


def cycle(*behaviours: Behaviour | RequestHandler) -> Behaviour:
    """Serve the behaviours in order, then start again: ``cycle(status(500), respond(200))``."""
    steps = _steps("cycle()", behaviours)
    return _Steps(steps, True, f"cycle({', '.join(map(repr, steps))})")


class _Choice(Behaviour):
    __slots__ = ("choose", "otherwise", "then")

    def __init__(
        self,
        then: Behaviour,
        otherwise: Behaviour,
        choose: Callable[[Context, int], bool],
        description: str,
    ) -> None:
        super().__init__(description)
        self.then, self.otherwise, self.choose = then, otherwise, choose

    def runner(self) -> Runner:
        return _ChoiceRunner(self)


class _ChoiceRunner:
    def __init__(self, choice: _Choice) -> None:
        self.choice = choice
        self.then, self.otherwise = choice.then.runner(), choice.otherwise.runner()
        self.seen = 0

    def plan(self, ctx: Context) -> Plan:
        self.seen += 1
        picked = self.then if self.choice.choose(ctx, self.seen) else self.otherwise
        return picked.plan(ctx)


@declared
def chance(
    p: float,
    behaviour: Behaviour | RequestHandler,
    otherwise: Behaviour | RequestHandler | None = None,
) -> Behaviour:
    """With probability ``p``, ``behaviour``; else ``otherwise`` (default: an empty 200).

    Draws from the upstream's seeded generator: the same seed gives the same chaos.
    ``chance(0.2, status(503), otherwise=respond(200, json=...))``
    """
    probability = check_number("chance(p)", p)
    if probability > 1:
        raise DeclarationError(f"chance(p) is a probability between 0 and 1, got {p!r}")
    then = as_behaviour("chance(behaviour)", behaviour)
    other = respond(200) if otherwise is None else as_behaviour("chance(otherwise=)", otherwise)
    return _Choice(
        then,
        other,
        lambda ctx, _seen: ctx.rng.random() < probability,
        f"chance({probability:g}, {then!r}, otherwise={other!r})",
    )


@declared
def every(
    n: int,
    behaviour: Behaviour | RequestHandler,
    otherwise: Behaviour | RequestHandler | None = None,
) -> Behaviour:
    """Every ``n``-th request (the n-th, 2n-th ...) gets ``behaviour``; the rest ``otherwise``.

    ``every(3, reset(), otherwise=respond(200))``
    """
    period = check_count("every(n)", n)
    then = as_behaviour("every(behaviour)", behaviour)
    other = respond(200) if otherwise is None else as_behaviour("every(otherwise=)", otherwise)
    return _Choice(then, other, lambda _ctx, seen: seen % period == 0, f"every({period}, {then!r})")


class _RateLimit(Behaviour):
    __slots__ = ("limit", "per", "then")
    injected = True  # its own answers are the 429s; admitted requests are planned by `then`

    def __init__(self, limit: int, per: float, then: Behaviour, description: str) -> None:
        super().__init__(description)
        self.limit, self.per, self.then = limit, per, then

    def runner(self) -> Runner:
        return _RateLimitRunner(self)


class _RateLimitRunner:
    """A sliding window: at most ``limit`` requests are let through in any ``per`` seconds."""

    def __init__(self, spec: _RateLimit) -> None:
        self.spec = spec
        self.then = spec.then.runner()
        self.admitted: collections.deque[float] = collections.deque()

    def plan(self, ctx: Context) -> Plan:
        spec, now = self.spec, ctx.monotonic
        while self.admitted and self.admitted[0] <= now - spec.per:
            self.admitted.popleft()
        if len(self.admitted) >= spec.limit:
            wait = max(1, math.ceil(self.admitted[0] + spec.per - now))
            headers = self._headers(0, wait)
            headers["Retry-After"] = str(wait)
            body = b'{"error":"rate limit exceeded"}'
            denied = ResponseData(429, (("Content-Type", "application/json"),), body)
            return Plan(self.spec, denied.with_headers(headers))
        self.admitted.append(now)
        reset_in = max(0, math.ceil(self.admitted[0] + spec.per - now))
        extra = self._headers(spec.limit - len(self.admitted), reset_in)

        def labelled(planned: Plan) -> Plan:
            if planned.response is None:
                return planned
            return replace(planned, response=planned.response.with_headers(extra))

        return then_map(self.then.plan(ctx), labelled)

    def _headers(self, remaining: int, reset_in: int) -> dict[str, str]:
        # Header names of the IETF httpapi draft "RateLimit header fields for HTTP"
        # (draft-ietf-httpapi-ratelimit-headers-07), as most providers send them.
        return {
            "RateLimit-Limit": str(self.spec.limit),
            "RateLimit-Remaining": str(remaining),
            "RateLimit-Reset": str(reset_in),
        }


@declared
def rate_limit(
    limit: int, *, per: float = 1.0, then: Behaviour | RequestHandler | None = None
) -> Behaviour:
    """Let ``limit`` requests through per ``per`` seconds (sliding window), answering ``then``
    (default: an empty 200); beyond that, 429 with ``Retry-After`` and ``RateLimit-*`` headers.

    The window is measured on the active clock, so it works in virtual time.
    ``rate_limit(5, per=60, then=respond(200, json={"ok": True}))``
    """
    budget = check_count("rate_limit(limit)", limit)
    window = check_number("rate_limit(per=...)", per, strict=True)
    inner = respond(200) if then is None else as_behaviour("rate_limit(then=...)", then)
    return _RateLimit(budget, window, inner, f"rate_limit({budget}, per={window:g})")
