"""One uniform face over the six scheme modules, for the sender and the property tests.

The public ``sign``/``verify`` functions keep each provider's own shape (Twilio needs the URL,
Standard Webhooks a message id, GitHub signs no timestamp). Code that treats schemes alike —
the negative catalogue of :class:`~apiharness.webhooks.WebhookSender` — goes through
:data:`SCHEMES` instead, which says what each scheme signs and which headers it needs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from apiharness.errors import ConfigurationError
from apiharness.webhooks import github, shopify, slack, standard, stripe, twilio
from apiharness.webhooks._common import Secret
from apiharness.webhooks._dedup import DedupStore

__all__ = ["SCHEMES", "Scheme", "scheme_named"]

_JSON_EVENT = json.dumps(
    {"id": "evt_apiharness", "type": "apiharness.test", "data": {"amount": 1999, "note": "café"}}
).encode()
_TWILIO_FORM = b"AccountSid=AC123&CallSid=CA1234567890ABCDE&From=%2B14158675309&To=%2B18005551212"


@dataclass(frozen=True)
class Scheme:
    """What the sender needs to know about a scheme, and uniform sign/verify calls."""

    name: str
    signature_header: str
    #: Headers without which a delivery cannot verify (the signature header among them).
    required_headers: tuple[str, ...]
    #: The provider's default tolerance, or None if the scheme signs no timestamp.
    tolerance: float | None
    #: The header carrying the id a provider's retries and duplicates keep (dedup keys on it).
    delivery_header: str | None
    #: A typical body for this provider.
    example_payload: bytes
    _sign: Callable[..., dict[str, str]]
    _verify: Callable[..., None]

    @property
    def timestamped(self) -> bool:
        return self.tolerance is not None

    def sign(
        self,
        payload: bytes,
        secret: Secret,
        *,
        timestamp: float | None = None,
        delivery_id: str | None = None,
        url: str = "",
    ) -> dict[str, str]:
        """Sign with whatever this scheme signs; arguments it has no use for are ignored."""
        options: dict[str, Any] = {}
        if self.timestamped or self.name == "shopify":
            options["timestamp"] = timestamp
        if self.name == "standard":
            options["msg_id"] = delivery_id
        elif self.name == "shopify":
            options["event_id"] = delivery_id  # what a retry of the event keeps
        elif self.delivery_header is not None:
            options["delivery_id"] = delivery_id
        if self.name == "twilio":
            options["url"] = url
        return self._sign(payload, secret, **options)

    def verify(
        self,
        payload: bytes,
        headers: Mapping[str, str],
        secret: Secret,
        *,
        now: float | None = None,
        tolerance: float | None = None,
        url: str = "",
        dedup: DedupStore | None = None,
    ) -> None:
        """Verify; ``tolerance`` None means the provider's default."""
        options: dict[str, Any] = {}
        if self.timestamped:
            options["now"] = now
            options["tolerance"] = self.tolerance if tolerance is None else tolerance
        if self.delivery_header is not None:
            options["dedup"] = dedup
            options["now"] = now
        if self.name == "twilio":
            options["url"] = url
        self._verify(payload, headers, secret, **options)


SCHEMES: dict[str, Scheme] = {
    "stripe": Scheme(
        "stripe",
        stripe.SIGNATURE_HEADER,
        (stripe.SIGNATURE_HEADER,),
        stripe.DEFAULT_TOLERANCE,
        None,
        _JSON_EVENT,
        stripe.sign,
        stripe.verify,
    ),
    "github": Scheme(
        "github",
        github.SIGNATURE_HEADER,
        (github.SIGNATURE_HEADER,),
        None,
        github.DELIVERY_HEADER,
        _JSON_EVENT,
        github.sign,
        github.verify,
    ),
    "standard": Scheme(
        "standard",
        standard.SIGNATURE_HEADER,
        (standard.ID_HEADER, standard.TIMESTAMP_HEADER, standard.SIGNATURE_HEADER),
        standard.DEFAULT_TOLERANCE,
        standard.ID_HEADER,
        _JSON_EVENT,
        standard.sign,
        standard.verify,
    ),
    "slack": Scheme(
        "slack",
        slack.SIGNATURE_HEADER,
        (slack.TIMESTAMP_HEADER, slack.SIGNATURE_HEADER),
        slack.DEFAULT_TOLERANCE,
        None,
        _JSON_EVENT,
        slack.sign,
        slack.verify,
    ),
    "shopify": Scheme(
        "shopify",
        shopify.SIGNATURE_HEADER,
        (shopify.SIGNATURE_HEADER,),
        None,
        shopify.DELIVERY_HEADER,
        _JSON_EVENT,
        shopify.sign,
        shopify.verify,
    ),
    "twilio": Scheme(
        "twilio",
        twilio.SIGNATURE_HEADER,
        (twilio.SIGNATURE_HEADER,),
        None,
        None,
        _TWILIO_FORM,
        twilio.sign,
        twilio.verify,
    ),
}


def scheme_named(name: object) -> Scheme:
    """The scheme called ``name``, or a ConfigurationError listing the choices."""
    if not isinstance(name, str) or name not in SCHEMES:
        raise ConfigurationError(
            f"unknown webhook scheme {name!r}; choose one of {', '.join(sorted(SCHEMES))}"
        )
    return SCHEMES[name]
