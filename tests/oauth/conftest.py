"""An in-process mock authorization server and a client flow registered with it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from apiharness.oauth import AuthorizationCodeFlow
from apiharness.upstream._authorization_server import AuthorizationServer

ISSUER = "https://auth.test"
REDIRECT = "http://127.0.0.1:8765/callback"


@pytest.fixture
def auth() -> AuthorizationServer:
    server = AuthorizationServer(access_token_ttl=3600)
    server.register_client("app", redirect_uris=[REDIRECT])
    return server


@pytest.fixture
def flow() -> AuthorizationCodeFlow:
    return AuthorizationCodeFlow(
        client_id="app",
        authorization_endpoint=f"{ISSUER}/authorize",
        token_endpoint=f"{ISSUER}/token",
        redirect_uri=REDIRECT,
    )


@pytest.fixture
def http(auth: AuthorizationServer) -> Iterator[httpx.Client]:
    with httpx.Client(transport=httpx.MockTransport(auth.handle), base_url=ISSUER) as client:
        yield client
