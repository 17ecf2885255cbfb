"""The HTTP/2 scenarios of the transport catalogue: the reference client passes, and httpx
gets the verdicts httpcore 1.0's source earns it (read beside tests/upstream/test_upstream_http2.py,
which pins the exception behind each)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from apiharness.conformance import grade, load_catalogue
from apiharness.conformance._transport_http2 import HTTP2_OVER_TLS

from .test_conformance_transport import HttpxDefaults

EXAMPLES = Path(__file__).parent.parent.parent / "examples"
REFUSED, GOAWAY, PROCESSED = (
    "h2-retries-refused-stream",
    "h2-retries-goaway-unprocessed",
    "h2-processed-post-not-repeated",
)
HTTP2_SCENARIOS = [REFUSED, GOAWAY, PROCESSED]


@pytest.fixture(autouse=True)
def examples_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(EXAMPLES))


class Httpx(HttpxDefaults):
    """``httpx.Client`` with default settings, or with ``http2=True`` (and then declared)."""

    def __init__(self, base_url: str, *, http2: bool) -> None:
        super().__init__(base_url, http2=http2)
        self.http2 = http2


class NoPool(Httpx):
    """A new HTTP/2 connection per call: every GOAWAY lands on stream 1 (last stream id 0)."""

    def get(self, path: str) -> Any:
        with httpx.Client(base_url=self.http.base_url, http2=True) as fresh:
            return fresh.get(path).raise_for_status().json()


class RepeatsPosts(Httpx):
    """Retries any POST once on a protocol error, with no Idempotency-Key: the bug the last
    scenario names."""

    def create(self, path: str, body: dict[str, Any]) -> Any:
        try:
            return super().create(path, body)
        except httpx.RemoteProtocolError:
            return super().create(path, body)


def verdicts(factory: Any, name: str) -> dict[str, tuple[bool, str]]:
    card = grade(factory, scenarios=HTTP2_SCENARIOS, catalogue="transport", client=name)
    return {r.scenario: (r.passed, r.observed) for r in card.results}


def test_http2_scenarios_are_in_the_transport_catalogue_with_sources() -> None:
    catalogue = load_catalogue("transport")
    for scenario_id in HTTP2_SCENARIOS:
        found = catalogue[scenario_id]
        assert "RFC 9113" in found.source
        assert dict(found.serve) == HTTP2_OVER_TLS


@pytest.mark.parametrize("factory", ["make_client", "make_async_client"])
def test_the_reference_client_passes_every_http2_scenario(factory: str) -> None:
    got = verdicts(f"shop.reference:{factory}", "reference")
    assert {k: passed for k, (passed, _) in got.items()} == dict.fromkeys(HTTP2_SCENARIOS, True)
    assert got[REFUSED][1] == "returned after 2 attempt(s)"
    # It repeated the processed POST, with its Idempotency-Key: replayed, one effect.
    assert got[PROCESSED][1].endswith("after 2 request(s); the upstream performed 1 effect(s)")


def test_httpx_with_http2_retries_goaway_but_not_a_refused_stream() -> None:
    got = verdicts(lambda url: Httpx(url, http2=True), "httpx http2=True")
    # httpcore turns RST_STREAM into RemoteProtocolError and its pool never retries it,
    # REFUSED_STREAM included; a stream above a GOAWAY's last id is retried by the pool.
    assert got[REFUSED] == (False, "raised RemoteProtocolError after 1 attempt(s)")
    assert got[GOAWAY][0] is True
    assert got[PROCESSED] == (
        True,
        "raised RemoteProtocolError after 1 request(s); the upstream performed 1 effect(s)",
    )


def test_httpx_default_settings_speak_no_http2_and_are_not_graded() -> None:
    got = verdicts(lambda url: Httpx(url, http2=False), "httpx defaults")
    for passed, observed in got.values():
        assert not passed
        assert observed.startswith("not graded: the adapter does not declare http2 = True")


def test_goaway_on_a_fresh_connection_is_not_retried_by_httpx() -> None:
    # GOAWAY on stream 1 names last stream id 0; httpcore retries only a truthy last id.
    got = verdicts(lambda url: NoPool(url, http2=True), "httpx, a client per call")
    assert got[GOAWAY][0] is False
    assert "was not retried" in got[GOAWAY][1]


def test_repeating_a_processed_post_without_a_key_fails() -> None:
    got = verdicts(lambda url: RepeatsPosts(url, http2=True), "repeats posts")
    assert got[PROCESSED] == (
        False,
        "returned after 2 request(s); the upstream performed 2 effect(s)",
    )
