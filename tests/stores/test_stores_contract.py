"""Each store kind keeps its contract in memory, in SQLite and in a real Redis."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from apiharness.clients import IdempotencyTransport
from apiharness.errors import (
    ConfigurationError,
    RateLimitExceeded,
    StoreUnavailable,
    TokenUnavailable,
)
from apiharness.oauth import AuthorizationCodeFlow, TokenManager
from apiharness.stores import (
    DedupStore,
    EncryptedFileTokenStore,
    MemoryDedupStore,
    MemoryResultStore,
    RateLimiter,
    RedisDedupStore,
    RedisResultStore,
    RedisTokenBucket,
    RedisTokenStore,
    ResultStore,
    SharedTokenStore,
    SQLiteDedupStore,
    SQLiteResultStore,
    StoredResult,
    Token,
    TokenStore,
)
from apiharness.stores._redis import as_bytes
from apiharness.upstream import AuthorizationServer, delay

RESULT_STORES = ["memory", "sqlite", "redis"]


@pytest.fixture
def make_results(tmp_path: Path, redis_url: str) -> Callable[[str], ResultStore]:
    def make(kind: str) -> ResultStore:
        if kind == "memory":
            return MemoryResultStore()
        if kind == "sqlite":
            return SQLiteResultStore(tmp_path / "results.sqlite3")
        return RedisResultStore(redis_url)

    return make


@pytest.fixture
def raw(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.mark.parametrize("kind", RESULT_STORES)
def test_result_store_keys_one_operation_once(
    kind: str, make_results: Callable[[str], ResultStore]
) -> None:
    store = make_results(kind)
    other = store if kind == "memory" else make_results(kind)  # another handle on one store
    key = store.key_for("charge-42")
    assert key.startswith('"')
    assert key.endswith('"')
    assert other.key_for("charge-42") == key
    assert store.key_for("charge-43") != key
    assert isinstance(store, ResultStore)


header_names = st.from_regex(r"[a-z][a-z0-9-]{0,15}", fullmatch=True)
header_values = st.text(
    st.characters(codec="latin-1", exclude_characters="\r\n\x00"), max_size=20
).map(str.strip)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    status=st.integers(100, 599),
    headers=st.lists(st.tuples(header_names, header_values), max_size=4),
    content=st.binary(max_size=200),
)
@pytest.mark.parametrize("kind", RESULT_STORES)
def test_result_store_round_trips_what_it_saved(
    kind: str,
    make_results: Callable[[str], ResultStore],
    status: int,
    headers: list[tuple[str, str]],
    content: bytes,
) -> None:
    store = make_results(kind)
    result = StoredResult("f" * 64, status, tuple(headers), content)
    store.save("k", result)
    got = store.lookup("k")
    assert got is not None
    assert (got.fingerprint, got.status_code, got.headers, got.content) == (
        result.fingerprint,
        status,
        tuple(headers),
        content,
    )
    assert store.lookup("other") is None


def test_redis_result_store_expiry_is_set_by_redis(redis_url: str, raw: redis.Redis) -> None:
    store = RedisResultStore(redis_url)
    key = store.key_for("op", ttl=60)
    store.save(key, StoredResult("f", 201, (), b"{}"), ttl=30)
    assert 0 < raw.pttl("apiharness:idem:op:op") <= 60_000
    assert 0 < raw.pttl(f"apiharness:idem:result:{key}") <= 30_000
    assert all(as_bytes(name).startswith(b"apiharness:") for name in raw.keys("*"))
    store.save("short", StoredResult("f", 200, (), b""), ttl=0.05)
    store.key_for("brief", ttl=0.05)
    time.sleep(0.3)  # well past the 50 ms ttl; sleeping longer than asked is always fine
    assert store.lookup("short") is None
    assert store.key_for("brief") != key


def test_idempotency_transport_replays_from_redis_in_another_handle(redis_url: str) -> None:
    calls: list[httpx.Request] = []

    def upstream(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(201, json={"id": len(calls)})

    key = RedisResultStore(redis_url).key_for("create-user-7")
    for _ in range(2):  # a second process would build its own store and transport
        transport = IdempotencyTransport(
            httpx.MockTransport(upstream), store=RedisResultStore(redis_url)
        )
        with httpx.Client(transport=transport, base_url="https://api.test") as client:
            response = client.post("/users", json={"n": 7}, headers={"Idempotency-Key": key})
        assert response.json() == {"id": 1}
    assert len(calls) == 1
    assert calls[0].headers["Idempotency-Key"] == key


@pytest.mark.parametrize("kind", ["memory", "sqlite", "redis"])
def test_dedup_store_claims_once_and_forgets(kind: str, tmp_path: Path, redis_url: str) -> None:
    store: DedupStore
    if kind == "memory":
        store = MemoryDedupStore(ttl=60)
    elif kind == "sqlite":
        store = SQLiteDedupStore(tmp_path / "dedup.sqlite3", ttl=60)
    else:
        store = RedisDedupStore(redis_url, ttl=60)
    assert isinstance(store, DedupStore)
    assert store.claim("evt_1", now=1000.0)
    assert not store.claim("evt_1", now=1001.0)
    assert store.claim("evt_2", now=1001.0)
    store.forget("evt_1")
    assert store.claim("evt_1", now=1002.0)


def test_redis_dedup_ids_expire_by_redis(redis_url: str, raw: redis.Redis) -> None:
    store = RedisDedupStore(redis_url, ttl=0.05)
    assert store.claim("evt", now=0.0)
    assert 0 < raw.pttl("apiharness:webhook:evt") <= 50
    time.sleep(0.3)  # past the ttl
    assert store.claim("evt", now=0.0)


def _token(access: str = "at-secret-1", refresh: str = "rt-secret-1") -> Token:
    return Token(SecretStr(access), expires_at=2_000_000_000.0, refresh_token=SecretStr(refresh))


@pytest.mark.parametrize("kind", ["file", "redis"])
def test_token_stores_encrypt_both_tokens_at_rest(
    kind: str, tmp_path: Path, redis_url: str, raw: redis.Redis
) -> None:
    key = EncryptedFileTokenStore.generate_key()
    store: TokenStore
    if kind == "file":
        store = EncryptedFileTokenStore(tmp_path / "token.json", key=key)
    else:
        store = RedisTokenStore(redis_url, key=key, name="svc")
    assert store.load() is None
    store.save(_token())
    loaded = store.load()
    assert loaded is not None
    assert loaded.access_token.get_secret_value() == "at-secret-1"
    assert loaded.refresh_token is not None
    assert loaded.refresh_token.get_secret_value() == "rt-secret-1"
    at_rest = (
        (tmp_path / "token.json").read_bytes()
        if kind == "file"
        else as_bytes(raw.get("apiharness:token:svc") or b"")
    )
    assert at_rest
    for secret in (b"at-secret-1", b"rt-secret-1"):
        assert secret not in at_rest
        assert base64.b64encode(secret).rstrip(b"=") not in at_rest
        assert base64.urlsafe_b64encode(secret).rstrip(b"=") not in at_rest
    store.clear()
    assert store.load() is None


def test_redis_token_store_with_another_key_says_so(redis_url: str) -> None:
    RedisTokenStore(redis_url, key=EncryptedFileTokenStore.generate_key()).save(_token())
    other = RedisTokenStore(redis_url, key=EncryptedFileTokenStore.generate_key())
    with pytest.raises(TokenUnavailable, match="decrypted"):
        other.load()
    with pytest.raises(ConfigurationError, match="Fernet"):
        RedisTokenStore(redis_url, key="not a key")


def test_redis_token_store_lock_is_exclusive_and_expires(redis_url: str, raw: redis.Redis) -> None:
    store = RedisTokenStore(redis_url, key=EncryptedFileTokenStore.generate_key(), lock_ttl=0.3)
    assert isinstance(store, SharedTokenStore)
    with store.refresh_lock():
        assert raw.exists("apiharness:token:default:lock")
        assert 0 < raw.pttl("apiharness:token:default:lock") <= 300
    assert not raw.exists("apiharness:token:default:lock")
    # A holder that died: its lock is not ours to release, and Redis expires it.
    raw.set("apiharness:token:default:lock", b"someone-else", px=200)
    started = time.monotonic()
    with store.refresh_lock():
        waited = time.monotonic() - started
        assert raw.get("apiharness:token:default:lock") != b"someone-else"
    assert waited >= 0.1  # it did wait for the expiry (200 ms, less the time to get here)

    async def async_lock() -> None:
        async with store.arefresh_lock():
            assert raw.exists("apiharness:token:default:lock")
        assert not raw.exists("apiharness:token:default:lock")

    asyncio.run(async_lock())


def test_redis_bucket_keeps_the_token_bucket_contract(redis_url: str, raw: redis.Redis) -> None:
    # One token a second: the real time between these lines (up to half a second on a loaded
    # machine is allowed for below) refills far less than the one-token steps asserted.
    bucket = RedisTokenBucket(redis_url, "api", rate=1, capacity=3, max_wait=10)
    assert isinstance(bucket, RateLimiter)
    assert [bucket.reserve() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert 0.5 < bucket.reserve() <= 1.0  # the fourth, on credit: a second away
    before = bucket.tokens
    with pytest.raises(RateLimitExceeded):
        bucket.reserve(within=0)
    assert bucket.tokens == pytest.approx(before, abs=0.5)  # refused: no token taken
    assert 0 < raw.pttl("apiharness:bucket:api") <= 60_000
    bucket.observe(httpx.Response(429, headers={"Retry-After": "3"}))
    # Paused for 3 s; then the credit (-1 token) and this token take two seconds more.
    assert 4.5 < bucket.reserve() <= 5.0
    with pytest.raises(RateLimitExceeded):
        RedisTokenBucket(redis_url, "api", rate=1, capacity=3, max_wait=1).reserve()


def test_redis_bucket_follows_server_quota_and_is_async(redis_url: str, clock: object) -> None:
    # rate=1: the real time between these lines adds (far) less than a token.
    bucket = RedisTokenBucket(redis_url, "quota", rate=1, capacity=50)
    bucket.observe(httpx.Response(200, headers={"RateLimit": '"default";r=2;t=30'}))
    assert 2 <= bucket.tokens < 2.5
    assert asyncio.run(bucket.aacquire()) == 0.0
    assert asyncio.run(bucket.aacquire()) == 0.0
    # The third waits for a refill (slept on the virtual clock: the test does not wait).
    assert 0.5 < asyncio.run(bucket.aacquire()) <= 1.0


def test_redis_stores_reject_bad_configuration(redis_url: str) -> None:
    with pytest.raises(ConfigurationError, match="Redis URL"):
        RedisResultStore("http://nope")
    with pytest.raises(ConfigurationError, match="on_unavailable"):
        RedisTokenBucket(redis_url, "k", rate=1, on_unavailable="maybe")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="ttl"):
        RedisDedupStore(redis_url, ttl=0)
    with pytest.raises(ConfigurationError, match="rate"):
        RedisTokenBucket(redis_url, "k", rate=0)


def test_unreachable_redis_is_typed_and_never_shows_the_password() -> None:
    port = 1  # nothing listens on tcpmux on a test machine
    store = RedisTokenStore(
        f"redis://:hunter2@127.0.0.1:{port}/0", key=EncryptedFileTokenStore.generate_key()
    )
    assert "hunter2" not in repr(store)
    with pytest.raises(StoreUnavailable) as caught:
        store.load()
    assert "hunter2" not in str(caught.value)
    assert "redis-server" in str(caught.value)


def test_async_managers_sharing_a_redis_store_refresh_once(redis_url: str) -> None:
    # Two managers stand for two processes: they share nothing but the Redis store.
    auth = AuthorizationServer(access_token_ttl=3600)
    auth.register_client("app", redirect_uris=["http://127.0.0.1:8765/callback"])
    auth.route("token").respond(delay(0.2, then=auth.service("token")))  # type: ignore[arg-type]
    flow = AuthorizationCodeFlow(
        client_id="app",
        authorization_endpoint=auth.authorization_endpoint,
        token_endpoint=auth.token_endpoint,
        redirect_uri="http://127.0.0.1:8765/callback",
    )
    key = EncryptedFileTokenStore.generate_key()
    with httpx.Client(transport=auth.upstream) as client:
        token = flow.login(client)
    RedisTokenStore(redis_url, key=key).save(dataclasses.replace(token, expires_at=0.0))
    managers = [TokenManager(flow, store=RedisTokenStore(redis_url, key=key)) for _ in range(3)]

    async def everyone() -> list[Token]:
        async with httpx.AsyncClient(transport=auth.upstream) as client:
            return await asyncio.gather(*(m.aget_token(client) for m in managers))

    tokens = asyncio.run(everyone())
    assert auth.refreshes == 1
    assert auth.reuse_detected == 0
    assert len({t.access_token.get_secret_value() for t in tokens}) == 1
