"""The transport catalogue (TLS): the reference client passes, and real clients get the
verdicts their source code earns them: httpx with its defaults, httpx with ``verify=False``,
and requests with its defaults (no timeout)."""

from __future__ import annotations

import os
import ssl
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests

from apiharness.conformance import grade, load_catalogue
from apiharness.conformance._adapter import accepts_client_cert
from apiharness.conformance._catalogue import scenario
from apiharness.conformance._transport import CATALOGUE
from apiharness.conformance._trial import TRUST_VARIABLES

from .stream_clients import PlainHttpx

EXAMPLES = Path(__file__).parent.parent.parent / "examples"
REJECTIONS = [
    "tls-rejects-expired",
    "tls-rejects-not-yet-valid",
    "tls-rejects-wrong-host",
    "tls-rejects-self-signed",
    "tls-rejects-unknown-ca",
    "tls-rejects-incomplete-chain",
]
BASELINE, STALL, MTLS = (
    "tls-trusts-configured-ca",
    "tls-handshake-stall-bounded-8s",
    "tls-presents-client-cert",
)
#: The TLS scenarios (the HTTP/2 ones are graded in test_conformance_transport_http2.py).
TLS = [BASELINE, *REJECTIONS, STALL, MTLS]


@pytest.fixture(autouse=True)
def examples_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(EXAMPLES))


class HttpxDefaults(PlainHttpx):
    """``httpx.Client`` as its docs show it: default verification, default 5 s timeout. The
    client certificate goes into an SSL context built by httpx itself (``cert=`` is deprecated
    in httpx 0.28), so the environment's CA is still honoured."""

    def __init__(self, base_url: str, client_cert: str | None = None, **options: Any) -> None:
        if client_cert is not None:
            context = httpx.create_ssl_context()
            context.load_cert_chain(client_cert)
            options["verify"] = context
        self.http = httpx.Client(base_url=base_url, **options)


def httpx_defaults(base_url: str, *, client_cert: str | None = None) -> HttpxDefaults:
    return HttpxDefaults(base_url, client_cert)


def httpx_unverified(base_url: str, *, client_cert: str | None = None) -> HttpxDefaults:
    return HttpxDefaults(base_url, client_cert, verify=False)


class RequestsDefaults:
    """``requests.Session`` with its defaults: REQUESTS_CA_BUNDLE honoured, no timeout."""

    errors: tuple[type[BaseException], ...] = (requests.RequestException,)

    def __init__(self, base_url: str, client_cert: str | None) -> None:
        self.base_url, self.session = base_url, requests.Session()
        self.session.cert = client_cert

    def get(self, path: str) -> Any:
        response = self.session.get(self.base_url + path)
        response.raise_for_status()
        return response.json()

    def create(self, path: str, body: dict[str, Any]) -> Any:
        response = self.session.post(self.base_url + path, json=body)
        response.raise_for_status()
        return response.json()

    def close(self) -> None:
        self.session.close()


def requests_defaults(base_url: str, *, client_cert: str | None = None) -> RequestsDefaults:
    return RequestsDefaults(base_url, client_cert)


def verdicts(factory: object, ids: list[str] | None = None) -> dict[str, bool]:
    card = grade(factory, catalogue="transport", scenarios=ids)  # type: ignore[arg-type]
    return {r.scenario: r.passed for r in card.results}


def test_the_catalogue_states_and_sources_every_scenario() -> None:
    scenarios = load_catalogue("transport")
    assert [s for s in scenarios if s.startswith("tls-")] == TLS
    for s in scenarios.values():
        assert s.catalogue == CATALOGUE
        assert "RFC" in s.source
        assert s.serve.get("https") or s.serve.get("tls")


def test_the_reference_client_passes_every_transport_scenario() -> None:
    for factory in ("shop.reference:make_client", "shop.reference:make_async_client"):
        card = grade(factory, catalogue="transport")
        assert [r.scenario for r in card.results if not r.passed] == [], card.render()
        # A failed certificate check is final: one connection, not one per retry.
        for r in card.results:
            if r.scenario in REJECTIONS:
                assert r.observed.endswith("nothing sent over 1 connection"), r.observed


def test_httpx_with_its_defaults_passes_every_scenario() -> None:
    """Default verification rejects every bad certificate; its 5 s connect timeout ends a
    stalled handshake under the 8 s bound; ``SSL_CERT_FILE`` is honoured (trust_env=True)."""
    card = grade(httpx_defaults, catalogue="transport", scenarios=TLS)
    assert card.ok, card.render()
    by_id = {r.scenario: r for r in card.results}
    assert "certificate has expired" in by_id["tls-rejects-expired"].observed
    assert "IP address mismatch" in by_id["tls-rejects-wrong-host"].observed


def test_httpx_with_verify_false_fails_every_bad_certificate() -> None:
    results = verdicts(httpx_unverified, [BASELINE, *REJECTIONS, MTLS])
    assert results == {BASELINE: True, MTLS: True} | dict.fromkeys(REJECTIONS, False)


def test_requests_rejects_bad_certificates_but_waits_forever_in_a_stalled_handshake() -> None:
    """requests honours REQUESTS_CA_BUNDLE and verifies by default, but has no default
    timeout (its docs: "Requests does not time out unless you tell it to")."""
    card = grade(requests_defaults, catalogue="transport", scenarios=TLS)
    results = {r.scenario: r.passed for r in card.results}
    assert results == dict.fromkeys([BASELINE, *REJECTIONS, MTLS], True) | {STALL: False}
    stall = next(r for r in card.results if r.scenario == STALL)
    assert "still in the handshake" in stall.observed


def no_client_cert(base_url: str) -> HttpxDefaults:
    return HttpxDefaults(base_url)


def test_a_factory_without_client_cert_cannot_present_one() -> None:
    card = grade(no_client_cert, catalogue="transport", scenarios=[MTLS])
    [result] = card.results
    assert not result.passed
    assert "takes no client_cert keyword" in result.observed


def test_the_trust_variables_are_restored_after_grading(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", "/etc/mine.pem")
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    seen: dict[str, str | None] = {}

    def spy(base_url: str) -> HttpxDefaults:
        seen.update({name: os.environ.get(name) for name in TRUST_VARIABLES})
        return HttpxDefaults(base_url)

    assert verdicts(spy, [BASELINE]) == {BASELINE: True}
    assert seen["SSL_CERT_FILE"] == seen["REQUESTS_CA_BUNDLE"]
    assert seen["SSL_CERT_FILE"] != "/etc/mine.pem"
    assert os.environ["SSL_CERT_FILE"] == "/etc/mine.pem"
    assert "REQUESTS_CA_BUNDLE" not in os.environ


def test_the_default_catalogue_sets_no_trust_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    seen = []

    def spy(base_url: str) -> HttpxDefaults:
        seen.append(os.environ.get("SSL_CERT_FILE"))
        return HttpxDefaults(base_url)

    grade(spy, scenarios=["retry-503-burst"])
    assert seen == [None]


@pytest.mark.parametrize(
    ("factory", "accepts"),
    [
        (httpx_defaults, True),
        (lambda base_url, **kw: None, True),
        (lambda base_url: None, False),
        (lambda base_url, client_cert=None: None, True),
        (ssl.create_default_context, False),
    ],
)
def test_which_factories_take_a_client_certificate(factory: Any, accepts: bool) -> None:
    assert accepts_client_cert(factory) is accepts


def test_a_scenario_with_an_unknown_serve_keyword_is_refused() -> None:
    with pytest.raises(ValueError, match=r"Upstream.serve\(\) takes no \['tsl'\]"):
        scenario("never-registered", "x", "y", serve={"tsl": "expired"})(lambda t: t.ok(""))


def test_the_cli_grades_the_transport_catalogue() -> None:
    from click.testing import CliRunner

    from apiharness.cli import cli

    result = CliRunner().invoke(
        cli,
        ["grade", "shop.reference:make_client", "--catalogue", "transport", "-s", BASELINE],
    )
    assert result.exit_code == 0, result.output
    assert BASELINE in result.output
    assert sys.modules["apiharness.conformance._transport"]
