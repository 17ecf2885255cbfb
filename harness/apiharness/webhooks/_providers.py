"""How each provider delivers: its answer timeout and its retry schedule, with the sources.

The sender's chaos cases (:mod:`apiharness.webhooks._chaos`) deliver as these providers do.
Where a provider publishes exact figures they are used as published; where it publishes only a
window, the stand-in is said next to it. Users override both with ``chaos(timeout=, retries=)``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PROVIDERS", "SOURCES", "Provider"]

STANDARD_SPEC = (
    "https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md"
)
STRIPE_WEBHOOKS = "https://docs.stripe.com/webhooks"
GITHUB_FAILED = (
    "https://docs.github.com/en/webhooks/using-webhooks/handling-failed-webhook-deliveries"
)
GITHUB_BEST = "https://docs.github.com/en/webhooks/using-webhooks/best-practices-for-using-webhooks"
SHOPIFY_RETRIES = "https://shopify.dev/changelog/updates-to-webhook-retry-mechanism"
SHOPIFY_DUPLICATES = "https://shopify.dev/docs/apps/build/webhooks/ignore-duplicates"
SHOPIFY_HTTPS = "https://shopify.dev/docs/apps/build/webhooks/subscribe/https"
SLACK_RETRIES = "https://docs.slack.dev/apis/events-api/#retries"
TWILIO_TIMEOUT = "https://www.twilio.com/docs/api/errors/11205"
TWILIO_OVERRIDES = "https://www.twilio.com/docs/usage/webhooks/webhooks-connection-overrides"

# The Standard Webhooks specification's example schedule ("Deliverability and reliability"):
# immediately, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h and 24 h after each failure.
_STANDARD_SCHEDULE = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 50400.0, 72000.0, 86400.0)
_THREE_DAYS = 3 * 24 * 3600.0
_FOUR_HOURS = 4 * 3600.0


def _within(window: float, delays: tuple[float, ...]) -> tuple[float, ...]:
    """The leading delays whose running total stays inside ``window`` seconds."""
    kept: list[float] = []
    for delay in delays:
        if sum(kept) + delay > window:
            break
        kept.append(delay)
    return tuple(kept)


def _doubling(count: int, window: float) -> tuple[float, ...]:
    """``count`` delays, each twice the one before, filling ``window`` seconds."""
    first = window / (2**count - 1)
    return tuple(round(first * 2**k) for k in range(count))


@dataclass(frozen=True)
class Provider:
    """One provider's delivery behaviour: how long it waits, when it re-sends."""

    name: str
    #: Seconds the provider waits for an answer before it counts the attempt as failed.
    timeout: float
    #: Seconds between one failed attempt and the next; empty if it never re-sends by itself.
    retries: tuple[float, ...]
    #: Where the figures come from, and what stands in where the provider publishes none.
    source: str


PROVIDERS: dict[str, Provider] = {
    "stripe": Provider(
        "Stripe",
        15.0,
        _within(_THREE_DAYS, _STANDARD_SCHEDULE),
        f"{STRIPE_WEBHOOKS} (live mode retries with exponential backoff for up to three days; "
        "Stripe publishes neither the intervals nor the timeout, so the Standard Webhooks "
        "example schedule within three days and its 15 s timeout stand in)",
    ),
    "standard": Provider(
        "Standard Webhooks",
        15.0,
        _STANDARD_SCHEDULE,
        f"{STANDARD_SPEC} (example retry schedule; request timeout 'between 15 and 30s')",
    ),
    "github": Provider(
        "GitHub",
        10.0,
        (),
        f"{GITHUB_FAILED} (10 s to respond; GitHub does not automatically redeliver failed "
        "deliveries)",
    ),
    "shopify": Provider(
        "Shopify",
        5.0,
        _doubling(8, _FOUR_HOURS),
        f"{SHOPIFY_HTTPS} (5 s timeout), {SHOPIFY_RETRIES} (8 retries over 4 hours with "
        "exponential backoff; the intervals are not published, doubling delays filling the "
        "4 hours stand in)",
    ),
    "slack": Provider(
        "Slack",
        3.0,
        (0.0, 60.0, 300.0),
        f"{SLACK_RETRIES} (3 s to respond; retried nearly immediately, after 1 minute and "
        "after 5 minutes)",
    ),
    "twilio": Provider(
        "Twilio",
        15.0,
        (),
        f"{TWILIO_TIMEOUT} (15 s HTTP timeout); no retries unless the URL asks for them "
        f"({TWILIO_OVERRIDES})",
    ),
}

#: Where each chaos case is documented as something providers do (``retry_schedule``: the
#: provider's own :attr:`Provider.source`).
SOURCES: dict[str, str] = {
    "concurrent_duplicates": (
        f"{SLACK_RETRIES} (on a timeout the retry is sent without waiting for the first answer), "
        f"{STRIPE_WEBHOOKS} (handle duplicate events), {SHOPIFY_DUPLICATES}"
    ),
    "out_of_order": (
        f"{STRIPE_WEBHOOKS} (event ordering: Stripe does not guarantee delivery in the order "
        "events were generated), https://github.com/stripe/stripe-cli/issues/418 (an updated "
        "event before its created one, in production too)"
    ),
    "lost_answer": (
        f"{STANDARD_SPEC} (timeouts and connection resets are failures and are retried with the "
        f"same webhook-id), {GITHUB_BEST}#use-the-x-github-delivery-header and "
        "https://github.com/github/docs/issues/32822 (X-GitHub-Delivery is unique per event, "
        "so a redelivery carries the same one)"
    ),
    "late_answer": (
        f"{GITHUB_FAILED} (10 s), {SHOPIFY_HTTPS} (5 s), {SLACK_RETRIES} (3 s), "
        f"{STRIPE_WEBHOOKS} (quickly return a 2xx response), {STANDARD_SPEC} (15-30 s)"
    ),
}
