"""The secret-leak gate: every encoding found, never a false alarm on clean data, no value shown."""

from __future__ import annotations

import base64
import gzip
import json
import time
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from click.testing import CliRunner
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from apiharness.cli import cli
from apiharness.errors import ConfigurationError, SecretLeakError
from apiharness.recording import (
    Cassette,
    Interaction,
    RecordedRequest,
    RecordedResponse,
    check_cassettes,
    find_leaks,
    secrets_from_env,
)
from apiharness.recording._leaks import _strings

secret_values = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=8, max_size=40
)
padding = st.binary(max_size=12)


def cassette_with(body: bytes, *, uri: str = "https://api.test/x") -> bytes:
    interaction = Interaction(
        RecordedRequest("GET", uri, (("Accept", "*/*"),)),
        RecordedResponse(200, "OK", (("Content-Type", "text/plain"),), body),
    )
    return Cassette([interaction]).to_yaml().encode()


ENCODERS = {
    "raw": lambda v: v.encode(),
    "url-encoded": lambda v: quote(v, safe="").encode(),
    "url-encoded-plus": lambda v: quote_plus(v).encode(),
    "base64": lambda v: base64.b64encode(v.encode()),
    "base64url-unpadded": lambda v: base64.urlsafe_b64encode(v.encode()).rstrip(b"="),
    "json": lambda v: json.dumps({"k": v}).encode(),
    "json-ascii": lambda v: json.dumps({"k": v}, ensure_ascii=True).encode(),
    "json-escaped-slash": lambda v: json.dumps({"k": v}).replace("/", "\\/").encode(),
}


@settings(max_examples=40, deadline=None)
@given(secret_values, st.sampled_from(sorted(ENCODERS)), padding, padding)
def test_a_secret_is_found_in_every_encoding(
    secret: str, encoding: str, before: bytes, after: bytes
) -> None:
    body = before + ENCODERS[encoding](secret) + after
    leaks = find_leaks(cassette_with(body), {"MY_TOKEN": secret}, path="c.yaml")
    assert leaks, f"{encoding} leak not found"
    assert {leak.secret for leak in leaks} == {"MY_TOKEN"}
    assert all(secret not in str(leak) for leak in leaks)


@settings(max_examples=40, deadline=None)
@given(secret_values, st.binary(max_size=3), st.binary(max_size=10))
def test_a_secret_inside_a_longer_base64_string_is_found(
    secret: str, before: bytes, after: bytes
) -> None:
    # e.g. HTTP Basic: base64("user:" + password), at any byte alignment.
    blob = base64.b64encode(before + secret.encode() + after)
    assert find_leaks(cassette_with(b"Basic " + blob), {"PW": secret})


def test_a_basic_credential_and_the_location_are_reported() -> None:
    data = cassette_with(
        b"ok", uri="https://api.test/cb?next=" + quote("https://x/?k=hunter2/pass word", safe="")
    )
    data += b"# Authorization: Basic " + base64.b64encode(b"ann:hunter2/pass word") + b"\n"
    leaks = find_leaks(data, {"DB_PASSWORD": "hunter2/pass word"}, path="c.yaml")
    assert {(leak.location, leak.encoding) for leak in leaks} == {
        ("interaction #0.request.uri", "url-encoded")
    }
    # A secret the parsed view does not show (a comment) is found in the raw file, even when
    # another secret was found in an interaction.
    leaks = find_leaks(data, {"DB_PASSWORD": "hunter2/pass word", "P": "ann:hunter2"})
    assert {(leak.secret, leak.location, leak.encoding) for leak in leaks} == {
        ("DB_PASSWORD", "interaction #0.request.uri", "url-encoded"),
        ("P", "file", "base64"),
    }


@settings(max_examples=40, deadline=None)
@given(
    st.text(st.characters(min_codepoint=0x61, max_codepoint=0x7A), min_size=8, max_size=30),
    st.text(st.sampled_from(" !#$&()*,.:;<>?@[]^`{|}~"), max_size=200),
)
def test_no_false_alarm_when_the_secret_is_absent(secret: str, noise: str) -> None:
    # Every encoded form of a letters-only secret contains a letter; the noise has none. The
    # cassette's own words can hold it, though ("interact" is in "interactions"): skip those.
    assume(find_leaks(cassette_with(b""), {"TOKEN": secret}) == [])
    assert find_leaks(cassette_with(noise.encode()), {"TOKEN": secret}) == []


def test_binary_bodies_are_scanned_after_decoding() -> None:
    secret = "tok-0123456789"
    data = cassette_with(b"\xff\x00" + secret.encode() + b"\xfe")
    assert b"!!binary" in data
    assert [leak.location for leak in find_leaks(data, {"T": secret})] == [
        "interaction #0.response.body.string"
    ]


def test_secrets_from_env_pick_secret_names_and_long_values() -> None:
    env = {
        "GITHUB_TOKEN": "ghp_abcdefgh12345",
        "DB_PASSWORD": "correct-horse",
        "OPENAI_API_KEY": "sk-0123456789",
        "AUTH_ENABLED": "true",
        "SESSION_TTL": "3600",
        "HOME": "/home/someone-long",
        "PATH": "/usr/bin:/bin",
        "PWD": "/work/somewhere",
        "OLDPWD": "/work/elsewhere",
    }
    assert secrets_from_env(env) == {
        "GITHUB_TOKEN": "ghp_abcdefgh12345",
        "DB_PASSWORD": "correct-horse",
        "OPENAI_API_KEY": "sk-0123456789",
    }


def test_check_cassettes_raises_with_names_never_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "mod").mkdir()
    (tmp_path / "mod" / "leaky.yaml").write_bytes(cassette_with(b"token=live-value-123"))
    (tmp_path / "mod" / "clean.yml").write_bytes(cassette_with(b"nothing here"))
    (tmp_path / "notes.txt").write_text("live-value-123")  # not a cassette: not scanned
    monkeypatch.setenv("STRIPE_SECRET_KEY", "live-value-123")
    with pytest.raises(SecretLeakError) as info:
        check_cassettes([tmp_path])
    message = str(info.value)
    assert "STRIPE_SECRET_KEY" in message
    assert "leaky.yaml" in message
    assert "live-value-123" not in message
    assert len(info.value.leaks) == 1
    assert check_cassettes([tmp_path], use_env=False) == sorted(tmp_path.rglob("*.y*ml"))
    with pytest.raises(ConfigurationError, match="at least 4"):
        find_leaks(b"", {"SHORT": "abc"})
    with pytest.raises(ConfigurationError, match="does not exist"):
        check_cassettes([tmp_path / "missing"], use_env=False)


def test_cli_check_cassettes_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a.yaml").write_bytes(cassette_with(base64.b64encode(b"user:opaque-value-42")))
    runner = CliRunner()
    monkeypatch.delenv("PLAIN_VAR", raising=False)
    clean = runner.invoke(cli, ["check-cassettes", "--secrets", "--no-env", str(tmp_path)])
    assert clean.exit_code == 0, clean.output
    assert "no secret in 1 cassette(s)" in clean.output
    monkeypatch.setenv("PLAIN_VAR", "opaque-value-42")  # a name that does not look secret
    leaky = runner.invoke(
        cli, ["check-cassettes", "--secrets", "--no-env", "--secret", "PLAIN_VAR", str(tmp_path)]
    )
    assert leaky.exit_code == 1
    assert "PLAIN_VAR (base64)" in leaky.output
    assert "opaque-value-42" not in leaky.output
    unknown = runner.invoke(
        cli, ["check-cassettes", "--secrets", "--secret", "NOPE_X", str(tmp_path)]
    )
    assert unknown.exit_code == 2
    assert "no such environment variable" in unknown.output
    nothing = runner.invoke(cli, ["check-cassettes", str(tmp_path)])
    assert nothing.exit_code == 2
    assert "--secrets" in nothing.output


def encoded_cassette(body: bytes, coding: str) -> bytes:
    interaction = Interaction(
        RecordedRequest("GET", "https://api.test/x", ()),
        RecordedResponse(200, "OK", (("Content-Encoding", coding),), body),
    )
    return Cassette([interaction]).to_yaml().encode()


def test_encoded_bodies_are_decoded_and_searched() -> None:
    secret = "tok-0123456789"
    data = encoded_cassette(gzip.compress(gzip.compress(f"token={secret}".encode())), "gzip, gzip")
    assert secret.encode() not in data
    assert [(leak.secret, leak.location) for leak in find_leaks(data, {"T": secret})] == [
        ("T", "interaction #0.response.body (decoded)")
    ]


def test_a_body_the_gate_cannot_decode_is_a_finding_never_a_pass() -> None:
    for body, coding in ((b"\x1f\x9d\x90garbage", "compress"), (b"not gzip at all", "gzip")):
        [leak] = find_leaks(encoded_cassette(body, coding), {"T": "tok-0123456789"}, path="c.yaml")
        assert leak.secret == ""
        assert leak.location == "interaction #0.response.body"
        assert "cannot be decoded" in str(leak)
        assert coding in str(leak)


def test_the_walk_over_a_parsed_document_is_iterative_and_linear() -> None:
    # libyaml itself refuses documents deeper than 1,000; the walk must not depend on that.
    deep: object = "tok-0123456789"
    for _ in range(100_000):
        deep = [deep]
    started = time.perf_counter()
    strings = list(_strings({"interactions": [{"response": deep}]}))
    assert [text for _, text in strings] == [b"interactions", b"response", b"tok-0123456789"]
    location = strings[-1][0]
    assert location.startswith("interaction #0.response[0]")
    assert len(location) < 100
    assert time.perf_counter() - started < 5
