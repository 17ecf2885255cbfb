"""GitHub webhook signatures: ``X-Hub-Signature-256: sha256=<hex>``.

HMAC-SHA256 of the raw body with the webhook secret (UTF-8), hex-encoded, prefixed
``sha256=``. GitHub signs no timestamp, so a captured delivery verifies forever: pass a dedup
store (``dedup=MemoryDedupStore()``) to recognise a second delivery with the same
``X-GitHub-Delivery`` id (it raises ``WebhookDuplicate``: acknowledge it, do not process it).
The legacy SHA-1 ``X-Hub-Signature`` header is not accepted.

Reference: https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries

Example, in a Flask receiver::

    from apiharness.webhooks import (
        MemoryDedupStore, WebhookDuplicate, WebhookVerificationError, github
    )

    seen = MemoryDedupStore()

    @app.post("/github")
    def receive():
        try:
            github.verify(request.get_data(), request.headers, SECRET, dedup=seen)
        except WebhookDuplicate:
            return "", 204  # received before: acknowledge, do not process again
        except WebhookVerificationError:
            abort(400)
        ...
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from apiharness.errors import MalformedWebhookHeader
from apiharness.webhooks._common import (
    Secret,
    Timestamp,
    hex_hmac,
    incoming,
    require_bytes,
    secret_keys,
)
from apiharness.webhooks._dedup import DedupStore, claim_delivery

__all__ = ["DELIVERY_HEADER", "SIGNATURE_HEADER", "sign", "verify"]

SIGNATURE_HEADER = "X-Hub-Signature-256"
DELIVERY_HEADER = "X-GitHub-Delivery"
_PREFIX = "sha256="
_SCHEME = "github"


def sign(
    payload: bytes, secret: Secret, *, delivery_id: str | None = None, event: str = "ping"
) -> dict[str, str]:
    """The headers GitHub would send with ``payload``, signed with the first (newest) secret.

    GitHub signs no timestamp, so there is no ``timestamp`` argument. ``delivery_id``
    defaults to a fresh UUID. Example::

        headers = github.sign(b'{"zen": "Keep it logically awesome."}', "s3cret")
        github.verify(b'{"zen": "Keep it logically awesome."}', headers, "s3cret")
    """
    body = require_bytes(payload, _SCHEME)
    key = secret_keys(secret, _SCHEME)[0]
    return {
        SIGNATURE_HEADER: _PREFIX + hex_hmac(key, body).decode(),
        DELIVERY_HEADER: delivery_id if delivery_id is not None else str(uuid.uuid4()),
        "X-GitHub-Event": event,
    }


def verify(
    payload: bytes,
    headers: Mapping[str, str],
    secret: Secret,
    *,
    dedup: DedupStore | None = None,
    now: Timestamp | None = None,
) -> None:
    """Verify a GitHub delivery; raise a ``WebhookVerificationError`` subclass if it fails.

    With ``dedup``, the ``X-GitHub-Delivery`` id is recorded after the signature verified, and
    a second delivery with that id raises ``WebhookDuplicate`` (``now`` times its expiry); it is
    not a verification error, so answer it 2xx.
    Example::

        github.verify(request.get_data(), request.headers, [new_secret, old_secret])
    """
    delivery = incoming(payload, headers, secret, _SCHEME)
    value = delivery.header(SIGNATURE_HEADER)
    if not value.startswith(_PREFIX):
        raise MalformedWebhookHeader(
            f"github: the {SIGNATURE_HEADER} header must be 'sha256=<hex digest>'"
        )
    delivery_id = delivery.header(DELIVERY_HEADER) if dedup is not None else ""
    delivery.require_match(hex_hmac, delivery.body, [value[len(_PREFIX) :]])
    claim_delivery(dedup, delivery_id, now, _SCHEME)
