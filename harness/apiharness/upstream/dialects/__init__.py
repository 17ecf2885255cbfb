"""Provider dialects: a mocked upstream that answers as OpenAI or Anthropic do.

Each dialect builds behaviours with the provider's own status codes, error bodies, headers
and stream events, each field with its source in the module that defines it
(:mod:`._openai`, :mod:`._anthropic`)::

    from apiharness.upstream import Upstream
    from apiharness.upstream.dialects import anthropic, openai

    up = Upstream(base_url="https://api.openai.test")
    up.post("/v1/chat/completions").respond(
        openai.rate_limited(retry_after_ms=250),       # 429, retry-after-ms, x-ratelimit-*
        openai.error(500, should_retry=False),          # x-should-retry: false
        openai.stream(["Hel", "lo"], error_after=2),    # 200, then an in-stream error
    )
    up.post("/v1/messages").respond(anthropic.overloaded(), anthropic.reply("hi"))

Every dialect has the same methods: ``error``, ``rate_limited``, ``overloaded``, ``reply``,
``stream`` and ``token_budget`` (a tokens-per-minute bucket on the active clock).
"""

from apiharness.upstream.dialects._anthropic import AnthropicDialect
from apiharness.upstream.dialects._dialect import Dialect
from apiharness.upstream.dialects._openai import OpenAIDialect

openai = OpenAIDialect()
anthropic = AnthropicDialect()

__all__ = ["AnthropicDialect", "Dialect", "OpenAIDialect", "anthropic", "openai"]
