"""The current openai (3.x) and anthropic (2.x) SDKs, built on httpx2, pointed at the in-process
upstream through ``http_client=httpx2.Client(transport=up)``: the way users test them.

What each test asserts is read from the SDK's own source (3.57 / 2.14, ``_base_client.py``):

* both SDKs default to ``max_retries=2`` (``_constants.DEFAULT_MAX_RETRIES``): three attempts;
* a 429 is retried (``_should_retry``: ``status_code == 429``), and ``retry-after-ms`` is read
  first and divided by 1000 (``_parse_retry_after_header``); a positive value is slept as is
  (openai: up to ``MAX_RETRY_AFTER_DELAY`` = 120 s; anthropic: up to 4,294,967 s) with
  ``time.sleep`` (``_sleep_for_retry``), which the ``clock`` fixture makes virtual;
* a connection error (httpx2's ``ReadError`` for a reset) is retried after exponential
  backoff ``min(0.5 * 2**n, 8) * (1 - 0.25 * random())`` with ``n`` the retries already taken
  (``_calculate_retry_timeout``), so the second wait lies in [0.75, 1.0] s;
* every attempt carries ``x-stainless-retry-count`` = the retries taken so far.

Only in the environment with httpx2 and the new SDKs (``nox -s httpx2``); the main dev
environment holds mitmproxy, whose h11 pin excludes httpx2 (see noxfile.py).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from apiharness import VirtualClock
from apiharness.upstream import Upstream, reset, respond

httpx2 = pytest.importorskip("httpx2")
openai = pytest.importorskip("openai", minversion="3")
anthropic = pytest.importorskip("anthropic", minversion="2")

RATE_LIMITED = {"error": {"message": "Rate limit reached", "type": "rate_limit_error"}}

COMPLETION: dict[str, Any] = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-test",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "hello"},
            "finish_reason": "stop",
        }
    ],
}

MESSAGE: dict[str, Any] = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "claude-test",
    "content": [{"type": "text", "text": "hello"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 1, "output_tokens": 1},
}


def flaky(up: Upstream, path: str, body: dict[str, Any]) -> None:
    """429 with retry-after-ms 1500, then a reset, then the answer."""
    up.post(path).respond(
        respond(429, json=RATE_LIMITED, headers={"retry-after-ms": "1500"}),
        reset(),
        respond(200, json=body),
    )


def assert_rode_through(up: Upstream, clock: VirtualClock) -> None:
    # retry-after-ms exactly, then backoff for the reset within 0.5 * 2 * [0.75, 1].
    assert clock.sleeps[0] == 1.5
    assert len(clock.sleeps) == 2
    assert 0.75 <= clock.sleeps[1] <= 1.0
    entries = up.journal.entries
    assert [e.status for e in entries] == [429, None, 200]
    assert [e.delivered for e in entries] == [True, False, True]
    assert [e.headers["x-stainless-retry-count"] for e in entries] == ["0", "1", "2"]
    # The journal's times are virtual: the attempts are as far apart as the SDK slept.
    assert entries[1].monotonic - entries[0].monotonic == pytest.approx(1.5)
    assert entries[2].monotonic - entries[1].monotonic == pytest.approx(clock.sleeps[1])


#: Each SDK: its base URL, the path it posts to and a success body.
SDKS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "openai": ("https://api.openai.test/v1", "/chat/completions", COMPLETION),
    "anthropic": ("https://api.anthropic.test", "/v1/messages", MESSAGE),
}


def ask(name: str, client: Any) -> str:
    """One call of the SDK's main endpoint; the text of the answer."""
    hi = [{"role": "user", "content": "hi"}]
    if name == "openai":
        completion = client.chat.completions.create(model="m", messages=hi)
        return str(completion.choices[0].message.content)
    return str(client.messages.create(model="m", max_tokens=16, messages=hi).content[0].text)


@pytest.mark.parametrize("name", SDKS)
def test_the_sdk_rides_through_429_and_reset_in_virtual_time(
    name: str, clock: VirtualClock
) -> None:
    base_url, path, body = SDKS[name]
    up = Upstream(base_url=base_url)
    flaky(up, path, body)
    sdk = openai.OpenAI if name == "openai" else anthropic.Anthropic
    http_client = httpx2.Client(transport=up)
    with sdk(api_key="sk-test-not-real", base_url=up.base_url, http_client=http_client) as client:
        assert ask(name, client) == "hello"
    assert_rode_through(up, clock)


def test_async_openai_rides_through_too(clock: VirtualClock) -> None:
    up = Upstream(base_url="https://api.openai.test/v1")
    flaky(up, "/chat/completions", COMPLETION)

    async def run() -> Any:
        async with openai.AsyncOpenAI(
            api_key="sk-test-not-real",
            base_url=up.base_url,
            http_client=httpx2.AsyncClient(transport=up),
        ) as client:
            return await client.chat.completions.create(
                model="gpt-test", messages=[{"role": "user", "content": "hi"}]
            )

    assert asyncio.run(run()).choices[0].message.content == "hello"
    assert_rode_through(up, clock)


def test_openai_gives_up_after_three_attempts(clock: VirtualClock) -> None:
    up = Upstream(base_url="https://api.openai.test/v1")
    up.post("/chat/completions").respond(
        respond(429, json=RATE_LIMITED, headers={"retry-after-ms": "250"})
    )
    client = openai.OpenAI(
        api_key="sk-test-not-real", base_url=up.base_url, http_client=httpx2.Client(transport=up)
    )
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert clock.sleeps == [0.25, 0.25]
    assert len(up.journal) == 3
