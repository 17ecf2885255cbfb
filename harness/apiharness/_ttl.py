"""Lifetimes of stored state: the check every store and its users share."""

from __future__ import annotations

import math

from apiharness.errors import ConfigurationError

__all__ = ["DAY", "check_ttl", "milliseconds"]

#: A day in seconds: how long idempotency keys (Stripe, the IETF draft) and delivery ids live.
DAY = 24 * 3600.0


def check_ttl(ttl: object, what: str = "ttl") -> float:
    """``ttl`` as float seconds, or a :class:`ConfigurationError` saying what to pass."""
    if (
        isinstance(ttl, bool)
        or not isinstance(ttl, int | float)
        or not math.isfinite(ttl)
        or not ttl > 0
    ):
        raise ConfigurationError(
            f"{what}: ttl={ttl!r} must be a positive finite number of seconds, e.g. 86400"
        )
    return float(ttl)


def milliseconds(seconds: float) -> int:
    """Seconds as whole milliseconds for Redis ``PX``, never 0 (Redis refuses 0)."""
    return max(1, math.ceil(seconds * 1000))
