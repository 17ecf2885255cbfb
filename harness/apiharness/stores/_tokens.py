"""OAuth tokens and where they are kept: memory, an encrypted file, Redis.

A :class:`Token` holds its secrets as :class:`pydantic.SecretStr`, so printing, logging or
formatting one into an exception shows ``'**********'``. Stores implement :class:`TokenStore`;
:class:`MemoryTokenStore` is the default, :class:`EncryptedFileTokenStore` keeps tokens across
restarts, :class:`RedisTokenStore` shares them between processes and hosts. The file and Redis
stores encrypt both tokens at rest (Fernet: AES-128-CBC with HMAC-SHA256, from the
``cryptography`` package).

A store that is also a :class:`SharedTokenStore` offers a refresh lock, and
:class:`~apiharness.oauth.TokenManager` then refreshes single-flight across processes: one
process refreshes, the others wait for the lock and read the token it saved.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from cryptography.fernet import Fernet, InvalidToken
from pydantic import SecretStr

from apiharness._io import atomic_write
from apiharness._ttl import check_ttl, milliseconds
from apiharness.clock import SystemClock
from apiharness.errors import ConfigurationError, TokenUnavailable
from apiharness.stores._redis import RedisConnection, as_bytes, redis_key

__all__ = [
    "EncryptedFileTokenStore",
    "MemoryTokenStore",
    "RedisTokenStore",
    "SharedTokenStore",
    "Token",
    "TokenStore",
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


class _Sealed:
    """Token records with both tokens encrypted by one Fernet key (file and Redis stores)."""

    def __init__(self, key: bytes | str | SecretStr, what: str) -> None:
        raw = key.get_secret_value() if isinstance(key, SecretStr) else key
        try:
            self._fernet = Fernet(raw)
        except (ValueError, TypeError):
            raise ConfigurationError(
                f"{what}(key=...) needs a Fernet key: 32 url-safe base64-encoded bytes; make "
                "one with EncryptedFileTokenStore.generate_key()"
            ) from None

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

    def dumps(self, token: Token) -> str:
        """The record of ``token`` as JSON, secrets sealed."""
        record = {
            "version": 1,
            "token_type": token.token_type,
            "expires_at": token.expires_at,
            "scope": token.scope,
            "access_token": self._seal(token.access_token),
            "refresh_token": self._seal(token.refresh_token),
        }
        return json.dumps(record, indent=1)

    def loads(self, text: str | bytes, where: str) -> Token:
        """The token in a record written by :meth:`dumps`, or :class:`TokenUnavailable`."""
        try:
            data = json.loads(text)
        except ValueError:
            raise TokenUnavailable(
                f"the token in {where} is not JSON; delete it and authorize again"
            ) from None
        try:
            return _token_from_record(data, self._open)
        except (InvalidToken, KeyError, TypeError, ValueError, ConfigurationError):
            raise TokenUnavailable(
                f"the token in {where} cannot be decrypted with this key or is damaged; use "
                "the key it was written with, or delete it and authorize again"
            ) from None


class EncryptedFileTokenStore:
    """Keeps the token in a JSON file with the access and refresh tokens encrypted (Fernet).

    ``key`` is a Fernet key (32 url-safe base64-encoded bytes, e.g. from
    :meth:`generate_key`), best held by a secrets backend. Writes are atomic::

        store = EncryptedFileTokenStore("tokens.json", key=provider.get("TOKEN_KEY"))
        manager = TokenManager(flow, store=store)
    """

    def __init__(self, path: str | os.PathLike[str], *, key: bytes | str | SecretStr) -> None:
        self._sealed = _Sealed(key, "EncryptedFileTokenStore")
        self.path = Path(path)
        self._lock = threading.Lock()

    @staticmethod
    def generate_key() -> bytes:
        """A new random Fernet key."""
        return Fernet.generate_key()

    def load(self) -> Token | None:
        with self._lock:
            try:
                text = self.path.read_text("utf-8")
            except FileNotFoundError:
                return None
            except (OSError, ValueError):
                raise TokenUnavailable(
                    f"the token file {self.path} is unreadable; delete it and authorize again"
                ) from None
            return self._sealed.loads(text, f"the token file {self.path}")

    def save(self, token: Token) -> None:
        text = self._sealed.dumps(token)
        with self._lock:
            atomic_write(self.path, text, private=True)

    def clear(self) -> None:
        with self._lock:
            self.path.unlink(missing_ok=True)

    def __repr__(self) -> str:
        return f"EncryptedFileTokenStore({str(self.path)!r})"


def _token_from_record(
    data: Mapping[str, Any], open_: Callable[[object], SecretStr | None]
) -> Token:
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


@runtime_checkable
class SharedTokenStore(TokenStore, Protocol):
    """A :class:`TokenStore` shared by processes, with a lock that makes refreshes single-flight.

    :class:`~apiharness.oauth.TokenManager` takes the lock before it refreshes, reads the store
    again under it (another process may have refreshed meanwhile) and saves the new token
    before releasing it.
    """

    def refresh_lock(self) -> contextlib.AbstractContextManager[None]:
        """Hold the refresh lock for the block (blocks until it is free)."""

    def arefresh_lock(self) -> contextlib.AbstractAsyncContextManager[None]:
        """:meth:`refresh_lock` for asyncio."""


# Deletes the lock only if this holder still owns it: an expired lock taken over by another
# process must not be released by the late first holder.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
# How often a waiter asks whether the refresh lock is free. Refreshes are rare and take a round
# trip to the authorization server (tens to hundreds of ms); polling a key every 20 ms costs
# nothing measurable and needs no subscription connection per waiter.
_POLL = 0.02
# The lock expires on Redis's clock, so waiting for it is real time even under a virtual clock.
_REAL = SystemClock()


class RedisTokenStore:
    """The token in Redis, both tokens encrypted with a Fernet ``key``, shared by processes.

        store = RedisTokenStore("redis://cache:6379/0", key=provider.get("TOKEN_KEY"))
        manager = TokenManager(flow, store=store)   # one refresh across every worker

    Keys: ``apiharness:token:<name>`` (the sealed record) and ``apiharness:token:<name>:lock``
    (the refresh lock, released by its holder or expired by Redis after ``lock_ttl`` seconds,
    so a worker that dies mid-refresh cannot wedge the others). Redis errors raise
    :class:`~apiharness.errors.StoreUnavailable`.
    """

    def __init__(
        self,
        url: str,
        *,
        key: bytes | str | SecretStr,
        name: str = "default",
        lock_ttl: float = 30.0,
    ) -> None:
        self._sealed = _Sealed(key, "RedisTokenStore")
        self.name = name
        self.lock_ttl = check_ttl(lock_ttl, "RedisTokenStore lock")
        self._redis = RedisConnection(url, what="RedisTokenStore")
        self._key = redis_key("token", name)
        self._lock_key = redis_key("token", name, "lock")
        self._release = self._redis.sync.register_script(_RELEASE)

    def __repr__(self) -> str:
        return f"RedisTokenStore({self._redis.shown!r}, name={self.name!r})"

    def load(self) -> Token | None:
        with self._redis.errors():
            text = self._redis.sync.get(self._key)
        if text is None:
            return None
        return self._sealed.loads(as_bytes(text), f"Redis key {self._key}")

    def save(self, token: Token) -> None:
        text = self._sealed.dumps(token)
        with self._redis.errors():
            self._redis.sync.set(self._key, text)

    def clear(self) -> None:
        with self._redis.errors():
            self._redis.sync.delete(self._key)

    def _deadline(self) -> float:
        # A holder that died leaves the lock to expire after lock_ttl; twice that is a wait
        # no live holder causes.
        return _REAL.monotonic() + 2 * self.lock_ttl

    def _too_long(self) -> TokenUnavailable:
        return TokenUnavailable(
            f"another process held the refresh lock {self._lock_key} for more than "
            f"{2 * self.lock_ttl:g} s; try again"
        )

    @contextlib.contextmanager
    def refresh_lock(self) -> Iterator[None]:
        owner, px, deadline = secrets.token_hex(16), milliseconds(self.lock_ttl), self._deadline()
        while True:
            with self._redis.errors():
                if self._redis.sync.set(self._lock_key, owner, nx=True, px=px):
                    break
            if _REAL.monotonic() > deadline:
                raise self._too_long()
            _REAL.sleep(_POLL)
        try:
            yield
        finally:
            with self._redis.errors():
                self._release(keys=[self._lock_key], args=[owner])

    @contextlib.asynccontextmanager
    async def arefresh_lock(self) -> AsyncIterator[None]:
        owner, px, deadline = secrets.token_hex(16), milliseconds(self.lock_ttl), self._deadline()
        client = self._redis.asyncio_client()
        while True:
            with self._redis.errors():
                if await client.set(self._lock_key, owner, nx=True, px=px):
                    break
            if _REAL.monotonic() > deadline:
                raise self._too_long()
            await _REAL.asleep(_POLL)
        try:
            yield
        finally:
            with self._redis.errors():
                await client.register_script(_RELEASE)(keys=[self._lock_key], args=[owner])

    def close(self) -> None:
        """Close the connections."""
        self._redis.close()
