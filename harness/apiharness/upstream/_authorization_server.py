"""A mock OAuth 2 authorization server: ``/authorize``, ``/token`` and a protected resource.

The server lives on a mocked :class:`~apiharness.upstream.Upstream` (``server.upstream``, an
httpx transport; ``server.serve()`` for a loopback socket), one route per endpoint, so every
fault the upstream knows can be injected per endpoint, in-process and over loopback::

    server = AuthorizationServer()                      # or the `oauth_server` fixture
    server.register_client("app", redirect_uris=["http://127.0.0.1:8765/callback"])
    server.inject("token", status(503).times(2))        # a 503 burst, then normal service
    server.route("token").respond(delay(5, then=server.service("token")))   # slow, always
    server.fail_next_token("invalid_grant")

The endpoint handlers (:meth:`authorize`, :meth:`token`, :meth:`resource`, and :meth:`handle`
dispatching by path) are plain ``(httpx.Request) -> httpx.Response`` callables, usable with
``httpx.MockTransport`` too.

What it enforces, with the source of each rule:

* ``/authorize`` (RFC 6749 section 4.1.1): a registered ``client_id`` and an exactly matching
  ``redirect_uri`` (RFC 9700 section 4.1.3: exact string match) or it answers 400 itself and
  does not redirect (section 4.1.2.1); otherwise it approves at once and redirects (302) with
  ``code`` and ``state``, or with ``error`` and ``state``. PKCE is required: a missing
  ``code_challenge`` or the ``plain`` method (unless allowed) is ``invalid_request``
  (RFC 7636 section 4.4.1).
* ``/token`` with ``authorization_code`` (RFC 6749 section 4.1.3, RFC 7636 section 4.6): the
  code is single-use and short-lived, bound to its client and ``redirect_uri``, and the
  ``code_verifier`` must hash to the challenge. A code used twice is refused and the tokens
  issued from it are revoked (RFC 6749 section 4.1.2).
* ``/token`` with ``refresh_token`` (RFC 6749 section 6): with rotation on (the default) every
  refresh issues a new refresh token and retires the old one; presenting a retired one
  revokes the whole family, every refresh and access token descended from the same
  authorization (RFC 9700 section 4.14.2).
* Errors are JSON in the form of RFC 6749 section 5.2 (400, or 401 for ``invalid_client``),
  with ``Cache-Control: no-store`` (section 5.1).
* ``resource``: 200 with a valid Bearer token, else 401 with ``WWW-Authenticate: Bearer
  error="invalid_token"`` (RFC 6750 section 3.1).

Time comes from the active clock, so tokens expire in virtual time. The S256 check is computed
here with hashlib, independently of :mod:`apiharness.oauth`: the judge must not share code with
the client it judges.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from apiharness._stacks import httpx
from apiharness.clock import get_clock
from apiharness.errors import ConfigurationError
from apiharness.upstream._behaviours import Behaviour, respond
from apiharness.upstream._routes import Route
from apiharness.upstream._server import LoopbackServer
from apiharness.upstream._upstream import Upstream

__all__ = ["DEFAULT_CLIENT_ID", "DEFAULT_REDIRECT_URI", "AuthorizationServer", "RegisteredClient"]

#: The client the ``oauth_server`` fixture registers.
DEFAULT_CLIENT_ID = "app"
DEFAULT_REDIRECT_URI = "http://127.0.0.1:8765/callback"
_ENDPOINTS = ("authorize", "token", "resource")


@dataclass(frozen=True, repr=False)
class RegisteredClient:
    """A client the server knows: its redirect URIs and, if confidential, its secret."""

    client_id: str
    redirect_uris: tuple[str, ...]
    secret: str | None = None

    def __repr__(self) -> str:
        kind = "confidential" if self.secret is not None else "public"
        return f"RegisteredClient({self.client_id!r}, {kind}, redirect_uris={self.redirect_uris!r})"


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    challenge: str
    method: str
    scope: str | None
    expires_at: float
    family: str
    used: bool = False


@dataclass
class _Family:
    """Everything issued from one authorization: revoked together."""

    client_id: str
    scope: str | None
    refresh_tokens: set[str] = field(default_factory=set)
    access_tokens: set[str] = field(default_factory=set)
    current_refresh: str | None = None
    previous_refresh: str | None = None
    rotated_at: float = 0.0
    revoked: bool = False


def _behaviour_of(
    handler: Callable[[httpx.Request], httpx.Response],
) -> Callable[[httpx.Request], Behaviour]:
    """A handler as an upstream behaviour: its response becomes ``respond(...)``."""

    def planned(request: httpx.Request) -> Behaviour:
        response = handler(request)
        headers = {
            name: value
            for name, value in response.headers.items()
            if name.lower() not in ("content-length", "transfer-encoding")
        }
        return respond(response.status_code, content=response.content, headers=headers)

    planned.__qualname__ = f"AuthorizationServer.{getattr(handler, '__name__', 'handler')}"
    return planned


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


class _Refusal(Exception):
    """An RFC 6749 section 5.2 error answer, raised inside the token endpoint."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(error)
        self.error, self.description, self.status = error, description, status


class AuthorizationServer:
    """The state and endpoints of a mock authorization server (see the module docstring).

    ::

        server = AuthorizationServer()
        server.register_client("app", redirect_uris=["http://127.0.0.1/cb"])
        client = httpx.Client(transport=httpx.MockTransport(server.handle))

    Counters (``token_requests``, ``refreshes``, ``reuse_detected``) and :meth:`family_revoked`
    let tests assert what happened; ``deny_next(error)`` makes the next ``/authorize`` redirect
    with that error; ``fail_next_token(error)`` refuses the next ``/token`` request with it.
    """

    def __init__(
        self,
        *,
        base_url: str = "https://auth.test",
        upstream: Upstream | None = None,
        seed: int = 0,
        access_token_ttl: float = 3600.0,
        code_ttl: float = 600.0,
        rotate_refresh_tokens: bool = True,
        refresh_grace: float = 0.0,
        allow_plain: bool = False,
        authorize_path: str = "/authorize",
        token_path: str = "/token",  # noqa: S107 - a path, not a password
        resource_path: str = "/resource",
    ) -> None:
        if access_token_ttl <= 0 or code_ttl <= 0:
            raise ConfigurationError(
                "AuthorizationServer(access_token_ttl=..., code_ttl=...) must be positive seconds"
            )
        if refresh_grace < 0:
            raise ConfigurationError("AuthorizationServer(refresh_grace=...) must not be negative")
        self.refresh_grace = float(refresh_grace)
        self.access_token_ttl = float(access_token_ttl)
        self.code_ttl = float(code_ttl)
        self.rotate_refresh_tokens = rotate_refresh_tokens
        self.allow_plain = allow_plain
        self.paths = {"authorize": authorize_path, "token": token_path, "resource": resource_path}
        self._clients: dict[str, RegisteredClient] = {}
        self._codes: dict[str, _Code] = {}
        self._families: dict[str, _Family] = {}
        self._refresh_owner: dict[str, str] = {}  # refresh token -> family id
        self._access: dict[str, tuple[str, float]] = {}  # access token -> (family id, expiry)
        self._deny: list[str] = []
        self._token_failures: list[str] = []
        self._lock = threading.Lock()
        self.token_requests = 0
        self.refreshes = 0
        self.reuse_detected = 0
        self.upstream = upstream if upstream is not None else Upstream(base_url, seed=seed)
        handlers = {"authorize": self.authorize, "token": self.token, "resource": self.resource}
        methods = {"authorize": "GET", "token": "POST", "resource": "GET"}
        self._handlers = {name: _behaviour_of(handlers[name]) for name in _ENDPOINTS}
        self._routes = {
            name: self.upstream.route(methods[name], self.paths[name]).respond(self._handlers[name])
            for name in _ENDPOINTS
        }

    def __repr__(self) -> str:
        return (
            f"AuthorizationServer(clients={sorted(self._clients)!r}, "
            f"families={len(self._families)}, refreshes={self.refreshes})"
        )

    # -- where it is, and its faults ---------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The issuer's base URL on the in-process upstream (``https://auth.test``)."""
        return self.upstream.base_url

    @property
    def authorization_endpoint(self) -> str:
        return self.base_url + self.paths["authorize"]

    @property
    def token_endpoint(self) -> str:
        return self.base_url + self.paths["token"]

    @property
    def resource_endpoint(self) -> str:
        return self.base_url + self.paths["resource"]

    def serve(self) -> LoopbackServer:
        """A loopback server for this authorization server; use it with ``with``; its
        ``base_url`` replaces :attr:`base_url` for clients."""
        return self.upstream.serve()

    def route(self, endpoint: str) -> Route:
        """The upstream route of ``endpoint`` (``"authorize"``, ``"token"``, ``"resource"``),
        to script it freely; :meth:`service` is its normal behaviour."""
        if endpoint not in self._routes:
            raise ConfigurationError(
                f"unknown endpoint {endpoint!r}; choose one of {', '.join(_ENDPOINTS)}"
            )
        return self._routes[endpoint]

    def inject(self, endpoint: str, *faults: object) -> Route:
        """Serve ``faults`` (behaviours, in order) on ``endpoint``, then normal service again::

        server.inject("token", status(503).times(3), delay(2, then=server.service("token")))
        """
        return self.route(endpoint).respond(*faults, self._handlers[endpoint])

    def service(self, endpoint: str) -> Callable[[httpx.Request], Behaviour]:
        """The normal service of ``endpoint`` as a behaviour, to compose with faults."""
        self.route(endpoint)  # validates the name
        return self._handlers[endpoint]

    # -- setup -------------------------------------------------------------------------------

    def register_client(
        self, client_id: str, *, redirect_uris: Iterable[str], secret: str | None = None
    ) -> RegisteredClient:
        """Register a client; ``secret`` makes it confidential (HTTP Basic at ``/token``)."""
        uris = tuple(redirect_uris)
        if not client_id or not uris or isinstance(redirect_uris, str):
            raise ConfigurationError(
                "register_client() needs a client_id and a list of redirect_uris, "
                'e.g. register_client("app", redirect_uris=["http://127.0.0.1/cb"])'
            )
        client = RegisteredClient(client_id, uris, secret)
        with self._lock:
            self._clients[client_id] = client
        return client

    def deny_next(self, error: str = "access_denied") -> None:
        """Make the next ``/authorize`` redirect back with ``error`` instead of a code."""
        with self._lock:
            self._deny.append(error)

    def fail_next_token(self, error: str = "invalid_grant") -> None:
        """Refuse the next ``/token`` request with this RFC 6749 section 5.2 error."""
        with self._lock:
            self._token_failures.append(error)

    def invalidate_access_tokens(self) -> None:
        """Reject every access token issued so far (a key rotation on the server, say)."""
        with self._lock:
            self._access.clear()

    def family_revoked(self, refresh_or_access_token: str) -> bool:
        """True if the token's family was revoked (e.g. after refresh-token reuse)."""
        with self._lock:
            family_id = self._refresh_owner.get(refresh_or_access_token)
            if family_id is None and refresh_or_access_token in self._access:
                family_id = self._access[refresh_or_access_token][0]
            return family_id is not None and self._families[family_id].revoked

    # -- dispatch ----------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Route by path to :meth:`authorize`, :meth:`token` or :meth:`resource`."""
        path = request.url.path
        if path == self.paths["authorize"]:
            return self.authorize(request)
        if path == self.paths["token"]:
            return self.token(request)
        if path == self.paths["resource"]:
            return self.resource(request)
        return httpx.Response(404, json={"error": "not_found"})

    # -- /authorize ---------------------------------------------------------------------------

    def authorize(self, request: httpx.Request) -> httpx.Response:
        """The authorization endpoint: approves at once and redirects back."""
        query = dict(urllib.parse.parse_qsl(request.url.query.decode("ascii", "replace")))
        client = self._clients.get(query.get("client_id", ""))
        redirect_uri = query.get("redirect_uri", "")
        if client is None or redirect_uri not in client.redirect_uris:
            # RFC 6749 section 4.1.2.1: never redirect to an unverified URI.
            return httpx.Response(
                400,
                json={
                    "error": "invalid_request",
                    "error_description": "unknown client_id or unregistered redirect_uri",
                },
            )
        params: dict[str, str] = {}
        if "state" in query:
            params["state"] = query["state"]
        method = query.get("code_challenge_method", "plain")
        with self._lock:
            denial = self._deny.pop(0) if self._deny else None
        if denial is not None:
            params["error"] = denial
        elif query.get("response_type") != "code":
            params["error"] = "unsupported_response_type"
        elif not query.get("code_challenge"):
            params.update(error="invalid_request", error_description="PKCE is required")
        elif method not in ("S256", "plain") or (method == "plain" and not self.allow_plain):
            params.update(
                error="invalid_request", error_description="transform algorithm not supported"
            )
        else:
            code = secrets.token_urlsafe(24)
            family = secrets.token_hex(8)
            with self._lock:
                self._codes[code] = _Code(
                    client.client_id,
                    redirect_uri,
                    query["code_challenge"],
                    method,
                    query.get("scope"),
                    get_clock().time() + self.code_ttl,
                    family,
                )
            params["code"] = code
        separator = "&" if "?" in redirect_uri else "?"
        location = redirect_uri + separator + urllib.parse.urlencode(params)
        return httpx.Response(302, headers={"Location": location})

    # -- /token ---------------------------------------------------------------------------------

    def token(self, request: httpx.Request) -> httpx.Response:
        """The token endpoint: ``authorization_code`` and ``refresh_token`` grants."""
        with self._lock:
            self.token_requests += 1
            try:
                if request.method != "POST":
                    raise _Refusal("invalid_request", "the token endpoint takes POST")
                if self._token_failures:
                    raise _Refusal(self._token_failures.pop(0), "injected by the test")
                form = dict(urllib.parse.parse_qsl(request.content.decode("utf-8", "replace")))
                client = self._authenticate(request, form)
                grant = form.get("grant_type")
                if grant == "authorization_code":
                    body = self._exchange(client, form)
                elif grant == "refresh_token":
                    body = self._refresh(client, form)
                else:
                    raise _Refusal("unsupported_grant_type", f"grant_type {grant!r}")
            except _Refusal as refusal:
                headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
                if refusal.status == 401:
                    headers["WWW-Authenticate"] = 'Basic realm="token"'
                return httpx.Response(
                    refusal.status,
                    json={"error": refusal.error, "error_description": refusal.description},
                    headers=headers,
                )
        return httpx.Response(
            200, json=body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"}
        )

    def _authenticate(self, request: httpx.Request, form: dict[str, str]) -> RegisteredClient:
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            try:
                pair = base64.b64decode(header[6:], validate=True).decode("utf-8")
            except (ValueError, UnicodeDecodeError):
                raise _Refusal("invalid_client", "malformed Basic credentials", 401) from None
            user, _, password = pair.partition(":")
            client = self._clients.get(urllib.parse.unquote(user))
            secret = urllib.parse.unquote(password)
            if client is None or client.secret is None or not _equal(client.secret, secret):
                raise _Refusal("invalid_client", "client authentication failed", 401)
            return client
        client = self._clients.get(form.get("client_id", ""))
        if client is None:
            raise _Refusal("invalid_client", "unknown client", 401)
        if client.secret is not None:
            raise _Refusal("invalid_client", "this client must authenticate", 401)
        return client

    def _issue(self, family_id: str) -> dict[str, object]:
        family = self._families[family_id]
        access = secrets.token_urlsafe(24)
        family.access_tokens.add(access)
        self._access[access] = (family_id, get_clock().time() + self.access_token_ttl)
        body: dict[str, object] = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": int(self.access_token_ttl),
        }
        if family.current_refresh is None or self.rotate_refresh_tokens:
            refresh = secrets.token_urlsafe(32)
            family.refresh_tokens.add(refresh)
            family.previous_refresh, family.current_refresh = family.current_refresh, refresh
            family.rotated_at = get_clock().time()
            self._refresh_owner[refresh] = family_id
            body["refresh_token"] = refresh
        if family.scope:
            body["scope"] = family.scope
        return body

    def _revoke(self, family_id: str) -> None:
        family = self._families[family_id]
        family.revoked = True
        for access in family.access_tokens:
            self._access.pop(access, None)

    def _exchange(self, client: RegisteredClient, form: dict[str, str]) -> dict[str, object]:
        code = self._codes.get(form.get("code", ""))
        if code is None or code.client_id != client.client_id:
            raise _Refusal("invalid_grant", "unknown authorization code")
        if code.used:
            # RFC 6749 section 4.1.2: a reused code revokes what it was exchanged for.
            if code.family in self._families:
                self._revoke(code.family)
            raise _Refusal("invalid_grant", "authorization code already used")
        code.used = True
        if get_clock().time() >= code.expires_at:
            raise _Refusal("invalid_grant", "authorization code expired")
        if form.get("redirect_uri") != code.redirect_uri:
            raise _Refusal("invalid_grant", "redirect_uri does not match the authorization")
        verifier = form.get("code_verifier", "")
        ok = (
            43 <= len(verifier) <= 128
            and verifier.isascii()
            and _equal(_s256(verifier) if code.method == "S256" else verifier, code.challenge)
        )
        if not ok:
            raise _Refusal("invalid_grant", "PKCE verification failed")
        self._families[code.family] = _Family(client.client_id, code.scope)
        return self._issue(code.family)

    def _refresh(self, client: RegisteredClient, form: dict[str, str]) -> dict[str, object]:
        presented = form.get("refresh_token", "")
        family_id = self._refresh_owner.get(presented)
        if family_id is None:
            raise _Refusal("invalid_grant", "unknown refresh token")
        family = self._families[family_id]
        if family.client_id != client.client_id:
            raise _Refusal("invalid_grant", "refresh token issued to another client")
        if family.revoked:
            raise _Refusal("invalid_grant", "refresh token revoked")
        in_grace = (
            family.previous_refresh is not None
            and _equal(presented, family.previous_refresh)
            and get_clock().time() - family.rotated_at < self.refresh_grace
        )
        if in_grace:
            # The client lost the answer to its last refresh (a timeout, a dropped response):
            # servers with a reuse grace period (Okta, Auth0) accept the previous token once more.
            family.current_refresh = presented
        elif family.current_refresh is None or not _equal(presented, family.current_refresh):
            # A rotated-out token came back: one of the two presenters is an attacker.
            self.reuse_detected += 1
            self._revoke(family_id)
            raise _Refusal("invalid_grant", "refresh token reuse detected; family revoked")
        self.refreshes += 1
        return self._issue(family_id)

    # -- a protected resource ---------------------------------------------------------------------

    def resource(self, request: httpx.Request) -> httpx.Response:
        """200 with a valid Bearer access token; 401 ``invalid_token`` otherwise."""
        header = request.headers.get("authorization", "")
        scheme, _, access = header.partition(" ")
        with self._lock:
            found = self._access.get(access) if scheme.lower() == "bearer" else None
            valid = found is not None and get_clock().time() < found[1]
        if not valid:
            return httpx.Response(401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        return httpx.Response(200, json={"ok": True})
