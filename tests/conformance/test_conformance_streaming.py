"""The streaming and llm catalogues: verdicts for a naive and a careful consumer, and the
adapter's ``stream(path)``."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from apiharness import ApiHarnessError
from apiharness.clients import new_idempotency_key, resilient_client
from apiharness.clients.idempotency import IDEMPOTENCY_KEY_HEADER
from apiharness.conformance import grade, load_catalogue
from apiharness.conformance._streaming import delivered_tokens
from apiharness.errors import ConformanceError

from .stream_clients import AsyncCarefulStream, CarefulStream, NaiveStream

STREAMING = [
    "resume-after-disconnect",
    "no-duplicate-events",
    "in-stream-error-typed",
    "stall-bounded",
    "retry-field-honoured",
]

# httpx-sse as its README shows it: a correct parser, and nothing more.
NAIVE = {
    "resume-after-disconnect": ("FAIL", "no reconnect: RemoteProtocolError (an httpx.HTTPError)"),
    "no-duplicate-events": ("FAIL", "no reconnect, so the stream ends at the break"),
    "in-stream-error-typed": ("FAIL", "an 'error' event is just another event to iter_sse"),
    "stall-bounded": ("PASS", "httpx's default 5 s read timeout raises ReadTimeout"),
    "retry-field-honoured": ("FAIL", "no reconnect at all"),
}


def _verdicts(factory: Any, catalogue: str) -> dict[str, str]:
    card = grade(factory, catalogue=catalogue)
    return {r.scenario: r.verdict for r in card.results}


def test_the_catalogues_hold_the_scenarios_the_issue_names() -> None:
    assert list(load_catalogue("streaming")) == STREAMING
    assert list(load_catalogue("llm")) == [
        "retry-after-ms-honoured",
        "x-should-retry-false-honoured",
        "overloaded-529-retried",
        "token-budget-respected",
    ]
    for name in ("streaming", "llm"):
        for found in load_catalogue(name).values():
            assert found.statement
            assert found.source
            assert found.catalogue == name


def test_naive_consumer_gets_the_verdicts_its_code_predicts() -> None:
    assert _verdicts(NaiveStream, "streaming") == {s: v for s, (v, _) in NAIVE.items()}


@pytest.mark.parametrize("factory", [CarefulStream, AsyncCarefulStream])
def test_reference_consumer_passes_every_streaming_scenario(factory: Any) -> None:
    card = grade(factory, catalogue="streaming")
    assert [r.scenario for r in card.results if not r.passed] == [], card.render()


def test_naive_client_fails_every_llm_scenario() -> None:
    # It retries at once, whatever the status and headers say (examples/shop/naive_httpx.py).
    card = grade("shop.naive_httpx:make_client", catalogue="llm")
    assert {r.scenario: r.verdict for r in card.results} == {
        "retry-after-ms-honoured": "FAIL",
        "x-should-retry-false-honoured": "FAIL",
        "overloaded-529-retried": "FAIL",
        "token-budget-respected": "FAIL",
    }, card.render()


class ReferenceLlm:
    """The reference transport as an LLM client would use it: each completion a keyed POST
    (the key makes it retryable), errors raised after the transport has done its retries."""

    errors = (httpx.HTTPStatusError, ApiHarnessError)

    def __init__(self, base_url: str, dialect: str) -> None:
        self.dialect = dialect
        self.http = resilient_client(base_url, breaker=False)

    def get(self, path: str) -> object:
        return self.http.get(path).raise_for_status().json()

    def create(self, path: str, body: dict[str, Any]) -> object:
        keyed = {IDEMPOTENCY_KEY_HEADER: new_idempotency_key()}
        return self.http.post(path, json=body, headers=keyed).raise_for_status().json()

    def close(self) -> None:
        self.http.close()


@pytest.mark.parametrize("dialect", ["openai", "anthropic"])
def test_reference_transport_passes_every_llm_scenario(dialect: str) -> None:
    # retry-after-ms is read before Retry-After, x-should-retry overrides the status, 529 is
    # retried (apiharness/clients/_retry.py); each of these fails on a policy without it.
    card = grade(lambda base_url: ReferenceLlm(base_url, dialect), catalogue="llm")
    assert [r.scenario for r in card.results if not r.passed] == [], card.render()


def test_an_adapter_without_stream_is_refused_with_advice() -> None:
    with pytest.raises(ConformanceError, match=r"'streaming' catalogue.*has no stream\(path\)"):
        grade("shop.naive_httpx:make_client", catalogue="streaming")


class _MixedStream(CarefulStream):
    async def stream(self, path: str) -> list[str]:  # type: ignore[override]
        return []


def test_stream_must_match_get_and_create_in_kind() -> None:
    with pytest.raises(ConformanceError, match=r"\.get and \.create and \.stream must be all"):
        grade(_MixedStream, catalogue="streaming")


@pytest.mark.parametrize(
    ("value", "tokens"),
    [
        (['{"text": "tok-1"}', '{"text": "tok-2"}'], [1, 2]),
        ([{"delta": {"text": "tok-3"}}, "[DONE]"], [3]),
        (["tok-1", "tok-1"], [1, 1]),
        ("tok-1", None),  # not a list: the adapter broke its contract
    ],
)
def test_delivered_tokens_reads_text_json_and_objects(value: object, tokens: object) -> None:
    assert delivered_tokens(value) == tokens
