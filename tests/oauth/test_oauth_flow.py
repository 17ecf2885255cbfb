"""The authorization-code flow: URL building, callback validation, exchange, secrecy."""

from __future__ import annotations

import asyncio
import logging
import urllib.parse

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apiharness import AuthorizationServerError, CallbackError, ConfigurationError
from apiharness.clock import VirtualClock
from apiharness.oauth import AuthorizationCodeFlow, Token, run_async, s256_challenge
from apiharness.upstream._authorization_server import AuthorizationServer

from .conftest import ISSUER, REDIRECT


def query(url: str) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))


def authorize(http: httpx.Client, url: str) -> str:
    response = http.get(url)
    assert response.status_code == 302
    return response.headers["location"]


def test_authorization_url_carries_state_and_s256_challenge(flow: AuthorizationCodeFlow) -> None:
    pending = flow.authorization_request(scope="read write")
    params = query(pending.url)
    assert pending.url.startswith(f"{ISSUER}/authorize?")
    assert params["response_type"] == "code"
    assert params["client_id"] == "app"
    assert params["redirect_uri"] == REDIRECT
    assert params["scope"] == "read write"
    assert params["state"] == pending.state.get_secret_value()
    assert len(params["state"]) >= 43
    assert params["code_challenge_method"] == "S256"
    assert params["code_challenge"] == s256_challenge(pending.code_verifier.get_secret_value())
    assert "nonce" not in params
    other = flow.authorization_request(nonce=True)
    assert query(other.url)["state"] != params["state"]
    assert other.nonce is not None
    assert query(other.url)["nonce"] == other.nonce.get_secret_value()


def test_login_exchanges_the_code_for_a_token(
    flow: AuthorizationCodeFlow, http: httpx.Client, auth: AuthorizationServer, clock: VirtualClock
) -> None:
    token = flow.login(http, scope="read")
    assert token.refresh_token is not None
    assert token.expires_at == clock.time() + 3600
    assert token.scope == "read"
    assert http.get("/resource", headers={"Authorization": token.authorization}).status_code == 200
    assert auth.token_requests == 1


def test_login_async(flow: AuthorizationCodeFlow, auth: AuthorizationServer) -> None:
    async def main() -> tuple[Token, Token]:
        transport = httpx.MockTransport(auth.handle)
        async with httpx.AsyncClient(transport=transport) as client:
            token = await flow.alogin(client)
            pending = flow.authorization_request()
            location = (await client.get(pending.url)).headers["location"]
            second = await flow.aexchange(location, client)
            assert await run_async(flow.login_flow(), client) is not None
        return token, second

    token, second = asyncio.run(main())
    assert auth.token_requests == 3
    assert token.refresh_token is not None
    assert second.access_token.get_secret_value() != token.access_token.get_secret_value()


def test_confidential_client_authenticates_with_basic(http: httpx.Client) -> None:
    server = AuthorizationServer()
    server.register_client("conf", redirect_uris=[REDIRECT], secret="s3cr:et/")
    endpoints = {
        "authorization_endpoint": f"{ISSUER}/authorize",
        "token_endpoint": f"{ISSUER}/token",
        "redirect_uri": REDIRECT,
    }
    flow = AuthorizationCodeFlow(client_id="conf", client_secret="s3cr:et/", **endpoints)
    with httpx.Client(transport=httpx.MockTransport(server.handle)) as client:
        assert flow.login(client).refresh_token is not None
        wrong = AuthorizationCodeFlow(client_id="conf", client_secret="wrong", **endpoints)
        with pytest.raises(AuthorizationServerError) as info:
            wrong.login(client)
    assert info.value.error == "invalid_client"
    assert info.value.status_code == 401
    assert "s3cr" not in str(info.value)


def test_replayed_callback_is_rejected(flow: AuthorizationCodeFlow, http: httpx.Client) -> None:
    location = authorize(http, flow.authorization_request().url)
    flow.exchange(location, http)
    with pytest.raises(CallbackError, match="already used"):
        flow.exchange(location, http)


@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.1:8766/callback",  # another port
        "http://127.0.0.1:8765/callback2",  # another path
        "https://127.0.0.1:8765/callback",  # another scheme
        "http://evil.test:8765/callback",  # another host
    ],
)
def test_callback_at_another_uri_is_rejected(
    flow: AuthorizationCodeFlow, http: httpx.Client, target: str
) -> None:
    location = authorize(http, flow.authorization_request().url)
    moved = target + "?" + urllib.parse.urlsplit(location).query
    with pytest.raises(CallbackError, match="redirect_uri"):
        flow.validate_callback(moved)
    flow.validate_callback(location)  # the state was not consumed by the rejected attempt


def test_missing_state_or_code_is_rejected(flow: AuthorizationCodeFlow) -> None:
    pending = flow.authorization_request()
    state = pending.state.get_secret_value()
    with pytest.raises(CallbackError, match="state"):
        flow.validate_callback(f"{REDIRECT}?code=abc")
    with pytest.raises(CallbackError, match="state"):
        flow.validate_callback(f"{REDIRECT}?code=abc&state={state}&state={state}")
    with pytest.raises(CallbackError, match="code"):
        flow.validate_callback(f"{REDIRECT}?state={state}")
    with pytest.raises(CallbackError):
        flow.validate_callback(None)  # type: ignore[arg-type]


def test_error_redirect_becomes_a_typed_error(
    flow: AuthorizationCodeFlow, http: httpx.Client, auth: AuthorizationServer
) -> None:
    auth.deny_next("access_denied")
    location = authorize(http, flow.authorization_request().url)
    with pytest.raises(AuthorizationServerError, match="access_denied") as info:
        flow.exchange(location, http)
    assert info.value.error == "access_denied"
    assert auth.token_requests == 0


def test_state_expires_in_virtual_time(
    flow: AuthorizationCodeFlow, http: httpx.Client, clock: VirtualClock
) -> None:
    location = authorize(http, flow.authorization_request().url)
    clock.advance(601)
    with pytest.raises(CallbackError, match="expired"):
        flow.validate_callback(location)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(forged=st.text(min_size=0, max_size=80))
def test_any_state_other_than_the_issued_one_is_rejected(
    flow: AuthorizationCodeFlow, forged: str
) -> None:
    pending = flow.authorization_request()
    issued = pending.state.get_secret_value()
    if forged != issued:
        url = f"{REDIRECT}?{urllib.parse.urlencode({'code': 'c', 'state': forged})}"
        with pytest.raises(CallbackError):
            flow.validate_callback(url)
    good = f"{REDIRECT}?{urllib.parse.urlencode({'code': 'c', 'state': issued})}"
    assert flow.validate_callback(good)[1] == "c"


def test_server_refuses_wrong_verifier_and_reused_code(
    flow: AuthorizationCodeFlow, http: httpx.Client, auth: AuthorizationServer
) -> None:
    pending = flow.authorization_request()
    location = authorize(http, pending.url)
    code = query(location)["code"]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "client_id": "app",
        "code_verifier": "x" * 43,
    }
    refused = http.post("/token", data=form)
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"
    assert refused.headers["cache-control"] == "no-store"
    # the code was burnt by the failed attempt: the right verifier no longer helps
    form["code_verifier"] = pending.code_verifier.get_secret_value()
    assert http.post("/token", data=form).json()["error"] == "invalid_grant"


def test_server_refuses_missing_pkce_and_unknown_redirect(http: httpx.Client) -> None:
    base = {"response_type": "code", "client_id": "app", "redirect_uri": REDIRECT, "state": "s"}
    no_pkce = http.get("/authorize", params=base)
    assert query(no_pkce.headers["location"])["error"] == "invalid_request"
    plain = http.get(
        "/authorize", params={**base, "code_challenge": "a" * 43, "code_challenge_method": "plain"}
    )
    assert query(plain.headers["location"])["error"] == "invalid_request"
    elsewhere = http.get("/authorize", params={**base, "redirect_uri": "http://evil.test/cb"})
    assert elsewhere.status_code == 400  # no redirect to an unregistered URI
    assert "location" not in elsewhere.headers


def test_flow_arguments_are_checked_at_construction() -> None:
    good = {
        "client_id": "app",
        "authorization_endpoint": f"{ISSUER}/authorize",
        "token_endpoint": f"{ISSUER}/token",
        "redirect_uri": REDIRECT,
    }
    for name, bad in [
        ("token_endpoint", "/token"),
        ("redirect_uri", "app://cb"),
        ("client_id", ""),
    ]:
        with pytest.raises(ConfigurationError, match=name):
            AuthorizationCodeFlow(**{**good, name: bad})
    with pytest.raises(ConfigurationError, match="plain"):
        AuthorizationCodeFlow(**good, challenge_method="plain")
    AuthorizationCodeFlow(**good, challenge_method="plain", allow_plain=True)


def test_secrets_never_show_in_reprs_errors_or_logs(
    flow: AuthorizationCodeFlow, http: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    pending = flow.authorization_request()
    location = authorize(http, pending.url)
    token = flow.exchange(location, http)
    assert token.refresh_token is not None
    assert pending.state.get_secret_value() not in repr(pending)  # the URL shows it, by design
    secrets = [
        pending.code_verifier.get_secret_value(),
        token.access_token.get_secret_value(),
        token.refresh_token.get_secret_value(),
    ]
    logging.getLogger("user.code").info("got %s from %s via %r", token, pending, flow)
    shown = " ".join([repr(token), str(token), repr(pending), repr(flow), caplog.text])
    for secret in secrets:
        assert secret not in shown
    assert "**" in repr(token.access_token)


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    url=st.one_of(
        st.text(max_size=120),
        st.builds(lambda q: f"{REDIRECT}?{q}", st.text(max_size=120)),
        st.sampled_from(["http://[::1", "http://127.0.0.1:99999/callback?state=x", "\x00"]),
    )
)
def test_any_malformed_callback_is_a_typed_error(flow: AuthorizationCodeFlow, url: str) -> None:
    flow.authorization_request()
    with pytest.raises((CallbackError, AuthorizationServerError)):
        flow.validate_callback(url)


def test_abandoned_requests_are_forgotten(flow: AuthorizationCodeFlow, clock: VirtualClock) -> None:
    for _ in range(100):
        flow.authorization_request()
    clock.advance(601)
    flow.authorization_request()
    assert len(flow._pending) == 1
