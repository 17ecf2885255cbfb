"""The retry policy and its sans-I/O state machine.

:class:`RetryPolicy` is the configuration; :meth:`RetryPolicy.start` returns a
:class:`RetryState` for one logical request. The caller makes an attempt, reports its outcome
(:meth:`RetryState.on_response` or :meth:`RetryState.on_error`) with the current time, and gets
back a decision: :class:`Accept` (the outcome stands: return the response or re-raise the
error), :class:`Retry` (sleep ``delay`` seconds, then attempt again) or :class:`GiveUp` (raise
``error``). The state machine never sleeps, never reads a clock and never does I/O, so the sync
and async drivers share it, and tests drive it directly.

Backoff schedules follow the AWS Architecture Blog post "Exponential Backoff and Jitter"
(Marc Brooker, 2015) exactly; with ``n`` the retry number (the first retry is ``n = 1``, the
post's ``attempt``):

* ``"none"``:          ``sleep = min(cap, base * 2 ** n)``
* ``"full"``:          ``sleep = random_between(0, min(cap, base * 2 ** n))``
* ``"decorrelated"``:  ``sleep = min(cap, random_between(base, previous * 3))``, where
  ``previous`` starts at ``base`` and is the *capped* value of the previous draw.

What is retried:

* statuses 408, 425, 429, 500, 502, 503, 504 and 529 (Anthropic's "overloaded"; never another
  4xx, 501 or 505: the request itself was wrong or the server cannot do it, so an identical
  retry fails identically);
* what the server says about it comes first: ``x-should-retry: false`` (sent by OpenAI and
  Anthropic) stops retrying any status, ``x-should-retry: true`` allows it for any error
  status (400 and up);
* transport errors that happen before or while the response is read: connect errors and
  timeouts, read timeouts, resets (read or write errors) and remote protocol errors; but not
  a failed certificate check (an ``ssl.SSLCertVerificationError`` anywhere in the error's
  chain: expired, not yet valid, another host's name, an untrusted or self-signed issuer, a
  missing intermediate), which reaches httpx as a ``ConnectError`` yet fails identically on
  every retry, until someone changes a certificate or the client's trust store;
* only for idempotent methods (RFC 9110 §9.2.2: GET, HEAD, OPTIONS, TRACE, PUT, DELETE), or
  for any method when the request carries an ``Idempotency-Key`` header.

Delays come from :class:`~apiharness.clients.Backoff`, unless the response carries a valid
``retry-after-ms`` (milliseconds; OpenAI, Anthropic) or ``Retry-After``, read in that order as
the providers' SDKs do, whose value is then used as it is (the server knows when it will
recover). A
``Retry-After`` beyond ``max_retry_after`` or past the remaining deadline fails fast with
:class:`~apiharness.errors.RetryAfterTooLong` instead of sleeping. No retry is scheduled whose
delay would end past the deadline, so the sum of the delays never exceeds it.

Hand-written rather than built on tenacity or stamina, though tenacity's ``DoAttempt/DoSleep``
loop is the model: neither library parses ``Retry-After`` or fails fast on it, neither offers
decorrelated jitter (tenacity's ``wait_random_exponential`` is full jitter with the exponent
starting at 0, not at the post's first retry), and neither records the attempts the way
:class:`~apiharness.errors.RetryExhausted` must carry them. What is left of the loop once those
are written is a dozen lines; taking a dependency for it would add two sleeping conventions
(tenacity binds ``sleep`` at import; stamina's test mode defaults to one attempt) to avoid.
"""

from __future__ import annotations

import random
import ssl
from dataclasses import dataclass, field
from typing import Literal

from apiharness._causes import find_cause
from apiharness._retry_after import parse_retry_after, parse_retry_after_ms
from apiharness._stacks import classes, httpx
from apiharness.errors import (
    Attempt,
    ConfigurationError,
    RetryAfterTooLong,
    RetryError,
    RetryExhausted,
)

__all__ = [
    "IDEMPOTENT_METHODS",
    "RETRYABLE_ERRORS",
    "RETRYABLE_STATUSES",
    "Accept",
    "Attempt",
    "Backoff",
    "Decision",
    "GiveUp",
    "Jitter",
    "Retry",
    "RetryPolicy",
    "RetryState",
]

Jitter = Literal["full", "decorrelated", "none"]
_JITTERS = ("full", "decorrelated", "none")

# 2.0 ** 1024 overflows a float; any exponent this large is far past every sensible cap anyway.
_MAX_EXPONENT = 1000


@dataclass(frozen=True)
class Backoff:
    """How long to wait before retry ``n``; without jitter, ``base * 2**n`` up to ``cap``.

    >>> import random
    >>> b = Backoff("none", base=0.5, cap=4.0)
    >>> print(*(b.delay(n, b.base, random.Random(0)) for n in (1, 2, 3, 4)))
    1.0 2.0 4.0 4.0
    """

    jitter: Jitter = "full"
    base: float = 0.2
    cap: float = 20.0

    def __post_init__(self) -> None:
        if self.jitter not in _JITTERS:
            raise ConfigurationError(
                f"Backoff(jitter={self.jitter!r}) is not one of {', '.join(_JITTERS)}; "
                "'full' is the usual choice"
            )
        if not 0 < self.base < float("inf"):
            raise ConfigurationError(
                f"Backoff(base={self.base!r}) must be a positive number of seconds, e.g. 0.2"
            )
        if not self.base <= self.cap < float("inf"):
            raise ConfigurationError(
                f"Backoff(cap={self.cap!r}) must be finite and at least base={self.base!r}"
            )

    def ceiling(self, n: int) -> float:
        """``min(cap, base * 2 ** n)``: the exponential curve, capped."""
        return min(self.cap, self.base * 2.0 ** min(n, _MAX_EXPONENT))

    def delay(self, n: int, previous: float, rng: random.Random) -> float:
        """The delay before retry ``n`` (``n >= 1``).

        ``previous`` is the previous delay this schedule returned (``base`` before the first
        retry); only decorrelated jitter uses it. The result is also the next ``previous``.
        """
        if self.jitter == "none":
            return self.ceiling(n)
        if self.jitter == "full":
            ceiling = self.ceiling(n)
            return min(ceiling, rng.uniform(0.0, ceiling))
        upper = max(self.base, previous * 3.0)
        # uniform() may round one ulp past either end; clamp so the documented bounds hold.
        drawn = min(upper, max(self.base, rng.uniform(self.base, upper)))
        return min(self.cap, drawn)


def _should_retry(value: str | None) -> bool | None:
    """``x-should-retry`` as the server's verdict: True, False, or None (absent or neither)."""
    if value is None:
        return None
    lowered = value.strip().lower()
    return True if lowered == "true" else False if lowered == "false" else None


#: RFC 9110 §9.2.2.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504, 529})
#: Statuses that say the request itself is at fault or unsupported; retrying cannot help.
_NEVER_RETRYABLE = frozenset(range(400, 500)) - {408, 425, 429} | {501, 505}
_RETRYABLE_ERROR_NAMES = (
    "ConnectError",
    "ConnectTimeout",
    "ReadTimeout",
    "ReadError",  # a reset while reading
    "WriteError",  # a reset while sending
    "RemoteProtocolError",  # e.g. the server closed the connection without a response
)
#: Those transport errors, of httpx and of httpx2 (whichever are installed).
RETRYABLE_ERRORS: tuple[type[Exception], ...] = tuple(
    cls for name in _RETRYABLE_ERROR_NAMES for cls in classes(name)
)

_DEFAULT_BACKOFF = Backoff()


@dataclass(frozen=True)
class Accept:
    """The outcome stands: return the response, or re-raise the error."""


@dataclass(frozen=True)
class Retry:
    """Sleep ``delay`` seconds, then make the next attempt."""

    delay: float
    retry_after: bool = False


@dataclass(frozen=True)
class GiveUp:
    """Stop and raise ``error`` (carrying every attempt)."""

    error: RetryError


Decision = Accept | Retry | GiveUp
_ACCEPT = Accept()


@dataclass(frozen=True)
class RetryPolicy:
    """When and how long to wait before retrying a request.

    ``max_attempts`` counts the first attempt; ``deadline`` (seconds, from the start of the
    first attempt) bounds the whole schedule, attempts included; ``max_retry_after`` is the
    longest ``Retry-After`` the client accepts. ``None`` switches a bound off.

        policy = RetryPolicy(Backoff("decorrelated", base=0.5, cap=30), max_attempts=6)
        client = httpx.Client(transport=ResilientTransport(httpx.HTTPTransport(), retry=policy))
    """

    backoff: Backoff = _DEFAULT_BACKOFF
    max_attempts: int = 4
    deadline: float | None = 60.0
    max_retry_after: float | None = 60.0
    statuses: frozenset[int] = RETRYABLE_STATUSES
    methods: frozenset[str] = IDEMPOTENT_METHODS
    errors: tuple[type[Exception], ...] = RETRYABLE_ERRORS
    respect_retry_after: bool = True
    idempotency_header: str = "Idempotency-Key"

    def __post_init__(self) -> None:
        if isinstance(self.max_attempts, bool) or not (
            isinstance(self.max_attempts, int) and self.max_attempts >= 1
        ):
            raise ConfigurationError(
                f"RetryPolicy(max_attempts={self.max_attempts!r}) must be an int >= 1 "
                "(it counts the first attempt; 1 means no retries)"
            )
        for name in ("deadline", "max_retry_after"):
            value = getattr(self, name)
            if value is not None and not 0 <= value < float("inf"):
                raise ConfigurationError(
                    f"RetryPolicy({name}={value!r}) must be a finite number of seconds >= 0, "
                    "or None for no limit"
                )
        wrong = sorted(set(self.statuses) & _NEVER_RETRYABLE)
        if wrong:
            raise ConfigurationError(
                f"RetryPolicy(statuses=...) includes {wrong}: a retry of the same request gets "
                "the same answer; retry only 408, 425, 429 and 5xx other than 501 and 505"
            )
        object.__setattr__(self, "methods", frozenset(m.upper() for m in self.methods))

    def start(
        self, *, method: str, has_idempotency_key: bool, now: float, rng: random.Random
    ) -> RetryState:
        """A fresh state machine for one request whose first attempt starts at ``now``."""
        return RetryState(
            self, method=method, has_idempotency_key=has_idempotency_key, started_at=now, rng=rng
        )


@dataclass
class RetryState:
    """The retry state of one request. Not thread-safe: one request, one state."""

    policy: RetryPolicy
    method: str
    has_idempotency_key: bool
    started_at: float
    rng: random.Random
    attempts: list[Attempt] = field(default_factory=list)
    _next_delay: float = field(init=False, default=0.0)
    _previous: float = field(init=False)

    def __post_init__(self) -> None:
        self._previous = self.policy.backoff.base

    @property
    def eligible(self) -> bool:
        """Whether this request may be retried at all (idempotent, or keyed)."""
        return self.method.upper() in self.policy.methods or self.has_idempotency_key

    def on_response(
        self,
        status: int,
        retry_after: str | None,
        *,
        now: float,
        wall: float,
        response: httpx.Response | None = None,
        retry_after_ms: str | None = None,
        should_retry: str | None = None,
    ) -> Decision:
        """Report that the attempt ended with ``status`` at monotonic time ``now``.

        ``retry_after`` and ``retry_after_ms`` are the raw header values (or None; the second
        wins when valid); ``should_retry`` is the raw ``x-should-retry`` value, which overrides
        the status when it is ``true`` or ``false``; ``wall`` is the wall-clock time used to
        resolve an HTTP-date; ``response`` is attached to the error if the policy gives up.
        """
        self._record(status=status)
        told = _should_retry(should_retry)
        # As the providers' SDKs read it: the server's word overrides the status of an error.
        retryable = status in self.policy.statuses if told is None else told and status >= 400
        if not retryable or not self.eligible:
            return _ACCEPT
        seconds = None
        if self.policy.respect_retry_after:
            seconds = parse_retry_after_ms(retry_after_ms)
            if seconds is None:
                seconds = parse_retry_after(retry_after, now=wall)
        return self._decide(now, seconds, response)

    def on_error(self, error: BaseException, *, now: float) -> Decision:
        """Report that the attempt raised ``error`` at monotonic time ``now``."""
        self._record(error=error)
        if not isinstance(error, self.policy.errors) or not self.eligible:
            return _ACCEPT
        if find_cause(error, ssl.SSLCertVerificationError) is not None:
            return _ACCEPT  # a certificate that fails the check fails it again
        return self._decide(now, None, None)

    # -- internals -----------------------------------------------------------------------

    def _record(self, *, status: int | None = None, error: BaseException | None = None) -> None:
        number = len(self.attempts) + 1
        self.attempts.append(Attempt(number, self._next_delay, status, error))

    def _decide(
        self, now: float, retry_after: float | None, response: httpx.Response | None
    ) -> Decision:
        policy = self.policy
        count = len(self.attempts)
        remaining = None if policy.deadline is None else self.started_at + policy.deadline - now
        if count >= policy.max_attempts:
            return self._give_up("attempts", f"{count} attempts, the most allowed", response)
        if retry_after is not None:
            limits = [x for x in (policy.max_retry_after, remaining) if x is not None]
            limit = min(limits, default=None)
            if limit is not None and retry_after > limit:
                return GiveUp(
                    RetryAfterTooLong(
                        f"the server asked to retry after {retry_after:g} s, but the client "
                        f"waits at most {max(limit, 0.0):g} s (max_retry_after or the "
                        "remaining deadline); failing fast instead of sleeping",
                        attempts=self.attempts,
                        retry_after=retry_after,
                        limit=max(limit, 0.0),
                        last_response=response,
                    )
                )
            delay = retry_after
        else:
            delay = policy.backoff.delay(count, self._previous, self.rng)
            self._previous = delay
        if remaining is not None and delay > remaining:
            return self._give_up(
                "deadline",
                f"the next delay of {delay:g} s would pass the {policy.deadline:g} s deadline",
                response,
            )
        self._next_delay = delay
        return Retry(delay, retry_after is not None)

    def _give_up(self, reason: str, why: str, response: httpx.Response | None) -> GiveUp:
        outcomes = ", ".join(
            str(a.status) if a.error is None else type(a.error).__name__ for a in self.attempts
        )
        return GiveUp(
            RetryExhausted(
                f"gave up after {len(self.attempts)} attempt(s) ({outcomes}): {why}",
                attempts=self.attempts,
                reason=reason,
                last_response=response,
            )
        )
