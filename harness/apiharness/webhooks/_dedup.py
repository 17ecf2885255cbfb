"""Duplicate deliveries by delivery id: an in-memory store and a SQLite one.

Providers deliver at least once: they re-send whatever was not acknowledged with 2xx in time
(Stripe for up to three days), and Stripe, Shopify and Standard Webhooks say the same delivery
can arrive twice anyway. Each delivery carries an id that stays the same when it is re-sent
(``X-GitHub-Delivery``, ``X-Shopify-Webhook-Id``, ``webhook-id``; Standard Webhooks: "use the
webhook-id header as an idempotency key"). Give a store to ``verify(..., dedup=store)`` and a
second delivery with the same id raises :class:`~apiharness.errors.WebhookDuplicate` *after* it
verified. That is not a verification error: answer 2xx and skip the work, as Stripe advises
("return a 200 immediately to stop retries"); a 4xx or 5xx only makes the provider re-send it::

    try:
        standard.verify(body, headers, secret, dedup=seen)
    except WebhookDuplicate:
        return 204  # received before: acknowledge, do not process again
    except WebhookVerificationError:
        return 400

Ids are recorded only after the signature verified (an attacker cannot burn ids with forged
deliveries) and expire ``ttl`` seconds later by the active clock. The id is claimed before you
process the delivery, so if processing fails, call :meth:`~DedupStore.forget` and answer 5xx:
the provider's retry then gets through instead of being acknowledged unprocessed. A copy that
arrives while the first is still being processed is a duplicate too and is acknowledged; should
that processing then fail, the provider already holds a 2xx. So keep the work between ``verify``
and the answer short and safe — store or enqueue the event, as Stripe and GitHub advise — and
do the rest after answering.

Know the limit: GitHub and Shopify do not sign their delivery-id header, so the store catches
duplicates and naively replayed deliveries, but not an attacker who replays a captured body with
a fresh id. Standard Webhooks signs ``webhook-id``, so there a replay is always a duplicate.

The SQLite store is stdlib ``sqlite3`` in WAL mode, safe across threads and processes (several
workers behind one receiver): claiming an id is one ``INSERT`` in an immediate transaction, so
two copies of one delivery arriving at once are told apart.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Protocol, runtime_checkable

from apiharness._sqlite import connect_wal, write_transaction
from apiharness.errors import ConfigurationError, WebhookDuplicate
from apiharness.webhooks._common import Timestamp, now_of, tolerance_of

__all__ = ["DedupStore", "MemoryDedupStore", "SQLiteDedupStore", "claim_delivery"]

_DAY = 24 * 3600.0


@runtime_checkable
class DedupStore(Protocol):
    """What ``verify(..., dedup=...)`` needs: claim an id once, forget it on failure."""

    def claim(self, delivery_id: str, *, now: float) -> bool:
        """Record ``delivery_id``; False if it is already recorded and not expired."""

    def forget(self, delivery_id: str) -> None:
        """Drop ``delivery_id`` so a retry of that delivery is accepted."""


def _ttl(ttl: object) -> float:
    value = tolerance_of(ttl, "dedup store")
    if value == 0:
        raise ConfigurationError("dedup store: ttl must be > 0 seconds, e.g. ttl=86400")
    return value


class MemoryDedupStore:
    """Delivery ids in a dict, for one process. Thread-safe.

    Example::

        from apiharness.webhooks import MemoryDedupStore, github

        seen = MemoryDedupStore(ttl=3 * 24 * 3600)
        github.verify(body, request.headers, secret, dedup=seen)
    """

    def __init__(self, ttl: float = _DAY) -> None:
        self.ttl = _ttl(ttl)
        self._expires: dict[str, float] = {}
        self._lock = threading.Lock()
        self._next_purge = 0.0

    def claim(self, delivery_id: str, *, now: float) -> bool:
        with self._lock:
            if now >= self._next_purge:
                # Amortised: sweep expired ids at most once per ttl, not on every call.
                self._expires = {k: t for k, t in self._expires.items() if t > now}
                self._next_purge = now + self.ttl
            expires = self._expires.get(delivery_id)
            if expires is not None and expires > now:
                return False
            self._expires[delivery_id] = now + self.ttl
            return True

    def forget(self, delivery_id: str) -> None:
        with self._lock:
            self._expires.pop(delivery_id, None)

    def __len__(self) -> int:
        return len(self._expires)

    def __repr__(self) -> str:
        return f"MemoryDedupStore(ttl={self.ttl:g}, ids={len(self._expires)})"


_SCHEMA = """
CREATE TABLE IF NOT EXISTS webhook_deliveries (id TEXT PRIMARY KEY, expires REAL NOT NULL);
CREATE INDEX IF NOT EXISTS webhook_deliveries_expires ON webhook_deliveries (expires);
"""


class SQLiteDedupStore:
    """Delivery ids in a SQLite file (WAL), shared by threads and processes.

    Example::

        seen = SQLiteDedupStore("/var/lib/myapp/webhooks.sqlite3", ttl=3 * 24 * 3600)
        shopify.verify(body, request.headers, secret, dedup=seen)
    """

    def __init__(self, path: str | Path, ttl: float = _DAY) -> None:
        self.ttl = _ttl(ttl)
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db = connect_wal(
            self.path,
            schema=_SCHEMA,
            what="the webhook dedup store",
            check_same_thread=False,  # shared by threads, under self._lock
        )

    def claim(self, delivery_id: str, *, now: float) -> bool:
        # The write transaction takes the write lock first: two processes cannot both claim.
        with self._lock, write_transaction(self._db) as db:
            db.execute("DELETE FROM webhook_deliveries WHERE expires <= ?", (now,))
            cursor = db.execute(
                "INSERT OR IGNORE INTO webhook_deliveries (id, expires) VALUES (?, ?)",
                (delivery_id, now + self.ttl),
            )
            return cursor.rowcount == 1

    def forget(self, delivery_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM webhook_deliveries WHERE id = ?", (delivery_id,))

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._db.close()

    def __len__(self) -> int:
        with self._lock:
            row = self._db.execute("SELECT count(*) FROM webhook_deliveries").fetchone()
        return int(row[0])

    def __repr__(self) -> str:
        return f"SQLiteDedupStore({str(self.path)!r}, ttl={self.ttl:g})"


def claim_delivery(
    store: DedupStore | None,
    delivery_id: str,
    now: Timestamp | None,
    scheme: str,
) -> None:
    """Raise WebhookDuplicate if ``store`` holds ``delivery_id``; a no-op without a store."""
    if store is None:
        return
    if not isinstance(store, DedupStore):
        raise ConfigurationError(
            f"{scheme}: dedup= takes a MemoryDedupStore, a SQLiteDedupStore or an object with "
            f"claim() and forget(), got {type(store).__name__}"
        )
    if not store.claim(delivery_id, now=now_of(now)):
        raise WebhookDuplicate(
            f"{scheme}: delivery {delivery_id!r} verified but was already received (a provider's "
            "redelivery, or a replay); acknowledge it with 2xx and do not process it again",
            delivery_id=delivery_id,
        )
