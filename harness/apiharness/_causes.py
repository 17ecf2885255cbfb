"""Finding an exception among the ones a raised error was raised from.

Client libraries translate errors at each layer (``ssl`` to httpcore to httpx, or to urllib3
and requests) and keep the original as ``__cause__``, ``__context__`` or an argument; what
decides how to treat the error (a failed certificate check, say) sits somewhere in that chain.
"""

from __future__ import annotations

from typing import TypeVar

__all__ = ["find_cause"]

E = TypeVar("E", bound=BaseException)


def find_cause(error: BaseException, kind: type[E]) -> E | None:
    """The first exception of type ``kind`` in ``error`` or what it was raised from, or None.

    Follows ``__cause__``, ``__context__`` and exception arguments (urllib3 wraps the reason in
    one), depth first, each exception once, so a cycle cannot loop.
    """
    seen: set[int] = set()
    stack: list[BaseException | None] = [error]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, kind):
            return current
        stack.extend(a for a in current.args if isinstance(a, BaseException))
        stack.extend((current.__context__, current.__cause__))
    return None
