"""Duplicate deliveries by delivery id: claiming an id once per delivery.

Providers deliver at least once: they re-send whatever was not acknowledged with 2xx in time
(Stripe for up to three days), and Stripe, Shopify and Standard Webhooks say the same delivery
can arrive twice anyway. Each delivery carries an id that stays the same when it is re-sent
(``X-GitHub-Delivery``, ``X-Shopify-Event-Id``, ``webhook-id``; Standard Webhooks: "use the
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

The stores (memory, SQLite for one host, Redis for many) live in :mod:`apiharness.stores` and
are re-exported here.
"""

from __future__ import annotations

from apiharness.errors import ConfigurationError, WebhookDuplicate
from apiharness.stores import DedupStore, MemoryDedupStore, RedisDedupStore, SQLiteDedupStore
from apiharness.webhooks._common import Timestamp, now_of

__all__ = [
    "DedupStore",
    "MemoryDedupStore",
    "RedisDedupStore",
    "SQLiteDedupStore",
    "claim_delivery",
]


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
            f"{scheme}: dedup= takes a MemoryDedupStore, SQLiteDedupStore, RedisDedupStore or "
            f"an object with claim() and forget(), got {type(store).__name__}"
        )
    if not store.claim(delivery_id, now=now_of(now)):
        raise WebhookDuplicate(
            f"{scheme}: delivery {delivery_id!r} verified but was already received (a provider's "
            "redelivery, or a replay); acknowledge it with 2xx and do not process it again",
            delivery_id=delivery_id,
        )
