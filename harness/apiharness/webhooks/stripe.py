"""Stripe webhook signatures: ``Stripe-Signature: t=<timestamp>,v1=<hex>[,v1=…]``.

The signed content is ``<timestamp>.<raw body>``, HMAC-SHA256 with the endpoint secret
(``whsec_…``, used as is, as UTF-8), hex-encoded. Any ``v1`` entry may match (Stripe sends one
per active secret while you roll it); ``v0`` and unknown schemes are ignored. The timestamp must
be within ``tolerance`` (default 300 s, as in Stripe's libraries) of now, in either direction:
stripe-python only refuses old timestamps; a future one is as suspect, so it is refused too.

Reference: https://docs.stripe.com/webhooks#verify-manually

Example, in a Starlette receiver::

    from apiharness.webhooks import WebhookVerificationError, stripe

    async def receive(request):
        body = await request.body()
        try:
            stripe.verify(body, request.headers, STRIPE_WEBHOOK_SECRET)
        except WebhookVerificationError:
            return Response(status_code=400)
        ...
"""

from __future__ import annotations

from collections.abc import Mapping

from apiharness.errors import MalformedWebhookHeader
from apiharness.webhooks._common import (
    Secret,
    Timestamp,
    check_tolerance,
    hex_hmac,
    incoming,
    now_of,
    parse_timestamp,
    require_bytes,
    secret_keys,
    timestamp_of,
    tolerance_of,
)

__all__ = ["DEFAULT_TOLERANCE", "SIGNATURE_HEADER", "sign", "verify"]

SIGNATURE_HEADER = "Stripe-Signature"
#: Seconds; what Stripe's own libraries use.
DEFAULT_TOLERANCE = 300.0
_SCHEME = "stripe"


def _signed(timestamp: int, payload: bytes) -> bytes:
    return b"%d.%s" % (timestamp, payload)


def sign(payload: bytes, secret: Secret, *, timestamp: Timestamp | None = None) -> dict[str, str]:
    """The headers Stripe would send with ``payload``: one ``v1`` per secret.

    ``timestamp`` defaults to the active clock's time. Example::

        headers = stripe.sign(b'{"id": "evt_1"}', "whsec_test")
        stripe.verify(b'{"id": "evt_1"}', headers, "whsec_test")
    """
    body = require_bytes(payload, _SCHEME)
    t = timestamp_of(timestamp)
    message = _signed(t, body)
    signatures = ",".join(
        f"v1={hex_hmac(key, message).decode()}" for key in secret_keys(secret, _SCHEME)
    )
    return {SIGNATURE_HEADER: f"t={t},{signatures}"}


def _parse(value: str) -> tuple[int, list[str]]:
    timestamps: list[str] = []
    signatures: list[str] = []
    for item in value.split(","):
        name, sep, text = item.strip().partition("=")
        if not sep:
            raise MalformedWebhookHeader(
                f"stripe: the {SIGNATURE_HEADER} header must be 't=<timestamp>,v1=<signature>'"
            )
        if name == "t":
            timestamps.append(text)
        elif name == "v1":
            signatures.append(text)
    if len(timestamps) != 1:
        raise MalformedWebhookHeader(
            f"stripe: the {SIGNATURE_HEADER} header needs exactly one t=<timestamp> entry"
        )
    if not signatures:
        raise MalformedWebhookHeader(
            f"stripe: the {SIGNATURE_HEADER} header has no v1 signature "
            "(v0 is a test-mode scheme Stripe no longer verifies)"
        )
    return parse_timestamp(timestamps[0], f"{SIGNATURE_HEADER} t", _SCHEME), signatures


def verify(
    payload: bytes,
    headers: Mapping[str, str],
    secret: Secret,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    now: Timestamp | None = None,
) -> None:
    """Verify a Stripe delivery; raise a ``WebhookVerificationError`` subclass if it fails.

    ``payload`` is the raw body as bytes; ``headers`` any mapping (names in any case);
    ``secret`` one ``whsec_…`` secret or a list while rolling; ``now`` defaults to the active
    clock's time. Example::

        stripe.verify(await request.body(), request.headers, [new_secret, old_secret])
    """
    tol = tolerance_of(tolerance, _SCHEME)
    delivery = incoming(payload, headers, secret, _SCHEME)
    timestamp, candidates = _parse(delivery.header(SIGNATURE_HEADER))
    delivery.require_match(hex_hmac, _signed(timestamp, delivery.body), candidates)
    check_tolerance(timestamp, now_of(now), tol, _SCHEME)
