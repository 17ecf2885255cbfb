"""Several OS processes share one Redis: one claim per delivery id, one key per operation, one
token refresh, and one rate-limit budget."""

from __future__ import annotations

import dataclasses
import hashlib
import time

import httpx
import pytest
from pydantic import SecretStr

from apiharness.stores import EncryptedFileTokenStore, RedisTokenStore
from apiharness.upstream import AuthorizationServer, delay
from stores._workers import claim_ids, keys_for, make_flow, refresh, run_processes, spend

PROCESSES = 4


def test_exactly_one_process_claims_each_delivery(redis_url: str) -> None:
    ids = [f"evt_{i}" for i in range(200)]
    won = run_processes(claim_ids, PROCESSES, redis_url, ids)
    claims = [i for wins in won for i in wins]
    assert sorted(claims) == sorted(ids)  # every id claimed, none twice


def test_every_process_gets_one_key_per_operation(redis_url: str) -> None:
    operations = [f"charge-order-{i}" for i in range(100)]
    keys = run_processes(keys_for, PROCESSES, redis_url, operations)
    assert all(k == keys[0] for k in keys)
    assert len(set(keys[0])) == len(operations)


def test_one_refresh_across_processes(redis_url: str) -> None:
    auth = AuthorizationServer(access_token_ttl=3600)  # rotates refresh tokens, spots reuse
    redirect = "http://127.0.0.1:8765/callback"
    auth.register_client("app", redirect_uris=[redirect])
    # A slow token endpoint: the other processes ask while the first refresh is in flight.
    auth.route("token").respond(delay(0.3, then=auth.service("token")))  # type: ignore[arg-type]
    key = EncryptedFileTokenStore.generate_key()
    with auth.serve() as server:
        endpoints = (
            server.base_url + auth.paths["authorize"],
            server.base_url + auth.paths["token"],
            redirect,
        )
        with httpx.Client() as client:
            token = make_flow(endpoints).login(client)
        store = RedisTokenStore(redis_url, key=key)
        store.save(dataclasses.replace(token, expires_at=time.time() - 10))  # due for refresh
        digests = run_processes(refresh, PROCESSES, redis_url, key, endpoints)
    assert auth.refreshes == 1
    assert auth.reuse_detected == 0
    fresh = store.load()
    assert fresh is not None
    assert not isinstance(fresh.access_token, str)
    expected = _digest(fresh.access_token)
    assert digests == [expected] * PROCESSES
    assert expected != _digest(token.access_token)


def _digest(secret: SecretStr) -> str:
    return hashlib.sha256(secret.get_secret_value().encode()).hexdigest()


@pytest.mark.parametrize(("rate", "capacity"), [(20.0, 5.0)])
def test_processes_share_one_budget(redis_url: str, rate: float, capacity: float) -> None:
    window = 2.0
    taken = sum(run_processes(spend, PROCESSES, redis_url, rate, capacity, window))
    full = capacity + rate * window  # what one bucket hands out in the window: 45
    # Upper bound: every grant happens (on Redis's clock) between the first worker leaving the
    # barrier and the last one's deadline. Those instants differ by the scheduling skew between
    # processes; 0.5 s of skew is allowed for a loaded 2-core machine: 10 more tokens.
    # Per-process budgets would hand out about PROCESSES * full = 180.
    assert taken <= full + rate * 0.5
    # Lower bound: "not far below". A token not taken accrues (up to capacity), so only stalls of
    # every worker at once longer than capacity / rate = 0.25 s lose any; 15 tokens is 0.75 s of
    # such stalls. A bucket charging two tokens a grant would hand out about 22.
    assert taken >= full - 15
