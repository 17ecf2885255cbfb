"""OAuth 2 for clients: PKCE, the authorization-code flow, a token manager, and secrets.

* :func:`new_code_verifier`, :func:`s256_challenge` - PKCE (RFC 7636).
* :class:`AuthorizationCodeFlow` - authorization URL with ``state`` (and ``nonce``), callback
  validation, code exchange and refresh, written once as generator flows and driven by
  :func:`run_sync` / :func:`run_async` (or ``flow.login(client)`` / ``flow.alogin(client)``).
* :class:`TokenManager` - single-flight proactive refresh across threads and asyncio tasks,
  rotation, and :meth:`TokenManager.auth` for ``httpx.Client(auth=...)`` (401: one refresh,
  one retry). Tokens live in a :class:`TokenStore`; :class:`EncryptedFileTokenStore` keeps
  them encrypted at rest.
* :class:`SecretsProvider` - API keys and client secrets from the environment, ``.env`` or
  any backend, cached with a TTL, always as ``SecretStr``.

::

    from apiharness.oauth import AuthorizationCodeFlow, TokenManager

    flow = AuthorizationCodeFlow(client_id="app", authorization_endpoint=..., token_endpoint=...,
                                 redirect_uri="http://127.0.0.1:8765/callback")
    manager = TokenManager(flow)
    manager.set_token(flow.login(client))
    api = httpx.Client(auth=manager.auth())
"""

from apiharness.oauth._flow import (
    AuthorizationCodeFlow,
    AuthorizationRequest,
    Flow,
    run_async,
    run_sync,
)
from apiharness.oauth._manager import Refresher, TokenAuth, TokenManager
from apiharness.oauth._pkce import (
    ChallengeMethod,
    code_challenge,
    is_valid_verifier,
    new_code_verifier,
    s256_challenge,
    verify_code_verifier,
)
from apiharness.oauth._secrets import EnvSecrets, MappingSecrets, SecretBackend, SecretsProvider
from apiharness.oauth._tokens import (
    EncryptedFileTokenStore,
    MemoryTokenStore,
    Token,
    TokenStore,
    token_from_response,
)

__all__ = [
    "AuthorizationCodeFlow",
    "AuthorizationRequest",
    "ChallengeMethod",
    "EncryptedFileTokenStore",
    "EnvSecrets",
    "Flow",
    "MappingSecrets",
    "MemoryTokenStore",
    "Refresher",
    "SecretBackend",
    "SecretsProvider",
    "Token",
    "TokenAuth",
    "TokenManager",
    "TokenStore",
    "code_challenge",
    "is_valid_verifier",
    "new_code_verifier",
    "run_async",
    "run_sync",
    "s256_challenge",
    "token_from_response",
    "verify_code_verifier",
]
