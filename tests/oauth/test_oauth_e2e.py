"""The whole flow against the mock authorization server over loopback, httpx sync and async:
authorize, callback, exchange, expiry, refresh, rotation, reuse detection; and faults
injected per endpoint."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from apiharness import AuthorizationServerError, TokenUnavailable
from apiharness.clock import VirtualClock
from apiharness.oauth import AuthorizationCodeFlow, Token, TokenManager
from apiharness.upstream import AuthorizationServer, delay, status
from apiharness.upstream._authorization_server import DEFAULT_CLIENT_ID, DEFAULT_REDIRECT_URI


def flow_for(base_url: str) -> AuthorizationCodeFlow:
    return AuthorizationCodeFlow(
        client_id=DEFAULT_CLIENT_ID,
        authorization_endpoint=f"{base_url}/authorize",
        token_endpoint=f"{base_url}/token",
        redirect_uri=DEFAULT_REDIRECT_URI,
    )


def secret(token: Token, which: str = "refresh") -> str:
    value = token.refresh_token if which == "refresh" else token.access_token
    assert value is not None
    return value.get_secret_value()


def test_whole_flow_over_loopback_sync(
    oauth_server: AuthorizationServer, clock: VirtualClock
) -> None:
    with oauth_server.serve() as live, httpx.Client(timeout=10) as client:
        flow = flow_for(live.base_url)
        # authorize -> redirect to the callback -> validate -> exchange
        pending = flow.authorization_request(scope="read")
        redirect = client.get(pending.url)
        assert redirect.status_code == 302
        token = flow.exchange(redirect.headers["location"], client)
        assert token.scope == "read"
        manager = TokenManager(flow, leeway=60)
        manager.set_token(token)
        api = httpx.Client(auth=manager.auth(), timeout=10)
        resource = f"{live.base_url}/resource"
        assert api.get(resource).status_code == 200
        assert oauth_server.refreshes == 0

        clock.advance(3600 - 30)  # inside the leeway: the next request refreshes first
        assert api.get(resource).status_code == 200
        assert oauth_server.refreshes == 1
        rotated = manager.get_token(client)
        assert secret(rotated) != secret(token)  # rotation
        assert secret(rotated, "access") != secret(token, "access")

        # an attacker replays the rotated-out refresh token: the family is revoked
        stolen = client.post(
            f"{live.base_url}/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": secret(token),
                "client_id": DEFAULT_CLIENT_ID,
            },
        )
        assert stolen.status_code == 400
        assert stolen.json()["error"] == "invalid_grant"
        assert oauth_server.reuse_detected == 1
        assert oauth_server.family_revoked(secret(rotated))
        # ... and so is the legitimate client: its access token is dead and refreshing fails
        with pytest.raises(AuthorizationServerError) as info:
            api.get(resource)
        assert info.value.error == "invalid_grant"
        assert secret(rotated) not in str(info.value)
        assert len(oauth_server.upstream.journal) >= 6
        api.close()


def test_whole_flow_over_loopback_async(
    oauth_server: AuthorizationServer, clock: VirtualClock
) -> None:
    async def main(base_url: str) -> tuple[Token, Token, list[int]]:
        flow = flow_for(base_url)
        async with httpx.AsyncClient(timeout=10) as client:
            token = await flow.alogin(client, scope="read")
            manager = TokenManager(flow)
            manager.set_token(token)
            async with httpx.AsyncClient(auth=manager.auth(), timeout=10) as api:
                codes = [(await api.get(f"{base_url}/resource")).status_code]
                clock.advance(3600)  # expired: 20 concurrent requests, one refresh
                responses = await asyncio.gather(
                    *(api.get(f"{base_url}/resource") for _ in range(20))
                )
                codes += [r.status_code for r in responses]
            return token, await manager.aget_token(client), codes

    with oauth_server.serve() as live:
        first, second, codes = asyncio.run(main(live.base_url))
    assert codes == [200] * 21
    assert oauth_server.refreshes == 1
    assert oauth_server.reuse_detected == 0
    assert secret(first) != secret(second)


def test_a_503_burst_on_the_token_endpoint(
    oauth_server: AuthorizationServer, clock: VirtualClock
) -> None:
    with oauth_server.serve() as live, httpx.Client(timeout=10) as client:
        flow = flow_for(live.base_url)
        manager = TokenManager(flow)
        manager.set_token(flow.login(client))
        oauth_server.inject("token", status(503).times(2))
        clock.advance(3600)
        for _ in range(2):
            with pytest.raises(AuthorizationServerError) as info:
                manager.get_token(client)
            assert info.value.status_code == 503
            assert info.value.error is None
        assert isinstance(manager.get_token(client), Token)  # not wedged
    assert oauth_server.refreshes == 1


def test_invalid_grant_and_denied_authorization(
    oauth_server: AuthorizationServer, clock: VirtualClock
) -> None:
    with oauth_server.serve() as live, httpx.Client(timeout=10) as client:
        flow = flow_for(live.base_url)
        oauth_server.deny_next("access_denied")
        with pytest.raises(AuthorizationServerError) as denied:
            flow.login(client)
        assert denied.value.error == "access_denied"
        manager = TokenManager(flow)
        manager.set_token(flow.login(client))
        oauth_server.fail_next_token("invalid_grant")
        clock.advance(3600)
        with pytest.raises(AuthorizationServerError) as info:
            manager.get_token(client)
        assert info.value.error == "invalid_grant"
        assert info.value.status_code == 400


def refresh_answer_lost(
    clock: VirtualClock, *, grace: float
) -> tuple[AuthorizationServer, TokenManager, httpx.Client]:
    """Log in, then let the token endpoint answer slower than the client waits (in-process,
    so the 30 s delay meets the 5 s read timeout in virtual time): the server rotates the
    refresh token, the client never learns the new one."""
    server = AuthorizationServer(refresh_grace=grace)
    server.register_client(DEFAULT_CLIENT_ID, redirect_uris=[DEFAULT_REDIRECT_URI])
    client = httpx.Client(transport=server.upstream, timeout=5)
    flow = flow_for(server.base_url)
    manager = TokenManager(flow)
    manager.set_token(flow.login(client))
    server.inject("token", delay(30, then=server.service("token")))
    clock.advance(3600)
    with pytest.raises(TokenUnavailable, match="could not be reached"):
        manager.get_token(client)
    assert server.refreshes == 1
    return server, manager, client


def test_a_slow_token_endpoint_times_out_and_the_grace_period_recovers(
    clock: VirtualClock,
) -> None:
    server, manager, client = refresh_answer_lost(clock, grace=60)
    # within the grace period the previous refresh token works once more: no revocation
    assert isinstance(manager.get_token(client), Token)
    assert server.reuse_detected == 0
    server.upstream.verify()


def test_without_grace_a_lost_refresh_answer_revokes_the_family(clock: VirtualClock) -> None:
    server, manager, client = refresh_answer_lost(clock, grace=0)
    with pytest.raises(AuthorizationServerError, match="invalid_grant"):
        manager.get_token(client)
    assert server.reuse_detected == 1


def test_oauth_server_endpoints_and_bad_names(oauth_server: AuthorizationServer) -> None:
    assert oauth_server.token_endpoint == "https://auth.test/token"
    assert oauth_server.authorization_endpoint == "https://auth.test/authorize"
    from apiharness import ConfigurationError

    with pytest.raises(ConfigurationError, match="authorize, token, resource"):
        oauth_server.inject("tokens", status(503))
    assert "app" in repr(oauth_server)


def test_oauth_server_fixture_in_a_fresh_session(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import httpx
        from apiharness.upstream import status

        def test_faults_per_endpoint(oauth_server):
            oauth_server.inject("token", status(503))
            http = httpx.Client(transport=oauth_server.upstream)
            assert http.post(oauth_server.token_endpoint).status_code == 503
            assert http.post(oauth_server.token_endpoint).json()["error"] == "invalid_client"

        def test_unmatched_request_fails_at_teardown(oauth_server):
            http = httpx.Client(transport=oauth_server.upstream)
            http.get(oauth_server.base_url + "/.well-known/nothing")
        """
    )
    result = pytester.runpytest("-p", "apiharness", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*matched no route*"])


def test_no_token_reaches_the_logs_over_a_whole_session(
    oauth_server: AuthorizationServer, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    caplog.set_level(logging.DEBUG)  # httpx and httpcore log every request at DEBUG/INFO
    with oauth_server.serve() as live, httpx.Client(timeout=10) as client:
        flow = flow_for(live.base_url)
        manager = TokenManager(flow)
        first = flow.login(client)
        manager.set_token(first)
        with httpx.Client(auth=manager.auth(), timeout=10) as api:
            api.get(f"{live.base_url}/resource")
            clock.advance(3600)
            api.get(f"{live.base_url}/resource")
            second = manager.get_token(client)
    assert oauth_server.refreshes == 1
    assert "HTTP Request" in caplog.text  # the logs were captured
    for token in (first, second):
        assert secret(token) not in caplog.text
        assert secret(token, "access") not in caplog.text
