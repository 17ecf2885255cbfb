"""Slack request signatures: ``X-Slack-Signature: v0=<hex>`` with ``X-Slack-Request-Timestamp``.

The signed content is ``v0:<timestamp>:<raw body>``, HMAC-SHA256 with the app's signing
secret (UTF-8), hex-encoded, prefixed ``v0=``. The timestamp must be within five minutes of
now (Slack's advice, and what its SDKs check).

Reference: https://docs.slack.dev/authentication/verifying-requests-from-slack/

Example::

    from apiharness.webhooks import slack

    slack.verify(request.get_data(), request.headers, SLACK_SIGNING_SECRET)
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
    require_bytes,
    secret_keys,
    timestamp_of,
    tolerance_of,
)

__all__ = ["DEFAULT_TOLERANCE", "SIGNATURE_HEADER", "TIMESTAMP_HEADER", "sign", "verify"]

SIGNATURE_HEADER = "X-Slack-Signature"
TIMESTAMP_HEADER = "X-Slack-Request-Timestamp"
#: Seconds; Slack's five minutes.
DEFAULT_TOLERANCE = 300.0
_PREFIX = "v0="
_SCHEME = "slack"


def _signed(timestamp: int, payload: bytes) -> bytes:
    return b"v0:%d:%s" % (timestamp, payload)


def sign(payload: bytes, secret: Secret, *, timestamp: Timestamp | None = None) -> dict[str, str]:
    """The headers Slack would send with ``payload``, signed with the first (newest) secret.

    Example::

        headers = slack.sign(b"token=x&command=%2Fdeploy", "8f742231b10e8888abcd99yyyzzz85a5")
    """
    body = require_bytes(payload, _SCHEME)
    key = secret_keys(secret, _SCHEME)[0]
    t = timestamp_of(timestamp)
    return {
        TIMESTAMP_HEADER: str(t),
        SIGNATURE_HEADER: _PREFIX + hex_hmac(key, _signed(t, body)).decode(),
    }


def verify(
    payload: bytes,
    headers: Mapping[str, str],
    secret: Secret,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    now: Timestamp | None = None,
) -> None:
    """Verify a Slack request; raise a ``WebhookVerificationError`` subclass if it fails.

    Example::

        slack.verify(await request.body(), request.headers, [new_secret, old_secret])
    """
    tol = tolerance_of(tolerance, _SCHEME)
    delivery = incoming(payload, headers, secret, _SCHEME)
    timestamp = delivery.timestamp(TIMESTAMP_HEADER)
    value = delivery.header(SIGNATURE_HEADER)
    if not value.startswith(_PREFIX):
        raise MalformedWebhookHeader(f"slack: the {SIGNATURE_HEADER} header must be 'v0=<hex>'")
    delivery.require_match(hex_hmac, _signed(timestamp, delivery.body), [value[len(_PREFIX) :]])
    check_tolerance(timestamp, now_of(now), tol, _SCHEME)
