"""The token manager: proactive refresh, single flight, rotation, 401 handling, storage."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote, quote_plus

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from apiharness import AuthorizationServerError, ConfigurationError, TokenUnavailable
from apiharness._scrub import Needles
from apiharness.clock import VirtualClock
from apiharness.oauth import (
    AuthorizationCodeFlow,
    EncryptedFileTokenStore,
    MemoryTokenStore,
    Token,
    TokenManager,
)
from apiharness.upstream._authorization_server import AuthorizationServer

from .conftest import ISSUER

Handler = Callable[[httpx.Request], httpx.Response]


class Gate:
    """Holds token requests inside the server until released, and says when one arrived."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            self.entered.set()
            assert self.release.wait(timeout=30), "the test never released the gate"
        return self.handler(request)


def storm(gate: Gate, manager: TokenManager, count: int) -> list[object]:
    """``count`` threads ask for a token; the first leads and is held in the server until the
    others have had time to find its refresh in flight. Returns tokens and errors."""
    results: list[object] = []

    def call() -> None:
        with httpx.Client(transport=httpx.MockTransport(gate)) as client:
            try:
                results.append(manager.get_token(client))
            except Exception as exc:  # collected for the test to assert on
                results.append(exc)

    threads = [threading.Thread(target=call) for _ in range(count)]
    threads[0].start()
    assert gate.entered.wait(timeout=10)
    for thread in threads[1:]:
        thread.start()
    threading.Event().wait(0.2)  # real time: let the followers reach the flight
    gate.release.set()
    for thread in threads:
        thread.join(timeout=30)
    assert len(results) == count
    return results


@pytest.fixture
def logged_in(
    flow: AuthorizationCodeFlow, http: httpx.Client, clock: VirtualClock
) -> Iterator[TokenManager]:
    manager = TokenManager(flow, leeway=60)
    manager.set_token(flow.login(http))
    return manager


def expire(clock: VirtualClock, manager: TokenManager) -> Token:
    token = manager.store.load()
    assert token is not None
    assert token.expires_at is not None
    clock.advance(token.expires_at - clock.time() - 59)  # inside the 60 s leeway
    return token


def test_valid_token_is_reused_and_refreshed_within_the_leeway(
    logged_in: TokenManager, http: httpx.Client, auth: AuthorizationServer, clock: VirtualClock
) -> None:
    first = logged_in.get_token(http)
    clock.advance(3600 - 61)
    assert logged_in.get_token(http) is first
    assert auth.refreshes == 0
    clock.advance(2)
    second = logged_in.get_token(http)
    assert second is not first
    assert auth.refreshes == 1
    # rotation: a new refresh token replaced the old one, which is now dead
    assert first.refresh_token is not None
    assert second.refresh_token is not None
    assert first.refresh_token.get_secret_value() != second.refresh_token.get_secret_value()
    reuse = http.post(
        "/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": first.refresh_token.get_secret_value(),
            "client_id": "app",
        },
    )
    assert reuse.json()["error"] == "invalid_grant"
    assert auth.family_revoked(second.refresh_token.get_secret_value())


def test_concurrent_threads_trigger_exactly_one_refresh(
    logged_in: TokenManager, auth: AuthorizationServer, clock: VirtualClock
) -> None:
    expire(clock, logged_in)
    results = storm(Gate(auth.handle), logged_in, 20)
    assert all(isinstance(r, Token) for r in results), results
    assert len({id(r) for r in results}) == 1
    assert auth.refreshes == 1
    assert auth.reuse_detected == 0


def test_concurrent_tasks_trigger_exactly_one_refresh(
    logged_in: TokenManager, auth: AuthorizationServer, clock: VirtualClock
) -> None:
    expire(clock, logged_in)

    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(1)  # virtual, but still a suspension point for the other tasks
        return auth.handle(request)

    async def main() -> list[Token]:
        async with httpx.AsyncClient(transport=httpx.MockTransport(slow)) as client:
            return await asyncio.gather(*(logged_in.aget_token(client) for _ in range(50)))

    tokens = asyncio.run(main())
    assert len({id(t) for t in tokens}) == 1
    assert auth.refreshes == 1
    assert logged_in.refresh_count == 1


def test_threads_follow_a_refresh_led_by_an_asyncio_task(
    logged_in: TokenManager, auth: AuthorizationServer, clock: VirtualClock
) -> None:
    gate = Gate(auth.handle)
    expire(clock, logged_in)
    results: list[Token] = []

    async def lead() -> None:
        # MockTransport runs a sync handler inline, so the gate blocks this loop's thread only.
        async with httpx.AsyncClient(transport=httpx.MockTransport(gate)) as client:
            results.append(await logged_in.aget_token(client))

    def follow() -> None:
        with httpx.Client(transport=httpx.MockTransport(gate)) as client:
            results.append(logged_in.get_token(client))

    leader = threading.Thread(target=asyncio.run, args=(lead(),))
    leader.start()
    assert gate.entered.wait(timeout=10)
    followers = [threading.Thread(target=follow) for _ in range(5)]
    for thread in followers:
        thread.start()
    threading.Event().wait(0.2)
    gate.release.set()
    for thread in [leader, *followers]:
        thread.join(timeout=30)
    assert len(results) == 6
    assert len({id(r) for r in results}) == 1
    assert auth.refreshes == 1


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ("invalid_grant", AuthorizationServerError),
        ("503", AuthorizationServerError),
        ("connect", TokenUnavailable),
    ],
)
def test_failed_refresh_reaches_every_waiter_and_does_not_wedge(
    logged_in: TokenManager,
    auth: AuthorizationServer,
    clock: VirtualClock,
    fault: str,
    expected: type[Exception],
) -> None:
    failed = threading.Event()

    def faulty(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token" and not failed.is_set():
            failed.set()
            if fault == "503":
                return httpx.Response(503, text="maintenance")
            if fault == "connect":
                raise httpx.ConnectError("refused", request=request)
            auth.fail_next_token("invalid_grant")
        return auth.handle(request)

    expire(clock, logged_in)
    results = storm(Gate(faulty), logged_in, 8)
    assert all(isinstance(r, expected) for r in results), results
    if fault == "invalid_grant":
        assert all(getattr(r, "error", None) == "invalid_grant" for r in results)
    if fault == "503":
        assert all(getattr(r, "status_code", None) == 503 for r in results)
    # not wedged: the next caller refreshes successfully
    with httpx.Client(transport=httpx.MockTransport(auth.handle)) as client:
        assert isinstance(logged_in.get_token(client), Token)
    assert auth.refreshes == 1


def test_401_triggers_one_refresh_and_one_retry(
    logged_in: TokenManager, http: httpx.Client, auth: AuthorizationServer
) -> None:
    api = httpx.Client(
        transport=httpx.MockTransport(auth.handle), base_url=ISSUER, auth=logged_in.auth()
    )
    assert api.get("/resource").status_code == 200
    auth.invalidate_access_tokens()
    assert api.get("/resource").status_code == 200
    assert auth.refreshes == 1


def test_a_401_that_persists_is_returned_not_looped(
    logged_in: TokenManager, auth: AuthorizationServer
) -> None:
    hits: list[str] = []

    def always_401(request: httpx.Request) -> httpx.Response:
        hits.append(request.url.path)
        if request.url.path == "/resource":
            return httpx.Response(401)
        return auth.handle(request)

    api = httpx.Client(transport=httpx.MockTransport(always_401), auth=logged_in.auth())
    assert api.get(f"{ISSUER}/resource").status_code == 401
    assert hits == ["/resource", "/token", "/resource"]


def test_401s_from_many_threads_share_one_refresh(
    logged_in: TokenManager, auth: AuthorizationServer
) -> None:
    api = httpx.Client(transport=httpx.MockTransport(auth.handle), auth=logged_in.auth())
    assert api.get(f"{ISSUER}/resource").status_code == 200
    auth.invalidate_access_tokens()
    barrier = threading.Barrier(10)
    statuses: list[int] = []

    def call() -> None:
        barrier.wait(timeout=10)
        statuses.append(api.get(f"{ISSUER}/resource").status_code)

    threads = [threading.Thread(target=call) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert statuses == [200] * 10
    assert auth.refreshes == 1
    assert auth.reuse_detected == 0


def test_async_auth_refreshes_on_401_once(
    logged_in: TokenManager, auth: AuthorizationServer
) -> None:
    auth.invalidate_access_tokens()

    async def main() -> list[int]:
        transport = httpx.MockTransport(auth.handle)
        async with httpx.AsyncClient(transport=transport, auth=logged_in.auth()) as api:
            responses = await asyncio.gather(*(api.get(f"{ISSUER}/resource") for _ in range(10)))
        return [r.status_code for r in responses]

    assert asyncio.run(main()) == [200] * 10
    assert auth.refreshes == 1


def test_no_token_or_no_refresh_token_is_a_typed_error(
    flow: AuthorizationCodeFlow, http: httpx.Client, clock: VirtualClock
) -> None:
    manager = TokenManager(flow)
    with pytest.raises(TokenUnavailable, match="set_token"):
        manager.get_token(http)
    manager.set_token(Token(SecretStr("at"), expires_at=clock.time() + 10))
    with pytest.raises(TokenUnavailable, match="no refresh token"):
        manager.get_token(http)
    with pytest.raises(ConfigurationError):
        TokenManager(flow, leeway=-1)
    with pytest.raises(ConfigurationError):
        manager.set_token("at")  # type: ignore[arg-type]


def test_encrypted_store_keeps_tokens_across_restarts(
    logged_in: TokenManager,
    flow: AuthorizationCodeFlow,
    http: httpx.Client,
    tmp_path: Path,
    clock: VirtualClock,
) -> None:
    key = EncryptedFileTokenStore.generate_key()
    path = tmp_path / "tokens.json"
    original = logged_in.store.load()
    assert original is not None
    assert original.refresh_token is not None
    EncryptedFileTokenStore(path, key=key).save(original)
    raw = path.read_text()
    assert original.access_token.get_secret_value() not in raw
    assert original.refresh_token.get_secret_value() not in raw
    assert json.loads(raw)["version"] == 1

    # a "restarted" process: new manager, same file; the rotated token is written back
    restarted = TokenManager(flow, store=EncryptedFileTokenStore(path, key=key))
    expire(clock, restarted)
    refreshed = restarted.get_token(http)
    again = TokenManager(flow, store=EncryptedFileTokenStore(path, key=key)).store.load()
    assert again is not None
    assert again.refresh_token is not None
    assert refreshed.refresh_token is not None
    assert again.refresh_token.get_secret_value() == refreshed.refresh_token.get_secret_value()

    with pytest.raises(TokenUnavailable, match="decrypted"):
        EncryptedFileTokenStore(path, key=EncryptedFileTokenStore.generate_key()).load()
    with pytest.raises(ConfigurationError, match="Fernet"):
        EncryptedFileTokenStore(path, key=b"short")
    EncryptedFileTokenStore(path, key=key).clear()
    assert EncryptedFileTokenStore(path, key=key).load() is None
    assert repr(MemoryTokenStore(original)) == "MemoryTokenStore(has_token=True)"


def test_managers_sharing_a_store_adopt_each_others_refresh(
    logged_in: TokenManager,
    flow: AuthorizationCodeFlow,
    http: httpx.Client,
    auth: AuthorizationServer,
    *,
    tmp_path: Path,
    clock: VirtualClock,
) -> None:
    key = EncryptedFileTokenStore.generate_key()
    token = logged_in.store.load()
    assert token is not None
    first = TokenManager(flow, store=EncryptedFileTokenStore(tmp_path / "t.json", key=key))
    first.set_token(token)
    second = TokenManager(flow, store=EncryptedFileTokenStore(tmp_path / "t.json", key=key))
    assert second.get_token(http).expires_at == token.expires_at  # read and cached
    expire(clock, first)
    refreshed = first.get_token(http)
    # `second` still caches the old token, whose refresh token was just rotated out: it must
    # pick up the stored one instead of presenting the dead one (which would revoke the family)
    adopted = second.get_token(http)
    assert adopted.access_token.get_secret_value() == refreshed.access_token.get_secret_value()
    assert auth.refreshes == 1
    assert auth.reuse_detected == 0


def test_a_cancelled_leader_releases_its_followers(
    logged_in: TokenManager, auth: AuthorizationServer, clock: VirtualClock
) -> None:
    expire(clock, logged_in)

    async def main() -> list[object]:
        entered = asyncio.Event()
        never = asyncio.Event()

        async def stuck(request: httpx.Request) -> httpx.Response:
            entered.set()
            await never.wait()
            return auth.handle(request)

        async with httpx.AsyncClient(transport=httpx.MockTransport(stuck)) as client:
            leader = asyncio.create_task(logged_in.aget_token(client))
            await entered.wait()
            followers = [asyncio.create_task(logged_in.aget_token(client)) for _ in range(3)]
            await asyncio.sleep(0)
            leader.cancel()
            outcomes = await asyncio.gather(leader, *followers, return_exceptions=True)
        async with httpx.AsyncClient(transport=httpx.MockTransport(auth.handle)) as client:
            outcomes.append(await logged_in.aget_token(client))
        return outcomes

    outcomes = asyncio.run(main())
    assert isinstance(outcomes[0], asyncio.CancelledError)
    assert all(isinstance(o, TokenUnavailable) for o in outcomes[1:4]), outcomes
    assert isinstance(outcomes[4], Token)
    assert auth.refreshes == 1


def test_a_store_that_fails_to_save_does_not_lose_the_rotated_token(
    logged_in: TokenManager, flow: AuthorizationCodeFlow, http: httpx.Client, clock: VirtualClock
) -> None:
    class FullDisk(MemoryTokenStore):
        fail = False

        def save(self, token: Token) -> None:
            if self.fail:
                raise OSError("disk full")
            super().save(token)

    store = FullDisk()
    manager = TokenManager(flow, store=store)
    current = logged_in.store.load()
    assert current is not None
    manager.set_token(current)
    expire(clock, manager)
    store.fail = True
    with pytest.raises(OSError, match="disk full"):
        manager.get_token(http)
    # the refresh happened and its token is in use: no second refresh, no reuse of the old one
    assert manager.get_token(http).expires_at == clock.time() + 3600
    assert manager.refresh_count == 1
    assert "refreshing=False" in repr(manager)


# Token shapes seen in the wild: opaque urlsafe, JWT (dots), base64 with + / =, Basic-like
# pairs, and text with spaces and non-ASCII (which a server URL- or JSON-escapes when echoing).
TOKEN_SHAPES = [
    "ya29.a0AfH6SMBx-opaque_token_0123456789",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "AbC+dEf/gHi=jKl+mNo/pQr==",
    "user:pässwörd with spaces",
]


def _echoing_refresh(access: str, refresh: str, secret: str) -> tuple[Exception, str]:
    """Refresh a token against an endpoint that echoes the credentials in several encodings
    in its RFC 6749 error; returns the error and the manager's repr."""
    forms = [
        access,
        quote(access, safe=""),
        quote_plus(access),
        base64.b64encode(access.encode()).decode(),
        base64.urlsafe_b64encode(access.encode()).decode().rstrip("="),
        refresh,
        secret,
    ]

    def endpoint(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            400,
            json={
                "error": "invalid_grant",
                "error_description": "revoked: " + " | ".join(forms),
            },
        )

    flow = AuthorizationCodeFlow(
        client_id="app",
        client_secret=secret,
        authorization_endpoint=f"{ISSUER}/authorize",
        token_endpoint=f"{ISSUER}/token",
        redirect_uri="http://127.0.0.1:8765/callback",
    )
    manager = TokenManager(flow, leeway=0)
    manager.set_token(Token(SecretStr(access), expires_at=0.0, refresh_token=SecretStr(refresh)))
    with (
        httpx.Client(transport=httpx.MockTransport(endpoint)) as client,
        pytest.raises(AuthorizationServerError) as info,
    ):
        manager.get_token(client)
    return info.value, repr(manager)


def _assert_scrubbed(error: Exception, shown: str, **secrets: str) -> None:
    assert isinstance(error, AuthorizationServerError)
    assert error.error == "invalid_grant"
    assert error.description is not None
    assert error.description.startswith("revoked: ")
    text = "\n".join([str(error), repr(error), error.description, shown])
    assert Needles(secrets).find(text.encode("utf-8", "surrogatepass")) == set()


@pytest.mark.parametrize("access", TOKEN_SHAPES)
def test_a_refresh_error_never_quotes_the_current_access_token(access: str) -> None:
    secrets = {"access": access, "refresh": "rt-" + access[::-1], "secret": "cs-s3cr3t-value"}
    error, shown = _echoing_refresh(**secrets)
    _assert_scrubbed(error, shown, **secrets)


@settings(max_examples=40, deadline=None)
@given(
    access=st.text(
        st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"), exclude_characters="*"),
        min_size=8,
        max_size=40,
    )
)
def test_any_access_token_echoed_in_a_refresh_error_is_scrubbed(access: str) -> None:
    secrets = {"access": access, "refresh": "refresh-token-0123456789", "secret": "s3cr3t-99"}
    error, shown = _echoing_refresh(**secrets)
    _assert_scrubbed(error, shown, **secrets)
