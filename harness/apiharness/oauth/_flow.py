"""The OAuth 2 authorization-code flow with PKCE, written once as generators.

Each protocol step is a generator that yields an :class:`httpx.Request` and receives the
:class:`httpx.Response` (the shape of httpx's ``Auth.auth_flow``), so the same code runs under
:func:`run_sync` with an ``httpx.Client``, under :func:`run_async` with an
``httpx.AsyncClient``, and inside an ``httpx.Auth`` of the token manager. No I/O happens here.

Callback validation follows RFC 6749 section 4.1.2 and 10.12 and RFC 9700 section 4.7: the
redirect must come back to the registered URI, carry a ``state`` this flow issued and has not
seen before (compared in constant time), and either a ``code`` or an ``error``.
"""

from __future__ import annotations

import base64
import hmac
import secrets
import threading
import urllib.parse
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from pydantic import SecretStr

from apiharness._scrub import scrub
from apiharness._stacks import as_stack, httpx
from apiharness.clock import get_clock
from apiharness.errors import AuthorizationServerError, CallbackError, ConfigurationError
from apiharness.oauth._pkce import ChallengeMethod, code_challenge, new_code_verifier
from apiharness.oauth._tokens import Token, token_from_response

__all__ = [
    "AuthorizationCodeFlow",
    "AuthorizationRequest",
    "Flow",
    "run_async",
    "run_sync",
]

_T = TypeVar("_T")

#: A protocol step: yields requests, receives their responses, returns a result.
Flow = Generator[httpx.Request, httpx.Response, _T]


def run_sync(flow: Flow[_T], client: httpx.Client) -> _T:
    """Drive ``flow`` with a synchronous client; returns what the flow returns.

    A transport error is thrown into the flow, so the flow can translate it (and release
    anyone waiting on it) before it propagates. ``client`` may be an httpx2 one: the flow's
    requests are then rebuilt in its stack.
    """
    try:
        request = next(flow)
        while True:
            try:
                response = client.send(as_stack(request, client))
            except Exception as exc:
                request = flow.throw(exc)
            else:
                request = flow.send(response)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    finally:
        flow.close()


async def run_async(flow: Flow[_T], client: httpx.AsyncClient) -> _T:
    """Drive ``flow`` with an asynchronous client; returns what the flow returns."""
    try:
        request = next(flow)
        while True:
            try:
                response = await client.send(as_stack(request, client))
            except Exception as exc:
                request = flow.throw(exc)
            else:
                request = flow.send(response)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    finally:
        flow.close()


@dataclass(frozen=True, repr=False, eq=False)
class AuthorizationRequest:
    """One authorization request in progress: the URL to send the user to, and its secrets.

    ``state`` and ``code_verifier`` stay with the client; ``repr`` hides both.
    """

    url: str
    state: SecretStr
    code_verifier: SecretStr
    redirect_uri: str
    nonce: SecretStr | None = None
    issued_at: float = field(default=0.0)

    def __repr__(self) -> str:
        return (
            f"AuthorizationRequest(url=<{len(self.url)} chars>, redirect_uri={self.redirect_uri!r})"
        )


def _origin_and_path(url: str) -> tuple[str, str, str]:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower(), parts.path or "/"


class AuthorizationCodeFlow:
    """An OAuth 2 public or confidential client using the authorization code grant with PKCE.

    ::

        flow = AuthorizationCodeFlow(
            client_id="app",
            authorization_endpoint="https://auth.example/authorize",
            token_endpoint="https://auth.example/token",
            redirect_uri="http://127.0.0.1:8765/callback",
        )
        pending = flow.authorization_request(scope="read")   # send the user to pending.url
        token = flow.exchange(callback_url, client)          # the URL the user came back to
    """

    def __init__(
        self,
        *,
        client_id: str,
        authorization_endpoint: str,
        token_endpoint: str,
        redirect_uri: str,
        client_secret: str | SecretStr | None = None,
        challenge_method: ChallengeMethod = "S256",
        allow_plain: bool = False,
        state_ttl: float = 600.0,
    ) -> None:
        for name, url in (
            ("authorization_endpoint", authorization_endpoint),
            ("token_endpoint", token_endpoint),
            ("redirect_uri", redirect_uri),
        ):
            scheme, netloc, _ = _origin_and_path(url)
            if scheme not in ("http", "https") or not netloc:
                raise ConfigurationError(
                    f"AuthorizationCodeFlow({name}=...) must be an absolute http(s) URL, "
                    f"got {url!r}"
                )
        if not client_id:
            raise ConfigurationError("AuthorizationCodeFlow(client_id=...) must not be empty")
        if state_ttl <= 0:
            raise ConfigurationError("AuthorizationCodeFlow(state_ttl=...) must be positive")
        code_challenge("A" * 43, challenge_method, allow_plain=allow_plain)  # validates early
        self.client_id = client_id
        self.authorization_endpoint = authorization_endpoint
        self.token_endpoint = token_endpoint
        self.redirect_uri = redirect_uri
        self._client_secret = (
            client_secret
            if isinstance(client_secret, SecretStr) or client_secret is None
            else SecretStr(client_secret)
        )
        self._method: ChallengeMethod = challenge_method
        self._allow_plain = allow_plain
        self._state_ttl = state_ttl
        self._pending: list[AuthorizationRequest] = []
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"AuthorizationCodeFlow(client_id={self.client_id!r}, "
            f"token_endpoint={self.token_endpoint!r}, redirect_uri={self.redirect_uri!r})"
        )

    # -- step 1: the authorization request ------------------------------------------------

    def authorization_request(
        self, *, scope: str | None = None, nonce: bool = False, **extra: str
    ) -> AuthorizationRequest:
        """A fresh authorization URL with ``state`` and a PKCE challenge (and ``nonce`` for
        OpenID Connect). The flow remembers it until the callback arrives or ``state_ttl``
        passes."""
        verifier = new_code_verifier()
        state = secrets.token_urlsafe(32)
        nonce_value = secrets.token_urlsafe(32) if nonce else None
        params: dict[str, str] = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "state": state,
            "code_challenge": code_challenge(verifier, self._method, allow_plain=self._allow_plain),
            "code_challenge_method": self._method,
        }
        if scope:
            params["scope"] = scope
        if nonce_value is not None:
            params["nonce"] = nonce_value
        params.update(extra)
        separator = "&" if urllib.parse.urlsplit(self.authorization_endpoint).query else "?"
        pending = AuthorizationRequest(
            url=self.authorization_endpoint + separator + urllib.parse.urlencode(params),
            state=SecretStr(state),
            code_verifier=SecretStr(verifier),
            redirect_uri=self.redirect_uri,
            nonce=SecretStr(nonce_value) if nonce_value is not None else None,
            issued_at=get_clock().monotonic(),
        )
        with self._lock:
            self._prune(pending.issued_at)
            self._pending.append(pending)
        return pending

    def _prune(self, now: float) -> None:
        """Forget expired requests (the caller holds the lock)."""
        self._pending = [p for p in self._pending if now - p.issued_at <= self._state_ttl]

    # -- step 2: the callback ----------------------------------------------------------------

    def _claim(self, state: str) -> AuthorizationRequest | None:
        """Remove and return the pending request with this state; each state works once."""
        now = get_clock().monotonic()
        given = state.encode("utf-8", "replace")
        with self._lock:
            self._prune(now)
            found = None
            # Compare against every pending state, so timing reveals nothing about which matched.
            for pending in self._pending:
                if hmac.compare_digest(pending.state.get_secret_value().encode("ascii"), given):
                    found = pending
            if found is not None:
                self._pending.remove(found)
            return found

    def validate_callback(self, callback_url: str) -> tuple[AuthorizationRequest, str]:
        """Check the URL the user agent was redirected to; return its request and ``code``.

        Raises :class:`CallbackError` for a wrong redirect URI, a missing, unknown, expired or
        replayed ``state``, or a missing ``code``; :class:`AuthorizationServerError` when the
        server redirected with an ``error`` (RFC 6749 section 4.1.2.1).
        """
        if not isinstance(callback_url, str):
            raise CallbackError("the callback must be the URL string the user agent arrived at")
        try:
            arrived = _origin_and_path(callback_url)
        except ValueError:  # urllib's verdict on e.g. an unclosed IPv6 literal
            raise CallbackError("the callback is not a well-formed URL") from None
        if arrived != _origin_and_path(self.redirect_uri):
            raise CallbackError(
                "the callback did not arrive at the registered redirect_uri "
                f"{self.redirect_uri!r}; refusing it (RFC 6749 section 3.1.2)"
            )
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(callback_url).query)
        states = query.get("state", [])
        if len(states) != 1:
            raise CallbackError("the callback carries no single 'state' parameter")
        pending = self._claim(states[0])
        if pending is None:
            raise CallbackError(
                "the callback's state was not issued by this flow, has expired, or was already "
                "used; start a new authorization request"
            )
        errors = query.get("error", [])
        if errors:
            # Quoted from the redirect: scrubbed of the secrets this flow holds.
            known = (self._client_secret, pending.code_verifier)
            descriptions = query.get("error_description", [])
            description = scrub(descriptions[0], known) if descriptions else None
            error = scrub(errors[0], known)
            detail = f": {description}" if description else ""
            raise AuthorizationServerError(
                f"the authorization server refused with {error}{detail}",
                error=error,
                description=description,
            )
        codes = query.get("code", [])
        if len(codes) != 1 or not codes[0]:
            raise CallbackError("the callback carries no 'code' parameter")
        return pending, codes[0]

    # -- step 3: the token requests -----------------------------------------------------------

    def _token_request(self, form: Mapping[str, str]) -> httpx.Request:
        data = dict(form)
        headers = {"Accept": "application/json"}
        if self._client_secret is None:
            data["client_id"] = self.client_id  # a public client identifies itself in the body
        else:
            # client_secret_basic, RFC 6749 section 2.3.1: form-encode, then Basic.
            user = urllib.parse.quote(self.client_id, safe="")
            secret = urllib.parse.quote(self._client_secret.get_secret_value(), safe="")
            pair = base64.b64encode(f"{user}:{secret}".encode()).decode("ascii")
            headers["Authorization"] = f"Basic {pair}"
        return httpx.Request("POST", self.token_endpoint, data=data, headers=headers)

    def exchange_flow(self, callback_url: str) -> Flow[Token]:
        """Validate the callback, then exchange its code for a token (RFC 6749 section 4.1.3)."""
        pending, code = self.validate_callback(callback_url)
        response = yield self._token_request(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": pending.redirect_uri,
                "code_verifier": pending.code_verifier.get_secret_value(),
            }
        )
        response.read()
        return token_from_response(response, now=get_clock().time(), what="the code exchange")

    def refresh_flow(self, refresh_token: SecretStr, *, scope: str | None = None) -> Flow[Token]:
        """Trade a refresh token for a new token (RFC 6749 section 6)."""
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token.get_secret_value()}
        if scope:
            form["scope"] = scope
        response = yield self._token_request(form)
        response.read()
        return token_from_response(
            response,
            now=get_clock().time(),
            previous_refresh_token=refresh_token,
            what="the token refresh",
        )

    def login_flow(self, *, scope: str | None = None, nonce: bool = False) -> Flow[Token]:
        """The whole flow for a user agent that approves at once (a mock server, a test).

        Requests the authorization URL without following redirects, validates the redirect as
        the callback, and exchanges the code.
        """
        pending = self.authorization_request(scope=scope, nonce=nonce)
        response = yield httpx.Request("GET", pending.url)
        response.read()
        location = response.headers.get("location")
        if response.status_code not in (302, 303) or location is None:
            raise AuthorizationServerError(
                f"the authorization endpoint answered HTTP {response.status_code} instead of "
                "redirecting back with a code",
                status_code=response.status_code,
            )
        return (yield from self.exchange_flow(location))

    # -- drivers ------------------------------------------------------------------------------

    def exchange(self, callback_url: str, client: httpx.Client) -> Token:
        """:meth:`exchange_flow` with a synchronous client."""
        return run_sync(self.exchange_flow(callback_url), client)

    async def aexchange(self, callback_url: str, client: httpx.AsyncClient) -> Token:
        """:meth:`exchange_flow` with an asynchronous client."""
        return await run_async(self.exchange_flow(callback_url), client)

    def login(self, client: httpx.Client, *, scope: str | None = None) -> Token:
        """:meth:`login_flow` with a synchronous client."""
        return run_sync(self.login_flow(scope=scope), client)

    async def alogin(self, client: httpx.AsyncClient, *, scope: str | None = None) -> Token:
        """:meth:`login_flow` with an asynchronous client."""
        return await run_async(self.login_flow(scope=scope), client)
