"""The mock authorization server's own rules, and its robustness against any input."""

from __future__ import annotations

import base64
import hashlib
import urllib.parse

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apiharness import ConfigurationError
from apiharness.clock import VirtualClock
from apiharness.upstream import AuthorizationServer

REDIRECT = "http://127.0.0.1:8765/callback"
VERIFIER = "v" * 43


def challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@pytest.fixture
def server() -> AuthorizationServer:
    server = AuthorizationServer()
    server.register_client("app", redirect_uris=[REDIRECT])
    server.register_client("other", redirect_uris=[REDIRECT])
    return server


@pytest.fixture
def http(server: AuthorizationServer) -> httpx.Client:
    return httpx.Client(transport=server.upstream, base_url=server.base_url)


def code_for(http: httpx.Client, client_id: str = "app") -> str:
    response = http.get(
        "/authorize",
        params={
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": REDIRECT,
            "state": "s",
            "code_challenge": challenge(VERIFIER),
            "code_challenge_method": "S256",
        },
    )
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(response.headers["location"]).query))
    assert query["state"] == "s"
    return query["code"]


def exchange(http: httpx.Client, code: str, **overrides: str) -> httpx.Response:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "client_id": "app",
        "code_verifier": VERIFIER,
        **overrides,
    }
    return http.post("/token", data=form)


def test_code_is_bound_to_client_redirect_uri_and_lifetime(
    http: httpx.Client, clock: VirtualClock
) -> None:
    assert exchange(http, code_for(http), redirect_uri=REDIRECT + "/x").json()["error"] == (
        "invalid_grant"
    )
    assert exchange(http, code_for(http), client_id="other").json()["error"] == "invalid_grant"
    late = code_for(http)
    clock.advance(601)
    assert exchange(http, late).json()["error"] == "invalid_grant"
    assert exchange(http, code_for(http)).status_code == 200


def test_a_reused_code_revokes_what_it_was_exchanged_for(
    http: httpx.Client, server: AuthorizationServer
) -> None:
    code = code_for(http)
    token = exchange(http, code).json()
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    assert http.get("/resource", headers=bearer).status_code == 200
    assert exchange(http, code).json()["error"] == "invalid_grant"
    assert http.get("/resource", headers=bearer).status_code == 401
    assert server.family_revoked(token["refresh_token"])


def test_other_grant_types_and_client_errors(http: httpx.Client) -> None:
    unsupported = http.post("/token", data={"grant_type": "password", "client_id": "app"})
    assert unsupported.json()["error"] == "unsupported_grant_type"
    unknown = http.post("/token", data={"grant_type": "refresh_token", "client_id": "nobody"})
    assert unknown.status_code == 401
    assert unknown.json()["error"] == "invalid_client"
    assert unknown.headers["www-authenticate"].startswith("Basic")
    bad_basic = http.post(
        "/token", data={"grant_type": "refresh_token"}, headers={"Authorization": "Basic %%%"}
    )
    assert bad_basic.json()["error"] == "invalid_client"


def test_without_rotation_the_refresh_token_stays() -> None:
    server = AuthorizationServer(rotate_refresh_tokens=False)
    server.register_client("app", redirect_uris=[REDIRECT])
    client = httpx.Client(transport=server.upstream, base_url=server.base_url)
    first = exchange(client, code_for(client)).json()
    form = {
        "grant_type": "refresh_token",
        "refresh_token": first["refresh_token"],
        "client_id": "app",
    }
    refreshed = client.post("/token", data=form).json()
    assert "refresh_token" not in refreshed
    assert client.post("/token", data=form).status_code == 200


def test_bad_construction_is_refused() -> None:
    with pytest.raises(ConfigurationError):
        AuthorizationServer(access_token_ttl=0)
    with pytest.raises(ConfigurationError):
        AuthorizationServer(refresh_grace=-1)
    with pytest.raises(ConfigurationError, match="redirect_uris"):
        AuthorizationServer().register_client("app", redirect_uris=REDIRECT)


@settings(max_examples=150, deadline=None)
@given(
    body=st.one_of(
        st.binary(max_size=200),
        st.dictionaries(
            st.sampled_from(
                [
                    "grant_type",
                    "code",
                    "refresh_token",
                    "client_id",
                    "code_verifier",
                    "redirect_uri",
                ]
            ),
            st.text(max_size=60),
        ).map(lambda d: urllib.parse.urlencode(d).encode()),
    ),
    authorization=st.one_of(
        st.none(), st.text(alphabet=st.characters(max_codepoint=127), max_size=40)
    ),
)
def test_token_endpoint_answers_any_input_with_a_section_5_2_error(
    body: bytes, authorization: str | None
) -> None:
    server = AuthorizationServer()
    server.register_client("app", redirect_uris=[REDIRECT])
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if authorization is not None and authorization.isprintable():
        headers["Authorization"] = authorization
    response = server.handle(
        httpx.Request("POST", "https://auth.test/token", content=body, headers=headers)
    )
    assert response.status_code in (400, 401)
    assert isinstance(response.json()["error"], str)
    assert response.headers["cache-control"] == "no-store"


@settings(max_examples=100, deadline=None)
@given(query=st.dictionaries(st.text(max_size=20), st.text(max_size=40), max_size=8))
def test_authorize_endpoint_answers_any_query(query: dict[str, str]) -> None:
    server = AuthorizationServer()
    server.register_client("app", redirect_uris=[REDIRECT])
    url = "https://auth.test/authorize?" + urllib.parse.urlencode(query)
    response = server.handle(httpx.Request("GET", url))
    assert response.status_code in (302, 400)
    if response.status_code == 302:
        assert response.headers["location"].startswith(REDIRECT + "?")
