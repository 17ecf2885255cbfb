"""Errors and reports that quote foreign text never carry a secret the harness knows."""

from __future__ import annotations

import base64
import json
import traceback
import urllib.parse
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from apiharness import AuthorizationServerError
from apiharness._scrub import REDACTED, scrub, scrub_exception
from apiharness.oauth import AuthorizationCodeFlow, run_sync
from apiharness.recording import encoded_forms

ISSUER = "https://auth.test"
REDIRECT = "http://127.0.0.1:8765/callback"
CLIENT_SECRET = "cs_Zq3/+secret:value"  # "/", "+" and ":" change under each encoding
REFRESH = "rt_9f8e7d6c5b4a3928_refresh"


def echoes(*values: str) -> str:
    """A server's error_description repeating ``values`` raw, URL-encoded, JSON-escaped,
    base64 whole and inside a longer base64 string."""
    parts = []
    for value in values:
        raw = value.encode()
        parts += [
            value,
            urllib.parse.quote(value, safe=""),
            json.dumps(value)[1:-1],
            base64.b64encode(raw).decode(),
            base64.b64encode(b"prefix:" + raw + b":suffix").decode(),
        ]
    return "the server saw " + " | ".join(parts)


def assert_no_form_of(text: str, *secrets: str) -> None:
    for secret in secrets:
        for form in encoded_forms(secret):
            assert form.decode() not in text, (secret, form)


def flow() -> AuthorizationCodeFlow:
    return AuthorizationCodeFlow(
        client_id="app",
        client_secret=CLIENT_SECRET,
        authorization_endpoint=f"{ISSUER}/authorize",
        token_endpoint=f"{ISSUER}/token",
        redirect_uri=REDIRECT,
    )


def test_a_token_endpoint_echoing_the_refresh_token_and_client_secret_is_scrubbed() -> None:
    def echoing_server(request: httpx.Request) -> httpx.Response:
        form = dict(urllib.parse.parse_qsl(request.content.decode()))
        credentials = request.headers["authorization"].split(" ", 1)[1]
        secret = base64.b64decode(credentials).decode().split(":", 1)[1]
        description = echoes(form["refresh_token"], urllib.parse.unquote(secret))
        return httpx.Response(
            400, json={"error": "invalid_grant", "error_description": description}
        )

    transport = httpx.MockTransport(echoing_server)
    with (
        httpx.Client(transport=transport) as client,
        pytest.raises(AuthorizationServerError) as info,
    ):
        run_sync(flow().refresh_flow(SecretStr(REFRESH)), client)
    assert info.value.error == "invalid_grant"
    for shown in (str(info.value), info.value.description or "", repr(info.value.args)):
        assert_no_form_of(shown, REFRESH, CLIENT_SECRET)
    assert REDACTED in str(info.value)
    assert "the server saw" in str(info.value)  # the rest of the description is kept


def test_an_error_redirect_echoing_the_verifier_or_client_secret_is_scrubbed() -> None:
    oauth = flow()
    pending = oauth.authorization_request()
    verifier = pending.code_verifier.get_secret_value()
    query = urllib.parse.urlencode(
        {
            "state": pending.state.get_secret_value(),
            "error": "access_denied",
            "error_description": echoes(verifier, CLIENT_SECRET),
        }
    )
    with pytest.raises(AuthorizationServerError) as info:
        oauth.validate_callback(f"{REDIRECT}?{query}")
    assert_no_form_of(str(info.value), verifier, CLIENT_SECRET)
    assert_no_form_of(info.value.description or "", verifier, CLIENT_SECRET)


def test_reports_quoting_a_server_or_client_scrub_environment_secrets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PAYMENTS_API_KEY", "sk_live_from_the_environment_42")
    text = echoes("sk_live_from_the_environment_42")
    scrubbed = scrub(text, environment=True)
    assert_no_form_of(scrubbed, "sk_live_from_the_environment_42")
    assert scrub(text) == text  # only the secrets asked for
    assert scrub("short a b", ["a"]) == f"short {REDACTED} b"
    assert scrub("lone \udcff", ["\udcff"]) == f"lone {REDACTED}"


def test_the_conformance_grader_scrubs_the_clients_exception(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from apiharness import ClientFactoryError
    from apiharness.conformance import CATALOGUE, run_scenario

    monkeypatch.setenv("SHOP_TOKEN", "tok_conformance_secret_77")
    message = "could not call with Authorization: Bearer tok_conformance_secret_77"

    class Leaky:
        errors = (OSError,)

        def get(self, path: str) -> Any:
            raise RuntimeError(message)

        def create(self, path: str, body: dict[str, Any]) -> Any:
            raise RuntimeError(message)

    result = run_scenario(next(iter(CATALOGUE.values())), lambda base_url: Leaky())
    assert not result.passed
    assert "tok_conformance_secret_77" not in result.observed + "".join(result.details)
    assert REDACTED in result.observed

    def leaky_factory(base_url: str, **_: Any) -> Any:
        raise RuntimeError(message)

    with pytest.raises(ClientFactoryError) as raised:
        run_scenario(next(iter(CATALOGUE.values())), leaky_factory)
    assert "tok_conformance_secret_77" not in str(raised.value)
    assert raised.value.__cause__ is None
    assert REDACTED in str(raised.value)


def test_a_schemathesis_report_quoting_a_response_scrubs_environment_secrets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pathlib import Path

    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from apiharness.contract._schemathesis import run_schemathesis

    secret = "tok_schemathesis_secret_55"
    monkeypatch.setenv("USERS_SERVICE_TOKEN", secret)

    async def get_user(request: Request) -> JSONResponse:
        # Undocumented role "boss", and a name that echoes the service's own token.
        body = {"id": 1, "name": secret, "email": "a@example.com", "role": "boss"}
        return JSONResponse({**body, "nickname": None})

    app = Starlette(routes=[Route("/users/{id:int}", get_user)])
    spec = Path(__file__).parents[1] / "fixtures" / "openapi" / "users-items.yaml"
    report = run_schemathesis(spec, app=app, max_examples=3, operations=["GET /users/{id}"])
    failure = report.failures["GET /users/{id}"]
    assert "boss" in failure  # the server's text is still quoted...
    assert REDACTED in failure
    assert_no_form_of(report.format(), secret)  # ...but not the secret


def _raised_with_a_cause(secret: str) -> AuthorizationServerError:
    try:
        raise ValueError(f"server said {secret}")
    except ValueError as inner:
        outer = AuthorizationServerError(
            f"refresh failed: {secret}", error="invalid_grant", description=f"bad {secret}"
        )
        outer.add_note(f"note {secret}")
        outer.__cause__ = inner
        return outer


def test_scrub_exception_cleans_args_attributes_notes_and_the_chain() -> None:
    secret = "at-9f8e7d6c5b4a"
    exc = _raised_with_a_cause(secret)
    assert scrub_exception(exc, [SecretStr(secret), None]) is exc
    assert str(exc) == f"refresh failed: {REDACTED}"
    assert exc.description == f"bad {REDACTED}"
    assert exc.error == "invalid_grant"
    assert exc.__notes__ == [f"note {REDACTED}"]
    assert str(exc.__cause__) == f"server said {REDACTED}"
    assert secret not in "".join(traceback.format_exception(exc))
