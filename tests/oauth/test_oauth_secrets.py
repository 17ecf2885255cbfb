"""The secrets provider: env and .env through pydantic-settings, backends, TTL, secrecy."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from pydantic import SecretStr

from apiharness import ConfigurationError, SecretNotFound
from apiharness.clock import VirtualClock
from apiharness.oauth import EnvSecrets, MappingSecrets, SecretsProvider


class Counting:
    """A backend that counts lookups and whose value can be rotated."""

    def __init__(self, value: str) -> None:
        self.value, self.calls = value, 0

    def fetch(self, name: str) -> str | None:
        self.calls += 1
        return self.value if name == "API_KEY" else None


def test_environment_wins_over_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("APP_API_KEY=from-file\nAPP_CLIENT_SECRET=file-secret\n")
    monkeypatch.setenv("APP_API_KEY", "from-env")
    provider = SecretsProvider(EnvSecrets(env_file=env_file, prefix="APP_"))
    assert provider.get("API_KEY").get_secret_value() == "from-env"
    assert provider.get("CLIENT_SECRET").get_secret_value() == "file-secret"
    assert provider.find("MISSING") is None


def test_default_backend_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APIHARNESS_TEST_TOKEN_X", "env-value")
    provider = SecretsProvider()
    assert isinstance(provider.backends[0], EnvSecrets)
    assert provider.get("APIHARNESS_TEST_TOKEN_X").get_secret_value() == "env-value"


def test_backends_are_asked_in_order() -> None:
    provider = SecretsProvider(
        MappingSecrets({"A": "first"}), MappingSecrets({"A": "second", "B": SecretStr("b")})
    )
    assert provider.get("A").get_secret_value() == "first"
    assert provider.get("B").get_secret_value() == "b"


def test_ttl_cache_follows_the_clock(clock: VirtualClock) -> None:
    backend = Counting("v1")
    provider = SecretsProvider(backend, ttl=300)
    assert provider.get("API_KEY").get_secret_value() == "v1"
    backend.value = "v2"
    clock.advance(299)
    assert provider.get("API_KEY").get_secret_value() == "v1"
    assert backend.calls == 1
    clock.advance(1)
    assert provider.get("API_KEY").get_secret_value() == "v2"
    assert backend.calls == 2
    backend.value = "v3"
    provider.invalidate("API_KEY")
    assert provider.get("API_KEY").get_secret_value() == "v3"


def test_missing_secret_error_names_it_and_leaks_nothing(caplog: pytest.LogCaptureFixture) -> None:
    provider = SecretsProvider(MappingSecrets({"OTHER": "hunter2"}), declared=["OTHER", "KEY"])
    with pytest.raises(SecretNotFound, match="'KEY'") as info:
        provider.get("KEY")
    assert isinstance(info.value, ConfigurationError)
    caplog.set_level(logging.DEBUG)
    value = provider.get("OTHER")
    logging.getLogger("app").info("using %s and %r; provider %r", value, value, provider)
    shown = " ".join([str(info.value), repr(provider), str(value), repr(value), caplog.text])
    assert "hunter2" not in shown


def test_declared_values_feed_the_leak_gate() -> None:
    provider = SecretsProvider(MappingSecrets({"A": "aaa", "B": "bbb"}), declared=["A"])
    provider.declare("B", "C", "A")
    assert provider.declared == ("A", "B", "C")
    values = provider.declared_values()
    assert {k: v.get_secret_value() for k, v in values.items()} == {"A": "aaa", "B": "bbb"}


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="fetch"):
        SecretsProvider(object())  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="ttl"):
        SecretsProvider(ttl=-1)
    with pytest.raises(ConfigurationError, match="non-empty"):
        SecretsProvider(declared=[""])
