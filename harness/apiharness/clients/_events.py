"""Events the reference clients emit, for logging and metrics.

Every hook takes one event. Nothing is printed or logged unless a hook is installed; events carry
the method, scheme, host and path of a request but never its query string, headers or body, so
a hook cannot leak a credential by logging what it was given.

    events = []
    client = resilient_client("https://api.example", on_event=events.append)
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from apiharness._stacks import httpx
from apiharness._urls import shown_url

__all__ = [
    "BreakerRejected",
    "BreakerStateChanged",
    "Event",
    "EventHook",
    "RateLimitWaited",
    "RetryGaveUp",
    "RetryScheduled",
    "describe_target",
    "emit",
    "logging_hook",
]


@dataclass(frozen=True)
class RetryScheduled:
    """An attempt failed in a retryable way; the next one starts after ``delay`` seconds."""

    target: str
    attempt: int
    delay: float
    status: int | None
    error: str | None
    retry_after: bool


@dataclass(frozen=True)
class RetryGaveUp:
    """The retry policy stopped: ``reason`` is "attempts", "deadline" or "retry-after"."""

    target: str
    attempts: int
    reason: str


@dataclass(frozen=True)
class BreakerStateChanged:
    """The circuit breaker ``name`` moved from ``old`` to ``new`` (state values as strings)."""

    name: str
    old: str
    new: str
    failure_rate: float


@dataclass(frozen=True)
class BreakerRejected:
    """The breaker refused a call; ``retry_in`` seconds remain until it admits a probe."""

    name: str
    retry_in: float


@dataclass(frozen=True)
class RateLimitWaited:
    """The client-side limiter delayed a request by ``wait`` seconds."""

    target: str
    wait: float


Event = RetryScheduled | RetryGaveUp | BreakerStateChanged | BreakerRejected | RateLimitWaited
EventHook = Callable[[Event], None]


def emit(hook: EventHook | None, event: Event) -> None:
    """Deliver ``event`` to ``hook`` if there is one."""
    if hook is not None:
        hook(event)


def describe_target(request: httpx.Request) -> str:
    """``"GET https://host:port/path"``: what events and errors say about a request.

    Leaves out userinfo, query and fragment, where credentials tend to travel.
    """
    return f"{request.method} {shown_url(str(request.url))}"


def logging_hook(logger: logging.Logger | None = None, level: int = logging.INFO) -> EventHook:
    """A hook that logs each event on ``logger`` (default: ``apiharness.clients``).

    client = resilient_client("https://api.example", on_event=logging_hook())
    """
    log = logger or logging.getLogger("apiharness.clients")

    def hook(event: Event) -> None:
        log.log(level, "%s", event)

    return hook
