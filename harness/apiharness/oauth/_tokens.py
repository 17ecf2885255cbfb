"""Token endpoint answers: parsing a token response and its typed errors.

:class:`Token` and the token stores live in :mod:`apiharness.stores` and are re-exported here.
"""

from __future__ import annotations

import base64
import contextlib
import math
import urllib.parse
from collections.abc import Iterable
from typing import Any

from pydantic import SecretStr

from apiharness._scrub import scrub
from apiharness._stacks import httpx
from apiharness.errors import AuthorizationServerError
from apiharness.stores import (
    EncryptedFileTokenStore,
    MemoryTokenStore,
    RedisTokenStore,
    Token,
    TokenStore,
)

__all__ = [
    "EncryptedFileTokenStore",
    "MemoryTokenStore",
    "RedisTokenStore",
    "Token",
    "TokenStore",
    "token_from_response",
]


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
