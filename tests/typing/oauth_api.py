"""Typical user code for apiharness.oauth and client idempotency, type-checked (never run)."""

from __future__ import annotations

import httpx
from pydantic import SecretStr

from apiharness import AuthorizationServerError, TokenUnavailable
from apiharness.clients import IdempotencyTransport, SQLiteResultStore
from apiharness.oauth import (
    AuthorizationCodeFlow,
    EncryptedFileTokenStore,
    SecretsProvider,
    Token,
    TokenManager,
    new_code_verifier,
    s256_challenge,
)


def build(secrets: SecretsProvider) -> tuple[AuthorizationCodeFlow, TokenManager]:
    flow = AuthorizationCodeFlow(
        client_id="app",
        authorization_endpoint="https://auth.example/authorize",
        token_endpoint="https://auth.example/token",
        redirect_uri="http://127.0.0.1:8765/callback",
        client_secret=secrets.get("CLIENT_SECRET"),
    )
    store = EncryptedFileTokenStore("tokens.json", key=secrets.get("TOKEN_KEY"))
    return flow, TokenManager(flow, store=store, leeway=60)


def login(flow: AuthorizationCodeFlow, manager: TokenManager, callback: str) -> str | None:
    with httpx.Client() as client:
        try:
            manager.set_token(flow.exchange(callback, client))
        except AuthorizationServerError as exc:
            return exc.error
    return None


async def call_api(manager: TokenManager) -> int:
    async with httpx.AsyncClient(auth=manager.auth()) as api:
        try:
            token: Token = await manager.aget_token(api)
        except TokenUnavailable:
            return 0
        assert isinstance(token.access_token, SecretStr)
        return (await api.get("https://api.example/me")).status_code


def charge(amount: int) -> httpx.Response:
    store = SQLiteResultStore("idempotency.sqlite3")
    transport = IdempotencyTransport(httpx.HTTPTransport(retries=2), store=store)
    with httpx.Client(transport=transport) as client:
        key = store.key_for(f"charge-{amount}")
        return client.post("https://api.example/charges", headers={"Idempotency-Key": key})


def pkce() -> str:
    return s256_challenge(new_code_verifier())


def upstream_side() -> int:
    from apiharness.upstream import AuthorizationServer, IdempotencyPolicy, Upstream, respond

    up = Upstream()
    policy = IdempotencyPolicy(ttl=3600, strict_format=True)
    up.post("/charges").respond(respond(201)).add_policy(policy)
    server = AuthorizationServer(refresh_grace=30)
    server.register_client("app", redirect_uris=["http://127.0.0.1:8765/callback"])
    server.inject("token", respond(503))
    return policy.side_effects + server.refreshes
