"""Idempotency enforcement on upstream routes: 400/422/409/replay, expiry, side effects."""

from __future__ import annotations

import asyncio
import json
import threading

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apiharness.clients import IdempotencyTransport, new_idempotency_key
from apiharness.clock import VirtualClock
from apiharness.errors import DeclarationError
from apiharness.upstream import (
    IdempotencyPolicy,
    Upstream,
    delay,
    drop_after_processing,
    reset,
    respond,
    status,
)

CHARGE = respond(201, json={"id": "ch_1"})


def charges(*script: object, **options: object) -> tuple[Upstream, IdempotencyPolicy]:
    up = Upstream()
    policy = IdempotencyPolicy(**options)  # type: ignore[arg-type]
    up.post("/charges").respond(*(script or (CHARGE,))).add_policy(policy)
    up.get("/charges").respond(respond(200, json=[]))
    return up, policy


def post(client: httpx.Client, key: str | None, body: object = None) -> httpx.Response:
    headers = {} if key is None else {"Idempotency-Key": key}
    return client.post("https://api.test/charges", json=body or {"amount": 5}, headers=headers)


def test_missing_key_is_400_problem_json() -> None:
    up, policy = charges()
    client = httpx.Client(transport=up)
    response = post(client, None)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert set(problem) == {"type", "title", "detail"}
    assert "missing" in problem["title"]
    assert client.get("https://api.test/charges").status_code == 200  # safe methods pass
    assert policy.side_effects == 0
    optional, policy = charges(required=False)
    assert post(httpx.Client(transport=optional), None).status_code == 201
    assert policy.side_effects == 1


def test_same_key_same_payload_is_replayed_once_performed() -> None:
    up, policy = charges()
    client = httpx.Client(transport=up)
    key = new_idempotency_key()
    first, second = post(client, key), post(client, key)
    assert (first.status_code, second.status_code) == (201, 201)
    assert second.json() == first.json()
    assert "idempotent-replayed" not in first.headers
    assert second.headers["idempotent-replayed"] == "true"
    assert policy.side_effects == 1
    assert policy.replays == 1


def test_same_key_other_payload_is_422() -> None:
    up, policy = charges()
    client = httpx.Client(transport=up)
    key = new_idempotency_key()
    post(client, key, {"amount": 5})
    response = post(client, key, {"amount": 6})
    assert response.status_code == 422
    assert "reused" in response.json()["title"]
    other_path = client.post(
        "https://api.test/charges?capture=false",
        json={"amount": 5},
        headers={"Idempotency-Key": key},
    )
    assert other_path.status_code == 422
    assert policy.side_effects == 1


def test_same_key_while_in_flight_is_409(clock: VirtualClock) -> None:
    up, policy = charges(delay(5, then=CHARGE))
    key = new_idempotency_key()

    async def main() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=up) as client:
            first = asyncio.ensure_future(
                client.post("https://api.test/charges", json={}, headers={"Idempotency-Key": key})
            )
            await asyncio.sleep(0)  # the first request is now inside its 5 s delay
            second = await client.post(
                "https://api.test/charges", json={}, headers={"Idempotency-Key": key}
            )
            return [await first, second]

    first, second = asyncio.run(main())
    assert first.status_code == 201
    assert second.status_code == 409
    assert "flight" in second.json()["title"]
    assert policy.side_effects == 1


def test_keys_expire_in_virtual_time(clock: VirtualClock) -> None:
    up, policy = charges(ttl=3600)
    client = httpx.Client(transport=up)
    key = new_idempotency_key()
    post(client, key)
    clock.advance(3599)
    assert post(client, key).headers.get("idempotent-replayed") == "true"
    clock.advance(2)
    assert "idempotent-replayed" not in post(client, key).headers
    assert policy.side_effects == 2
    default, _ = charges()
    assert default.routes[0].policies[0].ttl == 24 * 3600  # type: ignore[attr-defined]


def test_unprocessed_attempts_free_the_key_and_processed_ones_bind_it() -> None:
    up, policy = charges(reset(), status(503), drop_after_processing(CHARGE), CHARGE)
    client = httpx.Client(transport=up)
    key = new_idempotency_key()
    with pytest.raises(httpx.ReadError):
        post(client, key)  # reset: nothing performed
    assert post(client, key).status_code == 503  # not performed either
    with pytest.raises(httpx.RemoteProtocolError):
        post(client, key)  # performed, answer lost
    replay = post(client, key)
    assert replay.status_code == 201
    assert replay.headers["idempotent-replayed"] == "true"
    assert policy.side_effects == 1
    assert [e.processed for e in up.journal][:3] == [False, True, True]


def test_strict_format_wants_a_structured_field_string() -> None:
    up, _ = charges(strict_format=True)
    client = httpx.Client(transport=up)
    assert post(client, "plain-key").status_code == 400
    assert post(client, '"unterminated').status_code == 400
    assert post(client, '"bad \\x escape"').status_code == 400
    assert post(client, new_idempotency_key()).status_code == 201
    assert post(client, '"with \\" quote"').status_code == 201


def test_policy_arguments_are_checked() -> None:
    with pytest.raises(DeclarationError, match="ttl"):
        IdempotencyPolicy(ttl=0)
    with pytest.raises(DeclarationError, match="names"):
        IdempotencyPolicy(methods="POST")


FAULTS = {
    "reset": reset(),
    "503": status(503),
    "429": status(429),
    "drop": drop_after_processing(CHARGE),
}


class RetryUntilAnswered(httpx.BaseTransport):
    """Retries transport errors, 5xx, 409 and 429 with the same request (and so the same key)."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        for _ in range(50):
            try:
                response = self.inner.handle_request(request)
            except httpx.TransportError:
                continue
            if response.status_code < 500 and response.status_code not in (409, 429):
                return response
        raise AssertionError("never answered")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(sorted(FAULTS)), max_size=6))
def test_exactly_one_charge_after_any_mix_of_faults(faults: list[str]) -> None:
    up, policy = charges(*(FAULTS[f] for f in faults), CHARGE)
    transport = IdempotencyTransport(RetryUntilAnswered(up))
    response = httpx.Client(transport=transport).post("https://api.test/charges", json={"a": 1})
    assert response.status_code == 201
    assert response.json() == {"id": "ch_1"}
    assert policy.side_effects == 1
    assert sum(e.processed and e.status != 503 for e in up.journal) >= 1


def test_fifty_concurrent_retries_of_one_operation_charge_once() -> None:
    up, policy = charges(delay(0.2, then=CHARGE))
    key = new_idempotency_key()
    body = json.dumps({"amount": 5}).encode()
    results: list[httpx.Response] = []
    lock = threading.Lock()

    with up.serve() as live:
        barrier = threading.Barrier(50)

        def operation() -> None:
            with httpx.Client(timeout=10) as client:
                barrier.wait(timeout=30)
                for _ in range(200):  # retry while the first request is in flight
                    response = client.post(
                        live.base_url + "/charges",
                        content=body,
                        headers={"Idempotency-Key": key, "Content-Type": "application/json"},
                    )
                    if response.status_code != 409:
                        break
                    threading.Event().wait(0.02)
                with lock:
                    results.append(response)

        threads = [threading.Thread(target=operation) for _ in range(50)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)

    assert len(results) == 50
    assert {r.status_code for r in results} == {201}
    assert all(r.json() == {"id": "ch_1"} for r in results)
    assert sum(r.headers.get("idempotent-replayed") == "true" for r in results) == 49
    assert policy.side_effects == 1
    assert up.journal.count("POST", "/charges") >= 50
    assert up.journal.count("POST", "/charges", status=409) > 0  # the retries did overlap
