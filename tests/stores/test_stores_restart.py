"""Redis stopped and restarted mid-run: a typed error while it is gone, then recovery, and
nothing lost that Redis was asked to keep."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from pydantic import SecretStr

from apiharness.errors import StoreUnavailable
from apiharness.stores import (
    EncryptedFileTokenStore,
    RedisDedupStore,
    RedisResultStore,
    RedisTokenBucket,
    RedisTokenStore,
    StoredResult,
    Token,
)
from stores._redis_server import REDIS_SERVER, SKIP_REASON, RedisServer

T = TypeVar("T")


@pytest.fixture
def durable(tmp_path: Path) -> Iterator[RedisServer]:
    # A server of its own: restarting the session's server would disturb other tests.
    if REDIS_SERVER is None:
        pytest.skip(SKIP_REASON)
    server = RedisServer(tmp_path, durable=True)
    server.start()
    yield server
    server.stop()


def _after_restart(call: Callable[[], T]) -> T:
    """The call's result once the server is back: the first call may still meet the dead
    pooled connection and raise StoreUnavailable (never a wrong answer); the next reconnects."""
    try:
        return call()
    except StoreUnavailable:
        return call()


def test_restart_gives_typed_errors_then_recovers_without_losing_claims(
    durable: RedisServer,
) -> None:
    seen = RedisDedupStore(durable.url)
    results = RedisResultStore(durable.url)
    tokens = RedisTokenStore(durable.url, key=EncryptedFileTokenStore.generate_key())
    strict = RedisTokenBucket(durable.url, "b", rate=1, capacity=1)
    lenient = RedisTokenBucket(durable.url, "b", rate=1, capacity=1, on_unavailable="allow")
    assert seen.claim("evt_1", now=0.0)
    key = results.key_for("charge-1")
    results.save(key, StoredResult("f", 201, (), b"{}"))
    tokens.save(Token(SecretStr("at"), refresh_token=SecretStr("rt")))
    assert strict.reserve() == 0.0  # the only token

    durable.stop()
    # Fail closed: no claim, no key, no replay and no token is guessed while Redis is gone.
    for call in (
        lambda: seen.claim("evt_2", now=0.0),
        lambda: results.key_for("charge-2"),
        lambda: results.lookup(key),
        tokens.load,
        strict.reserve,
        lambda: asyncio.run(strict.aacquire()),
    ):
        with pytest.raises(StoreUnavailable, match="redis-server"):
            call()
    assert lenient.reserve() == 0.0  # the constructor's choice: no limit while Redis is down

    durable.start()  # same port, same append-only file
    assert not _after_restart(lambda: seen.claim("evt_1", now=0.0))  # still claimed
    assert seen.claim("evt_2", now=0.0)
    assert results.key_for("charge-1") == key
    stored = results.lookup(key)
    assert stored is not None
    assert stored.status_code == 201
    loaded = _after_restart(tokens.load)
    assert loaded is not None
    assert loaded.access_token.get_secret_value() == "at"
    assert _after_restart(strict.reserve) > 0  # the budget survived: the token was spent
