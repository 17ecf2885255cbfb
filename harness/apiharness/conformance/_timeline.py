"""What a scenario's timeline picture is drawn from: each attempt in virtual time.

Taken from the upstream's journal when a scenario ends (scenarios that start over with a fresh
client show their last part). Only what is safe to publish is kept: method, path without the
query, the virtual time, the answer, and the Retry-After the answer asked for. Never headers,
bodies or query strings, which may carry the client's credentials.
"""

from __future__ import annotations

import email.utils
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from apiharness.upstream import JournalEntry

__all__ = ["AttemptRecord", "attempts_from"]


@dataclass(frozen=True)
class AttemptRecord:
    """One request the client made: when (virtual seconds), what, and what it was answered.

    ``answer`` is the status code as text, or the fault's name when no response reached the
    wire (``hang``, ``reset`` …); ``retry_after`` the wait the answer asked for, in seconds.
    """

    t: float
    method: str
    path: str
    answer: str
    status: int | None = None
    retry_after: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AttemptRecord:
        status, asked = data.get("status"), data.get("retry_after")
        return cls(
            t=float(data["t"]),
            method=str(data["method"]),
            path=str(data["path"]),
            answer=str(data["answer"]),
            status=None if status is None else int(status),
            retry_after=None if asked is None else float(asked),
        )


def attempts_from(entries: Iterable[JournalEntry]) -> tuple[AttemptRecord, ...]:
    """The journal's entries as attempt records, times relative to the first attempt."""
    listed = list(entries)
    start = listed[0].monotonic if listed else 0.0
    return tuple(
        AttemptRecord(
            t=round(entry.monotonic - start, 6),
            method=entry.method,
            path=entry.path.split("?", 1)[0],
            answer=str(entry.status) if entry.status is not None else _fault(entry),
            status=entry.status,
            retry_after=_retry_after(entry),
        )
        for entry in listed
    )


def _fault(entry: JournalEntry) -> str:
    description = repr(entry.behaviour) if entry.behaviour is not None else "no answer"
    return description.split("(", 1)[0]


def _retry_after(entry: JournalEntry) -> float | None:
    response = getattr(entry.behaviour, "response", None)
    header = getattr(response, "header", None)
    value = header("retry-after") if callable(header) else None
    if not isinstance(value, str) or entry.status is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, round(when.timestamp() - entry.time, 3))
