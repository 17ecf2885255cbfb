"""A small secrets provider: API keys and client secrets, held as ``SecretStr``.

Backends answer "what is the value of NAME?"; the provider asks them in order, caches answers
for ``ttl`` seconds of the active clock (so a rotated secret is picked up, and tests can expire
the cache in virtual time), and hands out :class:`pydantic.SecretStr`, which prints as
``'**********'``. The environment and a ``.env`` file (read by pydantic-settings) are the
default backend; anything with a ``fetch(name)`` method plugs in (a vault client, a mapping).

The recording's secret-leak gate reads :meth:`SecretsProvider.declared_values` to know which
values must never appear in a cassette.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from pydantic import Field, SecretStr, create_model
from pydantic_settings import BaseSettings, SettingsConfigDict

from apiharness.clock import get_clock
from apiharness.errors import ConfigurationError, SecretNotFound

__all__ = ["EnvSecrets", "MappingSecrets", "SecretBackend", "SecretsProvider"]


@runtime_checkable
class SecretBackend(Protocol):
    """A source of secrets: returns the value of ``name``, or None if it has none."""

    def fetch(self, name: str) -> str | SecretStr | None:
        """The value of ``name`` in this backend, or None."""


class _EnvBase(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", case_sensitive=True)


class EnvSecrets:
    """Secrets from the environment, then from a ``.env`` file (pydantic-settings).

    ``prefix`` is put before every name: ``EnvSecrets(prefix="MYAPP_").fetch("API_KEY")``
    reads ``MYAPP_API_KEY``. The environment wins over the file, as in pydantic-settings.
    """

    def __init__(
        self, *, env_file: str | os.PathLike[str] | None = ".env", prefix: str = ""
    ) -> None:
        self.env_file = Path(env_file) if env_file is not None else None
        self.prefix = prefix
        self._models: dict[str, type[_EnvBase]] = {}
        self._lock = threading.Lock()

    def _model(self, name: str) -> type[_EnvBase]:
        with self._lock:
            model = self._models.get(name)
            if model is None:
                # One field whose alias is the variable's name: names need not be identifiers.
                field: Any = (SecretStr | None, Field(default=None, validation_alias=name))
                model = create_model("EnvSecret", __base__=_EnvBase, value=field)
                self._models[name] = model
            return model

    def fetch(self, name: str) -> SecretStr | None:
        settings: Any = self._model(self.prefix + name)(
            _env_file=self.env_file  # type: ignore[call-arg]
        )
        value = settings.value
        return value if isinstance(value, SecretStr) and value.get_secret_value() else None

    def __repr__(self) -> str:
        return f"EnvSecrets(env_file={self.env_file!r}, prefix={self.prefix!r})"


class MappingSecrets:
    """Secrets from a mapping: for tests, or to adapt a dict a vault client returned."""

    def __init__(self, values: Mapping[str, str | SecretStr]) -> None:
        self._values = dict(values)

    def fetch(self, name: str) -> str | SecretStr | None:
        return self._values.get(name)

    def __repr__(self) -> str:
        return f"MappingSecrets(names={sorted(self._values)!r})"


class SecretsProvider:
    """Looks secrets up in its backends, in order, with a TTL cache through the clock.

    ::

        secrets = SecretsProvider(ttl=300, declared=["STRIPE_API_KEY"])   # env and .env
        key = secrets.get("STRIPE_API_KEY")          # SecretStr; key.get_secret_value() to use
        flow = AuthorizationCodeFlow(..., client_secret=secrets.get("CLIENT_SECRET"))
    """

    def __init__(
        self,
        *backends: SecretBackend,
        ttl: float = 300.0,
        declared: Iterable[str] = (),
    ) -> None:
        for backend in backends:
            if not isinstance(backend, SecretBackend):
                raise ConfigurationError(
                    f"SecretsProvider backends need a fetch(name) method; "
                    f"got {type(backend).__name__}"
                )
        if ttl < 0:
            raise ConfigurationError(f"SecretsProvider(ttl={ttl}) must not be negative")
        self.backends: tuple[SecretBackend, ...] = backends or (EnvSecrets(),)
        self.ttl = float(ttl)
        self._declared: list[str] = []
        self._cache: dict[str, tuple[float, SecretStr]] = {}
        self._lock = threading.Lock()
        self.declare(*declared)

    def declare(self, *names: str) -> None:
        """Declare secrets this project uses: they must never appear in recordings."""
        for name in names:
            if not isinstance(name, str) or not name:
                raise ConfigurationError("secret names must be non-empty strings")
            with self._lock:
                if name not in self._declared:
                    self._declared.append(name)

    @property
    def declared(self) -> tuple[str, ...]:
        """The declared names, in declaration order."""
        return tuple(self._declared)

    def get(self, name: str) -> SecretStr:
        """The value of ``name`` from the first backend that has one (cached for ``ttl``)."""
        found = self.find(name)
        if found is None:
            asked = ", ".join(type(b).__name__ for b in self.backends)
            raise SecretNotFound(
                f"secret {name!r} has no value in any backend ({asked}); set it in the "
                "environment or the .env file, or add a backend that has it"
            )
        return found

    def find(self, name: str) -> SecretStr | None:
        """Like :meth:`get`, but None when no backend has ``name``."""
        now = get_clock().monotonic()
        with self._lock:
            cached = self._cache.get(name)
            if cached is not None and now < cached[0]:
                return cached[1]
        for backend in self.backends:
            raw = backend.fetch(name)
            if raw is None:
                continue
            value = raw if isinstance(raw, SecretStr) else SecretStr(raw)
            with self._lock:
                self._cache[name] = (now + self.ttl, value)
            return value
        return None

    def invalidate(self, name: str | None = None) -> None:
        """Forget cached values (one, or all), so the next lookup asks the backends."""
        with self._lock:
            if name is None:
                self._cache.clear()
            else:
                self._cache.pop(name, None)

    def declared_values(self) -> dict[str, SecretStr]:
        """Every declared secret that has a value: what a leak gate must look for."""
        return {name: value for name in self.declared if (value := self.find(name)) is not None}

    def __repr__(self) -> str:
        return f"SecretsProvider(backends={list(self.backends)!r}, declared={self.declared!r})"
