"""Redaction: every place a secret hides, consistent placeholders, configuration."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st
from vcr.request import Request as VcrRequest

from apiharness.errors import ConfigurationError
from apiharness.recording import (
    CassetteIndex,
    Interaction,
    RecordedRequest,
    RecordedResponse,
    Redactor,
)

# Token-like values: printable, no space or ';' (which cannot occur inside a cookie value).
secrets = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters=";"),
    min_size=1,
    max_size=30,
)


def exchange(secret: str) -> Interaction:
    """An exchange with ``secret`` in every place the default redactor covers."""
    q = quote(secret, safe="")
    return Interaction(
        RecordedRequest(
            method="POST",
            uri=f"https://api.test/v1/login?page=2&api_key={q}&access_token={q}",
            headers=(
                ("Authorization", f"Bearer {secret}"),
                ("Proxy-Authorization", f"Basic {secret}"),
                ("Cookie", f"session={secret}; theme=dark"),
                ("X-Api-Key", secret),
                ("X-Auth-Token", secret),
                ("Content-Type", "application/json"),
                ("Content-Length", "999"),
            ),
            body=json.dumps(
                {"user": "ann", "password": secret, "nested": [{"client_secret": secret}]}
            ).encode(),
        ),
        RecordedResponse(
            status=200,
            headers=(
                ("Set-Cookie", f"session={secret}; Path=/; HttpOnly"),
                ("Content-Type", "application/json; charset=utf-8"),
                ("Content-Length", "999"),
            ),
            body=json.dumps({"access_token": secret, "refresh_token": secret, "n": 1}).encode(),
        ),
    )


def test_every_place_is_redacted_and_the_rest_kept() -> None:
    secret = "s3cr3t-VALUE"
    redacted = Redactor().redact(exchange(secret))
    request, response = redacted.request, redacted.response
    assert request.uri == (
        "https://api.test/v1/login?page=2&api_key=REDACTED&access_token=REDACTED"
    )
    assert dict(request.headers) == {
        "Authorization": "Bearer REDACTED",
        "Proxy-Authorization": "Basic REDACTED",
        "Cookie": "session=REDACTED; theme=REDACTED",
        "X-Api-Key": "REDACTED",
        "X-Auth-Token": "REDACTED",
        "Content-Type": "application/json",
        "Content-Length": str(len(request.body or b"")),
    }
    assert json.loads(request.body or b"") == {
        "user": "ann",
        "password": "REDACTED",
        "nested": [{"client_secret": "REDACTED"}],
    }
    assert dict(response.headers)["Set-Cookie"] == "session=REDACTED; Path=/; HttpOnly"
    assert dict(response.headers)["Content-Length"] == str(len(response.body))
    assert json.loads(response.body) == {
        "access_token": "REDACTED",
        "refresh_token": "REDACTED",
        "n": 1,
    }


def test_form_bodies_url_userinfo_and_other_bodies() -> None:
    redactor = Redactor()
    form = b"grant_type=authorization_code&code=abc123&code_verifier=xyz&client_secret=p%26q"
    assert redactor.redact_body(form, "application/x-www-form-urlencoded") == (
        b"grant_type=authorization_code&code=REDACTED&code_verifier=REDACTED&client_secret=REDACTED"
    )
    assert redactor.redact_url("https://ann:pw@api.test/x") == "https://ann:REDACTED@api.test/x"
    assert redactor.redact_url("https://api.test/x?a=1&b=%20") == "https://api.test/x?a=1&b=%20"
    assert redactor.redact_body(b"\x00\xffbinary", "application/octet-stream") == b"\x00\xffbinary"
    assert redactor.redact_body(b'{"password": ', "application/json") == b'{"password": '
    # A secret-looking header name is caught by its shape, not only by the list.
    assert redactor.is_secret_header("X-Goog-Api-Key")
    assert not redactor.is_secret_header("Idempotency-Key")


@given(secrets, secrets)
def test_placeholders_are_consistent_so_replay_matching_works(first: str, second: str) -> None:
    # Whatever the secret values, the redacted exchanges are identical: a live request with
    # the real secret and a CI request with a dummy one both match the recording.
    assert Redactor().redact(exchange(first)) == Redactor().redact(exchange(second))


@given(secrets)
def test_the_index_matches_a_live_request_to_its_redacted_recording(secret: str) -> None:
    recorded = Redactor().redact(exchange(secret))
    index = CassetteIndex([recorded])
    live_uri = exchange("a-different-live-value").request.uri
    assert index.play("post", live_uri) == recorded
    assert index.play("POST", live_uri) is None  # each recording plays once, as in vcrpy


@given(secrets)
def test_the_vcrpy_hook_redacts_like_the_recorder(secret: str) -> None:
    live = exchange(secret).request
    vcr_request = VcrRequest(live.method, live.uri, live.body, dict(live.headers))
    hooked = Redactor().vcr_before_record_request(vcr_request)
    expected = Redactor().redact_request(live)
    assert hooked.uri == expected.uri
    assert hooked.headers["Authorization"] == "Bearer REDACTED"
    assert hooked.body == expected.body
    assert vcr_request.uri == live.uri  # the live request itself is left alone


def test_configuration() -> None:
    extra = Redactor().with_extra(headers={"X-Tenant"}, query_params={"sid"}, body_fields={"pin"})
    assert extra.is_secret_header("x-tenant")
    assert extra.is_secret_param("SID")
    assert extra.is_secret_field("PIN")
    off = Redactor.disabled()
    assert off.redact(exchange("value")) == exchange("value")
    custom = Redactor(placeholder="<hidden>")
    assert custom.redact_url("https://a.test/?token=1") == "https://a.test/?token=%3Chidden%3E"
    for bad in ("", "has space", "a;b"):
        with pytest.raises(ConfigurationError, match="placeholder"):
            Redactor(placeholder=bad)
    with pytest.raises(ConfigurationError, match="collection of names"):
        Redactor().with_extra(headers="X-One")
    with pytest.raises(ConfigurationError, match="non-empty strings"):
        Redactor().with_extra(body_fields={""})
