"""Every scheme passes its provider's published test vectors (fixtures/webhooks/*.json)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from apiharness.webhooks import (
    WebhookSignatureMismatch,
    github,
    shopify,
    slack,
    standard,
    stripe,
    twilio,
)

FIXTURES = Path(__file__).parents[2] / "fixtures" / "webhooks"
SCHEMES = {
    "github": github,
    "shopify": shopify,
    "slack": slack,
    "standard": standard,
    "stripe": stripe,
    "twilio": twilio,
}


def _vectors() -> list[Any]:
    cases = []
    for path in sorted(FIXTURES.glob("*.json")):
        document = json.loads(path.read_text())
        assert document["source"], f"{path.name} must name its source"
        for vector in document["vectors"]:
            cases.append(
                pytest.param(document["scheme"], vector, id=f"{path.stem}-{vector['name']}")
            )
    return cases


VECTORS = _vectors()


def test_every_scheme_has_vectors() -> None:
    assert {case.values[0] for case in VECTORS} == set(SCHEMES)


def _verify(scheme: str, vector: dict[str, Any], payload: bytes, headers: dict[str, str]) -> None:
    if scheme == "twilio":
        twilio.verify(
            payload, headers, vector["secret"], url=vector["url"], params=vector.get("params")
        )
    elif "now" in vector:
        SCHEMES[scheme].verify(payload, headers, vector["secret"], now=vector["now"])
    else:
        SCHEMES[scheme].verify(payload, headers, vector["secret"])


@pytest.mark.parametrize(("scheme", "vector"), VECTORS)
def test_published_vector_verifies(scheme: str, vector: dict[str, Any]) -> None:
    payload = vector.get("payload", "").encode()
    _verify(scheme, vector, payload, vector["headers"])
    # Header names are case-insensitive.
    _verify(scheme, vector, payload, {k.upper(): v for k, v in vector["headers"].items()})


@pytest.mark.parametrize(("scheme", "vector"), VECTORS)
def test_published_vector_fails_with_another_secret(scheme: str, vector: dict[str, Any]) -> None:
    payload = vector.get("payload", "").encode()
    other = dict(vector, secret="whsec_" + "QUJD" * 8 if scheme == "standard" else "not-the-secret")
    with pytest.raises(WebhookSignatureMismatch):
        _verify(scheme, other, payload, vector["headers"])


def _load(scheme: str) -> list[dict[str, Any]]:
    return [case.values[1] for case in VECTORS if case.values[0] == scheme]


def test_sign_reproduces_the_published_signatures() -> None:
    [gh] = _load("github")
    assert (
        github.sign(gh["payload"].encode(), gh["secret"])["X-Hub-Signature-256"]
        == (gh["headers"]["X-Hub-Signature-256"])
    )
    [sh] = _load("shopify")
    assert (
        shopify.sign(sh["payload"].encode(), sh["secret"])["X-Shopify-Hmac-Sha256"]
        == (sh["headers"]["X-Shopify-Hmac-Sha256"])
    )
    [sl] = _load("slack")
    assert slack.sign(sl["payload"].encode(), sl["secret"], timestamp=sl["now"]) == sl["headers"]
    [sw] = _load("standard")
    signed = standard.sign(
        sw["payload"].encode(),
        sw["secret"],
        msg_id=sw["headers"]["webhook-id"],
        timestamp=sw["now"],
    )
    assert signed == sw["headers"]
    st = _load("stripe")[0]
    assert stripe.sign(st["payload"].encode(), st["secret"], timestamp=st["now"]) == st["headers"]
    for vector in _load("twilio"):
        if "sdk-adds-port" in vector["name"] or "removes-port-on-https" in vector["name"]:
            continue  # these sign another form of the URL than the one requested
        signed = twilio.sign(
            vector.get("payload", "").encode(),
            vector["secret"],
            url=vector["url"],
            params=vector.get("params"),
        )
        assert signed == vector["headers"], vector["name"]


def test_stripe_vector_agrees_with_the_stripe_package() -> None:
    import stripe as stripe_sdk

    for vector in _load("stripe"):
        stripe_sdk.WebhookSignature.verify_header(
            vector["payload"],
            vector["headers"]["Stripe-Signature"],
            vector["secret"],
            tolerance=None,
        )


def test_standard_vector_agrees_with_the_standardwebhooks_package() -> None:
    from standardwebhooks.webhooks import Webhook

    [vector] = _load("standard")
    expected = Webhook(vector["secret"]).sign(
        vector["headers"]["webhook-id"],
        datetime.fromtimestamp(vector["now"], tz=UTC),
        vector["payload"],
    )
    assert expected == vector["headers"]["webhook-signature"]


def test_twilio_form_body_gives_the_same_params_as_the_mapping() -> None:
    vector = _load("twilio")[0]
    body = "&".join(f"{k}={v.replace('+', '%2B')}" for k, v in vector["params"].items()).encode()
    twilio.verify(body, vector["headers"], vector["secret"], url=vector["url"])


def test_twilio_json_body_must_match_its_hash() -> None:
    vector = next(v for v in _load("twilio") if v["name"] == "sdk-json-body-sha256")
    with pytest.raises(WebhookSignatureMismatch, match="bodySHA256"):
        twilio.verify(
            b'{"property": "value"}', vector["headers"], vector["secret"], url=vector["url"]
        )
    base = vector["url"].split("&bodySHA256=")[0]
    assert twilio.url_with_body_hash(base, vector["payload"].encode()) == vector["url"]
