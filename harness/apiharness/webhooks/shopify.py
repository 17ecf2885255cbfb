"""Shopify webhook signatures: ``X-Shopify-Hmac-Sha256: <base64>``.

HMAC-SHA256 of the raw body with the app's client secret (UTF-8), base64-encoded. Shopify
signs no timestamp (``X-Shopify-Triggered-At`` is informational and unsigned), so pass a dedup
store to recognise a second delivery of the same event: its ``X-Shopify-Event-Id`` is the one
already received (``WebhookDuplicate``: acknowledge it, do not process it again). Shopify names
that header, not ``X-Shopify-Webhook-Id``, as the one whose value, repeated, marks a duplicate:
https://shopify.dev/docs/apps/build/webhooks/ignore-duplicates ("Get the event ID from the
headers. This is the X-Shopify-Event-Id header").

Reference: https://shopify.dev/docs/apps/build/webhooks/subscribe/https#step-2-validate-the-origin-of-your-webhook-to-ensure-its-coming-from-shopify

Example::

    from apiharness.webhooks import SQLiteDedupStore, shopify

    seen = SQLiteDedupStore("webhooks.sqlite3")
    shopify.verify(request.get_data(), request.headers, CLIENT_SECRET, dedup=seen)
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime

from apiharness.webhooks._common import (
    Secret,
    Timestamp,
    b64_hmac,
    incoming,
    require_bytes,
    secret_keys,
    timestamp_of,
)
from apiharness.webhooks._dedup import DedupStore, claim_delivery

__all__ = [
    "DELIVERY_HEADER",
    "EVENT_HEADER",
    "SIGNATURE_HEADER",
    "WEBHOOK_ID_HEADER",
    "sign",
    "verify",
]

SIGNATURE_HEADER = "X-Shopify-Hmac-Sha256"
#: The event's id, the same on every delivery of that event (retries, duplicates): dedup keys on
#: it (https://shopify.dev/docs/apps/build/webhooks/ignore-duplicates).
EVENT_HEADER = "X-Shopify-Event-Id"
#: The header duplicates are recognised by (what ``dedup=`` keys on): :data:`EVENT_HEADER`.
DELIVERY_HEADER = EVENT_HEADER
#: The webhook's own id; not what Shopify documents for telling duplicates apart.
WEBHOOK_ID_HEADER = "X-Shopify-Webhook-Id"
_SCHEME = "shopify"


def sign(
    payload: bytes,
    secret: Secret,
    *,
    timestamp: Timestamp | None = None,
    delivery_id: str | None = None,
    event_id: str | None = None,
    topic: str = "orders/create",
) -> dict[str, str]:
    """The headers Shopify would send with ``payload``, signed with the first (newest) secret.

    ``timestamp`` only fills the unsigned ``X-Shopify-Triggered-At`` header; ``delivery_id``
    (``X-Shopify-Webhook-Id``) and ``event_id`` (``X-Shopify-Event-Id``; pass the original's
    to sign a retry of the same event) default to fresh UUIDs. Example::

        headers = shopify.sign(b'{"id": 1}', "shpss_secret")
        shopify.verify(b'{"id": 1}', headers, "shpss_secret")
    """
    body = require_bytes(payload, _SCHEME)
    key = secret_keys(secret, _SCHEME)[0]
    triggered = datetime.fromtimestamp(timestamp_of(timestamp), tz=UTC)
    return {
        SIGNATURE_HEADER: b64_hmac(key, body).decode(),
        WEBHOOK_ID_HEADER: delivery_id if delivery_id is not None else str(uuid.uuid4()),
        EVENT_HEADER: event_id if event_id is not None else str(uuid.uuid4()),
        "X-Shopify-Topic": topic,
        "X-Shopify-Triggered-At": triggered.isoformat().replace("+00:00", "Z"),
    }


def verify(
    payload: bytes,
    headers: Mapping[str, str],
    secret: Secret,
    *,
    dedup: DedupStore | None = None,
    now: Timestamp | None = None,
) -> None:
    """Verify a Shopify delivery; raise a ``WebhookVerificationError`` subclass if it fails.

    With ``dedup``, the ``X-Shopify-Event-Id`` is recorded after the signature verified, and a
    second delivery with that id (a retry or duplicate of the event, whatever its
    ``X-Shopify-Webhook-Id``) raises ``WebhookDuplicate`` (answer it 2xx). Example::

        shopify.verify(request.get_data(), request.headers, CLIENT_SECRET)
    """
    delivery = incoming(payload, headers, secret, _SCHEME)
    value = delivery.header(SIGNATURE_HEADER)
    delivery_id = delivery.header(EVENT_HEADER) if dedup is not None else ""
    delivery.require_match(b64_hmac, delivery.body, [value.strip()])
    claim_delivery(dedup, delivery_id, now, _SCHEME)
