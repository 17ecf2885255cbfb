"""The real openai and anthropic SDKs against the dialect mocks, graded by the ``llm`` and
``streaming`` catalogues; every verdict asserted, each with the source that makes it right.

Versions: openai 2.x and anthropic 0.x, the last releases on httpx (both moved to httpx2
afterwards; see pyproject.toml). Paths cited are in github.com/openai/openai-python and
github.com/anthropics/anthropic-sdk-python, read at the installed versions. Both SDKs are
generated from one template (Stainless), so their retry code is the same in shape:

* ``_base_client.py`` ``_parse_retry_after_header`` reads ``retry-after-ms`` before
  ``retry-after``; ``_calculate_retry_timeout`` waits that long if it is within bounds (openai:
  ``0 < retry_after <= MAX_RETRY_AFTER_DELAY`` = 120 s; anthropic: ``<= 60``), else backs off
  ``INITIAL_RETRY_DELAY * 2**n`` (0.5 s) with ``jitter = 1 - 0.25 * random()``;
* ``_should_retry`` obeys ``x-should-retry: true|false`` first, then retries 408, 409, 429 and
  ``>= 500`` (so 529); ``DEFAULT_MAX_RETRIES = 2`` (``_constants.py``);
* ``DEFAULT_TIMEOUT = httpx.Timeout(timeout=600, connect=5.0)`` (``_constants.py``);
* ``_streaming.py`` ``Stream.__stream__`` iterates one response's bytes through the SDK's own
  SSE decoder (copied from httpx-sse): no reconnect, no ``Last-Event-ID``, and httpx's errors
  while reading the body escape as they are (the retry loop in ``_base_client.py`` wraps only
  sending the request) — openai-python#2065 and #2356 report exactly that.
"""

from __future__ import annotations

import asyncio

import anthropic
import httpx
import openai
import pytest

from apiharness.clock import VirtualClock
from apiharness.conformance import grade
from apiharness.upstream import Upstream
from apiharness.upstream.dialects import anthropic as anthropic_dialect
from apiharness.upstream.dialects import openai as openai_dialect

from .sdk_clients import KEY, AnthropicMessages, OpenAIChat

_LLM_BOTH = {
    "retry-after-ms-honoured": (
        "PASS",
        "_parse_retry_after_header reads retry-after-ms first; 4.5 s is within bounds",
    ),
    "x-should-retry-false-honoured": (
        "PASS",
        "_should_retry: x-should-retry 'false' returns False before the status is looked at; "
        "the 503 becomes InternalServerError (an APIError)",
    ),
    "overloaded-529-retried": (
        "PASS",
        "_should_retry retries status >= 500; waits 0.5 * 2**n * (1 - 0.25 * random()) > 0",
    ),
    "token-budget-respected": (
        "PASS",
        "each 429 carries retry-after (20 s, within bounds), which _calculate_retry_timeout "
        "waits out; after it the bucket holds a call's tokens again",
    ),
}

_STREAM_BOTH = {
    "resume-after-disconnect": (
        "CRASH",
        "_streaming.py never reconnects: httpx.RemoteProtocolError escapes the iteration "
        "unwrapped, not an APIError (openai-python#2065)",
    ),
    "no-duplicate-events": ("CRASH", "the same: the stream breaks before any replay can happen"),
    "stall-bounded": (
        "FAIL",
        "DEFAULT_TIMEOUT reads for 600 s: a silent stream blocks past the 8 s bound",
    ),
}

EXPECTED: dict[str, dict[str, dict[str, tuple[str, str]]]] = {
    "openai": {
        "llm": _LLM_BOTH,
        "streaming": {
            **_STREAM_BOTH,
            "in-stream-error-typed": (
                "PASS",
                "Stream.__stream__: data that is a mapping with an 'error' raises APIError",
            ),
            "retry-field-honoured": (
                "CRASH",
                "a retry:-only block is dispatched by its SSEDecoder (it checks _retry is None) "
                "with data '', and __stream__ calls sse.json() on it: JSONDecodeError",
            ),
        },
    },
    "anthropic": {
        "llm": _LLM_BOTH,
        "streaming": {
            **_STREAM_BOTH,
            "in-stream-error-typed": (
                "PASS",
                "Stream.__stream__: an 'error' event raises _make_status_error(...): "
                "APIStatusError",
            ),
            "retry-field-honoured": (
                "CRASH",
                "the retry:-only event has no event name, so __stream__ skips it; then the "
                "break escapes as RemoteProtocolError",
            ),
        },
    },
}

ADAPTERS = {"openai": OpenAIChat, "anthropic": AnthropicMessages}


@pytest.mark.parametrize("catalogue", ["llm", "streaming"])
@pytest.mark.parametrize("sdk", sorted(ADAPTERS))
def test_sdk_gets_the_verdicts_its_source_predicts(sdk: str, catalogue: str) -> None:
    card = grade(ADAPTERS[sdk], catalogue=catalogue, client=sdk)
    expected = EXPECTED[sdk][catalogue]
    assert sorted(r.scenario for r in card.results) == sorted(expected)
    wrong = {
        r.scenario: f"{r.verdict} (expected {expected[r.scenario][0]}: "
        f"{expected[r.scenario][1]}) — {r.observed}"
        for r in card.results
        if r.verdict != expected[r.scenario][0]
    }
    assert not wrong, "\n".join(f"{s}: {w}" for s, w in wrong.items())


# -- in process: the SDKs on the mock as their http_client's transport ---------------------


def test_openai_in_process_waits_retry_after_ms_in_virtual_time() -> None:
    up = Upstream(base_url="https://api.openai.test")
    up.post("/v1/chat/completions").respond(
        openai_dialect.rate_limited(retry_after=None, retry_after_ms=1500), openai_dialect.reply()
    )
    clock = VirtualClock()
    http = httpx.Client(transport=up)
    client = openai.OpenAI(base_url=f"{up.base_url}/v1", api_key=KEY, http_client=http)
    with clock.patch():
        reply = client.chat.completions.create(model="gpt-harness", messages=[])
    assert reply.choices[0].message.content == "Hello!"
    assert up.journal.intervals(path="/v1/chat/completions") == [pytest.approx(1.5)]


def test_anthropic_in_process_stream_error_is_typed_and_a_break_is_not() -> None:
    up = Upstream(base_url="https://api.anthropic.test")
    up.post("/v1/messages").respond(
        anthropic_dialect.stream(["a", "b"], error_after=4),
        anthropic_dialect.stream(["a", "b"], disconnect_after=4),
    )
    http = httpx.Client(transport=up)
    client = anthropic.Anthropic(base_url=up.base_url, api_key=KEY, http_client=http)
    body = {"model": "claude-harness", "max_tokens": 8, "messages": []}
    with pytest.raises(anthropic.APIStatusError):
        list(client.messages.create(**body, stream=True))  # type: ignore[call-overload]
    # anthropic-sdk-python#688: retries cover only the opening request; a break mid-stream
    # is httpx's own error, outside the SDK's error tree.
    with pytest.raises(httpx.RemoteProtocolError):
        list(client.messages.create(**body, stream=True))  # type: ignore[call-overload]
    assert len(up.journal) == 2


def test_async_openai_in_process_stream_break_escapes_as_httpx_error() -> None:
    # openai-python#2065: AsyncStream reads one response; a cut body is httpx's error.
    up = Upstream(base_url="https://api.openai.test")
    up.post("/v1/chat/completions").respond(openai_dialect.stream(["a", "b"], disconnect_after=2))

    async def main() -> list[str]:
        async with httpx.AsyncClient(transport=up) as http:
            client = openai.AsyncOpenAI(base_url=f"{up.base_url}/v1", api_key=KEY, http_client=http)
            chunks = await client.chat.completions.create(
                model="gpt-harness", messages=[], stream=True
            )
            return [chunk.choices[0].delta.content or "" async for chunk in chunks]

    with pytest.raises(httpx.RemoteProtocolError):
        asyncio.run(main())
    assert len(up.journal) == 1  # and it did not try again
