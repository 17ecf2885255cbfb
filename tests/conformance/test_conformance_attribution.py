"""Crashes are told apart from violated expectations; a broken factory stops the run once;
a thread that outlives its scenario never touches the next one (issue 24, points 2 and 7)."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import pytest

from apiharness.conformance import grade
from apiharness.errors import ClientFactoryError

SECRET = "sk-live-0123456789abcdef"


class _CrashesOn4xxBodies:
    """Declares httpx errors, then trips over an error body: a crash, not a retry fault."""

    errors: tuple[type[BaseException], ...] = (httpx.HTTPError,)

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(
            base_url=base_url, timeout=1, headers={"Authorization": f"Bearer {SECRET}"}
        )

    def get(self, path: str) -> Any:
        response = self.http.get(path)
        if response.is_error:
            body: Any = None
            return body.error(f"{response.status_code} for key {SECRET}")  # AttributeError
        return response.json()

    def create(self, path: str, body: dict[str, Any]) -> Any:
        return self.http.post(path, json=body).json()

    def close(self) -> None:
        self.http.close()


def test_an_undeclared_exception_is_a_crash_with_type_scrubbed_message_and_frame() -> None:
    card = grade(_CrashesOn4xxBodies, scenarios=["no-retry-4xx", "retry-503-burst"])
    by_id = {r.scenario: r for r in card.results}
    crash = by_id["no-retry-4xx"]
    assert crash.verdict == "CRASH"
    assert crash.crashed
    assert not crash.passed
    assert crash.observed.startswith("crashed: AttributeError: 'NoneType' object has no attr")
    assert "tests/conformance/test_conformance_attribution.py:" in crash.observed
    assert "in get" in crash.observed
    assert crash.details[0].startswith("then: ")  # the expectation's own words follow
    # The retry scenario crashed too, on the first 503: still a crash, never a retry verdict.
    assert by_id["retry-503-burst"].verdict == "CRASH"
    for text in (card.render(), card.to_json(), crash.explain()):
        assert SECRET not in text
        assert "CRASH" in text or '"crashed": true' in text


def test_a_declared_error_is_a_failure_not_a_crash() -> None:
    card = grade("shop.naive_httpx:make_client", scenarios=["retry-after-503-seconds"])
    (result,) = card.results
    assert result.verdict == "FAIL"
    assert not result.crashed


def _broken_factory(base_url: str) -> Any:
    settings: dict[str, str] = {}
    return settings["api_key"]


def test_a_factory_that_raises_stops_grading_once_with_its_traceback() -> None:
    with pytest.raises(ClientFactoryError) as excinfo:
        grade(_broken_factory)
    message = str(excinfo.value)
    assert "_broken_factory('http://127.0.0.1:" in message
    assert "raised KeyError" in message
    assert 'settings["api_key"]' in message  # the traceback, with the offending line


class _KeepsSleepingAfterATimeout:
    """No overall deadline: after a failure it sleeps and tries again, forever."""

    errors: tuple[type[BaseException], ...] = (httpx.HTTPError,)
    stop = threading.Event()

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=None)

    def get(self, path: str) -> Any:
        while not self.stop.is_set():
            try:
                response = self.http.get(path)
            except httpx.HTTPError:
                time.sleep(0.25)
                continue
            if response.status_code < 500:
                return response.json()
            time.sleep(0.25)
        raise httpx.TransportError("stopped")

    def create(self, path: str, body: dict[str, Any]) -> Any:
        return self.get(path)


def test_a_client_that_keeps_sleeping_after_its_scenario_never_touches_the_next() -> None:
    _KeepsSleepingAfterATimeout.stop.clear()
    try:
        card = grade(_KeepsSleepingAfterATimeout, scenarios=["hang-bounded-8s", "retry-503-burst"])
    finally:
        _KeepsSleepingAfterATimeout.stop.set()
    hang, burst = card.results
    assert hang.observed.startswith("still blocked after 8.")
    # The leftover thread from the hang scenario loops on: if it slept on the next scenario's
    # clock, the 503 burst's gaps would show its sleeps, not just the client's own 0.25 s.
    assert burst.passed, burst.explain()
    gaps = [line.split("(+")[1].split(" s)")[0] for line in burst.details if "(+" in line]
    assert gaps == ["0.25", "0.25"]
