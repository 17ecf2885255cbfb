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

:class:`TokenBucket` keeps the bucket in this process; :class:`RedisTokenBucket` keeps it in
Redis, one budget for every process and host that names the same key: the same arithmetic runs
as one Lua script on the server, on the server's clock (so processes whose clocks disagree still
share one timeline, and Redis-backed budgets run in real time, not on a virtual clock).

Hand-written: the maths is a few lines, and no library we know pauses on server signals or
reserves on credit with an injected clock (pyrate-limiter and limits count hits in windows).
"""

from __future__ import annotations

import math
import re
import threading
from typing import Any, Literal, Protocol, runtime_checkable

from apiharness._retry_after import parse_retry_after
from apiharness._stacks import httpx
from apiharness.clock import Clock, get_clock
from apiharness.errors import ConfigurationError, RateLimitExceeded, StoreUnavailable
from apiharness.stores._redis import RedisConnection, redis_key

__all__ = ["RateLimiter", "RedisTokenBucket", "TokenBucket", "server_quota"]

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


@runtime_checkable
class RateLimiter(Protocol):
    """What :class:`~apiharness.clients.ResilientTransport` needs from a limiter."""

    def reserve(self, *, within: float | None = None) -> float:
        """Take a token; return the seconds to wait before using it."""

    def observe(self, response: httpx.Response) -> None:
        """Adapt to the server's rate-limit signals in ``response``."""


class _Bucket:
    """The token-bucket contract: checks, waiting and adapting; subclasses keep the state."""

    def __init__(
        self,
        rate: float,
        capacity: float | None,
        max_wait: float | None,
        adaptive: bool,
        clock: Clock | None,
    ) -> None:
        name = type(self).__name__
        if not 0 < rate < float("inf"):
            raise ConfigurationError(
                f"{name}(rate={rate!r}) must be a positive number of requests per second"
            )
        capacity = rate if capacity is None else capacity
        if not 1 <= capacity < float("inf"):
            raise ConfigurationError(
                f"{name}(capacity={capacity!r}) must be at least 1 (one request's token)"
            )
        if max_wait is not None and not 0 <= max_wait < float("inf"):
            raise ConfigurationError(
                f"{name}(max_wait={max_wait!r}) must be seconds >= 0, or None for no limit"
            )
        self.rate = rate
        self.capacity = capacity
        self.max_wait = max_wait
        self.adaptive = adaptive
        self._clock = clock

    def _limit(self, within: float | None) -> float | None:
        limit = self.max_wait
        if within is not None:
            limit = max(within, 0.0) if limit is None else min(limit, max(within, 0.0))
        return limit

    @staticmethod
    def _refuse(wait: float, limit: float) -> RateLimitExceeded:
        return RateLimitExceeded(
            f"the rate limiter would have to wait {wait:g} s for a token, more than "
            f"the {limit:g} s allowed (max_wait, or the time left before a deadline); "
            "raise the limit or send fewer requests",
            wait=wait,
            max_wait=limit,
        )

    def reserve(self, *, within: float | None = None) -> float:
        """Take a token; return how many seconds to wait before using it (0 if none).

        Raises :class:`~apiharness.errors.RateLimitExceeded` (and takes no token) if that
        exceeds ``max_wait``, or ``within`` seconds when given (e.g. a caller's deadline).
        """
        raise NotImplementedError

    def pause(self, seconds: float) -> None:
        """Hand out no token for ``seconds`` from now; the bucket then refills from empty."""
        raise NotImplementedError

    def _cap(self, remaining: float) -> None:
        """Hold no more than ``remaining`` tokens (the server says that many are left)."""
        raise NotImplementedError

    async def _areserve(self) -> float:
        return self.reserve()

    def acquire(self) -> float:
        """Take a token, sleeping (on the active clock) until it is due. Returns the wait."""
        wait = self.reserve()
        if wait > 0:
            (self._clock or get_clock()).sleep(wait)
        return wait

    async def aacquire(self) -> float:
        """:meth:`acquire` for asyncio."""
        wait = await self._areserve()
        if wait > 0:
            await (self._clock or get_clock()).asleep(wait)
        return wait

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
        self._cap(float(remaining))


class TokenBucket(_Bucket):
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
        super().__init__(rate, capacity, max_wait, adaptive, clock)
        self._lock = threading.Lock()
        self._tokens = self.capacity
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
        now, limit = self._now(), self._limit(within)
        with self._lock:
            self._refill(now)
            wait = max(self._stamp - now, 0.0) + max(1.0 - self._tokens, 0.0) / self.rate
            if limit is not None and wait > limit:
                raise self._refuse(wait, limit)
            self._tokens -= 1.0
            return wait

    def pause(self, seconds: float) -> None:
        now = self._now()
        with self._lock:
            self._refill(now)
            self._stamp = max(self._stamp, now + max(seconds, 0.0))
            self._tokens = min(self._tokens, 0.0)

    def _cap(self, remaining: float) -> None:
        now = self._now()
        with self._lock:
            self._refill(now)
            self._tokens = min(self._tokens, remaining)


# The same state machine as TokenBucket, run atomically on the server. State: a hash with
# `tokens` and `stamp` (server time, seconds); absent means a full bucket. Floats travel as
# "%.17g" strings: Lua numbers returned to Redis would be truncated to integers.
# ARGV: op (reserve|pause|cap|peek), rate, capacity, argument (limit, -1 for none; seconds;
# remaining). Returns {refused (0/1), wait, tokens}.
_BUCKET_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rate, cap, arg = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'stamp')
local tokens = tonumber(state[1]) or cap
local stamp = tonumber(state[2]) or now
if now > stamp then
  tokens = math.min(cap, tokens + (now - stamp) * rate)
  stamp = now
end
local op, wait = ARGV[1], 0
if op == 'reserve' then
  wait = math.max(stamp - now, 0) + math.max(1 - tokens, 0) / rate
  if arg >= 0 and wait > arg then
    return {1, string.format('%.17g', wait), string.format('%.17g', tokens)}
  end
  tokens = tokens - 1
elseif op == 'pause' then
  stamp = math.max(stamp, now + arg)
  tokens = math.min(tokens, 0)
elseif op == 'cap' then
  tokens = math.min(tokens, arg)
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens),
           'stamp', string.format('%.17g', stamp))
-- Expire once the bucket would be full again anyway: an absent key reads as full.
local full_in = math.max(stamp - now, 0) + (cap - tokens) / rate
redis.call('PEXPIRE', KEYS[1], math.ceil(full_in * 1000) + 1000)
return {0, string.format('%.17g', wait), string.format('%.17g', tokens)}
"""


class RedisTokenBucket(_Bucket):
    """A :class:`TokenBucket` kept in Redis: one budget shared by every process naming ``key``.

        limiter = RedisTokenBucket("redis://cache:6379/0", "github-api", rate=10, capacity=20)
        client = resilient_client("https://api.github.com", limiter=limiter)

    Each call is one Lua script run atomically on the server and timed by the server's clock,
    so the budget is real time (a virtual clock does not speed it up). The state lives under
    ``apiharness:bucket:<key>`` and expires once the bucket would be full again. Every process
    must use the same ``rate`` and ``capacity`` for one key.

    ``on_unavailable`` says what happens when Redis cannot be reached: ``"raise"`` (the
    default: fail closed, :class:`~apiharness.errors.StoreUnavailable`) or ``"allow"`` (no
    limit while Redis is down; adaptive pauses are dropped too). Nothing is guessed silently:
    "allow" is a choice made here.
    """

    def __init__(
        self,
        url: str,
        key: str,
        *,
        rate: float,
        capacity: float | None = None,
        max_wait: float | None = 60.0,
        adaptive: bool = True,
        on_unavailable: Literal["raise", "allow"] = "raise",
        clock: Clock | None = None,
    ) -> None:
        super().__init__(rate, capacity, max_wait, adaptive, clock)
        if on_unavailable not in ("raise", "allow"):
            raise ConfigurationError(
                f"RedisTokenBucket(on_unavailable={on_unavailable!r}) must be 'raise' (fail "
                "closed) or 'allow' (no limit while Redis is down)"
            )
        if not isinstance(key, str) or not key:
            raise ConfigurationError("RedisTokenBucket(key=...) names the budget, e.g. 'github'")
        self.key = key
        self.on_unavailable = on_unavailable
        self._redis = RedisConnection(url, what="RedisTokenBucket")
        self._name = redis_key("bucket", key)
        self._script = self._redis.sync.register_script(_BUCKET_SCRIPT)

    def __repr__(self) -> str:
        return (
            f"RedisTokenBucket({self._redis.shown!r}, {self.key!r}, rate={self.rate:g}, "
            f"capacity={self.capacity:g})"
        )

    def _args(self, op: str, argument: float) -> list[str]:
        return [op, repr(float(self.rate)), repr(float(self.capacity)), repr(float(argument))]

    def _run(self, op: str, argument: float) -> tuple[bool, float, float] | None:
        """Run the script; None if Redis is down and ``on_unavailable="allow"``."""
        try:
            with self._redis.errors():
                reply = self._script(keys=[self._name], args=self._args(op, argument))
        except StoreUnavailable:
            if self.on_unavailable == "allow":
                return None
            raise
        return _parse(reply)

    def _settle(self, reply: tuple[bool, float, float] | None, limit: float | None) -> float:
        if reply is None:
            return 0.0
        refused, wait, _ = reply
        if refused:
            assert limit is not None
            raise self._refuse(wait, limit)
        return wait

    @property
    def tokens(self) -> float:
        """Tokens available now (negative while requests wait on credit); NaN if unknown."""
        reply = self._run("peek", 0.0)
        return math.nan if reply is None else reply[2]

    def reserve(self, *, within: float | None = None) -> float:
        limit = self._limit(within)
        return self._settle(self._run("reserve", -1.0 if limit is None else limit), limit)

    async def _areserve(self) -> float:
        limit = self._limit(None)
        # Script objects load the script again after a NOSCRIPT (a restarted server).
        script = self._redis.asyncio_client().register_script(_BUCKET_SCRIPT)
        args = self._args("reserve", -1.0 if limit is None else limit)
        try:
            with self._redis.errors():
                reply = await script(keys=[self._name], args=args)
        except StoreUnavailable:
            if self.on_unavailable == "allow":
                return 0.0
            raise
        return self._settle(_parse(reply), limit)

    def pause(self, seconds: float) -> None:
        self._run("pause", max(seconds, 0.0))

    def _cap(self, remaining: float) -> None:
        self._run("cap", remaining)

    def close(self) -> None:
        """Close the connections."""
        self._redis.close()


def _parse(reply: Any) -> tuple[bool, float, float]:
    refused, wait, tokens = reply
    return bool(int(refused)), float(wait), float(tokens)
