"""The reference client is the standard: it passes every scenario, sync and async, quickly."""

from __future__ import annotations

import time

import httpx
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from apiharness.clients import IdempotencyTransport, ResilientTransport
from apiharness.clock import VirtualClock
from apiharness.conformance import grade
from apiharness.strategies import fault_sequences
from apiharness.upstream import (
    Behaviour,
    IdempotencyPolicy,
    Upstream,
    drop_after_processing,
    respond,
)


def test_reference_client_passes_every_scenario_in_under_60_s() -> None:
    started = time.perf_counter()
    card = grade("shop.reference:make_client")
    wall = time.perf_counter() - started
    assert [r.scenario for r in card.results if not r.passed] == [], card.render()
    assert card.ok
    assert wall < 60, f"the catalogue took {wall:.1f} s of wall time"


def test_async_reference_client_passes_every_scenario() -> None:
    card = grade("shop.reference:make_async_client")
    assert [r.scenario for r in card.results if not r.passed] == [], card.render()


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(faults=fault_sequences(max_faults=3), lost=st.booleans())
def test_reference_client_survives_any_short_run_of_transient_faults(
    faults: list[Behaviour], lost: bool
) -> None:
    """Any k <= 3 transient faults (one of them, optionally, a lost response after processing)
    followed by success: the reference client succeeds within its deadline, one side effect."""
    assume(len(faults) + lost <= 3)
    clock = VirtualClock()
    up = Upstream()
    created = respond(201, json={"id": "ch_1"})
    charges = IdempotencyPolicy()
    script = [*faults, drop_after_processing(created)] if lost else faults
    up.post("/charges").respond(*script, created).add_policy(charges)
    transport = IdempotencyTransport(ResilientTransport(up))
    with clock.patch(), httpx.Client(transport=transport, base_url=up.base_url) as http:
        response = http.post("/charges", json={"amount": 100})
    assert response.status_code == 201
    assert response.json() == {"id": "ch_1"}
    assert clock.monotonic() <= 60  # the default deadline
    assert charges.side_effects == 1
    assert len(up.journal) == len(script) + 1
    assert len({entry.headers["idempotency-key"] for entry in up.journal}) == 1
