"""Tokens and where they are kept.

A :class:`Token` holds its secrets as :class:`pydantic.SecretStr`, so printing, logging or
formatting one into an exception shows ``'**********'``. Stores implement :class:`TokenStore`;
:class:`MemoryTokenStore` is the default, :class:`EncryptedFileTokenStore` keeps tokens across
restarts with both tokens encrypted at rest (Fernet: AES-128-CBC with HMAC-SHA256, from the
``cryptography`` package) and writes atomically.
"""

from __future__ import annotations

import base64
import contextlib
import json
import math
import os
import threading
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from cryptography.fernet import Fernet, InvalidToken
from pydantic import SecretStr

from apiharness._io import atomic_write
from apiharness._scrub import scrub
from apiharness._stacks import httpx
from apiharness.errors import AuthorizationServerError, ConfigurationError, TokenUnavailable

__all__ = [
    "EncryptedFileTokenStore",
    "MemoryTokenStore",
    "Token",
    "TokenStore",
    "token_from_response",
]


@dataclass(frozen=True, repr=False, eq=False)
class Token:
    """An access token with its refresh token, expiry (epoch seconds) and scope.

    Equality is identity on purpose: comparing tokens by value would invite non-constant-time
    comparisons of secrets. ``repr`` shows only whether a refresh token is present::

        token = Token(SecretStr("at"), expires_at=clock.time() + 3600)
        token.expires_within(60, now=clock.time())  # False
    """

    access_token: SecretStr
    token_type: str = "Bearer"  # noqa: S105 - a scheme name, not a secret
    expires_at: float | None = None
    refresh_token: SecretStr | None = None
    scope: str | None = None

    def expires_within(self, seconds: float, *, now: float) -> bool:
        """True if the token is expired or expires within ``seconds`` of ``now``."""
        return self.expires_at is not None and now >= self.expires_at - seconds

    @property
    def authorization(self) -> str:
        """The ``Authorization`` header value (RFC 6750 section 2.1)."""
        scheme = "Bearer" if self.token_type.lower() == "bearer" else self.token_type
        return f"{scheme} {self.access_token.get_secret_value()}"

    def __repr__(self) -> str:
        refresh = "yes" if self.refresh_token is not None else "no"
        return (
            f"Token(token_type={self.token_type!r}, expires_at={self.expires_at!r}, "
            f"scope={self.scope!r}, refresh_token={refresh})"
        )

    __str__ = __repr__


# Form fields of a token request that are not secret; every other value is scrubbed.
_PUBLIC_FIELDS = frozenset({"grant_type", "redirect_uri", "scope", "client_id", "resource"})


def request_secrets(response: httpx.Response) -> list[str]:
    """The secret values the request behind ``response`` carried: form fields other than the
    public ones (the refresh token, the code, the PKCE verifier, a client secret) and the
    credentials of its ``Authorization`` header."""
    try:
        request = response.request
    except RuntimeError:  # a response built by hand, never sent
        return []
    found: list[str] = []
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/x-www-form-urlencoded"):
        form = urllib.parse.parse_qsl(request.content.decode("utf-8", "replace"))
        found.extend(value for name, value in form if name not in _PUBLIC_FIELDS)
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if credentials:
        found.append(credentials)
        if scheme.lower() == "basic":
            with contextlib.suppress(ValueError):
                pair = base64.b64decode(credentials, validate=True).decode("utf-8")
                found.extend(urllib.parse.unquote(part) for part in pair.split(":", 1))
    return found


def _server_error(
    response: httpx.Response, what: str, known: Iterable[SecretStr | None] = ()
) -> AuthorizationServerError:
    """The typed error for a failed token-endpoint answer (RFC 6749 section 5.2 form or not).

    The server's ``error_description`` is quoted with every secret the request carried (and
    ``known``) scrubbed: a server may echo the refresh token it was sent.
    """
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        secrets = [*request_secrets(response), *known]
        code = scrub(body["error"], secrets)
        raw = body.get("error_description")
        description = scrub(raw, secrets) if isinstance(raw, str) else None
        detail = f": {description}" if description else ""
        return AuthorizationServerError(
            f"{what} failed with {code} (HTTP {response.status_code}){detail}",
            error=code,
            description=description,
            status_code=response.status_code,
        )
    return AuthorizationServerError(
        f"{what} failed: HTTP {response.status_code} without an RFC 6749 section 5.2 error body",
        status_code=response.status_code,
    )


def token_from_response(
    response: httpx.Response,
    *,
    now: float,
    previous_refresh_token: SecretStr | None = None,
    what: str = "the token request",
) -> Token:
    """Parse a token endpoint response (RFC 6749 section 5.1), or raise its typed error.

    A refresh response without a ``refresh_token`` keeps the previous one (section 6 lets the
    server decide whether to rotate).
    """
    if response.status_code != 200:
        raise _server_error(response, what, (previous_refresh_token,))
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise AuthorizationServerError(
            f"{what} answered 200 with a body that is not a JSON object", status_code=200
        )
    access, token_type = body.get("access_token"), body.get("token_type")
    if not isinstance(access, str) or not access or not isinstance(token_type, str):
        raise AuthorizationServerError(
            f"{what} answered 200 without access_token and token_type (RFC 6749 section 5.1)",
            status_code=200,
        )
    expires_in = body.get("expires_in")
    expires_at = None
    if isinstance(expires_in, int | float) and not isinstance(expires_in, bool):
        expires_at = now + float(expires_in) if math.isfinite(expires_in) else None
    refresh = body.get("refresh_token")
    rotated = SecretStr(refresh) if isinstance(refresh, str) and refresh else None
    scope = body.get("scope")
    return Token(
        access_token=SecretStr(access),
        token_type=token_type,
        expires_at=expires_at,
        refresh_token=rotated or previous_refresh_token,
        scope=scope if isinstance(scope, str) else None,
    )


@runtime_checkable
class TokenStore(Protocol):
    """Where a :class:`~apiharness.oauth.TokenManager` keeps its token."""

    def load(self) -> Token | None:
        """The stored token, or None."""

    def save(self, token: Token) -> None:
        """Replace the stored token."""

    def clear(self) -> None:
        """Forget the stored token."""


class MemoryTokenStore:
    """Keeps the token in this process only: the default."""

    def __init__(self, token: Token | None = None) -> None:
        self._token = token
        self._lock = threading.Lock()

    def load(self) -> Token | None:
        with self._lock:
            return self._token

    def save(self, token: Token) -> None:
        with self._lock:
            self._token = token

    def clear(self) -> None:
        with self._lock:
            self._token = None

    def __repr__(self) -> str:
        return f"MemoryTokenStore(has_token={self._token is not None})"


class EncryptedFileTokenStore:
    """Keeps the token in a JSON file with the access and refresh tokens encrypted (Fernet).

    ``key`` is a Fernet key (32 url-safe base64-encoded bytes, e.g. from
    :meth:`generate_key`), best held by a secrets backend. Writes are atomic::

        store = EncryptedFileTokenStore("tokens.json", key=provider.get("TOKEN_KEY"))
        manager = TokenManager(flow, store=store)
    """

    def __init__(self, path: str | os.PathLike[str], *, key: bytes | str | SecretStr) -> None:
        raw = key.get_secret_value() if isinstance(key, SecretStr) else key
        try:
            self._fernet = Fernet(raw)
        except (ValueError, TypeError):
            raise ConfigurationError(
                "EncryptedFileTokenStore(key=...) needs a Fernet key: 32 url-safe "
                "base64-encoded bytes; make one with EncryptedFileTokenStore.generate_key()"
            ) from None
        self.path = Path(path)
        self._lock = threading.Lock()

    @staticmethod
    def generate_key() -> bytes:
        """A new random Fernet key."""
        return Fernet.generate_key()

    def _seal(self, secret: SecretStr | None) -> str | None:
        if secret is None:
            return None
        return self._fernet.encrypt(secret.get_secret_value().encode("utf-8")).decode("ascii")

    def _open(self, sealed: object) -> SecretStr | None:
        if sealed is None:
            return None
        if not isinstance(sealed, str):
            raise InvalidToken
        return SecretStr(self._fernet.decrypt(sealed.encode("ascii")).decode("utf-8"))

    def load(self) -> Token | None:
        with self._lock:
            try:
                data = json.loads(self.path.read_text("utf-8"))
            except FileNotFoundError:
                return None
            except (OSError, ValueError):
                raise TokenUnavailable(
                    f"the token file {self.path} is unreadable or not JSON; delete it and "
                    "authorize again"
                ) from None
            try:
                return _token_from_record(data, self._open)
            except (InvalidToken, KeyError, TypeError, ValueError, ConfigurationError):
                raise TokenUnavailable(
                    f"the token file {self.path} cannot be decrypted with this key or is "
                    "damaged; use the key it was written with, or delete it and authorize again"
                ) from None

    def save(self, token: Token) -> None:
        record = {
            "version": 1,
            "token_type": token.token_type,
            "expires_at": token.expires_at,
            "scope": token.scope,
            "access_token": self._seal(token.access_token),
            "refresh_token": self._seal(token.refresh_token),
        }
        with self._lock:
            atomic_write(self.path, json.dumps(record, indent=1))

    def clear(self) -> None:
        with self._lock:
            self.path.unlink(missing_ok=True)

    def __repr__(self) -> str:
        return f"EncryptedFileTokenStore({str(self.path)!r})"


def _token_from_record(data: Mapping[str, Any], open_: Any) -> Token:
    if data.get("version") != 1:
        raise ValueError("unknown token file version")
    access = open_(data["access_token"])
    if access is None:
        raise ValueError("no access token")
    expires_at = data.get("expires_at")
    if expires_at is not None and not isinstance(expires_at, int | float):
        raise TypeError("expires_at")
    token = Token(access_token=access, refresh_token=open_(data.get("refresh_token")))
    return replace(
        token,
        token_type=str(data.get("token_type") or "Bearer"),
        expires_at=None if expires_at is None else float(expires_at),
        scope=data.get("scope") if isinstance(data.get("scope"), str) else None,
    )
