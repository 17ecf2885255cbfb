"""Client-side idempotency keys: format, one key per operation, the result stores."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from apiharness import ConfigurationError, IdempotencyKeyReused
from apiharness.clients import (
    IdempotencyTransport,
    MemoryResultStore,
    SQLiteResultStore,
    new_idempotency_key,
)
from apiharness.clock import VirtualClock

Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """An upstream that records each request's key and fails the first ``fail`` attempts."""

    def __init__(self, fail: int = 0, status: int = 201) -> None:
        self.keys: list[str | None] = []
        self.fail, self.status = fail, status

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.keys.append(request.headers.get("idempotency-key"))
        if self.fail:
            self.fail -= 1
            return httpx.Response(503)
        return httpx.Response(self.status, json={"n": len(self.keys)})


class NaiveRetry(httpx.BaseTransport):
    """Stands in for the retry transport: re-sends the same request on 503, up to 5 times."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        for _ in range(5):
            response = self.inner.handle_request(request)
            if response.status_code != 503:
                break
        return response


def parse_key(value: str | None) -> uuid.UUID:
    # draft-ietf-httpapi-idempotency-key-header section 2.1: an sf-string, i.e. in DQUOTEs
    assert value is not None
    assert value.startswith('"')
    assert value.endswith('"')
    return uuid.UUID(value[1:-1])


def test_key_is_a_quoted_random_uuid() -> None:
    keys = {new_idempotency_key() for _ in range(100)}
    assert len(keys) == 100
    assert all(parse_key(key).version == 4 for key in keys)


def test_unsafe_methods_get_a_key_and_safe_ones_do_not() -> None:
    upstream = Recorder()
    client = httpx.Client(transport=IdempotencyTransport(httpx.MockTransport(upstream)))
    for method in ("POST", "PATCH", "GET", "PUT", "DELETE", "post"):
        client.request(method, "https://api.test/x")
    assert [k is not None for k in upstream.keys] == [True, True, False, False, False, True]
    custom = Recorder()
    only_put = IdempotencyTransport(httpx.MockTransport(custom), methods=["put"])
    httpx.Client(transport=only_put).put("https://api.test/x")
    httpx.Client(transport=only_put).post("https://api.test/x")
    assert [k is not None for k in custom.keys] == [True, False]


@given(st.lists(st.integers(min_value=0, max_value=4), min_size=1, max_size=8))
def test_same_key_on_every_retry_fresh_key_per_operation(failures: list[int]) -> None:
    upstream = Recorder()
    client = httpx.Client(transport=IdempotencyTransport(NaiveRetry(httpx.MockTransport(upstream))))
    per_operation: list[set[str | None]] = []
    for fail in failures:
        upstream.fail = fail
        start = len(upstream.keys)
        assert client.post("https://api.test/charges", json={}).status_code == 201
        per_operation.append(set(upstream.keys[start:]))
        assert len(upstream.keys) - start == fail + 1
    assert all(len(keys) == 1 for keys in per_operation)
    flat = [next(iter(keys)) for keys in per_operation]
    assert len(set(flat)) == len(flat)


def test_key_survives_when_the_retry_loop_is_outside_too() -> None:
    upstream = Recorder(fail=3)
    inner = IdempotencyTransport(httpx.MockTransport(upstream))
    httpx.Client(transport=NaiveRetry(inner)).post("https://api.test/charges")
    assert len(upstream.keys) == 4
    assert len(set(upstream.keys)) == 1


def test_a_callers_key_is_kept() -> None:
    upstream = Recorder()
    client = httpx.Client(transport=IdempotencyTransport(httpx.MockTransport(upstream)))
    client.post("https://api.test/x", headers={"Idempotency-Key": '"order-42"'})
    assert upstream.keys == ['"order-42"']


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_store_replays_final_results_only(kind: str, tmp_path: Path, clock: VirtualClock) -> None:
    store = MemoryResultStore() if kind == "memory" else SQLiteResultStore(tmp_path / "r.db")
    upstream = Recorder()
    transport = IdempotencyTransport(httpx.MockTransport(upstream), store=store, ttl=3600)
    client = httpx.Client(transport=transport)
    key = store.key_for("charge-42")
    assert store.key_for("charge-42") == key
    assert store.key_for("charge-43") != key
    headers = {"Idempotency-Key": key}
    first = client.post("https://api.test/charges", json={"amount": 5}, headers=headers)
    again = client.post("https://api.test/charges", json={"amount": 5}, headers=headers)
    assert len(upstream.keys) == 1
    assert (again.status_code, again.json()) == (first.status_code, first.json())
    assert again.extensions.get("apiharness_replayed") is True
    with pytest.raises(IdempotencyKeyReused, match="fresh key"):
        client.post("https://api.test/charges", json={"amount": 6}, headers=headers)
    clock.advance(3601)  # the stored result expired: the request goes out again
    client.post("https://api.test/charges", json={"amount": 5}, headers=headers)
    assert len(upstream.keys) == 2
    # answers that mean "try again" are never stored
    for status in (500, 503, 409, 429):
        failing = Recorder(status=status)
        retry_client = httpx.Client(
            transport=IdempotencyTransport(httpx.MockTransport(failing), store=store)
        )
        other = {"Idempotency-Key": store.key_for(f"op-{status}")}
        retry_client.post("https://api.test/x", headers=other)
        retry_client.post("https://api.test/x", headers=other)
        assert len(failing.keys) == 2


def test_sqlite_store_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "idem.sqlite3"
    upstream = Recorder()
    before = SQLiteResultStore(path)
    key = before.key_for("charge-42")
    client = httpx.Client(
        transport=IdempotencyTransport(httpx.MockTransport(upstream), store=before)
    )
    client.post("https://api.test/charges", json={"a": 1}, headers={"Idempotency-Key": key})

    after = SQLiteResultStore(path)  # a new process would open the same file
    assert after.key_for("charge-42") == key
    restarted = httpx.Client(
        transport=IdempotencyTransport(httpx.MockTransport(upstream), store=after)
    )
    replay = restarted.post(
        "https://api.test/charges", json={"a": 1}, headers={"Idempotency-Key": key}
    )
    assert replay.status_code == 201
    assert replay.json() == {"n": 1}
    assert len(upstream.keys) == 1
    mode = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_sqlite_store_gives_concurrent_processes_one_key(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite3"
    code = textwrap.dedent(
        f"""
        from apiharness.clients import SQLiteResultStore
        store = SQLiteResultStore({str(path)!r})
        print(",".join(store.key_for(f"op-{{i}}") for i in range(30)))
        """
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    outputs = [proc.communicate(timeout=60)[0].strip() for proc in procs]
    assert all(proc.returncode == 0 for proc in procs)
    assert len(set(outputs)) == 1
    assert len(set(outputs[0].split(","))) == 30


def test_sqlite_purge_and_bad_path(tmp_path: Path, clock: VirtualClock) -> None:
    store = SQLiteResultStore(tmp_path / "p.db")
    store.key_for("a", ttl=10)
    store.key_for("b", ttl=100)
    clock.advance(50)
    assert store.purge() == 1
    with pytest.raises(ConfigurationError, match="writable"):
        SQLiteResultStore(tmp_path / "missing" / "dir" / "x.db")
    with pytest.raises(ConfigurationError, match="ttl"):
        store.key_for("c", ttl=0)


def test_async_transport_keys_and_replays() -> None:
    upstream = Recorder()
    store = MemoryResultStore()

    async def main() -> list[httpx.Response]:
        transport = IdempotencyTransport(httpx.MockTransport(upstream), store=store)
        async with httpx.AsyncClient(transport=transport) as client:
            key = store.key_for("op")
            return [
                await client.post("https://api.test/x", headers={"Idempotency-Key": key})
                for _ in range(3)
            ]

    responses = asyncio.run(main())
    assert [r.json() for r in responses] == [{"n": 1}] * 3
    assert len(upstream.keys) == 1
    parse_key(upstream.keys[0])


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="transport"):
        IdempotencyTransport(object())  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="collection"):
        IdempotencyTransport(httpx.MockTransport(Recorder()), methods="POST")
    with pytest.raises(ConfigurationError, match="ResultStore"):
        IdempotencyTransport(httpx.MockTransport(Recorder()), store=object())  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="ttl"):
        IdempotencyTransport(httpx.MockTransport(Recorder()), ttl=-5)


def test_with_the_retry_transport_a_post_is_retried_with_one_key_and_charged_once(
    clock: VirtualClock,
) -> None:
    from apiharness.clients import ResilientTransport
    from apiharness.upstream import (
        IdempotencyPolicy,
        Upstream,
        drop_after_processing,
        reset,
        respond,
        status,
    )

    def upstream() -> tuple[Upstream, IdempotencyPolicy]:
        up, policy = Upstream(), IdempotencyPolicy(required=False)
        charge = respond(201, json={"id": "ch_1"})
        up.post("/charges").respond(reset(), status(503), drop_after_processing(charge), charge)
        up.post("/charges").add_policy(policy)
        return up, policy

    up, policy = upstream()
    keyed = httpx.Client(transport=IdempotencyTransport(ResilientTransport(up, seed=1)))
    response = keyed.post("https://api.test/charges", json={"amount": 5})
    assert response.status_code == 201
    assert response.headers["idempotent-replayed"] == "true"
    keys = {entry.headers.get("idempotency-key") for entry in up.journal}
    assert len(up.journal) == 4
    assert len(keys) == 1
    assert None not in keys
    assert policy.side_effects == 1
    assert len(clock.sleeps) == 3  # the retry transport backed off in virtual time

    # without a key the retry transport must not retry a POST: one attempt, then the error
    bare, _ = upstream()
    with pytest.raises(httpx.ReadError):
        httpx.Client(transport=ResilientTransport(bare, seed=1)).post(
            "https://api.test/charges", json={"amount": 5}
        )
    assert len(bare.journal) == 1


def test_a_restart_mid_operation_resends_the_same_key_and_is_not_charged_twice(
    tmp_path: Path,
) -> None:
    from apiharness.upstream import IdempotencyPolicy, Upstream, drop_after_processing, respond

    up, policy = Upstream(), IdempotencyPolicy()
    charge = respond(201, json={"id": "ch_1"})
    up.post("/charges").respond(drop_after_processing(charge), charge).add_policy(policy)
    path = tmp_path / "idem.sqlite3"

    def run_once() -> httpx.Response:
        store = SQLiteResultStore(path)  # each "process" opens the file afresh
        client = httpx.Client(transport=IdempotencyTransport(up, store=store))
        key = store.key_for("order-42/charge")
        return client.post(
            "https://api.test/charges", json={"n": 42}, headers={"Idempotency-Key": key}
        )

    with pytest.raises(httpx.RemoteProtocolError):
        run_once()  # charged, then the answer was lost and the process died
    after_restart = run_once()
    assert after_restart.status_code == 201
    assert after_restart.headers["idempotent-replayed"] == "true"  # the server deduplicated
    assert run_once().extensions.get("apiharness_replayed") is True  # now from the local store
    assert policy.side_effects == 1
    assert len(up.journal) == 2
