"""Anthropic's dialect: errors, rate-limit headers, messages and their event streams.

Sources, field by field:

* Error body ``{"type": "error", "error": {"type", "message"}, "request_id"}`` and the
  ``request-id`` header: Anthropic API docs, "Errors" ("Error shapes", "Request id");
  anthropic-sdk-python models it as ``ErrorResponse`` (``src/anthropic/types/shared/
  error_response.py``) and reads ``request-id`` (``src/anthropic/_exceptions.py``).
* Status to type: 400 ``invalid_request_error`` (also "other 4XX status codes not listed"),
  401 ``authentication_error``, 402 ``billing_error``, 403 ``permission_error``, 404
  ``not_found_error``, 413 ``request_too_large``, 429 ``rate_limit_error``, 500 ``api_error``,
  504 ``timeout_error``, 529 ``overloaded_error`` ("Errors"; the SDK's ``ErrorType``).
* Headers ``anthropic-ratelimit-{requests,tokens}-{limit,remaining,reset}``, resets as
  RFC 3339 times, and ``retry-after`` in seconds on a 429: API docs, "Rate limits",
  "Response headers".
* ``retry-after-ms``, ``retry-after``, ``x-should-retry``: anthropic-sdk-python
  ``src/anthropic/_base_client.py`` (``_parse_retry_after_header``, ``_should_retry``).
* Streams: ``message_start``, ``content_block_start``, ``ping``, ``content_block_delta``
  (``text_delta``), ``content_block_stop``, ``message_delta`` (``stop_reason``),
  ``message_stop``, each as ``event: NAME`` with a JSON ``data`` whose ``type`` is NAME; an
  in-stream ``event: error`` carries an error body (``overloaded_error`` in the docs'
  example): API docs, "Streaming Messages". anthropic-sdk-python raises an ``error`` event as
  the status error of its type and skips ``ping`` (``src/anthropic/_streaming.py``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from apiharness.upstream._streaming import SSEEvent
from apiharness.upstream.dialects._dialect import Dialect, Quota, rfc3339

__all__ = ["AnthropicDialect"]

_ID = "msg_apiharness"


def _event(name: str, data: dict[str, Any]) -> SSEEvent:
    return SSEEvent(json.dumps({"type": name, **data}, separators=(",", ":")), event=name)


class AnthropicDialect(Dialect):
    """Anthropic's API (messages) as a mocked upstream; use the instance ``anthropic``."""

    name = "anthropic"
    error_types: ClassVar[Mapping[int, str]] = {
        400: "invalid_request_error",
        401: "authentication_error",
        402: "billing_error",
        403: "permission_error",
        404: "not_found_error",
        413: "request_too_large",
        429: "rate_limit_error",
        500: "api_error",
        504: "timeout_error",
        529: "overloaded_error",
    }
    default_messages: ClassVar[Mapping[int, str]] = {
        429: "Number of requests has exceeded your per-minute rate limit.",
        500: "Internal server error",
        529: "Overloaded",
    }
    request_id_header = "request-id"
    overloaded_status = 529
    default_model = "claude-sonnet-4-5"
    stream_error_type = "overloaded_error"

    def _request_id(self) -> str:
        return "req_011apiharness"

    def error_body(self, status: int, message: str, type: str, code: str | None) -> object:
        return {
            "type": "error",
            "error": {"type": type, "message": message},
            "request_id": self._request_id(),
        }

    def rate_limit_message(self, kind: str, limit: int) -> str:
        unit = "requests" if kind == "requests" else "input tokens"
        return (
            f"This request would exceed your organization's rate limit of {limit} {unit} "
            "per minute."
        )

    def quota_headers(self, kind: str, quota: Quota, now: float) -> dict[str, str]:
        limit, remaining, reset = quota
        return {
            f"anthropic-ratelimit-{kind}-limit": str(limit),
            f"anthropic-ratelimit-{kind}-remaining": str(remaining),
            f"anthropic-ratelimit-{kind}-reset": rfc3339(now + reset),
        }

    def _message(self, model: str, content: list[Any], stop: str | None) -> dict[str, Any]:
        return {
            "id": _ID,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": {"input_tokens": 1, "output_tokens": 1},
        }

    def reply_body(self, text: str, model: str) -> object:
        return self._message(model, [{"type": "text", "text": text}], "end_turn")

    def stream_error_event(self, type: str, message: str) -> SSEEvent:
        return _event("error", {"error": {"type": type, "message": message}})

    def stream_events(self, texts: Sequence[str], model: str) -> list[SSEEvent]:
        """``message_start``, ``content_block_start``, ``ping``, a ``content_block_delta`` per
        text, ``content_block_stop``, ``message_delta``, ``message_stop``."""
        start = {"index": 0, "content_block": {"type": "text", "text": ""}}
        finish = {
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": len(texts)},
        }
        return [
            _event("message_start", {"message": self._message(model, [], None)}),
            _event("content_block_start", start),
            _event("ping", {}),
            *(
                _event(
                    "content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": t}}
                )
                for t in texts
            ),
            _event("content_block_stop", {"index": 0}),
            _event("message_delta", finish),
            _event("message_stop", {}),
        ]
