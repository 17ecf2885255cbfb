"""The reference client is the standard: it passes every scenario, sync and async, quickly."""

from __future__ import annotations

import time

from hypothesis import HealthCheck, given, settings

from apiharness.clients import resilient_client
from apiharness.clock import VirtualClock
from apiharness.conformance import grade
from apiharness.strategies import fault_sequences
from apiharness.upstream import Behaviour, Upstream, respond


def test_reference_client_passes_every_scenario_in_under_10_s() -> None:
    started = time.perf_counter()
    card = grade("shop.reference:make_client")
    wall = time.perf_counter() - started
    assert [r.scenario for r in card.results if not r.passed] == [], card.render()
    assert card.ok
    assert wall < 10, f"the catalogue took {wall:.1f} s of wall time"


def test_async_reference_client_passes_every_scenario() -> None:
    card = grade("shop.reference:make_async_client")
    assert [r.scenario for r in card.results if not r.passed] == [], card.render()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(faults=fault_sequences(max_faults=3))
def test_reference_client_survives_any_short_run_of_transient_faults(
    faults: list[Behaviour],
) -> None:
    clock = VirtualClock()
    up = Upstream()
    charges = up.post("/charges").respond(*faults, respond(201, json={"id": "ch_1"}))
    with clock.patch(), resilient_client(up.base_url, transport=up) as http:
        response = http.post("/charges", json={"amount": 100}, headers={"Idempotency-Key": '"k"'})
    assert response.status_code == 201
    assert clock.monotonic() <= 60  # the default deadline
    assert len(charges.calls) == len(faults) + 1
    created = [entry for entry in charges.calls if entry.status == 201]
    assert len(created) == 1  # exactly one side effect
    assert all(isinstance(e.headers.get("idempotency-key"), str) for e in charges.calls)
