"""OpenAI's dialect: errors, rate-limit headers, chat completions and their streams.

Sources, field by field:

* Error body ``{"error": {"message", "type", "param", "code"}}``: OpenAI API reference, "Error
  codes" guide; openai-python reads exactly these four from the ``error`` object
  (``src/openai/_exceptions.py``, ``APIError.__init__``), and its client unwraps
  ``body["error"]`` before building the exception (``src/openai/_client.py``,
  ``_make_status_error``).
* Types: ``invalid_request_error`` for 4xx, ``server_error`` for 5xx (error-codes guide); a
  429 is ``type`` ``requests`` or ``tokens`` with ``code`` ``rate_limit_exceeded`` (bodies as
  the API sends them, quoted in the rate-limits guide and openai-python issues).
* ``503`` "The engine is currently overloaded, please try again later" (error-codes guide);
  OpenAI has no 529.
* Headers ``x-ratelimit-{limit,remaining,reset}-{requests,tokens}``, resets as durations
  (``1s``, ``6m0s``): the rate-limits guide, "Rate limits in headers".
* ``retry-after-ms``, ``retry-after`` (seconds or HTTP-date) and ``x-should-retry``:
  openai-python ``src/openai/_base_client.py`` (``_parse_retry_after_header``,
  ``_should_retry``: 408, 409, 429 and >= 500 are retried; the header overrides).
* ``x-request-id``: the API reference, "Debugging requests".
* Streams: ``chat.completion.chunk`` objects, a role delta first, content deltas, a final delta
  with ``finish_reason``, then ``data: [DONE]`` (API reference, "The chat completion chunk
  object"; openai-python ``src/openai/_streaming.py`` stops at ``[DONE]``). An in-stream error
  is a data object with an ``error`` key, which openai-python raises as ``APIError``
  (same file).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from apiharness.upstream._streaming import SSEEvent
from apiharness.upstream.dialects._dialect import Dialect, Quota, go_duration

__all__ = ["OpenAIDialect"]

_ID = "chatcmpl-apiharness"


class OpenAIDialect(Dialect):
    """OpenAI's API (chat completions) as a mocked upstream; use the instance ``openai``."""

    name = "openai"
    error_types: ClassVar[Mapping[int, str]] = {
        400: "invalid_request_error",
        401: "invalid_request_error",
        403: "invalid_request_error",
        404: "invalid_request_error",
        408: "invalid_request_error",
        409: "invalid_request_error",
        429: "requests",
        500: "server_error",
        503: "server_error",
    }
    default_messages: ClassVar[Mapping[int, str]] = {
        400: "Invalid request.",
        401: "Incorrect API key provided.",
        404: "The model does not exist or you do not have access to it.",
        408: "Request timed out.",
        409: "The request conflicted with another request; please try again.",
        500: "The server had an error while processing your request. Sorry about that!",
        503: "The engine is currently overloaded, please try again later",
    }
    request_id_header = "x-request-id"
    overloaded_status = 503
    rate_limit_code = "rate_limit_exceeded"
    default_model = "gpt-4o-mini"
    stream_error_type = "server_error"

    def error_body(self, status: int, message: str, type: str, code: str | None) -> object:
        return {"error": {"message": message, "type": type, "param": None, "code": code}}

    def rate_limit_type(self, kind: str) -> str:
        return kind

    def rate_limit_message(self, kind: str, limit: int) -> str:
        unit = "requests per min (RPM)" if kind == "requests" else "tokens per min (TPM)"
        return f"Rate limit reached for {self.default_model} on {unit}: Limit {limit}."

    def quota_headers(self, kind: str, quota: Quota, now: float) -> dict[str, str]:
        limit, remaining, reset = quota
        return {
            f"x-ratelimit-limit-{kind}": str(limit),
            f"x-ratelimit-remaining-{kind}": str(remaining),
            f"x-ratelimit-reset-{kind}": go_duration(reset),
        }

    def reply_body(self, text: str, model: str) -> object:
        return {
            "id": _ID,
            "object": "chat.completion",
            "created": 0,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text, "refusal": None},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }

    def _chunk(self, model: str, delta: dict[str, Any], finish: str | None) -> SSEEvent:
        return SSEEvent(
            _json(
                {
                    "id": _ID,
                    "object": "chat.completion.chunk",
                    "created": 0,
                    "model": model,
                    "choices": [
                        {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
                    ],
                }
            )
        )

    def stream_error_event(self, type: str, message: str) -> SSEEvent:
        return SSEEvent(_json(self.error_body(500, message, type, None)))

    def stream_events(self, texts: Sequence[str], model: str) -> list[SSEEvent]:
        """A role chunk, one chunk per text, a ``finish_reason`` chunk, then ``[DONE]``."""
        events = [self._chunk(model, {"role": "assistant", "content": ""}, None)]
        events += [self._chunk(model, {"content": text}, None) for text in texts]
        return [*events, self._chunk(model, {}, "stop"), SSEEvent("[DONE]")]


def _json(value: object) -> str:
    import json

    return json.dumps(value, separators=(",", ":"))
