"""The token manager: a valid access token on demand, refreshed once however many ask.

Single flight: the first caller that finds the token missing its leeway becomes the *leader*
and performs the refresh; every caller that arrives meanwhile, in any thread or asyncio task,
becomes a *follower* and waits for the leader's outcome on a ``concurrent.futures.Future``
(threads block on ``result()``, tasks await ``asyncio.wrap_future``, so both kinds share one
flight). Success is stored before anyone wakes; failure reaches every waiter as the same typed
error, and the flight is cleared either way, so one failed refresh never wedges the next.

Why refreshes must not race: with rotating refresh tokens (RFC 9700 section 4.14) the second
of two concurrent refreshes presents a token the server just rotated out, which looks like
theft and revokes the whole family, logging the user out.

Across processes: when the store is a :class:`~apiharness.stores.SharedTokenStore` (e.g.
:class:`~apiharness.stores.RedisTokenStore`), the leader of each process takes the store's
refresh lock, reads the store again under it and adopts a token another process already
refreshed; only if there is none does it refresh, saving the result before it releases the lock.
So one refresh happens across all processes, and the others wait for its result.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hmac
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Generator
from typing import Protocol

from pydantic import SecretStr

from apiharness._scrub import scrub_exception
from apiharness._stacks import AuthBase, httpx, is_a, restack
from apiharness.clock import get_clock
from apiharness.errors import ConfigurationError, OAuthError, TokenUnavailable
from apiharness.oauth._flow import Flow, run_async, run_sync
from apiharness.oauth._tokens import MemoryTokenStore, Token, TokenStore
from apiharness.stores import SharedTokenStore

__all__ = ["Refresher", "TokenAuth", "TokenManager"]


class Refresher(Protocol):
    """What the manager needs to refresh: :class:`AuthorizationCodeFlow` is one."""

    def refresh_flow(self, refresh_token: SecretStr, *, scope: str | None = None) -> Flow[Token]:
        """Trade ``refresh_token`` for a new token."""


def _same(a: Token, b: Token) -> bool:
    """Whether two tokens carry the same access token (compared in constant time)."""
    return a is b or hmac.compare_digest(
        a.access_token.get_secret_value().encode(), b.access_token.get_secret_value().encode()
    )


class _Flight:
    """One refresh in progress; its future carries the new token or the error."""

    def __init__(self, stale: Token, refresh_token: SecretStr) -> None:
        self.stale = stale
        self.refresh_token = refresh_token
        self.future: concurrent.futures.Future[Token] = concurrent.futures.Future()


# What _plan decides: use this token, follow that flight, or lead a new one.
_Plan = tuple[Token | None, _Flight | None, bool]


class TokenManager:
    """Hands out valid access tokens and refreshes them single-flight.

    ``leeway`` seconds before expiry the token counts as expired, so it is refreshed before a
    request could carry a token that dies in flight::

        manager = TokenManager(flow, leeway=60)
        manager.set_token(flow.login(client))         # or flow.exchange(callback, client)
        api = httpx.Client(auth=manager.auth())       # Bearer header, refresh, one 401 retry
    """

    def __init__(
        self,
        refresher: Refresher,
        *,
        store: TokenStore | None = None,
        leeway: float = 60.0,
        scope: str | None = None,
    ) -> None:
        if not hasattr(refresher, "refresh_flow"):
            raise ConfigurationError(
                "TokenManager needs a refresher with refresh_flow(), e.g. an AuthorizationCodeFlow"
            )
        if leeway < 0:
            raise ConfigurationError(f"TokenManager(leeway={leeway}) must not be negative")
        self._refresher = refresher
        self._store: TokenStore = store if store is not None else MemoryTokenStore()
        self._leeway = float(leeway)
        self._scope = scope
        self._lock = threading.Lock()
        self._flight: _Flight | None = None
        self._token: Token | None = None  # the store's token, read once, then kept current
        #: How many refreshes this manager started (followers do not count).
        self.refresh_count = 0

    def __repr__(self) -> str:
        return (
            f"TokenManager(store={self._store!r}, leeway={self._leeway:g}, "
            f"refreshing={self._flight is not None})"
        )

    # -- state -------------------------------------------------------------------------------

    @property
    def store(self) -> TokenStore:
        """Where the token is kept."""
        return self._store

    def set_token(self, token: Token) -> None:
        """Store ``token``, e.g. the result of the code exchange."""
        if not isinstance(token, Token):
            raise ConfigurationError(f"set_token() takes a Token, got {type(token).__name__}")
        with self._lock:
            self._store.save(token)
            self._token = token

    def _usable(self, token: Token, *, force: bool, stale: Token | None) -> bool:
        if token.expires_within(self._leeway, now=get_clock().time()):
            return False
        # Asked to refresh because `stale` was rejected: a different token is the answer.
        return not force or (stale is not None and not _same(token, stale))

    def _plan(self, *, force: bool, stale: Token | None) -> _Plan:
        with self._lock:
            if self._flight is not None:
                return None, self._flight, False
            token = self._token if self._token is not None else self._store.load()
            if token is None:
                raise TokenUnavailable(
                    "no token stored; complete the authorization flow and call set_token() first"
                )
            self._token = token
            if self._usable(token, force=force, stale=stale):
                return token, None, False
            # The store is read once per refresh, not per request: another process sharing
            # it may have refreshed already, and its rotated refresh token is the live one.
            stored = self._store.load()
            if stored is not None and not _same(stored, token):
                self._token = token = stored
                if self._usable(token, force=force, stale=stale):
                    return token, None, False
            if token.refresh_token is None:
                raise TokenUnavailable(
                    "the access token expired and there is no refresh token; authorize again"
                )
            flight = _Flight(token, token.refresh_token)
            self._flight = flight
            self.refresh_count += 1
            return None, flight, True

    def _lead(self, flight: _Flight, *, locked: bool = False) -> Flow[Token]:
        """Perform the refresh as the leader and publish its outcome to every follower.

        ``locked``: the caller already holds the shared store's refresh lock (asyncio).
        """
        try:
            token = yield from self._refresh_shared(flight, locked=locked)
        except OAuthError as exc:
            # A server may echo the access token being replaced (in error_description), and
            # the refresher never saw it: the manager, which holds it, scrubs it here, with the
            # refresh token, before any caller or follower sees the error.
            scrub_exception(exc, (flight.stale.access_token, flight.refresh_token))
            self._land(flight, exc)
            raise
        except BaseException as exc:
            if is_a(exc, "HTTPError"):  # httpx's or httpx2's
                error = TokenUnavailable(
                    f"the token endpoint could not be reached to refresh: {type(exc).__name__}"
                )
                self._land(flight, error)
                raise error from exc
            # Cancelled or crashed: followers must not wait forever for this leader.
            self._land(flight, TokenUnavailable("the refresh was interrupted; try again"))
            raise
        self._land(flight, token)
        return token

    def _refresh_shared(self, flight: _Flight, *, locked: bool) -> Flow[Token]:
        """The refresh, under the shared store's lock when there is one."""
        store = self._store
        shared = isinstance(store, SharedTokenStore)
        lock: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
        if isinstance(store, SharedTokenStore) and not locked:
            lock = store.refresh_lock()
        with lock:
            current = store.load() if shared else None
            if (
                current is not None
                and not _same(current, flight.stale)
                and not current.expires_within(self._leeway, now=get_clock().time())
            ):
                return current  # another process refreshed while this one waited for the lock
            token = yield from self._refresher.refresh_flow(flight.refresh_token, scope=self._scope)
            if shared:
                store.save(token)  # before the lock is released: the waiters read it next
            return token

    @contextlib.asynccontextmanager
    async def _alock(self, flight: _Flight) -> AsyncIterator[None]:
        """The shared store's refresh lock for an asyncio leader (a no-op for other stores)."""
        async with contextlib.AsyncExitStack() as stack:
            if isinstance(self._store, SharedTokenStore):
                try:
                    await stack.enter_async_context(self._store.arefresh_lock())
                except BaseException:
                    # Followers of this process must not wait for a refresh that never starts.
                    self._land(flight, TokenUnavailable("the refresh lock could not be taken"))
                    raise
            yield

    def _land(self, flight: _Flight, outcome: Token | BaseException) -> None:
        """Publish the outcome. If the store fails to save a new token, the token is still
        used (the old refresh token is dead once rotated) and the store's error reaches the
        leader only."""
        try:
            with self._lock:
                if self._flight is flight:
                    self._flight = None
                # A shared store got the token under its refresh lock; saving it again after
                # the lock could overwrite a newer refresh by another process.
                if isinstance(outcome, Token):
                    self._token = outcome
                    if not isinstance(self._store, SharedTokenStore):
                        self._store.save(outcome)
        finally:
            if isinstance(outcome, Token):
                flight.future.set_result(outcome)
            else:
                flight.future.set_exception(outcome)

    # -- synchronous -------------------------------------------------------------------------

    def _token_flow(self, *, force: bool, stale: Token | None) -> Flow[Token]:
        """A valid token, as a flow that yields refresh requests only when leading."""
        token, flight, leader = self._plan(force=force, stale=stale)
        if token is not None:
            return token
        assert flight is not None
        if leader:
            return (yield from self._lead(flight))
        return flight.future.result()

    def get_token(self, client: httpx.Client) -> Token:
        """A valid token, refreshing it through ``client`` if it is within the leeway."""
        return run_sync(self._token_flow(force=False, stale=None), client)

    def refresh(self, client: httpx.Client, *, stale: Token | None = None) -> Token:
        """Refresh now (single-flight); with ``stale``, only if the token is still that one."""
        return run_sync(self._token_flow(force=True, stale=stale), client)

    # -- asynchronous ------------------------------------------------------------------------

    async def _atoken(
        self, client: httpx.AsyncClient | None, *, force: bool, stale: Token | None
    ) -> Token | _Flight:
        token, flight, leader = self._plan(force=force, stale=stale)
        if token is not None:
            return token
        assert flight is not None
        if leader:
            if client is None:
                return flight  # the caller drives the leader's flow itself
            async with self._alock(flight):
                return await run_async(self._lead(flight, locked=True), client)
        return await asyncio.wrap_future(flight.future)

    async def aget_token(self, client: httpx.AsyncClient) -> Token:
        """:meth:`get_token` for asyncio: tasks and threads share one refresh."""
        result = await self._atoken(client, force=False, stale=None)
        assert isinstance(result, Token)
        return result

    async def arefresh(self, client: httpx.AsyncClient, *, stale: Token | None = None) -> Token:
        """:meth:`refresh` for asyncio."""
        result = await self._atoken(client, force=True, stale=stale)
        assert isinstance(result, Token)
        return result

    def auth(self) -> TokenAuth:
        """An ``httpx.Auth`` that sends the token and refreshes through the same client."""
        return TokenAuth(self)


class TokenAuth(AuthBase):
    """``Authorization: Bearer`` from a :class:`TokenManager`, for ``httpx.Client(auth=...)``
    (or ``httpx2.Client(auth=...)``: the refresh requests are made in the client's stack).

    Refresh requests go through the same client (and so through its transport). A 401 causes
    one forced refresh and one retry; a second 401 is returned to the caller as it is. If the
    refresh request itself fails on the wire, the request that led it raises httpx's error (as
    any request of that client would) and every follower gets :class:`TokenUnavailable`.
    """

    requires_response_body = True

    def __init__(self, manager: TokenManager) -> None:
        self._manager = manager

    def __repr__(self) -> str:
        return f"TokenAuth({self._manager!r})"

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        token = yield from restack(self._manager._token_flow(force=False, stale=None), request)
        request.headers["Authorization"] = token.authorization
        response = yield request
        if response.status_code == 401:
            token = yield from restack(self._manager._token_flow(force=True, stale=token), request)
            request.headers["Authorization"] = token.authorization
            yield request

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token: Token | None = None
        for force in (False, True):
            outcome = await self._manager._atoken(None, force=force, stale=token)
            if isinstance(outcome, _Flight):
                # Leading: the refresh requests travel through this auth flow's client.
                async with self._manager._alock(outcome):
                    flow = restack(self._manager._lead(outcome, locked=True), request)
                    try:
                        step = next(flow)
                        while True:
                            reply = yield step
                            await reply.aread()
                            step = flow.send(reply)
                    except StopIteration as done:
                        outcome = done.value
                    finally:
                        flow.close()
            assert isinstance(outcome, Token)
            token = outcome
            request.headers["Authorization"] = token.authorization
            response = yield request
            if response.status_code != 401:
                return
