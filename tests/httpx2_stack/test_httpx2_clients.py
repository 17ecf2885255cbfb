"""The reference clients compose with both stacks: ``ResilientTransport``,
``IdempotencyTransport`` and ``TokenAuth`` in an ``httpx`` and an ``httpx2`` client, sync and
async, over the in-process upstream. The same code serves both (``apiharness._stacks``); what a
client of each stack receives must be its own stack's objects."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import ModuleType

import pytest

from apiharness import VirtualClock
from apiharness.clients import (
    Backoff,
    IdempotencyTransport,
    MemoryResultStore,
    ResilientTransport,
    RetryPolicy,
)
from apiharness.errors import ConfigurationError
from apiharness.oauth import AuthorizationCodeFlow, TokenManager
from apiharness.upstream import (
    AuthorizationServer,
    LoopbackServer,
    Upstream,
    reset,
    respond,
    status,
)
from apiharness.upstream._authorization_server import DEFAULT_CLIENT_ID, DEFAULT_REDIRECT_URI


def flaky_upstream() -> Upstream:
    up = Upstream()
    up.get("/items").respond(status(503, retry_after=2), reset(), respond(200, json=[1]))
    return up


def test_resilient_transport_retries_for_either_stack(
    stack: ModuleType, clock: VirtualClock
) -> None:
    up = flaky_upstream()
    transport = ResilientTransport(up, retry=RetryPolicy(max_attempts=3), seed=0)
    with stack.Client(transport=transport, base_url=up.base_url, timeout=5) as http:
        response = http.get("/items")
    assert isinstance(response, stack.Response)
    assert response.json() == [1]
    assert [e.status for e in up.journal] == [503, None, 200]
    assert clock.sleeps[0] == 2  # the Retry-After, honoured
    assert len(clock.sleeps) == 2


def test_resilient_transport_async_for_either_stack(stack: ModuleType, clock: VirtualClock) -> None:
    up = flaky_upstream()
    transport = ResilientTransport(up, retry=RetryPolicy(max_attempts=3), seed=0)

    async def main() -> object:
        async with stack.AsyncClient(transport=transport, base_url=up.base_url) as http:
            return (await http.get("/items")).json()

    assert asyncio.run(main()) == [1]
    assert [e.status for e in up.journal] == [503, None, 200]


def test_a_failed_certificate_check_is_not_retried_on_either_stack(
    stack: ModuleType, upstream: Upstream, tls_server: Callable[[str], LoopbackServer]
) -> None:
    """httpx2 wraps the ``ssl.SSLCertVerificationError`` as httpx does (httpcore2 between):
    one connection per request, sync and async, where a retry would make four."""
    server = tls_server("expired")
    policy = RetryPolicy(Backoff(base=0.01, cap=0.02), max_attempts=4)
    sync = ResilientTransport(stack.HTTPTransport(verify=server.ssl_context()), retry=policy)
    with stack.Client(transport=sync) as http, pytest.raises(stack.ConnectError, match="expired"):
        http.get(server.base_url + "/x")
    asynchronous = ResilientTransport(
        stack.AsyncHTTPTransport(verify=server.ssl_context()), retry=policy
    )

    async def main() -> None:
        async with stack.AsyncClient(transport=asynchronous) as http:
            await http.get(server.base_url + "/x")

    with pytest.raises(stack.ConnectError, match="expired"):
        asyncio.run(main())
    assert server.accepted == 2


def test_an_inner_transport_of_the_other_stack_is_refused_with_advice() -> None:
    httpx = pytest.importorskip("httpx")
    httpx2 = pytest.importorskip("httpx2")
    wrong = ResilientTransport(httpx.MockTransport(lambda r: httpx.Response(200)))
    with httpx2.Client(transport=wrong) as http, pytest.raises(ConfigurationError) as info:
        http.get("https://api.test/")
    assert "not a transport of httpx2" in str(info.value)
    assert "httpx2.HTTPTransport()" in str(info.value)
    keyed = IdempotencyTransport(httpx2.HTTPTransport())
    with httpx.Client(transport=keyed) as http, pytest.raises(ConfigurationError) as info:
        http.post("https://api.test/")
    assert "not a transport of httpx," in str(info.value)


def test_idempotency_transport_replays_for_either_stack(stack: ModuleType) -> None:
    up = Upstream()
    up.post("/charges").respond(respond(201, json={"id": "ch_1"}))
    transport = IdempotencyTransport(up, store=MemoryResultStore())
    with stack.Client(transport=transport, base_url=up.base_url) as http:
        headers = {"Idempotency-Key": "key-1"}
        first = http.post("/charges", json={"amount": 5}, headers=headers)
        second = http.post("/charges", json={"amount": 5}, headers=headers)
    assert (first.status_code, second.status_code) == (201, 201)
    assert second.json() == {"id": "ch_1"}
    assert isinstance(second, stack.Response)
    assert second.extensions.get("apiharness_replayed") is True
    assert len(up.journal) == 1  # the replay never reached the upstream


def test_token_auth_refreshes_through_a_client_of_either_stack(
    stack: ModuleType, oauth_server: AuthorizationServer, clock: VirtualClock
) -> None:
    flow = AuthorizationCodeFlow(
        client_id=DEFAULT_CLIENT_ID,
        authorization_endpoint=oauth_server.authorization_endpoint,
        token_endpoint=oauth_server.token_endpoint,
        redirect_uri=DEFAULT_REDIRECT_URI,
    )
    up = oauth_server.upstream
    with stack.Client(transport=up, timeout=10) as client:
        token = flow.login(client, scope="read")  # the flow's own requests, rebuilt in stack
    manager = TokenManager(flow)
    manager.set_token(token)
    with stack.Client(transport=up, auth=manager.auth(), timeout=10) as api:
        assert api.get(oauth_server.resource_endpoint).status_code == 200
        clock.advance(3600)  # expired: the next request refreshes through this client first
        assert api.get(oauth_server.resource_endpoint).status_code == 200
    assert oauth_server.refreshes == 1
    assert manager.refresh_count == 1
