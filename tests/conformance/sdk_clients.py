"""The openai and anthropic SDKs as conformance adapters, each used as its README shows.

Each adapter declares its ``dialect``, so the ``llm`` and ``streaming`` catalogues answer in
that provider's format at its endpoint. Adapters only translate: the SDK's own defaults
(retries, timeouts) are what gets graded.
"""

from __future__ import annotations

from typing import Any

import anthropic
import openai

from apiharness.conformance._llm import completion_call

KEY = "sk-harness-not-a-real-key"


class OpenAIChat:
    """``client.chat.completions.create(...)``, with ``stream=True`` for streams."""

    dialect = "openai"
    errors: tuple[type[BaseException], ...] = (openai.APIError,)

    def __init__(self, base_url: str) -> None:
        self.client = openai.OpenAI(base_url=f"{base_url}/v1", api_key=KEY)

    def get(self, path: str) -> Any:
        return self.client.get(path, cast_to=object)

    def create(self, path: str, body: dict[str, Any]) -> Any:
        return self.client.chat.completions.create(**body).to_dict()

    def stream(self, path: str) -> list[str]:
        body = completion_call(self.dialect)[1]
        with self.client.chat.completions.create(**body, stream=True) as chunks:
            return [chunk.to_json() for chunk in chunks]

    def close(self) -> None:
        self.client.close()


class AnthropicMessages:
    """``client.messages.create(...)``, with ``stream=True`` for streams."""

    dialect = "anthropic"
    errors: tuple[type[BaseException], ...] = (anthropic.APIError,)

    def __init__(self, base_url: str) -> None:
        self.client = anthropic.Anthropic(base_url=base_url, api_key=KEY)

    def get(self, path: str) -> Any:
        return self.client.get(path, cast_to=object)

    def create(self, path: str, body: dict[str, Any]) -> Any:
        return self.client.messages.create(**body).to_dict()

    def stream(self, path: str) -> list[str]:
        body = completion_call(self.dialect)[1]
        with self.client.messages.create(**body, stream=True) as events:
            return [event.to_json() for event in events]

    def close(self) -> None:
        self.client.close()
