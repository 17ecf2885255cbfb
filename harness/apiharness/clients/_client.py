"""One-call constructors: a good httpx client without reading the docs first.

Defaults: full-jitter exponential backoff (base 0.2 s, cap 20 s), up to 4 attempts within a 60 s
deadline, ``Retry-After`` honoured up to 60 s; a circuit breaker over the last 20 calls that
opens at a 50 % failure rate once 10 calls were seen, for 30 s, with one probe; no client-side
rate limit unless ``rate`` is given; a 10 s httpx timeout per operation.
"""

from __future__ import annotations

from typing import Any

from apiharness._stacks import httpx
from apiharness.clients._breaker import CircuitBreaker
from apiharness.clients._events import EventHook
from apiharness.clients._retry import RetryPolicy
from apiharness.clients._transport import DEFAULT_RETRY, ResilientTransport
from apiharness.stores import RateLimiter, TokenBucket

__all__ = ["async_resilient_client", "resilient_client"]


def _transport(
    inner: httpx.BaseTransport | httpx.AsyncBaseTransport,
    *,
    retry: RetryPolicy | None,
    breaker: CircuitBreaker | bool,
    rate: float | RateLimiter | None,
    on_event: EventHook | None,
    seed: int | None,
) -> ResilientTransport:
    if breaker is True:
        breaker = CircuitBreaker(on_event=on_event)
    limiter = TokenBucket(rate) if isinstance(rate, int | float) else rate
    return ResilientTransport(
        inner,
        retry=retry,
        breaker=breaker or None,
        limiter=limiter,
        on_event=on_event,
        seed=seed,
    )


#: ``httpx.Client`` options that configure its own transport: httpx ignores them when a
#: transport is given, so they go to the default inner transport instead.
_TRANSPORT_OPTIONS = ("verify", "cert", "http1", "http2", "limits")


def _transport_options(client_options: dict[str, Any]) -> dict[str, Any]:
    """Take the transport's options (``verify``, ``cert`` …) out of ``client_options``."""
    return {k: client_options.pop(k) for k in _TRANSPORT_OPTIONS if k in client_options}


def resilient_client(
    base_url: str | httpx.URL = "",
    *,
    retry: RetryPolicy | None = DEFAULT_RETRY,
    breaker: CircuitBreaker | bool = True,
    rate: float | RateLimiter | None = None,
    timeout: float | httpx.Timeout = 10.0,
    transport: httpx.BaseTransport | None = None,
    on_event: EventHook | None = None,
    seed: int | None = None,
    **client_options: Any,
) -> httpx.Client:
    """An ``httpx.Client`` with retry, a circuit breaker and (optionally) a rate limit.

        with resilient_client("https://api.example", rate=10) as client:
            prices = client.get("/prices").raise_for_status().json()

    ``breaker=False`` switches the breaker off, ``retry=None`` the retries; ``rate`` is requests
    per second (or a :class:`TokenBucket`, or a :class:`~apiharness.stores.RedisTokenBucket`
    shared by processes); ``transport`` is the transport that does the I/O (default
    ``httpx.HTTPTransport()``, which takes ``verify``, ``cert``, ``http1``, ``http2`` and
    ``limits`` given here); other keywords go to ``httpx.Client``.
    """
    own = _transport_options(client_options)
    inner = transport if transport is not None else httpx.HTTPTransport(**own)
    return httpx.Client(
        base_url=base_url,
        timeout=timeout,
        transport=_transport(
            inner, retry=retry, breaker=breaker, rate=rate, on_event=on_event, seed=seed
        ),
        **client_options,
    )


def async_resilient_client(
    base_url: str | httpx.URL = "",
    *,
    retry: RetryPolicy | None = DEFAULT_RETRY,
    breaker: CircuitBreaker | bool = True,
    rate: float | RateLimiter | None = None,
    timeout: float | httpx.Timeout = 10.0,
    transport: httpx.AsyncBaseTransport | None = None,
    on_event: EventHook | None = None,
    seed: int | None = None,
    **client_options: Any,
) -> httpx.AsyncClient:
    """The ``httpx.AsyncClient`` twin of :func:`resilient_client`.

    async with async_resilient_client("https://api.example") as client:
        response = await client.get("/prices")
    """
    own = _transport_options(client_options)
    inner = transport if transport is not None else httpx.AsyncHTTPTransport(**own)
    return httpx.AsyncClient(
        base_url=base_url,
        timeout=timeout,
        transport=_transport(
            inner, retry=retry, breaker=breaker, rate=rate, on_event=on_event, seed=seed
        ),
        **client_options,
    )
