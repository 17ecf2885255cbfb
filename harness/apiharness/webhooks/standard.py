"""Standard Webhooks v1 (symmetric): ``webhook-id``, ``webhook-timestamp``, ``webhook-signature``.

The signed content is ``<webhook-id>.<webhook-timestamp>.<raw body>``, HMAC-SHA256 with the
key that the secret ``whsec_<base64>`` encodes, base64-encoded and sent as ``v1,<signature>``.
``webhook-signature`` is a space-separated list (one per active key while rotating); any ``v1``
entry may match, other versions (``v1a`` asymmetric) are ignored. The timestamp must be within
±5 minutes of now. Used by Svix, Resend, Clerk, Supabase and others.

``webhook-id`` is signed and stays the same when the sender retries, so with a dedup store
(``dedup=``) a redelivery or a replay inside the five-minute window raises ``WebhookDuplicate``.

Reference: https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md

Example::

    from apiharness.webhooks import standard

    headers = standard.sign(b'{"type": "user.created"}', "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    standard.verify(b'{"type": "user.created"}', headers, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from apiharness.errors import ConfigurationError, MalformedWebhookHeader
from apiharness.webhooks._common import (
    Secret,
    Timestamp,
    b64_hmac,
    check_tolerance,
    decode_whsec,
    incoming,
    now_of,
    require_bytes,
    secret_keys,
    timestamp_of,
    tolerance_of,
)
from apiharness.webhooks._dedup import DedupStore, claim_delivery

__all__ = [
    "DEFAULT_TOLERANCE",
    "ID_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "sign",
    "verify",
]

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
#: Seconds; the specification's five minutes.
DEFAULT_TOLERANCE = 300.0
_SCHEME = "standard"


def _signed(msg_id: str, timestamp: int, payload: bytes) -> bytes:
    return b"%s.%d.%s" % (msg_id.encode("utf-8"), timestamp, payload)


def sign(
    payload: bytes,
    secret: Secret,
    *,
    msg_id: str | None = None,
    timestamp: Timestamp | None = None,
) -> dict[str, str]:
    """The three Standard Webhooks headers for ``payload``: one ``v1`` signature per secret.

    ``secret`` is ``whsec_<base64>`` (or raw key bytes); ``msg_id`` defaults to a fresh
    ``msg_…`` id and ``timestamp`` to the active clock's time. Example::

        headers = standard.sign(body, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", msg_id="msg_1")
    """
    body = require_bytes(payload, _SCHEME)
    keys = secret_keys(secret, _SCHEME, decode_whsec)
    t = timestamp_of(timestamp)
    ident = msg_id if msg_id is not None else f"msg_{uuid.uuid4().hex}"
    if "." in ident:
        raise ConfigurationError(
            f"standard: msg_id {ident!r} contains '.'; the specification forbids it (the id, "
            "timestamp and body are joined with '.', so a dot would make them ambiguous)"
        )
    message = _signed(ident, t, body)
    return {
        ID_HEADER: ident,
        TIMESTAMP_HEADER: str(t),
        SIGNATURE_HEADER: " ".join(f"v1,{b64_hmac(key, message).decode()}" for key in keys),
    }


def verify(
    payload: bytes,
    headers: Mapping[str, str],
    secret: Secret,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    now: Timestamp | None = None,
    dedup: DedupStore | None = None,
) -> None:
    """Verify a Standard Webhooks delivery; raise a ``WebhookVerificationError`` subclass if not.

    With ``dedup``, ``webhook-id`` is recorded after the signature and timestamp verified, and a
    second delivery with that id raises ``WebhookDuplicate`` (not a verification error: answer it
    2xx and skip the work). Example::

        standard.verify(await request.body(), request.headers, "whsec_…", dedup=seen)
    """
    tol = tolerance_of(tolerance, _SCHEME)
    delivery = incoming(payload, headers, secret, _SCHEME, decode_whsec)
    msg_id = delivery.header(ID_HEADER)
    if "." in msg_id:
        # "id.ts.body" is signed: a dot in the id lets a captured delivery be re-split into
        # another id, timestamp and body under the same signature. The spec forbids it.
        raise MalformedWebhookHeader(f"standard: the {ID_HEADER} header must not contain '.'")
    timestamp = delivery.timestamp(TIMESTAMP_HEADER)
    candidates = []
    for token in delivery.header(SIGNATURE_HEADER).split():
        version, sep, signature = token.partition(",")
        if sep and version == "v1":
            candidates.append(signature)
    if not candidates:
        raise MalformedWebhookHeader(
            f"standard: the {SIGNATURE_HEADER} header has no 'v1,<base64>' signature"
        )
    delivery.require_match(b64_hmac, _signed(msg_id, timestamp, delivery.body), candidates)
    check_tolerance(timestamp, now_of(now), tol, _SCHEME)
    claim_delivery(dedup, msg_id, now, _SCHEME)
