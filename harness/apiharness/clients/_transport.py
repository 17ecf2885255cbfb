"""``ResilientTransport``: timeout, retry, circuit breaker and rate limiter as one transport.

It wraps the transport that does the I/O (``httpx.HTTPTransport``, a mock, the harness's
``Upstream``) and plugs into the user's own client::

    client = httpx.Client(transport=ResilientTransport(httpx.HTTPTransport()))

One class serves ``httpx.Client`` and ``httpx.AsyncClient``, and httpx2's two clients alike
(:mod:`apiharness._stacks`; the inner transport must be of the client's stack): the
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
   server's limit) and waits for it, unless the wait would pass the retry deadline
   (:class:`~apiharness.errors.RateLimitExceeded`); responses adapt the bucket to 429s and
   RateLimit headers. It comes after the breaker so that an open breaker wastes no tokens.
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

from apiharness._stacks import (
    TransportBase,
    aclose_inner,
    async_inner,
    close_inner,
    httpx,
    sync_inner,
)
from apiharness.clients._breaker import CircuitBreaker, Permit
from apiharness.clients._events import (
    EventHook,
    RateLimitWaited,
    RetryGaveUp,
    RetryScheduled,
    describe_target,
    emit,
)
from apiharness.clients._retry import _ACCEPT, Accept, Decision, GiveUp, RetryPolicy, RetryState
from apiharness.clock import get_clock
from apiharness.errors import CircuitOpen
from apiharness.stores import RateLimiter

__all__ = ["DEFAULT_RETRY", "ResilientTransport", "default_is_failure"]

DEFAULT_RETRY = RetryPolicy()

Outcome = httpx.Response | Exception


def default_is_failure(outcome: Outcome) -> bool:
    """What the breaker counts as a failure by default: a 5xx response or any exception."""
    return isinstance(outcome, Exception) or outcome.status_code >= 500


@dataclass(slots=True)
class _Send:
    request: httpx.Request


@dataclass(slots=True)
class _Sleep:
    seconds: float


@dataclass(slots=True)
class _Read:
    response: httpx.Response


@dataclass(slots=True)
class _Close:
    response: httpx.Response


_Action = _Send | _Sleep | _Read | _Close
_ACTIONS = (_Send, _Sleep, _Read, _Close)
_Flow = Generator[_Action, Any, httpx.Response]


class ResilientTransport(TransportBase):
    """A transport (httpx or httpx2, sync or async) adding retry, a circuit breaker and a rate
    limiter to ``inner``.

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
        limiter: RateLimiter | None = None,
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
        inner = sync_inner(self, self.inner, request)
        if self._may_retry(request):
            request.read()
        flow = self._flow(request)
        reply: Any = None
        while isinstance(action := _advance(flow, reply), _ACTIONS):
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
        return action

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        inner = async_inner(self, self.inner, request)
        if self._may_retry(request):
            await request.aread()
        flow = self._flow(request)
        reply: Any = None
        while isinstance(action := _advance(flow, reply), _ACTIONS):
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
        return action

    def close(self) -> None:
        close_inner(self.inner)

    async def aclose(self) -> None:
        await aclose_inner(self.inner)

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
        begun = get_clock().monotonic()
        deadline_at = None
        if policy is not None and policy.deadline is not None:
            deadline_at = begun + policy.deadline
        state: RetryState | None = None
        base_timeout = dict(request.extensions.get("timeout") or {})
        while True:
            try:
                outcome, ended = yield from self._attempt(request, deadline_at, base_timeout)
            except CircuitOpen as refused:
                if state is not None and state.attempts:  # the breaker opened mid-retry
                    refused.attempts = tuple(state.attempts)
                    refused.add_note(
                        f"the breaker refused attempt {len(state.attempts) + 1} of this request; "
                        "the earlier ones are in .attempts"
                    )
                raise
            if policy is None or (
                state is None
                and not isinstance(outcome, Exception)
                and outcome.status_code not in policy.statuses
                # an error the server says to retry (x-should-retry: true) is the exception
                and (outcome.status_code < 400 or "x-should-retry" not in outcome.headers)
            ):
                # The hot path: a first answer that is not retryable needs no retry state.
                decision: Decision = _ACCEPT
            else:
                if state is None:
                    state = policy.start(
                        method=request.method,
                        # Looked up only when it matters: a header lookup is a scan in httpx.
                        has_idempotency_key=request.method not in policy.methods
                        and policy.idempotency_header in request.headers,
                        now=begun,
                        rng=self._rng,
                    )
                decision = self._decide(state, outcome, ended)
            response = None if isinstance(outcome, Exception) else outcome
            if isinstance(decision, Accept):
                if isinstance(outcome, Exception):
                    raise outcome
                return outcome
            if isinstance(decision, GiveUp):
                error = decision.error
                reason = getattr(error, "reason", "retry-after")
                emit(
                    self.on_event,
                    RetryGaveUp(describe_target(request), len(error.attempts), reason),
                )
                if isinstance(outcome, Exception):
                    raise error from outcome
                yield _Read(outcome)  # so that error.last_response has its body
                raise error
            emit(
                self.on_event,
                RetryScheduled(
                    describe_target(request),
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

    def _attempt(
        self,
        request: httpx.Request,
        deadline_at: float | None,
        base_timeout: dict[str, float | None],
    ) -> Generator[_Action, Any, tuple[Outcome, float]]:
        """One attempt through breaker, limiter and timeout.

        Returns the response or the exception, and the monotonic time at which it ended.
        """
        breaker, limiter = self.breaker, self.limiter
        permit: Permit | None = breaker.acquire() if breaker is not None else None
        try:
            if limiter is not None:
                # Waiting for a token must not carry the request past the retry deadline.
                within = None if deadline_at is None else deadline_at - get_clock().monotonic()
                wait = limiter.reserve(within=within)
                if wait > 0:
                    emit(self.on_event, RateLimitWaited(describe_target(request), wait))
                    yield _Sleep(wait)
            started = get_clock().monotonic()
            if deadline_at is not None:
                left = max(deadline_at - started, 0.0)
                if left < _longest(base_timeout):  # else the client's own timeouts already fit
                    request.extensions["timeout"] = _clamp(base_timeout, left)
            outcome: Outcome = yield _Send(request)
        except BaseException:
            # No verdict on the upstream (the limiter refused, or the task was cancelled):
            # hand the permit back so a half-open probe slot is not lost.
            if breaker is not None and permit is not None:
                breaker.release(permit)
            raise
        ended = get_clock().monotonic()
        if breaker is not None and permit is not None:
            breaker.record(permit, failure=self.is_failure(outcome), duration=ended - started)
        if limiter is not None and not isinstance(outcome, Exception):
            limiter.observe(outcome)
        return outcome, ended

    def _decide(self, state: RetryState, outcome: Outcome, now: float) -> Decision:
        if not isinstance(outcome, Exception):
            headers = outcome.headers
            return state.on_response(
                outcome.status_code,
                headers.get("Retry-After"),
                now=now,
                wall=get_clock().time(),
                response=outcome,
                retry_after_ms=headers.get("retry-after-ms"),
                should_retry=headers.get("x-should-retry"),
            )
        return state.on_error(outcome, now=now)


def _advance(flow: _Flow, reply: object) -> _Action | httpx.Response:
    """The flow's next action, or the response it returned."""
    try:
        return flow.send(reply)
    except StopIteration as done:
        response: httpx.Response = done.value
        return response


def _longest(timeout: dict[str, float | None]) -> float:
    """The longest of httpx's per-operation timeouts (``inf`` if any is switched off)."""
    values = [timeout.get(key) for key in ("connect", "read", "write", "pool")]
    return max((float("inf") if value is None else value) for value in values)


def _clamp(timeout: dict[str, float | None], left: float) -> dict[str, float | None]:
    """httpx's per-operation timeouts, none of them longer than ``left`` seconds."""
    return {
        key: left if value is None or value > left else value
        for key, value in (
            ("connect", timeout.get("connect")),
            ("read", timeout.get("read")),
            ("write", timeout.get("write")),
            ("pool", timeout.get("pool")),
        )
    }
