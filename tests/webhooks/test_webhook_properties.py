"""Properties of every scheme: round trips, single-byte tampering, tolerance edges, garbage."""

from __future__ import annotations

import base64
import contextlib
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from apiharness.webhooks import (
    WebhookSignatureMismatch,
    WebhookTimestampOutOfTolerance,
    WebhookVerificationError,
    twilio,
)
from apiharness.webhooks._schemes import SCHEMES, Scheme

URL = "https://example.com/hooks/twilio?x=1"
NAMES = sorted(SCHEMES)
TIMESTAMPED = sorted(name for name, scheme in SCHEMES.items() if scheme.timestamped)
FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

payloads = st.binary(max_size=300)
timestamps = st.integers(min_value=1, max_value=10**11)


@st.composite
def secrets_for(draw: st.DrawFn, name: str, *, single: bool = False) -> Any:
    """A usable secret for scheme ``name``: one, or a rotation list."""
    if name == "standard":
        one = st.binary(min_size=1, max_size=64).map(
            lambda raw: "whsec_" + base64.b64encode(raw).decode()
        )
    else:
        one = st.one_of(st.text(min_size=1, max_size=40), st.binary(min_size=1, max_size=40))
    if single:
        return draw(one)
    return draw(st.one_of(one, st.lists(one, min_size=1, max_size=3)))


def _url_for(scheme: Scheme, payload: bytes) -> str:
    # Twilio signs form *parameters*, not bytes; the bodySHA256 variant covers the raw bytes.
    return twilio.url_with_body_hash(URL, payload) if scheme.name == "twilio" else ""


def _sign(scheme: Scheme, payload: bytes, secret: Any, ts: int) -> dict[str, str]:
    return scheme.sign(
        payload, secret, timestamp=ts, delivery_id="d-1", url=_url_for(scheme, payload)
    )


def _verify(
    scheme: Scheme, payload: bytes, headers: dict[str, str], secret: Any, *, now: float, url: str
) -> None:
    scheme.verify(payload, headers, secret, now=now, url=url)


@pytest.mark.parametrize("name", NAMES)
@FAST
@given(data=st.data(), payload=payloads, ts=timestamps)
def test_sign_then_verify_round_trips(
    name: str, data: st.DataObject, payload: bytes, ts: int
) -> None:
    scheme = SCHEMES[name]
    secret = data.draw(secrets_for(name))
    headers = _sign(scheme, payload, secret, ts)
    _verify(scheme, payload, headers, secret, now=ts, url=_url_for(scheme, payload))
    # Rotation: signed with the new secret, verified by a receiver that holds old and new.
    newest = secret[0] if isinstance(secret, list) else secret
    old = "whsec_" + base64.b64encode(b"old-key").decode() if name == "standard" else "old"
    _verify(scheme, payload, headers, [old, newest], now=ts, url=_url_for(scheme, payload))


@pytest.mark.parametrize("name", NAMES)
@FAST
@given(data=st.data(), payload=payloads.filter(bool), ts=timestamps)
def test_flipping_any_payload_byte_fails(
    name: str, data: st.DataObject, payload: bytes, ts: int
) -> None:
    scheme = SCHEMES[name]
    secret = data.draw(secrets_for(name))
    headers = _sign(scheme, payload, secret, ts)
    index = data.draw(st.integers(0, len(payload) - 1))
    flip = data.draw(st.integers(1, 255))
    tampered = bytearray(payload)
    tampered[index] ^= flip
    with pytest.raises(WebhookSignatureMismatch):
        _verify(scheme, bytes(tampered), headers, secret, now=ts, url=_url_for(scheme, payload))


@pytest.mark.parametrize("name", NAMES)
@FAST
@given(data=st.data(), payload=payloads, ts=timestamps)
def test_flipping_any_signature_byte_fails(
    name: str, data: st.DataObject, payload: bytes, ts: int
) -> None:
    scheme = SCHEMES[name]
    # One secret: with a rotation list, the other signatures in the header still match.
    secret = data.draw(secrets_for(name, single=True))
    headers = _sign(scheme, payload, secret, ts)
    value = headers[scheme.signature_header].encode()
    index = data.draw(st.integers(0, len(value) - 1))
    flipped = bytearray(value)
    flipped[index] ^= data.draw(st.integers(1, 127))
    headers[scheme.signature_header] = flipped.decode("ascii")
    # Which error depends on where the flip landed (prefix, separator or digest); never a pass.
    with pytest.raises(WebhookVerificationError):
        _verify(scheme, payload, headers, secret, now=ts, url=_url_for(scheme, payload))


def _with_timestamp(scheme: Scheme, headers: dict[str, str], ts: int) -> dict[str, str]:
    if scheme.name == "stripe":
        rest = headers["Stripe-Signature"].split(",", 1)[1]
        return {"Stripe-Signature": f"t={ts},{rest}"}
    name = {"slack": "X-Slack-Request-Timestamp", "standard": "webhook-timestamp"}[scheme.name]
    return {**headers, name: str(ts)}


@pytest.mark.parametrize("name", TIMESTAMPED)
@FAST
@given(data=st.data(), payload=payloads, ts=timestamps, delta=st.integers(-(10**6), 10**6))
def test_changing_the_signed_timestamp_fails(
    name: str, data: st.DataObject, payload: bytes, ts: int, delta: int
) -> None:
    assume(delta != 0 and ts + delta > 0)
    scheme = SCHEMES[name]
    secret = data.draw(secrets_for(name))
    headers = _with_timestamp(scheme, _sign(scheme, payload, secret, ts), ts + delta)
    # Even with "now" at the forged timestamp, the signature no longer matches.
    with pytest.raises(WebhookSignatureMismatch):
        _verify(scheme, payload, headers, secret, now=ts + delta, url="")


@pytest.mark.parametrize("name", TIMESTAMPED)
@FAST
@given(
    payload=payloads,
    ts=timestamps,
    tolerance=st.integers(1, 3600),
    sign_=st.sampled_from([-1, 1]),
)
def test_tolerance_edges(name: str, payload: bytes, ts: int, tolerance: int, sign_: int) -> None:
    scheme = SCHEMES[name]
    secret = "whsec_" + base64.b64encode(b"k" * 24).decode() if name == "standard" else "k"
    headers = _sign(scheme, payload, secret, ts)
    scheme.verify(payload, headers, secret, now=ts + sign_ * tolerance, tolerance=tolerance)
    with pytest.raises(WebhookTimestampOutOfTolerance):
        scheme.verify(
            payload, headers, secret, now=ts + sign_ * (tolerance + 0.001), tolerance=tolerance
        )


@pytest.mark.parametrize("name", TIMESTAMPED)
def test_default_tolerance_follows_the_clock_fixture(name: str, clock: Any) -> None:
    scheme = SCHEMES[name]
    secret = "whsec_" + base64.b64encode(b"k" * 24).decode() if name == "standard" else "k"
    headers = scheme.sign(b"{}", secret)  # timestamp from the virtual clock
    clock.advance(300)
    scheme.verify(b"{}", headers, secret)
    clock.advance(1)
    with pytest.raises(WebhookTimestampOutOfTolerance, match="301 s old"):
        scheme.verify(b"{}", headers, secret)


header_values = st.one_of(
    st.text(max_size=80),
    st.text(alphabet="tv01=,. abcdef0123456789+/whsec_sha256", max_size=80),
    st.integers().map(str),
)
any_secret = st.one_of(
    st.text(max_size=40),
    st.binary(max_size=40),
    st.lists(st.one_of(st.text(max_size=10), st.binary(max_size=10)), max_size=3),
    st.none(),
    st.integers(),
)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=80, deadline=None)
@given(data=st.data(), payload=st.binary(max_size=200), secret=any_secret, url=st.text(max_size=60))
def test_garbage_only_ever_raises_verification_errors(
    name: str, data: st.DataObject, payload: bytes, secret: Any, url: str
) -> None:
    scheme = SCHEMES[name]
    names = [*scheme.required_headers, *filter(None, [scheme.delivery_header]), "X-Other"]
    headers = data.draw(
        st.dictionaries(
            st.sampled_from(names).flatmap(lambda n: st.sampled_from([n, n.upper(), n.lower()])),
            header_values,
            max_size=5,
        )
    )
    with contextlib.suppress(WebhookVerificationError):
        scheme.verify(payload, headers, secret, url=url, now=data.draw(timestamps))


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=60, deadline=None)
@given(data=st.data(), payload=payloads, ts=timestamps)
def test_one_garbled_header_of_a_valid_delivery_is_a_verification_error(
    name: str, data: st.DataObject, payload: bytes, ts: int
) -> None:
    scheme = SCHEMES[name]
    secret = "whsec_" + base64.b64encode(b"k" * 24).decode() if name == "standard" else "k"
    headers = _sign(scheme, payload, secret, ts)
    # The headers the scheme verifies (signature, signed timestamp and id); informational ones
    # such as X-GitHub-Event are signed by no provider and may change freely.
    target = data.draw(st.sampled_from(scheme.required_headers))
    garbled = data.draw(header_values)
    assume(garbled != headers[target])
    headers[target] = garbled
    # Changing any one of them must be refused: never accepted, never another exception.
    with pytest.raises(WebhookVerificationError):
        _verify(scheme, payload, headers, secret, now=ts, url=_url_for(scheme, payload))
