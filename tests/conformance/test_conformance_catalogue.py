"""The conformance catalogue grades real clients: naive ones fail exactly where they are wrong."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from apiharness.conformance import CATALOGUE, RESOURCE, RESOURCE_SCHEMA, Scorecard, grade
from apiharness.conformance._catalogue import RETIRED
from apiharness.errors import ConformanceError
from shop.naive_httpx import NaiveHttpxClient

REQUIRED_IDS = {
    "retry-503-burst",
    "retry-after-seconds",
    "retry-after-date",
    "retry-after-beyond-deadline",
    "retry-after-503-beyond-deadline",
    "retry-after-503-seconds",
    "retry-after-bounded",
    "retry-408",
    "no-retry-4xx",
    "backoff-grows-by-last-wait",
    "jitter",
    "attempts-bounded",
    "post-not-retried-without-key",
    "post-key-stable",
    "lost-response-no-double-effect",
    "lost-response-recovers",
    "hang-bounded-8s",
    "reset-retried",
    "malformed-json-typed-error",
    "schema-violation-typed-error",
    "breaker-opens",
    "breaker-recovers",
    "rate-limit-window-respected",
}

# Ids retired by issue 24; they must never come back with another meaning.
RETIRED_IDS = {
    "backoff-grows",
    "lost-response-exactly-once",
    "timeout-bounded",
    "rate-limit-respected",
}


def failed(card: Scorecard) -> set[str]:
    return {r.scenario for r in card.results if not r.passed}


def test_catalogue_has_every_required_scenario_with_statement_and_source() -> None:
    assert set(CATALOGUE) >= REQUIRED_IDS
    assert set(RETIRED) == RETIRED_IDS
    assert not set(CATALOGUE) & set(RETIRED)
    for scenario_id, scenario in CATALOGUE.items():
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", scenario_id)
        assert scenario.id == scenario_id
        assert len(scenario.statement) > 20
        assert scenario.source


def test_the_published_resource_matches_its_schema() -> None:
    import jsonschema

    jsonschema.validate(RESOURCE, RESOURCE_SCHEMA)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"id": 42, "name": None}, RESOURCE_SCHEMA)


NAIVE_HTTPX_FAILS = REQUIRED_IDS - {
    "retry-503-burst",  # it does retry 503s, and 3 attempts suffice
    "retry-408",  # it retries every error status, 408 included
    "retry-after-bounded",  # it never waits longer than asked (it never waits at all)
    "attempts-bounded",  # it stops after 3
    "post-not-retried-without-key",  # it always sends a (fresh) key
    "reset-retried",
}

CRASHES = {"malformed-json-typed-error"}  # json.JSONDecodeError escapes both naive clients

NAIVE_REQUESTS_FAILS = NAIVE_HTTPX_FAILS | {"post-not-retried-without-key"}


def test_naive_httpx_client_fails_exactly_its_bugs() -> None:
    card = grade("shop.naive_httpx:make_client")
    assert failed(card) == NAIVE_HTTPX_FAILS
    assert {r.scenario for r in card.results if r.crashed} == CRASHES
    by_id = {r.scenario: r for r in card.results}
    # Failures explain themselves with the journal.
    assert by_id["retry-after-seconds"].observed == (
        "attempt 2 came 0.0 s after a 429 with Retry-After: 3"
    )
    assert by_id["post-key-stable"].observed == "used 3 different keys over 3 attempts"
    assert any("Idempotency-Key" in line for line in by_id["post-key-stable"].details)
    crash = by_id["malformed-json-typed-error"]
    assert crash.verdict == "CRASH"
    assert crash.observed.startswith("crashed: JSONDecodeError: ")
    assert "shop/naive_httpx.py:" in crash.observed  # the frame in the client's own code
    assert "CRASH" in card.render()


def test_naive_requests_client_fails_exactly_its_bugs() -> None:
    started = time.perf_counter()
    card = grade("shop.naive_requests:make_client")
    assert failed(card) == NAIVE_REQUESTS_FAILS
    by_id = {r.scenario: r for r in card.results}
    # No timeout at all: the watchdog fails it in bounded wall time instead of hanging.
    assert by_id["hang-bounded-8s"].observed.startswith("still blocked after 8.")
    assert time.perf_counter() - started < 60
    assert by_id["post-not-retried-without-key"].observed == (
        "sent the POST 3 times, 3 of them without a key"
    )


@pytest.mark.parametrize(
    ("attempts", "fails"),
    [
        (1, {"retry-503-burst", "reset-retried"}),  # never retries
        (20, {"attempts-bounded"}),  # retries without bound
    ],
)
def test_scenarios_naive_clients_pass_still_catch_plausible_bugs(
    attempts: int, fails: set[str]
) -> None:
    card = grade(
        lambda base_url: NaiveHttpxClient(base_url, attempts=attempts),
        scenarios=sorted(fails),
    )
    assert failed(card) == fails


class _AsyncAdapter:
    """An async client with the naive bugs: proves async adapters are driven correctly."""

    errors: tuple[type[BaseException], ...] = (RuntimeError,)

    def __init__(self, base_url: str) -> None:
        import httpx

        self.http = httpx.AsyncClient(base_url=base_url, timeout=0.5)

    async def get(self, path: str) -> Any:
        response = await self.http.get(path)
        if response.is_error:
            raise RuntimeError(response.status_code)
        return response.json()

    async def create(self, path: str, body: dict[str, Any]) -> Any:
        response = await self.http.post(path, json=body)
        if response.is_error:
            raise RuntimeError(response.status_code)
        return response.json()

    async def close(self) -> None:
        await self.http.aclose()


def test_async_adapters_are_graded_on_one_loop() -> None:
    card = grade(_AsyncAdapter, scenarios=["no-retry-4xx", "retry-503-burst", "breaker-opens"])
    assert failed(card) == {"retry-503-burst", "breaker-opens"}
    by_id = {r.scenario: r for r in card.results}
    assert by_id["retry-503-burst"].observed == "raised RuntimeError after 1 attempt(s)"
    assert by_id["no-retry-4xx"].observed == "one attempt for 400, one for 404"


class _NoErrors:
    def __init__(self, base_url: str) -> None:
        pass

    def get(self, path: str) -> object:
        return None

    def create(self, path: str, body: dict[str, Any]) -> object:
        return None


class _Mixed(_NoErrors):
    errors = (ValueError,)

    async def create(self, path: str, body: dict[str, Any]) -> object:  # type: ignore[override]
        return None


class _BadErrors(_NoErrors):
    errors = ValueError  # not a tuple


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        ("no_colon", "write it as 'module:callable'"),
        ("no.such.module:make", "cannot import 'no.such.module'"),
        ("shop.naive_httpx:nothing_here", "has no attribute 'nothing_here'"),
        (_NoErrors, "lacks errors"),
        (_Mixed, "both sync or both async"),
        (_BadErrors, "must be a tuple of exception classes"),
    ],
)
def test_misconfigured_adapters_get_advice(factory: Any, message: str) -> None:
    with pytest.raises(ConformanceError, match=re.escape(message)):
        grade(factory, scenarios=["retry-503-burst"])


def test_unknown_scenario_is_named() -> None:
    with pytest.raises(ConformanceError, match="unknown conformance scenario 'nope'"):
        grade("shop.naive_httpx:make_client", scenarios=["nope"])


def test_a_retired_id_says_what_replaced_it() -> None:
    with pytest.raises(ConformanceError, match=r"'backoff-grows' was retired.*backoff-grows-by"):
        grade("shop.naive_httpx:make_client", scenarios=["backoff-grows"])
