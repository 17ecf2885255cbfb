"""Redaction: every place a secret hides, consistent placeholders, configuration."""

from __future__ import annotations

import base64
import gzip
import json
import time
import zlib
from collections.abc import Callable
from dataclasses import replace
from urllib.parse import quote

import brotli
import pytest
import zstandard
from hypothesis import assume, given
from hypothesis import strategies as st
from vcr.request import Request as VcrRequest

from apiharness.errors import ConfigurationError
from apiharness.recording import (
    MIN_SCRUB_LENGTH,
    Cassette,
    CassetteIndex,
    Interaction,
    RecordedRequest,
    RecordedResponse,
    Redactor,
    encoded_forms,
    find_leaks,
)
from apiharness.recording._cassette import header_values

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
    assert redactor.redact_url("https://ghp_0123@api.test/x") == "https://REDACTED@api.test/x"
    # An OAuth redirect: the code in Location's query, an implicit grant's token in its fragment.
    assert redactor.redact_headers(
        (
            ("Location", "/cb?code=auth-code-1&state=s1"),
            ("Content-Location", "https://app.test/cb#access_token=tok-2&token_type=bearer"),
        )
    ) == (
        ("Location", "/cb?code=REDACTED&state=s1"),
        ("Content-Location", "https://app.test/cb#access_token=REDACTED&token_type=bearer"),
    )
    assert redactor.redact_url("https://api.test/x?a=1&b=%20") == "https://api.test/x?a=1&b=%20"
    assert redactor.redact_body(b"\x00\xffbinary", "application/octet-stream") == b"\x00\xffbinary"
    assert redactor.redact_body(b'{"password": ', "application/json") == b'{"password": '
    # A secret-looking header name is caught by its shape, not only by the list.
    assert redactor.is_secret_header("X-Goog-Api-Key")
    assert not redactor.is_secret_header("Idempotency-Key")


def public(secret: str) -> bool:
    """Whether a form of ``secret`` is part of what is public in the exchange (a header name,
    the JSON keys): values are scrubbed wherever they occur, so such a value changes those too."""
    skeleton = Cassette([exchange("\x00")]).to_yaml().encode()
    return len(secret) >= MIN_SCRUB_LENGTH and any(
        form in skeleton for form in encoded_forms(secret)
    )


@given(secrets, secrets)
def test_placeholders_are_consistent_so_replay_matching_works(first: str, second: str) -> None:
    # Whatever the secret values, the redacted exchanges are identical: a live request with
    # the real secret and a CI request with a dummy one both match the recording.
    assume(not public(first) and not public(second))
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


# -- names across conventions ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["X-Authorization", "x-auth-token", "X-Access-Token", "X-Goog-Api-Key", "X-Amz-Security-Token"],
)
def test_secret_header_names_in_any_convention(name: str) -> None:
    assert Redactor().is_secret_header(name)


@pytest.mark.parametrize(
    "name",
    ["accessToken", "auth_token", "X-Amz-Signature", "ACCESSTOKEN", "oauth-access-token", "apiKey"],
)
def test_secret_parameter_names_in_any_convention(name: str) -> None:
    assert Redactor().is_secret_param(name)


@pytest.mark.parametrize(
    "name", ["accessToken", "refreshToken", "authorization", "idToken", "db.password", "PIN"]
)
def test_secret_field_names_in_any_convention(name: str) -> None:
    assert Redactor().is_secret_field(name)


@pytest.mark.parametrize(
    "name", ["sort_key", "error_code", "max_tokens", "session_count", "key_id"]
)
def test_generic_words_match_only_whole_names(name: str) -> None:
    assert not Redactor().is_secret_param(name)
    assert not Redactor().is_secret_field(name)
    assert not Redactor().is_secret_header("Idempotency-Key")


def test_users_extend_the_lists_and_conventions_follow() -> None:
    redactor = Redactor().with_extra(query_params={"tenant_pin"}, body_fields={"otp_seed"})
    assert redactor.is_secret_param("tenantPin")
    assert redactor.is_secret_field("X-Otp-Seed")
    assert not Redactor().is_secret_field("otpSeed")


# -- the second pass: by value --------------------------------------------------------------------

TOKEN = "tok-live-9f8e7d6c5b4a3921"
PASSWORD = 'pw-H\u00fcnter2 x/yz"zy'
ISSUED = "issued-0011223344556677"


def echo(request: RecordedRequest) -> bytes:
    """What httpbin's /anything answers: the request, echoed."""
    body = (request.body or b"").decode("utf-8", "replace")
    return json.dumps(
        {
            "headers": dict(request.headers),
            "url": request.uri,
            "data": body,
            "json": json.loads(body) if body.startswith("{") else None,
        }
    ).encode()


def test_values_found_by_place_are_scrubbed_everywhere_in_every_encoding() -> None:
    basic = base64.b64encode(f"ann:{PASSWORD}".encode()).decode()
    login = RecordedRequest(
        "POST",
        f"https://api.test/anything?accessToken={quote(TOKEN, safe='')}",
        (("X-Authorization", f"Bearer {TOKEN}"), ("Content-Type", "application/json")),
        json.dumps({"password": PASSWORD}).encode(),
    )
    issued = json.dumps({"access_token": ISSUED, "echo": json.loads(echo(login))}).encode()
    follow_up = RecordedRequest(
        "GET",
        f"https://api.test/sessions/{ISSUED}?next={quote(base64.b64encode(ISSUED.encode()))}",
        (("Authorization", f"Basic {basic}"),),
    )
    recording = [
        Interaction(
            login, RecordedResponse(200, "OK", (("Content-Type", "application/json"),), issued)
        ),
        Interaction(follow_up, RecordedResponse(200, "OK", (), echo(follow_up))),
    ]
    redacted = Redactor().redact_all(recording)
    data = Cassette(redacted).to_yaml().encode()
    secrets = {"token": TOKEN, "password": PASSWORD, "issued": ISSUED}
    for name, value in secrets.items():
        for needle, encoding in encoded_forms(value).items():
            assert needle not in data, f"{name} ({encoding})"
    assert find_leaks(data, secrets) == []
    assert redacted[1].request.uri.startswith("https://api.test/sessions/REDACTED?next=")
    assert json.loads(redacted[0].request.body or b"") == {"password": "REDACTED"}


def test_declared_secrets_are_scrubbed_wherever_they_are() -> None:
    plain = exchange("nothing-secret-here")
    leaky = Interaction(
        replace(plain.request, uri="https://api.test/v1/tenants/tenant-secret-77/items"),
        replace(plain.response, body=b"<p>your key is tenant-secret-77</p>"),
    )
    redactor = Redactor(secrets={"TENANT": "tenant-secret-77"})
    assert "tenant-secret-77" not in repr(redactor)
    out = redactor.redact(leaky)
    assert out.request.uri == "https://api.test/v1/tenants/REDACTED/items"
    assert out.response.body == b"<p>your key is REDACTED</p>"
    with pytest.raises(ConfigurationError, match="at least 4"):
        Redactor(secrets={"SHORT": "abc"})
    with pytest.raises(ConfigurationError, match="inside the placeholder"):
        Redactor(secrets={"PART": "DACT"})


@pytest.mark.parametrize(("value", "scrubbed"), [("abcdefg", False), ("abcdefgh", True)])
def test_values_shorter_than_the_threshold_stay_where_they_are_not_secret(
    value: str, scrubbed: bool
) -> None:
    assert len(value) == MIN_SCRUB_LENGTH - (0 if scrubbed else 1)
    request = RecordedRequest("GET", f"https://api.test/x?token={value}", ())
    response = RecordedResponse(200, "OK", (), f"echo {value}".encode())
    out = Redactor().redact(Interaction(request, response))
    assert out.request.uri == "https://api.test/x?token=REDACTED"  # by place, always
    assert (out.response.body == b"echo REDACTED") is scrubbed


# -- bodies ---------------------------------------------------------------------------------------


def test_forms_in_any_charset_and_without_content_type() -> None:
    redactor = Redactor()
    latin = "user=ren\u00e9e&password=caf\u00e9-au-lait".encode("latin-1")
    assert redactor.redact_body(latin, "application/x-www-form-urlencoded; charset=latin-1") == (
        "user=ren\u00e9e&password=REDACTED".encode("latin-1")
    )
    assert redactor.redact_body(b"a=1&client_secret=cs-123456789", "") == (
        b"a=1&client_secret=REDACTED"
    )
    assert redactor.redact_body(b"a=1 and client_secret=x", "") == b"a=1 and client_secret=x"
    # The value found in the form is scrubbed from the rest of the body (here: an echo).
    assert redactor.redact_body(b"password=caf%C3%A9-au-lait&echo=caf%C3%A9-au-lait", "") == (
        b"password=REDACTED&echo=REDACTED"
    )


def test_multipart_fields_are_parsed_and_redacted_byte_exact() -> None:
    value = b"multi\r\n--not-the-boundary\r\npart-secret"
    body = (
        b'--BOUNDARY\r\nContent-Disposition: form-data; name="user"\r\n\r\nann\r\n'
        b'--BOUNDARY\r\nContent-Disposition: form-data; name="password"\r\n\r\n'
        + value
        + b'\r\n--BOUNDARY\r\nContent-Disposition: form-data; name="meta"\r\n'
        b'Content-Type: application/json\r\n\r\n{"apiKey": "k-0123456789"}\r\n'
        b'--BOUNDARY\r\nContent-Disposition: form-data; name="file"; filename="a.bin"\r\n'
        b"\r\n\x00\xff" + value + b"\r\n--BOUNDARY--\r\n"
    )
    out = Redactor().redact_body(body, "multipart/form-data; boundary=BOUNDARY")
    assert out == (
        b'--BOUNDARY\r\nContent-Disposition: form-data; name="user"\r\n\r\nann\r\n'
        b'--BOUNDARY\r\nContent-Disposition: form-data; name="password"\r\n\r\nREDACTED'
        b'\r\n--BOUNDARY\r\nContent-Disposition: form-data; name="meta"\r\n'
        b'Content-Type: application/json\r\n\r\n{"apiKey": "REDACTED"}\r\n'
        b'--BOUNDARY\r\nContent-Disposition: form-data; name="file"; filename="a.bin"\r\n'
        b"\r\n\x00\xffREDACTED\r\n--BOUNDARY--\r\n"
    )


CODINGS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.compress,
    "deflate": zlib.compress,
    "br": brotli.compress,
    "zstd": lambda data: zstandard.ZstdCompressor().compress(data),
}


@pytest.mark.parametrize(
    "stack", ["gzip", "deflate", "br", "zstd", "gzip, gzip", "br, gzip, zstd", "deflate, br"]
)
def test_any_content_encoding_stack_is_decoded_redacted_and_stored_decoded(stack: str) -> None:
    plain = json.dumps({"access_token": ISSUED, "echo": f"Bearer {ISSUED}"}).encode()
    body = plain
    for coding in stack.split(", "):
        body = CODINGS[coding](body)
    response = RecordedResponse(
        200,
        "OK",
        (
            ("Content-Type", "application/json"),
            ("Content-Encoding", stack),
            ("Content-Length", "1"),
        ),
        body,
    )
    out = Redactor().redact_response(response)
    assert json.loads(out.body) == {
        "access_token": "REDACTED",
        "echo": "Bearer REDACTED",
    }
    assert header_values(out.headers, "content-encoding") == []
    assert header_values(out.headers, "content-length") == [str(len(out.body))]


def test_raw_deflate_and_undecodable_bodies() -> None:
    raw = zlib.compressobj(wbits=-15)
    body = raw.compress(b'{"token": "t-0123456789"}') + raw.flush()
    out = Redactor().redact_response(
        RecordedResponse(200, "OK", (("Content-Encoding", "deflate"),), body)
    )
    assert out.body == b'{"token": "REDACTED"}'
    kept = RecordedResponse(200, "OK", (("Content-Encoding", "compress"),), b"\x1f\x9d...")
    assert Redactor().redact_response(kept) == kept  # left for the leak gate to refuse


def test_json_100000_deep_is_redacted_without_recursion_and_byte_exact() -> None:
    depth = 100_000
    body = (
        b"[" * depth
        + b'{ "password" :"deep-secret-1",\n  "n": 1.5e3, "s": "caf\\u00e9"}'
        + b"]" * depth
    )
    out = Redactor().redact_body(body, "application/json")
    assert out == body.replace(b'"deep-secret-1"', b'"REDACTED"')
    # Not JSON after all: left alone, no error.
    assert Redactor().redact_body(b"[" * depth + b'{"password": 1', "application/json") == (
        b"[" * depth + b'{"password": 1'
    )


def test_the_vcrpy_hook_scrubs_values_its_own_request_shows() -> None:
    # A key sent both in a secret header and in the path: the hook redacts the path too, as
    # the recording did, so the live request matches.
    live = VcrRequest(
        "GET",
        "https://api.test/keys/k-live-0123456789/usage",
        None,
        {"X-Api-Key": "k-live-0123456789"},
    )
    hooked = Redactor().vcr_before_record_request(live)
    assert hooked.uri == "https://api.test/keys/REDACTED/usage"
    assert hooked.headers["X-Api-Key"] == "REDACTED"


def test_redaction_stays_linear_on_adversarial_bodies() -> None:
    # A JSON document echoed inside a string (50,000 escaped quotes), and a long base64 run
    # holding a found value 100,000 times: quadratic scans would take minutes here.
    inner = json.dumps({f"k{i}": f'v"{i}' for i in range(50_000)})
    secret = "found-value-0123456789"
    blob = base64.b64encode(secret.encode() * 100_000).decode()
    body = json.dumps({"data": inner, "blob": blob, "password": secret}).encode()
    started = time.perf_counter()
    out = Redactor().redact_body(body, "application/json")
    assert time.perf_counter() - started < 20
    assert json.loads(out) == {"data": inner, "blob": "REDACTED", "password": "REDACTED"}
