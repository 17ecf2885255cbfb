"""Backoff schedules, exactly as in the AWS Architecture Blog post "Exponential Backoff and
Jitter" (Marc Brooker, 2015), plus plain exponential backoff without jitter.

With ``n`` the retry number (the first retry is ``n = 1``, the post's ``attempt``):

* ``"none"``:          ``sleep = min(cap, base * 2 ** n)``
* ``"full"``:          ``sleep = random_between(0, min(cap, base * 2 ** n))``
* ``"decorrelated"``:  ``sleep = min(cap, random_between(base, previous * 3))``, where
  ``previous`` starts at ``base`` and is the *capped* value of the previous draw.

Pure functions of their inputs and a ``random.Random``: no clock, no I/O.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

from apiharness.errors import ConfigurationError

__all__ = ["Backoff", "Jitter"]

Jitter = Literal["full", "decorrelated", "none"]
_JITTERS = ("full", "decorrelated", "none")

# 2.0 ** 1024 overflows a float; any exponent this large is far past every sensible cap anyway.
_MAX_EXPONENT = 1000


@dataclass(frozen=True)
class Backoff:
    """How long to wait before retry ``n``.

    >>> import random
    >>> b = Backoff("none", base=0.5, cap=4.0)
    >>> [b.delay(n, b.base, random.Random(0)) for n in (1, 2, 3, 4)]
    [1.0, 2.0, 4.0, 4.0]
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
