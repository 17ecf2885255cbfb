"""Webhook signing and verification for the major providers, and a sender that attacks receivers.

One module per scheme, each with ``sign(...) -> dict[str, str]`` (the headers to send) and
``verify(...) -> None`` (raises a :class:`WebhookVerificationError` subclass on failure):

* :mod:`~apiharness.webhooks.stripe` — ``Stripe-Signature: t=…,v1=…``
* :mod:`~apiharness.webhooks.github` — ``X-Hub-Signature-256: sha256=…``
* :mod:`~apiharness.webhooks.standard` — Standard Webhooks v1 (``webhook-id/-timestamp/-signature``)
* :mod:`~apiharness.webhooks.slack` — ``X-Slack-Signature: v0=…``
* :mod:`~apiharness.webhooks.shopify` — ``X-Shopify-Hmac-Sha256``
* :mod:`~apiharness.webhooks.twilio` — ``X-Twilio-Signature`` (HMAC-SHA1 over URL + params)

Verification works on the raw body bytes, compares in constant time, accepts a list of secrets
while rotating, reads the time from the active clock (so the ``clock`` fixture controls
tolerance), and turns every malformed input into a :class:`WebhookVerificationError`::

    from apiharness.webhooks import WebhookVerificationError, stripe

    try:
        stripe.verify(raw_body, request.headers, "whsec_…")
    except WebhookVerificationError:
        ...  # answer 400

:class:`MemoryDedupStore` and :class:`SQLiteDedupStore` recognise a delivery received before
(``verify(..., dedup=store)`` raises :class:`WebhookDuplicate`: acknowledge it, skip the work);
:class:`WebhookSender` (the ``webhook_sender`` fixture) runs a catalogue of forged, stale and
duplicated deliveries against a receiver and reports what it wrongly accepted, rejected or
processed; :meth:`WebhookSender.chaos` delivers as providers do (duplicates at once, events out
of order, lost answers, retry schedules in virtual time, answers after the provider's timeout).
"""

from apiharness.errors import (
    InvalidWebhookSecret,
    MalformedWebhookHeader,
    MissingWebhookHeader,
    WebhookDuplicate,
    WebhookError,
    WebhookPayloadTypeError,
    WebhookReplayed,
    WebhookSignatureMismatch,
    WebhookTimestampOutOfTolerance,
    WebhookVerificationError,
)
from apiharness.webhooks import github, shopify, slack, standard, stripe, twilio
from apiharness.webhooks._dedup import DedupStore, MemoryDedupStore, SQLiteDedupStore
from apiharness.webhooks._report import Outcome, SenderReport
from apiharness.webhooks._sender import Answer, WebhookSender, WebhookSenderFactory

__all__ = [
    "Answer",
    "DedupStore",
    "InvalidWebhookSecret",
    "MalformedWebhookHeader",
    "MemoryDedupStore",
    "MissingWebhookHeader",
    "Outcome",
    "SQLiteDedupStore",
    "SenderReport",
    "WebhookDuplicate",
    "WebhookError",
    "WebhookPayloadTypeError",
    "WebhookReplayed",  # the old name of WebhookDuplicate, kept as an alias
    "WebhookSender",
    "WebhookSenderFactory",
    "WebhookSignatureMismatch",
    "WebhookTimestampOutOfTolerance",
    "WebhookVerificationError",
    "github",
    "shopify",
    "slack",
    "standard",
    "stripe",
    "twilio",
]
