"""Secrets against an upstream that echoes them: httpbin, recorded through `apiharness record`.

httpbin (the PyPI package, served by werkzeug on 127.0.0.1) echoes what it is sent: headers,
query arguments, the URL, form fields, JSON and the raw body as an escaped JSON string, and
compresses the echo on /gzip, /brotli and /deflate. Each secret below sits in one of the places
a client puts secrets, under the naming conventions real APIs use; the echo puts each one in
the response too, in another encoding. The cassette must hold none of them in any encoding, and
still replay in plain vcrpy (httpx and requests) and in apiharness's player.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import json
import logging
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import brotli
import httpbin
import httpx
import pytest
import requests
import vcr
import zstandard
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from werkzeug.serving import make_server

from apiharness.recording import Cassette, CassettePlayer, Redactor, check_cassettes, find_leaks
from apiharness.recording._cassette import Interaction, RecordedRequest, RecordedResponse
from apiharness.recording._redact import MIN_SCRUB_LENGTH
from apiharness.recording._scrub import encoded_forms
from apiharness.recording.addon import RecordVCR

SECRETS = {
    "TOKEN": "tok-live-9f8e7d6c5b4a3921",
    "API_KEY": "key-3a4b5c6d7e8f9a0b",
    "ACCESS": "acc-q7w8e9r0t1y2u3i4",
    "AUTH_TOKEN": "atk-5f6g7h8j9k0l1z2x",
    "AMZ_SIGNATURE": "5e3c9b0d8a7f6e1c2b3a4d5e6f708192",
    "PASSWORD": 'pw-H\u00fcnter2 "x/yz"',
    "REFRESH": "ref-1q2w3e4r5t6y7u8i",
    "JSON_AUTH": "Basic ZGVtbzpkZW1vLXNlY3JldA==",
    "FORM_PASSWORD": "caf\u00e9-cr\u00e8me-br\u00fbl\u00e9e",
    "BARE_FORM": "cs-ffeeddccbbaa9988",
    "MULTIPART": "mp-Zz9Yy8Xx7Ww6Vv5",
    "BASIC": "basic-Pa55w0rd-42",
    "COOKIE": "sess-77aa88bb99cc00dd",
    "SET_COOKIE": "newsess-0a1b2c3d4e5f",
    "ISSUED": "issued-0011223344556677",
    "TENANT": "tenant-7c1d9e2f",  # declared: sits in no secret place
}


@pytest.fixture(scope="module")
def httpbin_url() -> Iterator[str]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = make_server("127.0.0.1", 0, httpbin.app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()


Send = Callable[..., tuple[int, bytes]]


def scenario(send: Send) -> list[tuple[str, int]]:
    """One client session with a secret in every place; returns (step, status) pairs."""
    s = SECRETS
    bearer = {"Authorization": f"Bearer {s['TOKEN']}"}
    steps: list[tuple[str, int]] = []

    def step(name: str, method: str, path: str, **options: Any) -> bytes:
        status, body = send(method, path, **options)
        steps.append((name, status))
        return body

    step(
        "query and headers",
        "GET",
        "/anything",
        params={
            "api_key": s["API_KEY"],
            "accessToken": s["ACCESS"],
            "auth_token": s["AUTH_TOKEN"],
            "X-Amz-Signature": s["AMZ_SIGNATURE"],
            "page": "2",
        },
        headers={
            **bearer,
            "X-Authorization": f"Bearer {s['TOKEN']}",
            "X-Api-Key": s["API_KEY"],
            "Cookie": f"session={s['COOKIE']}; theme=dark",
        },
    )
    step(
        "json",
        "POST",
        "/anything",
        json={
            "user": "ann",
            "password": s["PASSWORD"],
            "refreshToken": s["REFRESH"],
            "authorization": s["JSON_AUTH"],
        },
    )
    step(
        "latin-1 form",
        "POST",
        "/anything",
        content=f"user=ren\u00e9e&password={s['FORM_PASSWORD']}".encode("latin-1"),
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=latin-1"},
    )
    step(
        "form without content type",
        "POST",
        "/anything",
        content=f"grant_type=client_credentials&client_secret={s['BARE_FORM']}".encode(),
    )
    step(
        "multipart",
        "POST",
        "/anything",
        data={"user": "ann", "password": s["MULTIPART"]},
        files={"note": ("note.txt", b"hello")},
    )
    step("basic auth", "GET", f"/basic-auth/ann/{s['BASIC']}", auth=("ann", s["BASIC"]))
    step("set cookie", "GET", "/cookies/set", params={"session": s["SET_COOKIE"]})
    for coding in ("gzip", "brotli", "deflate"):
        step(f"{coding} echo", "GET", f"/{coding}", headers=bearer)
    issued = step("issue", "GET", "/response-headers", params={"access_token": s["ISSUED"]})
    token = json.loads(issued)["access_token"]  # on replay: the placeholder
    step("use the issued token", "GET", f"/anything/sessions/{token}")
    step("declared", "GET", f"/anything/tenants/{s['TENANT']}", headers={"X-Tenant": s["TENANT"]})
    return steps


def httpx_sender(client: httpx.Client) -> Send:
    def send(method: str, path: str, **options: Any) -> tuple[int, bytes]:
        response = client.request(method, path, follow_redirects=False, **options)
        return response.status_code, response.content

    return send


def requests_sender(session: requests.Session, base_url: str) -> Send:
    def send(method: str, path: str, **options: Any) -> tuple[int, bytes]:
        if "content" in options:
            options["data"] = options.pop("content")
        response = session.request(
            method, base_url + path, allow_redirects=False, timeout=10, **options
        )
        return response.status_code, response.content

    return send


def apiharness_cli() -> list[str]:
    return [sys.executable, "-c", "from apiharness.cli import main; main()"]


@contextlib.contextmanager
def recording(cassette: Path, upstream: str) -> Iterator[str]:
    """`apiharness record` in front of ``upstream``; yields the URL to send to."""
    command = [*apiharness_cli(), "record", "--cassette", str(cassette), "--upstream", upstream]
    command += ["--secret", "ECHO_TEST_TENANT"]
    env = {**os.environ, "ECHO_TEST_TENANT": SECRETS["TENANT"]}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"at (http://127\.0\.0\.1:\d+) ", line)
        assert match, line
        yield match.group(1)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@dataclass
class Recorded:
    cassette: Path
    upstream: str
    live: list[tuple[str, int]]


@pytest.fixture(scope="module")
def recorded(httpbin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    cassette = tmp_path_factory.mktemp("echo") / "httpbin.yaml"
    with recording(cassette, httpbin_url) as proxy, httpx.Client(base_url=proxy) as client:
        live = scenario(httpx_sender(client))
    return Recorded(cassette, httpbin_url, live)


def test_the_upstream_saw_every_secret(recorded: Recorded) -> None:
    statuses = dict(recorded.live)
    assert statuses["basic auth"] == 200  # httpbin checked the password
    assert statuses["set cookie"] == 302
    assert all(status in {200, 302} for _, status in recorded.live), recorded.live


def test_no_secret_byte_in_the_cassette_in_any_encoding(recorded: Recorded) -> None:
    data = recorded.cassette.read_bytes()
    for name, value in SECRETS.items():
        for needle, encoding in encoded_forms(value).items():
            assert needle not in data, f"{name} leaked ({encoding})"
    assert find_leaks(data, SECRETS) == []
    assert check_cassettes([recorded.cassette], SECRETS, use_env=False) == [recorded.cassette]


def test_the_echoes_were_recorded_decoded_with_placeholders(recorded: Recorded) -> None:
    interactions = Cassette.load(recorded.cassette).interactions
    assert len(interactions) == len(recorded.live)
    by_path = {i.request.uri.split("?")[0].removeprefix(recorded.upstream): i for i in interactions}
    for coding, flag in (("gzip", "gzipped"), ("brotli", "brotli"), ("deflate", "deflated")):
        response = by_path[f"/{coding}"].response
        assert not [v for k, v in response.headers if k.lower() == "content-encoding"]
        echoed = json.loads(response.body)
        assert echoed[flag] is True
        assert echoed["headers"]["Authorization"] == "REDACTED"
    query = json.loads(interactions[0].response.body)
    assert query["args"] == {
        "api_key": "REDACTED",
        "accessToken": "REDACTED",
        "auth_token": "REDACTED",
        "X-Amz-Signature": "REDACTED",
        "page": "2",
    }
    assert "/anything/sessions/REDACTED" in by_path
    assert "/anything/tenants/REDACTED" in by_path
    assert "/basic-auth/ann/REDACTED" in by_path
    multipart = json.loads(interactions[4].response.body)
    assert multipart["form"] == {"user": "ann", "password": "REDACTED"}
    assert multipart["files"] == {"note": "hello"}


def replayer() -> vcr.VCR:
    redactor = Redactor(secrets={"ECHO_TEST_TENANT": SECRETS["TENANT"]})
    return vcr.VCR(record_mode="none", before_record_request=redactor.vcr_before_record_request)


def test_plain_vcrpy_replays_it_with_httpx(recorded: Recorded) -> None:
    with (
        replayer().use_cassette(str(recorded.cassette)),
        httpx.Client(base_url=recorded.upstream) as client,
    ):
        assert scenario(httpx_sender(client)) == recorded.live


def test_plain_vcrpy_replays_it_with_requests(recorded: Recorded) -> None:
    with replayer().use_cassette(str(recorded.cassette)), requests.Session() as session:
        assert scenario(requests_sender(session, recorded.upstream)) == recorded.live


def test_the_cassette_player_replays_it(recorded: Recorded) -> None:
    player = CassettePlayer(
        recorded.cassette, redactor=Redactor(secrets={"TENANT": SECRETS["TENANT"]})
    )
    with httpx.Client(base_url=recorded.upstream, transport=player) as client:
        assert scenario(httpx_sender(client)) == recorded.live
    assert player.index.all_played


def test_basic_credentials_are_scrubbed_in_base64_too(recorded: Recorded) -> None:
    basic = base64.b64encode(f"ann:{SECRETS['BASIC']}".encode())
    assert basic not in recorded.cassette.read_bytes()


# -- the property: random secrets in random places of generated exchanges ------------------------

HEADER_NAMES = ["Authorization", "X-Authorization", "X-Api-Key", "x-auth-token", "X-Goog-Api-Key"]
PARAM_NAMES = ["api_key", "accessToken", "auth_token", "X-Amz-Signature", "client_secret", "sig"]
FIELD_NAMES = [
    "password",
    "refreshToken",
    "authorization",
    "client_secret",
    "apiKey",
    "db.password",
]
ISSUED_NAMES = ["access_token", "refresh_token", "id_token", "client_secret"]
BODY_KINDS = ["json", "form", "latin-1 form", "bare form", "multipart"]
STACKS = [(), ("gzip",), ("br", "gzip"), ("zstd",), ("deflate", "deflate"), ("gzip", "zstd", "br")]
# Everything public a generated cassette can hold: a secret that is part of it cannot be removed
# without removing the structure itself, so such draws are assumed away.
PUBLIC = " ".join(
    [
        *HEADER_NAMES,
        *PARAM_NAMES,
        *FIELD_NAMES,
        *ISSUED_NAMES,
        "interactions version request response method uri body headers status code message",
        "string Content-Type Set-Cookie Content-Length application/json x-www-form-urlencoded",
        "charset=latin-1 multipart/form-data boundary=BOUNDARY form-data name= Bearer Basic",
        "session= Path=/ HttpOnly https://api.test /v1/things /v1/sessions/ tenants POST GET",
        "200 OK echo url args data next user ann Y",
    ]
).encode()

# Secrets as clients hold them. The placeholder's letters are left out: a secret such as
# "er REDAC" would be re-created by "Bearer REDACTED", which says nothing about a leak.
SECRET_TEXT = (
    st.text(
        st.characters(
            codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp"), exclude_characters="REDACT"
        ),
        min_size=MIN_SCRUB_LENGTH,
        max_size=24,
    )
    .map(str.strip)
    .filter(lambda s: len(s) >= MIN_SCRUB_LENGTH)
)
COOKIE_TEXT = st.text(
    st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789-_.~!#$*^|"), min_size=8, max_size=24
)


def encode_stack(body: bytes, stack: tuple[str, ...]) -> bytes:
    coders: dict[str, Callable[[bytes], bytes]] = {
        "gzip": gzip.compress,
        "deflate": zlib.compress,
        "br": brotli.compress,
        "zstd": zstandard.ZstdCompressor().compress,
    }
    for coding in stack:
        body = coders[coding](body)
    return body


def echo_of(request: RecordedRequest, charset: str) -> bytes:
    parts = urlsplit(request.uri)
    raw = request.body or b""
    return json.dumps(
        {
            "headers": dict(request.headers),
            "url": request.uri,
            "args": dict(parse_qsl(parts.query)),
            "data": raw.decode(charset, "replace"),
            "raw": base64.b64encode(raw).decode(),
            "next": quote(request.uri, safe=""),
        }
    ).encode()


@st.composite
def exchanges(draw: st.DrawFn) -> tuple[list[Interaction], dict[str, str], dict[str, str]]:
    """Two interactions with 1-5 secrets in random places; (interactions, secrets, declared)."""
    secrets: dict[str, str] = {}
    declared: dict[str, str] = {}
    headers: list[tuple[str, str]] = []
    query: list[tuple[str, str]] = [("page", "2")]
    fields: list[tuple[str, str]] = []
    issued: list[tuple[str, str]] = []
    set_cookies: list[str] = []
    path = "/v1/things"
    kind = draw(st.sampled_from(BODY_KINDS))
    for number in range(draw(st.integers(1, 5))):
        place = draw(
            st.sampled_from(["header", "basic", "cookie", "query", "body", "issued", "declared"])
        )
        cookie_like = place == "cookie" or (place == "issued" and draw(st.booleans()))
        value = draw(COOKIE_TEXT if cookie_like else SECRET_TEXT)
        assume(not any(form in PUBLIC for form in encoded_forms(value)))
        assume(all(value not in other and other not in value for other in secrets.values()))
        name = f"secret {number} ({place})"
        secrets[name] = value
        if place == "header":
            header = draw(st.sampled_from(HEADER_NAMES))
            headers.append((header, f"Bearer {value}" if "uthoriz" in header else value))
        elif place == "basic":
            headers.append(
                ("Authorization", "Basic " + base64.b64encode(f"ann:{value}".encode()).decode())
            )
        elif place == "cookie":
            headers.append(("Cookie", f"session={value}; theme=dark"))
        elif place == "query":
            query.append((draw(st.sampled_from(PARAM_NAMES)), value))
        elif place == "body":
            if kind == "latin-1 form":
                assume(all(ord(c) < 256 for c in value))
            fields.append(
                (draw(st.sampled_from(FIELD_NAMES if kind == "json" else PARAM_NAMES)), value)
            )
        elif place == "issued":
            if cookie_like:
                set_cookies.append(value)
            else:
                issued.append((draw(st.sampled_from(ISSUED_NAMES)), value))
        else:
            declared[f"DECLARED_{number}"] = value
            if draw(st.booleans()):
                path = f"/v1/tenants/{quote(value, safe='')}/things"
            else:
                headers.append(("X-Trace", value))
    charset = "latin-1" if kind == "latin-1 form" else "utf-8"
    body: bytes | None = None
    if fields and kind == "json":
        headers.append(("Content-Type", "application/json"))
        body = json.dumps({"user": "ann", "deep": [{"x": dict(fields)}], **dict(fields)}).encode()
    elif fields and kind == "multipart":
        headers.append(("Content-Type", "multipart/form-data; boundary=BOUNDARY"))
        body = (
            b"".join(
                b'--BOUNDARY\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n'
                % (name.encode(), value.encode())
                for name, value in [("user", "ann"), *fields]
            )
            + b"--BOUNDARY--\r\n"
        )
    elif fields:
        if kind != "bare form":
            media = "application/x-www-form-urlencoded"
            headers.append(
                ("Content-Type", f"{media}; charset=latin-1" if kind == "latin-1 form" else media)
            )
        body = urlencode([("user", "ann"), *fields], encoding=charset).encode("ascii")
    uri = f"https://api.test{path}?{urlencode(query)}"
    first_request = RecordedRequest("POST", uri, tuple(headers), body)
    issued_body = {**dict(issued), "echo": json.loads(echo_of(first_request, charset))}
    as_form = draw(st.booleans()) and issued
    stack = draw(st.sampled_from(STACKS))
    response_headers = [
        ("Content-Type", "application/x-www-form-urlencoded" if as_form else "application/json")
    ]
    response_headers += [("Set-Cookie", f"session={c}; Path=/; HttpOnly") for c in set_cookies]
    plain = urlencode(issued).encode() if as_form else json.dumps(issued_body).encode()
    if stack:
        response_headers.append(("Content-Encoding", ", ".join(stack)))
    first = Interaction(
        first_request,
        RecordedResponse(200, "OK", tuple(response_headers), encode_stack(plain, stack)),
    )
    # The next request uses what was issued: in its path, its headers and its query.
    tokens = [value for _, value in issued] + set_cookies
    follow_path = "/v1/sessions/" + "/".join(quote(t, safe="") for t in tokens)
    follow_headers = tuple(("X-Session", t) for t in tokens)
    follow_request = RecordedRequest("GET", f"https://api.test{follow_path}?n=1", follow_headers)
    follow = Interaction(
        follow_request,
        RecordedResponse(
            200, "OK", (("Content-Type", "application/json"),), echo_of(follow_request, "utf-8")
        ),
    )
    return [first, follow], secrets, declared


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(exchanges())
def test_no_form_of_any_secret_reaches_the_written_cassette(
    drawn: tuple[list[Interaction], dict[str, str], dict[str, str]],
) -> None:
    interactions, secrets, declared = drawn
    addon = RecordVCR()  # the recorder's own path: both passes, then the gate, then the file
    addon.redactor = Redactor(secrets=declared)
    addon.interactions = interactions
    with tempfile.TemporaryDirectory() as folder:
        data = addon.cassette().save(Path(folder) / "c.yaml").read_bytes()
    for name, value in secrets.items():
        for needle, encoding in encoded_forms(value).items():
            assert needle not in data, f"{name} leaked ({encoding})"
    assert find_leaks(data, secrets) == []
    assert b"Content-Encoding" not in data
