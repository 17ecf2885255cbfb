"""Client-side rate limiting: a token bucket that can follow the server's own signals.

The bucket holds up to ``capacity`` tokens and gains ``rate`` tokens a second; each request takes
one. Reservations are first come, first served: a request that finds the bucket empty takes its
token on credit (the count goes negative) and is told how long to wait for it, so concurrent
callers queue in order without a condition variable, and waiting happens outside the lock through
the active clock. A wait longer than ``max_wait`` raises
:class:`~apiharness.errors.RateLimitExceeded` instead (and takes no token).

With ``adaptive=True`` (the default) the bucket also listens to responses:

* a 429 pauses it: until ``Retry-After`` if the response has a valid one, otherwise for the
  time one token takes to accrue;
* ``RateLimit-Remaining``/``RateLimit-Reset`` (draft-ietf-httpapi-ratelimit-headers up to -06)
  or the structured ``RateLimit: "policy";r=<remaining>;t=<reset>`` (later drafts): when the
  server says nothing remains, the bucket pauses until the reset; otherwise it never holds more
  tokens than the server says remain. Malformed values are ignored.

Hand-written: the maths is a few lines, and no library we know pauses on server signals or
reserves on credit with an injected clock (pyrate-limiter and limits count hits in windows).
"""

from __future__ import annotations

import re
import threading

from apiharness._stacks import httpx
from apiharness.clients._retry_after import parse_retry_after
from apiharness.clock import Clock, get_clock
from apiharness.errors import ConfigurationError, RateLimitExceeded

__all__ = ["TokenBucket"]

_INT = re.compile(r"[0-9]{1,12}", re.ASCII)


def _int(value: str | None) -> int | None:
    if value is None or not _INT.fullmatch(value.strip()):
        return None
    return int(value.strip())


def server_quota(headers: httpx.Headers) -> tuple[int, int] | None:
    """``(remaining, reset_seconds)`` from RateLimit headers, or None if absent or malformed.

    >>> server_quota(httpx.Headers({"RateLimit": '"default";r=0;t=30'}))
    (0, 30)
    """
    # One pass over the raw headers: most responses have none of these, and each
    # `headers.get` would be a scan of its own.
    fields: dict[bytes, str] = {}
    for key, value in headers.raw:
        lowered = key.lower()
        if lowered.startswith(b"ratelimit"):
            fields[lowered] = value.decode("latin-1")
    if not fields:
        return None
    remaining = _int(fields.get(b"ratelimit-remaining"))
    reset = _int(fields.get(b"ratelimit-reset"))
    if remaining is not None and reset is not None:
        return remaining, reset
    structured = fields.get(b"ratelimit")
    if structured is None:
        return None
    # Several policies may be listed; the tightest (fewest remaining) is the one that binds.
    best: tuple[int, int] | None = None
    for item in structured.split(","):
        # An item is `"policy";r=<int>;t=<int>` (structured-field parameters); other
        # parameters may appear and are skipped.
        name, *params = item.split(";")
        if not name.strip():
            continue
        values: dict[str, int] = {}
        for param in params:
            param_name, _, raw = param.partition("=")
            number = _int(raw)
            if number is not None:
                values[param_name.strip()] = number
        if "r" in values and "t" in values:
            quota = values["r"], values["t"]
            if best is None or quota[0] < best[0]:
                best = quota
    return best


class TokenBucket:
    """A token bucket: ``rate`` requests a second on average, bursts of up to ``capacity``.

        limiter = TokenBucket(rate=10, capacity=20, max_wait=30)
        client = resilient_client("https://api.example", limiter=limiter)

    Thread- and asyncio-safe; ``clock`` defaults to the active clock, read at every use.
    """

    def __init__(
        self,
        rate: float,
        *,
        capacity: float | None = None,
        max_wait: float | None = 60.0,
        adaptive: bool = True,
        clock: Clock | None = None,
    ) -> None:
        if not 0 < rate < float("inf"):
            raise ConfigurationError(
                f"TokenBucket(rate={rate!r}) must be a positive number of requests per second"
            )
        capacity = rate if capacity is None else capacity
        if not 1 <= capacity < float("inf"):
            raise ConfigurationError(
                f"TokenBucket(capacity={capacity!r}) must be at least 1 (one request's token)"
            )
        if max_wait is not None and not 0 <= max_wait < float("inf"):
            raise ConfigurationError(
                f"TokenBucket(max_wait={max_wait!r}) must be seconds >= 0, or None for no limit"
            )
        self.rate = rate
        self.capacity = capacity
        self.max_wait = max_wait
        self.adaptive = adaptive
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens = capacity
        # The time at which `_tokens` is exact; in the future while the bucket is paused.
        self._stamp = self._now()

    def __repr__(self) -> str:
        return f"TokenBucket(rate={self.rate:g}, capacity={self.capacity:g})"

    def _now(self) -> float:
        return (self._clock or get_clock()).monotonic()

    def _refill(self, now: float) -> None:
        if now > self._stamp:
            self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now

    @property
    def tokens(self) -> float:
        """Tokens available now (negative while requests wait on credit)."""
        now = self._now()
        with self._lock:
            self._refill(now)
            return self._tokens

    def reserve(self, *, within: float | None = None) -> float:
        """Take a token; return how many seconds to wait before using it (0 if none).

        Raises :class:`~apiharness.errors.RateLimitExceeded` (and takes no token) if that
        exceeds ``max_wait``, or ``within`` seconds when given (e.g. a caller's deadline).
        """
        now = self._now()
        limit = self.max_wait
        if within is not None:
            limit = max(within, 0.0) if limit is None else min(limit, max(within, 0.0))
        with self._lock:
            self._refill(now)
            wait = max(self._stamp - now, 0.0) + max(1.0 - self._tokens, 0.0) / self.rate
            if limit is not None and wait > limit:
                raise RateLimitExceeded(
                    f"the rate limiter would have to wait {wait:g} s for a token, more than "
                    f"the {limit:g} s allowed (max_wait, or the time left before a deadline); "
                    "raise the limit or send fewer requests",
                    wait=wait,
                    max_wait=limit,
                )
            self._tokens -= 1.0
            return wait

    def acquire(self) -> float:
        """Take a token, sleeping (on the active clock) until it is due. Returns the wait."""
        wait = self.reserve()
        if wait > 0:
            (self._clock or get_clock()).sleep(wait)
        return wait

    async def aacquire(self) -> float:
        """:meth:`acquire` for asyncio."""
        wait = self.reserve()
        if wait > 0:
            await (self._clock or get_clock()).asleep(wait)
        return wait

    def pause(self, seconds: float) -> None:
        """Hand out no token for ``seconds`` from now; the bucket then refills from empty."""
        now = self._now()
        with self._lock:
            self._refill(now)
            self._stamp = max(self._stamp, now + max(seconds, 0.0))
            self._tokens = min(self._tokens, 0.0)

    def observe(self, response: httpx.Response) -> None:
        """Adapt to the server's signals in ``response`` (no-op unless ``adaptive``)."""
        if not self.adaptive:
            return
        headers = response.headers
        if response.status_code == 429:
            clock = self._clock or get_clock()
            wait = parse_retry_after(headers.get("Retry-After"), now=clock.time())
            self.pause(1.0 / self.rate if wait is None else wait)
            return
        quota = server_quota(headers)
        if quota is None:
            return
        remaining, reset = quota
        if remaining == 0:
            self.pause(float(reset))
            return
        now = self._now()
        with self._lock:
            self._refill(now)
            self._tokens = min(self._tokens, float(remaining))
