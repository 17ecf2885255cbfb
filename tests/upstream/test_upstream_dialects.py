"""Provider dialects, judged by the providers' own SDKs: what openai-python and
anthropic-sdk-python make of each answer is what they make of the real API's."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import httpx_sse
import openai as openai_sdk
import pytest

from apiharness import VirtualClock, use_clock
from apiharness.errors import DeclarationError
from apiharness.upstream import Upstream
from apiharness.upstream.dialects import Dialect, anthropic, openai
from apiharness.upstream.dialects._dialect import go_duration, rfc3339

CHAT = "/v1/chat/completions"
MESSAGES = "/v1/messages"
ASK = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def openai_client(up: Upstream, retries: int = 0) -> openai_sdk.OpenAI:
    http = httpx.Client(transport=up, base_url=up.base_url)
    return openai_sdk.OpenAI(
        api_key="sk-test", base_url=up.base_url + "/v1", http_client=http, max_retries=retries
    )


@pytest.mark.parametrize(
    ("behaviour", "error", "status", "type_", "code"),
    [
        (openai.rate_limited(), openai_sdk.RateLimitError, 429, "requests", "rate_limit_exceeded"),
        (
            openai.rate_limited(kind="tokens"),
            openai_sdk.RateLimitError,
            429,
            "tokens",
            "rate_limit_exceeded",
        ),
        (openai.overloaded(), openai_sdk.InternalServerError, 503, "server_error", None),
        (openai.error(400), openai_sdk.BadRequestError, 400, "invalid_request_error", None),
        (openai.error(409), openai_sdk.ConflictError, 409, "invalid_request_error", None),
        (openai.error(500), openai_sdk.InternalServerError, 500, "server_error", None),
    ],
    ids=["429-requests", "429-tokens", "503", "400", "409", "500"],
)
def test_openai_sdk_reads_each_error_as_the_real_apis(
    behaviour: object, error: type[Exception], status: int, type_: str, code: str | None
) -> None:
    up = Upstream()
    up.post(CHAT).respond(behaviour)
    with pytest.raises(error) as raised:
        openai_client(up).chat.completions.create(**ASK)  # type: ignore[call-overload]
    exc = raised.value
    assert isinstance(exc, openai_sdk.APIStatusError)
    assert (exc.status_code, exc.type, exc.code) == (status, type_, code)
    assert exc.request_id == "req_apiharness"


def test_openai_rate_limit_headers_are_durations() -> None:
    up = Upstream()
    up.post(CHAT).respond(openai.rate_limited(retry_after=2, retry_after_ms=1500, limit=500))
    response = httpx.Client(transport=up, base_url=up.base_url).post(CHAT, json=ASK)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "2"
    assert response.headers["retry-after-ms"] == "1500"
    assert response.headers["x-ratelimit-limit-requests"] == "500"
    assert response.headers["x-ratelimit-remaining-requests"] == "0"
    assert response.headers["x-ratelimit-reset-requests"] == "2s"


def test_openai_sdk_waits_retry_after_ms_rather_than_its_backoff() -> None:
    up = Upstream()
    up.post(CHAT).respond(openai.rate_limited(retry_after=30, retry_after_ms=200), openai.reply())
    completion = openai_client(up, retries=1).chat.completions.create(**ASK)  # type: ignore[call-overload]
    assert completion.choices[0].message.content == "Hello!"
    (gap,) = up.journal.intervals("POST", CHAT)
    assert 0.19 <= gap < 5  # 200 ms, not 30 s, not its 0.5-8 s backoff


def test_openai_sdk_stops_at_x_should_retry_false_and_retries_at_true() -> None:
    up = Upstream()
    up.post(CHAT).respond(openai.error(500, should_retry=False))
    with pytest.raises(openai_sdk.InternalServerError):
        openai_client(up, retries=2).chat.completions.create(**ASK)  # type: ignore[call-overload]
    assert up.journal.count("POST", CHAT) == 1
    up = Upstream()
    # 400 is never retried, unless the header says so.
    up.post(CHAT).respond(openai.error(400, should_retry=True, retry_after_ms=1), openai.reply())
    openai_client(up, retries=1).chat.completions.create(**ASK)  # type: ignore[call-overload]
    assert up.journal.count("POST", CHAT) == 2


def test_openai_sdk_reads_the_stream_and_raises_the_in_stream_error() -> None:
    up = Upstream()
    up.post(CHAT).respond(openai.stream(["Hel", "lo"]), openai.stream(["Hel", "lo"], error_after=2))
    client = openai_client(up)
    chunks = client.chat.completions.create(**ASK, stream=True)  # type: ignore[call-overload]
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks)
    assert text == "Hello"
    seen: list[str] = []
    failing = client.chat.completions.create(**ASK, stream=True)  # type: ignore[call-overload]
    with pytest.raises(openai_sdk.APIError) as raised:
        seen.extend(chunk.choices[0].delta.content or "" for chunk in failing)
    assert seen == ["", "Hel"]  # the 200 came, two events, then the error
    assert "The server had an error" in str(raised.value)


def test_openai_stream_ends_with_done_and_a_finish_reason() -> None:
    up = Upstream()
    up.post(CHAT).respond(openai.stream(["a"]))
    with (
        httpx.Client(transport=up, base_url=up.base_url) as http,
        http.stream("POST", CHAT, json=ASK) as response,
    ):
        data = [e.data for e in httpx_sse.EventSource(response).iter_sse()]
    assert data[-1] == "[DONE]"
    assert json.loads(data[-2])["choices"][0]["finish_reason"] == "stop"
    assert json.loads(data[0])["choices"][0]["delta"] == {"role": "assistant", "content": ""}


# -- anthropic (its SDK runs on httpx2, so it talks to the loopback server) -----------------


def test_anthropic_sdk_reads_errors_replies_and_streams_as_the_real_apis() -> None:
    sdk = pytest.importorskip("anthropic")
    up = Upstream()
    up.post(MESSAGES).respond(
        anthropic.overloaded(),
        anthropic.rate_limited(kind="tokens", retry_after=3),
        anthropic.error(413),
        anthropic.reply("hi"),
        anthropic.stream(["Hel", "lo"]),
        anthropic.stream(["Hel", "lo"], error_after=4),
    )
    ask = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}
    with up.serve() as server:
        client = sdk.Anthropic(base_url=server.base_url, api_key="k", max_retries=0)
        with pytest.raises(sdk.OverloadedError) as overloaded:
            client.messages.create(**ask)
        assert overloaded.value.type == "overloaded_error"
        assert overloaded.value.request_id == "req_011apiharness"
        with pytest.raises(sdk.RateLimitError) as limited:
            client.messages.create(**ask)
        assert limited.value.response.headers["retry-after"] == "3"
        assert limited.value.response.headers["anthropic-ratelimit-tokens-remaining"] == "0"
        with pytest.raises(sdk.RequestTooLargeError):
            client.messages.create(**ask)
        assert client.messages.create(**ask).content[0].text == "hi"
        with client.messages.stream(**ask) as stream:
            assert "".join(stream.text_stream) == "Hello"
            assert stream.get_final_message().stop_reason == "end_turn"
        seen: list[str] = []
        # An error event after the 200: the SDK raises a status error of the 200 response,
        # not OverloadedError, and its retries never see it (anthropic-sdk-python#688).
        with pytest.raises(sdk.APIStatusError) as in_stream, client.messages.stream(**ask) as s:
            seen.extend(s.text_stream)
        assert seen == ["Hel"]
        assert in_stream.value.status_code == 200
        assert in_stream.value.body["error"]["type"] == "overloaded_error"


def test_anthropic_rate_limit_resets_are_rfc3339_times_on_the_active_clock() -> None:
    up = Upstream()
    up.post(MESSAGES).respond(anthropic.rate_limited(retry_after=90, limit=50))
    clock = VirtualClock(start=datetime(2030, 1, 1, tzinfo=UTC).timestamp())
    with use_clock(clock):
        response = httpx.Client(transport=up, base_url=up.base_url).post(MESSAGES, json={})
    assert response.headers["anthropic-ratelimit-requests-reset"] == "2030-01-01T00:01:30Z"
    assert response.headers["anthropic-ratelimit-requests-limit"] == "50"
    assert response.headers["request-id"] == "req_011apiharness"
    assert response.json()["error"]["type"] == "rate_limit_error"


# -- shared -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "shown"),
    # Go's time.Duration.String for these values (pkg.go.dev/time#Duration.String).
    [(360, "6m0s"), (1, "1s"), (0.012, "12ms"), (5400, "1h30m0s"), (1.5, "1.5s"), (0, "0s")],
)
def test_openai_resets_are_written_as_go_durations(seconds: float, shown: str) -> None:
    assert go_duration(seconds) == shown


def test_rfc3339_is_utc_with_z() -> None:
    assert rfc3339(0) == "1970-01-01T00:00:00Z"


@pytest.mark.parametrize("dialect", [openai, anthropic], ids=lambda d: d.name)
def test_the_token_budget_refills_per_minute_in_virtual_time(dialect: Dialect) -> None:
    up = Upstream()
    path = CHAT if dialect is openai else MESSAGES
    up.post(path).respond(dialect.token_budget(600))  # 10 tokens a second
    clock = VirtualClock()
    ask = {"max_tokens": 250, "messages": []}
    with use_clock(clock):
        http = httpx.Client(transport=up, base_url=up.base_url)
        statuses = [http.post(path, json=ask).status_code for _ in range(3)]
        denied = http.post(path, json=ask)
        clock.advance(float(denied.headers["retry-after"]))
        after = http.post(path, json=ask)
    assert statuses == [200, 200, 429]
    # 100 tokens left, 250 wanted: 15 s until 150 more have dripped in.
    assert denied.headers["retry-after"] == "15"
    assert after.status_code == 200
    name = {
        "openai": "x-ratelimit-remaining-tokens",
        "anthropic": "anthropic-ratelimit-tokens-remaining",
    }
    assert after.headers[name[dialect.name]] == "0"


def test_a_request_larger_than_the_budget_is_told_not_to_retry() -> None:
    up = Upstream()
    up.post(CHAT).respond(openai.token_budget(100))
    response = httpx.Client(transport=up, base_url=up.base_url).post(
        CHAT, json={"max_tokens": 1000}
    )
    assert response.status_code == 429
    assert response.headers["x-should-retry"] == "false"
    assert "retry-after" not in response.headers


def test_bad_dialect_arguments_are_declaration_errors() -> None:
    with pytest.raises(DeclarationError):
        openai.rate_limited(kind="minutes")
    with pytest.raises(DeclarationError):
        anthropic.error(42)
    with pytest.raises(DeclarationError):
        openai.token_budget(0)
    with pytest.raises(DeclarationError):
        anthropic.stream(["a"], disconect_after=1)


@pytest.mark.parametrize("status", [408, 409, 429, 500, 503])
def test_openai_sdk_retries_the_statuses_it_retries_once_each(status: int) -> None:
    up = Upstream()
    up.post(CHAT).respond(openai.error(status, retry_after_ms=1), openai.reply("again"))
    completion = openai_client(up, retries=1).chat.completions.create(**ASK)  # type: ignore[call-overload]
    assert completion.choices[0].message.content == "again"
    assert up.journal.count("POST", CHAT) == 2
