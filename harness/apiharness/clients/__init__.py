"""Reference resilient clients: retry with backoff, jitter and Retry-After; circuit breaker;
client-side rate limiter — composed as one httpx transport for sync and async clients; and
idempotency keys (:mod:`apiharness.clients.idempotency`), the layer outside the retry loop; and a
Server-Sent Events consumer that resumes (:func:`stream_events`, :func:`astream_events`).

    import httpx
    from apiharness.clients import ResilientTransport, resilient_client

    client = resilient_client("https://api.example")            # sensible defaults
    client = httpx.Client(transport=ResilientTransport(httpx.HTTPTransport()))  # your client

The cores (:class:`RetryState`, :class:`CircuitBreaker`, :class:`TokenBucket`) do no I/O; every
sleep and time read goes through :func:`apiharness.clock.get_clock` at the moment of use, so the
``clock`` fixture runs all of it in virtual time. See each module's docstring for the rules and
for what was taken from libraries and what was written by hand.
"""

from apiharness._retry_after import parse_http_date, parse_retry_after
from apiharness.clients._breaker import BreakerMetrics, CircuitBreaker, CircuitState, Permit
from apiharness.clients._client import async_resilient_client, resilient_client
from apiharness.clients._events import (
    BreakerRejected,
    BreakerStateChanged,
    Event,
    EventHook,
    RateLimitWaited,
    RetryGaveUp,
    RetryScheduled,
    logging_hook,
)
from apiharness.clients._retry import (
    IDEMPOTENT_METHODS,
    RETRYABLE_ERRORS,
    RETRYABLE_STATUSES,
    Accept,
    Attempt,
    Backoff,
    Decision,
    GiveUp,
    Jitter,
    Retry,
    RetryPolicy,
    RetryState,
)
from apiharness.clients._sse import (
    DEFAULT_RECONNECTION_TIME,
    ServerSentEvent,
    SSEResume,
    astream_events,
    is_error_event,
    stream_events,
)
from apiharness.clients._transport import DEFAULT_RETRY, ResilientTransport, default_is_failure
from apiharness.clients.idempotency import (
    IdempotencyTransport,
    MemoryResultStore,
    ResultStore,
    SQLiteResultStore,
    StoredResult,
    new_idempotency_key,
)
from apiharness.stores import TokenBucket, server_quota

__all__ = [
    "DEFAULT_RECONNECTION_TIME",
    "DEFAULT_RETRY",
    "IDEMPOTENT_METHODS",
    "RETRYABLE_ERRORS",
    "RETRYABLE_STATUSES",
    "Accept",
    "Attempt",
    "Backoff",
    "BreakerMetrics",
    "BreakerRejected",
    "BreakerStateChanged",
    "CircuitBreaker",
    "CircuitState",
    "Decision",
    "Event",
    "EventHook",
    "GiveUp",
    "IdempotencyTransport",
    "Jitter",
    "MemoryResultStore",
    "Permit",
    "RateLimitWaited",
    "ResilientTransport",
    "ResultStore",
    "Retry",
    "RetryGaveUp",
    "RetryPolicy",
    "RetryScheduled",
    "RetryState",
    "SQLiteResultStore",
    "SSEResume",
    "ServerSentEvent",
    "StoredResult",
    "TokenBucket",
    "astream_events",
    "async_resilient_client",
    "default_is_failure",
    "is_error_event",
    "logging_hook",
    "new_idempotency_key",
    "parse_http_date",
    "parse_retry_after",
    "resilient_client",
    "server_quota",
    "stream_events",
]
