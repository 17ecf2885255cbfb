"""The public surface of apiharness.webhooks: errors, refusals and what messages may contain."""

from __future__ import annotations

import types
from typing import Any

import pytest

from apiharness import ConfigurationError, webhooks
from apiharness.webhooks import (
    InvalidWebhookSecret,
    MalformedWebhookHeader,
    MissingWebhookHeader,
    WebhookPayloadTypeError,
    WebhookSignatureMismatch,
    WebhookTimestampOutOfTolerance,
    WebhookVerificationError,
    github,
    slack,
    standard,
    stripe,
    twilio,
)
from apiharness.webhooks._schemes import SCHEMES

SECRET = "whsec_c3VwZXItc2VjcmV0LWtleS12YWx1ZQ=="


def test_all_lists_exactly_the_public_names() -> None:
    public = {name for name in vars(webhooks) if not name.startswith("_")}
    modules = {
        n
        for n, v in vars(webhooks).items()
        if isinstance(v, types.ModuleType) and not n.startswith("_")
    }
    assert set(webhooks.__all__) == public - (modules - set(SCHEMES))
    for name in SCHEMES:
        module = getattr(webhooks, name)
        assert {"sign", "verify"} <= set(module.__all__)


@pytest.mark.parametrize("name", sorted(SCHEMES))
def test_str_payload_is_refused_with_the_reason(name: str) -> None:
    scheme = SCHEMES[name]
    with pytest.raises(WebhookPayloadTypeError, match="serialising it again") as info:
        scheme.verify('{"id": 1}', {}, "s", url="https://x.test/")  # type: ignore[arg-type]
    assert isinstance(info.value, TypeError)
    assert not isinstance(info.value, WebhookVerificationError)
    with pytest.raises(WebhookPayloadTypeError, match="dict"):
        scheme.sign({"id": 1}, "s", url="https://x.test/")  # type: ignore[arg-type]


@pytest.mark.parametrize("secret", ["", b"", [], ["ok", ""], 42, None, ["ok", 3]])
def test_unusable_secrets_are_refused(secret: Any) -> None:
    with pytest.raises(InvalidWebhookSecret) as info:
        github.verify(b"{}", {"X-Hub-Signature-256": "sha256=00"}, secret)
    assert isinstance(info.value, ConfigurationError)
    assert isinstance(info.value, WebhookVerificationError)


def test_standard_secret_must_be_whsec_base64() -> None:
    with pytest.raises(InvalidWebhookSecret, match="base64"):
        standard.sign(b"{}", "whsec_not base64!")
    raw = standard.sign(b"{}", b"raw-key-bytes", msg_id="m", timestamp=1)
    import base64

    encoded = "whsec_" + base64.b64encode(b"raw-key-bytes").decode()
    assert standard.sign(b"{}", encoded, msg_id="m", timestamp=1) == raw
    # The prefix is optional, as in the reference libraries.
    assert standard.sign(b"{}", encoded.removeprefix("whsec_"), msg_id="m", timestamp=1) == raw


def test_missing_and_malformed_headers_are_told_apart() -> None:
    with pytest.raises(MissingWebhookHeader, match="Stripe-Signature"):
        stripe.verify(b"{}", {}, "whsec_x")
    with pytest.raises(MissingWebhookHeader, match="empty"):
        stripe.verify(b"{}", {"stripe-signature": "  "}, "whsec_x")
    for bad in [
        "garbage",
        "t=1",
        "v1=ab",
        "t=1,t=2,v1=ab",
        "t=١٢,v1=ab",
        "t=-5,v1=ab",
        "t=" + "9" * 40 + ",v1=a",
    ]:
        with pytest.raises(MalformedWebhookHeader):
            stripe.verify(b"{}", {"Stripe-Signature": bad}, "whsec_x", now=1)
    with pytest.raises(MalformedWebhookHeader, match="sha256="):
        github.verify(b"{}", {"X-Hub-Signature-256": "sha1=abc"}, "s")
    with pytest.raises(MalformedWebhookHeader, match="v1,"):
        standard.verify(
            b"{}",
            {"webhook-id": "m", "webhook-timestamp": "1", "webhook-signature": "v1a,xyz nocomma"},
            SECRET,
            now=1,
        )
    with pytest.raises(MalformedWebhookHeader, match="mapping"):
        github.verify(b"{}", [("X-Hub-Signature-256", "sha256=00")], "s")  # type: ignore[arg-type]
    with pytest.raises(MalformedWebhookHeader, match="text"):
        github.verify(b"{}", {"X-Hub-Signature-256": b"sha256=00"}, "s")  # type: ignore[dict-item]


def test_conflicting_duplicate_headers_are_refused() -> None:
    class Repeating(dict[str, str]):
        def items(self) -> Any:
            return [("X-Hub-Signature-256", "sha256=aa"), ("x-hub-signature-256", "sha256=bb")]

    with pytest.raises(MalformedWebhookHeader, match="twice"):
        github.verify(b"{}", Repeating(), "s")


def test_stripe_refuses_future_timestamps_and_ignores_v0() -> None:
    headers = stripe.sign(b"{}", "whsec_x", timestamp=10_000)
    with pytest.raises(WebhookTimestampOutOfTolerance, match="in the future"):
        stripe.verify(b"{}", headers, "whsec_x", now=10_000 - 301)
    v0_only = headers["Stripe-Signature"].replace("v1=", "v0=")
    with pytest.raises(MalformedWebhookHeader, match="no v1"):
        stripe.verify(b"{}", {"Stripe-Signature": v0_only}, "whsec_x", now=10_000)


def test_signature_checked_before_timestamp() -> None:
    # A forged delivery is reported as forged, not as late.
    headers = slack.sign(b"x", "right", timestamp=1)
    with pytest.raises(WebhookSignatureMismatch):
        slack.verify(b"x", headers, "wrong", now=10**9)


def test_rotation_signs_with_every_secret_where_the_scheme_allows() -> None:
    header = stripe.sign(b"{}", ["whsec_new", "whsec_old"], timestamp=5)["Stripe-Signature"]
    assert header.count("v1=") == 2
    stripe.verify(b"{}", {"Stripe-Signature": header}, "whsec_old", now=5)
    signature = standard.sign(b"{}", [SECRET, "whsec_b2xk"], timestamp=5)["webhook-signature"]
    assert len(signature.split(" ")) == 2


@pytest.mark.parametrize("tolerance", [-1, float("inf"), float("nan"), "300", True])
def test_bad_tolerance_is_a_configuration_error(tolerance: Any) -> None:
    with pytest.raises(ConfigurationError, match="tolerance"):
        stripe.verify(b"{}", {}, "whsec_x", tolerance=tolerance)


def test_naive_datetime_is_refused() -> None:
    from datetime import datetime

    with pytest.raises(ConfigurationError, match="naive"):
        stripe.sign(b"{}", "whsec_x", timestamp=datetime(2030, 1, 1))


@pytest.mark.parametrize("name", sorted(SCHEMES))
def test_secrets_never_appear_in_errors(name: str) -> None:
    scheme = SCHEMES[name]
    secret = "whsec_" + "U0VDUkVUU0VDUkVUU0VDUkVU" if name == "standard" else "SECRETSECRET"
    url = "https://x.test/hook"
    headers = scheme.sign(b"{}", secret, timestamp=1, url=url)
    messages = []
    for broken in ({}, {k: v + "0" for k, v in headers.items()}):
        for candidate in (secret, "other-secret-value"):
            try:
                scheme.verify(b"{}", broken, candidate, now=10**9, url=url)
            except WebhookVerificationError as exc:
                messages.append(str(exc) + repr(exc))
    assert messages
    assert not any("SECRET" in m or "U0VDUkVU" in m or "other-secret" in m for m in messages)


def test_twilio_multidict_params_use_every_value() -> None:
    class MultiDict(dict[str, str]):
        def getlist(self, name: str) -> list[str]:
            return {"Digits": ["5678", "1234"]}.get(name, [self[name]])

    url = "https://example.com/t"
    plain = twilio.sign(b"", "tok", url=url, params={"Digits": ["1234", "5678"], "Sid": "CA1"})
    multi = MultiDict(Digits="5678", Sid="CA1")
    twilio.verify(b"", plain, "tok", url=url, params=multi)


def test_twilio_unparseable_url_is_a_verification_error() -> None:
    with pytest.raises(MalformedWebhookHeader, match="URL"):
        twilio.verify(b"", {"X-Twilio-Signature": "x"}, "tok", url="http://[::1/")


def test_reprs_hold_no_secrets(tmp_path: Any) -> None:
    from apiharness.webhooks import MemoryDedupStore, SQLiteDedupStore, WebhookSender
    from apiharness.webhooks._common import incoming

    assert "SECRETSECRET" not in repr(incoming(b"{}", {}, "SECRETSECRET", "github"))
    with WebhookSender("http://127.0.0.1:9", scheme="github", secret="SECRETSECRET") as sender:
        assert "SECRETSECRET" not in repr(sender)
    store = SQLiteDedupStore(tmp_path / "s.sqlite3")
    assert "ttl=86400" in repr(store)
    assert "ids=0" in repr(MemoryDedupStore())
    store.close()


def test_standard_refuses_dots_in_the_message_id() -> None:
    # Signed content is "id.timestamp.body": with a dot in the id, "a" + "1" + "2.{...}" and
    # "a.1" + "2" + "{...}" sign the same bytes.
    headers = standard.sign(b"2.{}", SECRET, msg_id="a", timestamp=1)
    reframed = {**headers, "webhook-id": "a.1", "webhook-timestamp": "2"}
    with pytest.raises(MalformedWebhookHeader, match="must not contain"):
        standard.verify(b"{}", reframed, SECRET, now=2)
    with pytest.raises(ConfigurationError, match="forbids"):
        standard.sign(b"{}", SECRET, msg_id="a.1")
