"""``ResilientTransport``: timeout, retry, circuit breaker and rate limiter as one httpx transport.

It wraps the transport that does the I/O (``httpx.HTTPTransport``, a mock, the harness's
``Upstream``) and plugs into the user's own client::

    client = httpx.Client(transport=ResilientTransport(httpx.HTTPTransport()))

One class serves ``httpx.Client`` and ``httpx.AsyncClient`` (as httpx's MockTransport does): the
whole composition is one generator, :meth:`ResilientTransport._flow`, that yields what it needs
done (send, sleep, read or close a response) and is driven by a sync and an async loop of a few
lines each. The policy objects it consults (retry state machine, breaker, bucket) do no I/O.

The order, outermost first, for each request:

1. **retry** (:class:`~apiharness.clients.RetryPolicy`) decides, after each attempt, whether
   and when to try again; its deadline bounds everything below.
2. **circuit breaker**: each attempt asks for a permit; an open breaker fails the attempt fast
   with :class:`~apiharness.errors.CircuitOpen`, which is never retried (failing fast is the
   point), and each attempt's outcome is recorded. Retries therefore feed the breaker, and an
   open breaker stops a retry loop at once.
3. **rate limiter**: each attempt, retries included, takes a token (they all count against the
   server's limit) and waits for it; responses adapt the bucket to 429s and RateLimit headers.
   It comes after the breaker so that an open breaker wastes no tokens.
4. **timeout**: httpx's own per-operation timeouts (``request.extensions["timeout"]``, set by
   the client) are clamped to the time left before the retry deadline, so no attempt can run
   past it; a read timeout is then a retryable outcome like any other.

The request body is buffered before the first attempt when the request may be retried, so that
a streamed upload can be sent again.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

import httpx

from apiharness.clients._breaker import CircuitBreaker, Permit
from apiharness.clients._events import (
    EventHook,
    RateLimitWaited,
    RetryGaveUp,
    RetryScheduled,
    describe_target,
    emit,
)
from apiharness.clients._limiter import TokenBucket
from apiharness.clients._retry import Accept, Decision, GiveUp, RetryPolicy, RetryState
from apiharness.clock import get_clock
from apiharness.errors import ConfigurationError

__all__ = ["DEFAULT_RETRY", "ResilientTransport", "default_is_failure"]

DEFAULT_RETRY = RetryPolicy()

Outcome = httpx.Response | Exception


def default_is_failure(outcome: Outcome) -> bool:
    """What the breaker counts as a failure by default: a 5xx response or any exception."""
    if isinstance(outcome, httpx.Response):
        return outcome.status_code >= 500
    return True


@dataclass(frozen=True)
class _Send:
    request: httpx.Request


@dataclass(frozen=True)
class _Sleep:
    seconds: float


@dataclass(frozen=True)
class _Read:
    response: httpx.Response


@dataclass(frozen=True)
class _Close:
    response: httpx.Response


_Action = _Send | _Sleep | _Read | _Close
_Flow = Generator[_Action, Any, httpx.Response]


class ResilientTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """An httpx transport adding retry, a circuit breaker and a rate limiter to ``inner``.

        transport = ResilientTransport(
            httpx.HTTPTransport(),
            retry=RetryPolicy(max_attempts=5, deadline=30),
            breaker=CircuitBreaker(open_duration=10),
            limiter=TokenBucket(rate=5),
        )
        client = httpx.Client(base_url="https://api.example", transport=transport)

    ``retry=None`` switches retries off; breaker and limiter are off unless given. Use the same
    instance for sync and async clients only if ``inner`` supports both. ``seed`` makes the
    jitter reproducible.
    """

    def __init__(
        self,
        inner: httpx.BaseTransport | httpx.AsyncBaseTransport,
        *,
        retry: RetryPolicy | None = DEFAULT_RETRY,
        breaker: CircuitBreaker | None = None,
        limiter: TokenBucket | None = None,
        is_failure: Callable[[Outcome], bool] = default_is_failure,
        on_event: EventHook | None = None,
        seed: int | None = None,
    ) -> None:
        self.inner = inner
        self.retry = retry
        self.breaker = breaker
        self.limiter = limiter
        self.is_failure = is_failure
        self.on_event = on_event
        self._rng = random.Random(seed)  # noqa: S311 - jitter, not cryptography

    def __repr__(self) -> str:
        return (
            f"ResilientTransport({type(self.inner).__name__}, retry={self.retry!r}, "
            f"breaker={self.breaker!r}, limiter={self.limiter!r})"
        )

    # -- drivers -------------------------------------------------------------------------

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        inner = self.inner
        if not isinstance(inner, httpx.BaseTransport):
            raise ConfigurationError(
                f"ResilientTransport wraps {type(inner).__name__}, which only serves async "
                "clients; use httpx.AsyncClient, or wrap httpx.HTTPTransport() for httpx.Client"
            )
        if self._may_retry(request):
            request.read()
        flow = self._flow(request)
        reply: Any = None
        while True:
            try:
                action = flow.send(reply)
            except StopIteration as done:
                response: httpx.Response = done.value
                return response
            reply = None
            if isinstance(action, _Send):
                try:
                    reply = inner.handle_request(action.request)
                except Exception as exc:
                    reply = exc
                except BaseException as exc:
                    flow.throw(exc)  # the flow gives back its breaker permit and re-raises
                    raise
            elif isinstance(action, _Sleep):
                get_clock().sleep(action.seconds)
            elif isinstance(action, _Read):
                action.response.read()
            else:
                action.response.close()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        inner = self.inner
        if not isinstance(inner, httpx.AsyncBaseTransport):
            raise ConfigurationError(
                f"ResilientTransport wraps {type(inner).__name__}, which only serves sync "
                "clients; use httpx.Client, or wrap httpx.AsyncHTTPTransport() for AsyncClient"
            )
        if self._may_retry(request):
            await request.aread()
        flow = self._flow(request)
        reply: Any = None
        while True:
            try:
                action = flow.send(reply)
            except StopIteration as done:
                response: httpx.Response = done.value
                return response
            reply = None
            if isinstance(action, _Send):
                try:
                    reply = await inner.handle_async_request(action.request)
                except Exception as exc:
                    reply = exc
                except BaseException as exc:  # CancelledError among others
                    flow.throw(exc)
                    raise
            elif isinstance(action, _Sleep):
                await get_clock().asleep(action.seconds)
            elif isinstance(action, _Read):
                await action.response.aread()
            else:
                await action.response.aclose()

    def close(self) -> None:
        if isinstance(self.inner, httpx.BaseTransport):
            self.inner.close()

    async def aclose(self) -> None:
        if isinstance(self.inner, httpx.AsyncBaseTransport):
            await self.inner.aclose()

    # -- the composition, written once ---------------------------------------------------

    def _may_retry(self, request: httpx.Request) -> bool:
        policy = self.retry
        return policy is not None and (
            request.method in policy.methods or policy.idempotency_header in request.headers
        )

    def _flow(self, request: httpx.Request) -> _Flow:
        """Attempts until the retry policy accepts an outcome or gives up.

        Returns the response; raises the error that ends the request. The driver answers a
        ``_Send`` with the response or the exception the inner transport raised.
        """
        policy = self.retry
        target = describe_target(request)
        state: RetryState | None = None
        if policy is not None:
            state = policy.start(
                method=request.method,
                has_idempotency_key=policy.idempotency_header in request.headers,
                now=get_clock().monotonic(),
                rng=self._rng,
            )
        base_timeout = dict(request.extensions.get("timeout") or {})
        while True:
            if state is not None and state.policy.deadline is not None:
                left = state.now + state.policy.deadline - get_clock().monotonic()
                request.extensions["timeout"] = _clamp(base_timeout, max(left, 0.0))
            outcome: Outcome = yield from self._attempt(request, target)
            decision = self._decide(state, outcome)
            response = outcome if isinstance(outcome, httpx.Response) else None
            if isinstance(decision, Accept):
                if isinstance(outcome, Exception):
                    raise outcome
                return outcome
            if isinstance(decision, GiveUp):
                error = decision.error
                reason = getattr(error, "reason", "retry-after")
                emit(self.on_event, RetryGaveUp(target, len(error.attempts), reason))
                if isinstance(outcome, Exception):
                    raise error from outcome
                yield _Read(outcome)  # so that error.last_response has its body
                raise error
            emit(
                self.on_event,
                RetryScheduled(
                    target,
                    attempt=len(state.attempts) if state is not None else 0,
                    delay=decision.delay,
                    status=None if response is None else response.status_code,
                    error=None if response is not None else type(outcome).__name__,
                    retry_after=decision.retry_after,
                ),
            )
            if response is not None:
                yield _Close(response)
            yield _Sleep(decision.delay)

    def _attempt(self, request: httpx.Request, target: str) -> Generator[_Action, Any, Outcome]:
        """One attempt through breaker and limiter; returns the response or the exception."""
        breaker, limiter = self.breaker, self.limiter
        permit: Permit | None = breaker.acquire() if breaker is not None else None
        try:
            if limiter is not None:
                wait = limiter.reserve()
                if wait > 0:
                    emit(self.on_event, RateLimitWaited(target, wait))
                    yield _Sleep(wait)
            started = get_clock().monotonic()
            outcome: Outcome = yield _Send(request)
        except BaseException:
            # No verdict on the upstream (the limiter refused, or the task was cancelled):
            # hand the permit back so a half-open probe slot is not lost.
            if breaker is not None and permit is not None:
                breaker.release(permit)
            raise
        if breaker is not None and permit is not None:
            duration = get_clock().monotonic() - started
            breaker.record(permit, failure=self.is_failure(outcome), duration=duration)
        if limiter is not None and isinstance(outcome, httpx.Response):
            limiter.observe(outcome)
        return outcome

    def _decide(self, state: RetryState | None, outcome: Outcome) -> Decision:
        if state is None:
            return Accept()
        clock = get_clock()
        if isinstance(outcome, httpx.Response):
            return state.on_response(
                outcome.status_code,
                outcome.headers.get("Retry-After"),
                now=clock.monotonic(),
                wall=clock.time(),
                response=outcome,
            )
        return state.on_error(outcome, now=clock.monotonic())


def _clamp(timeout: dict[str, float | None], left: float) -> dict[str, float | None]:
    """httpx's per-operation timeouts, none of them longer than ``left`` seconds."""
    clamped: dict[str, float | None] = {}
    for key in ("connect", "read", "write", "pool"):
        value = timeout.get(key)
        clamped[key] = left if value is None else min(left, value)
    return clamped
