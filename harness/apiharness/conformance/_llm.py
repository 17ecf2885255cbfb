"""The ``llm`` catalogue: the retry signals LLM provider APIs send, and whether a client obeys.

Chosen with ``apiharness grade --catalogue llm``. Each scenario makes one or more completion
calls through the adapter's ``create(path, body)``: ``path`` and ``body`` are the provider's
(``POST /v1/chat/completions`` for ``dialect = "openai"``, the default; ``POST /v1/messages``
for ``dialect = "anthropic"``), and the upstream answers in that provider's dialect
(:mod:`apiharness.upstream.dialects`: error bodies, rate-limit headers, token budget).
An SDK adapter may ignore ``path`` and pass ``body`` to its own completion call.
"""

from __future__ import annotations

from apiharness.conformance._catalogue import RetryAfterLog, scenario
from apiharness.conformance._resource import LLM_PATHS
from apiharness.conformance._trial import Outcome, Trial, Verdict
from apiharness.upstream.dialects import Dialect, anthropic, openai

__all__ = ["completion_call"]

CATALOGUE = "llm"
#: Every call asks for this many output tokens, which is what a token budget charges.
MAX_TOKENS = 1000

OPENAI_SDK = "openai-python src/openai/_base_client.py (_should_retry, _calculate_retry_timeout)"
ANTHROPIC_ERRORS = "Anthropic API docs, 'Errors' (529 overloaded_error; 429 rate_limit_error)"
OPENAI_LIMITS = "OpenAI API docs, 'Rate limits' (x-ratelimit-*-tokens headers)"


def _dialect(t: Trial) -> str:
    dialect = getattr(t.client.adapter, "dialect", "openai")
    return dialect if dialect in LLM_PATHS else "openai"


def completion_call(dialect: str) -> tuple[str, dict[str, object]]:
    """The path and body of one small completion request in ``dialect``."""
    body: dict[str, object] = {
        "model": _speaks(dialect).default_model,
        "messages": [{"role": "user", "content": "Say hi."}],
        "max_tokens": MAX_TOKENS,
    }
    return LLM_PATHS[dialect], body


def _speaks(dialect: str) -> Dialect:
    return anthropic if dialect == "anthropic" else openai


def _call(t: Trial) -> Outcome:
    path, body = completion_call(_dialect(t))
    return t.create(path, body)


def _attempts(t: Trial) -> int:
    return t.count("POST", LLM_PATHS[_dialect(t)])


@scenario(
    "retry-after-ms-honoured",
    "after a 429 whose only wait is retry-after-ms: 4500, the next attempt comes at least 4.5 s "
    "later, and the call succeeds",
    OPENAI_SDK + " (retry-after-ms, read before Retry-After)",
    catalogue=CATALOGUE,
)
def _retry_after_ms(t: Trial) -> Verdict:
    dialect = _dialect(t)
    speaks = _speaks(dialect)
    limited = speaks.rate_limited(retry_after=None, retry_after_ms=4500)
    t.up.post(LLM_PATHS[dialect]).respond(limited, speaks.reply())
    out = _call(t)
    n = _attempts(t)
    if out.error is not None or n < 2:
        return t.fail(f"{out.describe()} after {n} attempt(s); it should have waited and retried")
    gap = t.up.journal.intervals(path=LLM_PATHS[dialect])[0]
    did = f"attempt 2 came {gap:.2f} s after a 429 with retry-after-ms: 4500"
    return t.ok(did) if gap + 1e-6 >= 4.5 else t.fail(did)


@scenario(
    "x-should-retry-false-honoured",
    "a 503 carrying x-should-retry: false is not retried: one attempt, then one of the "
    "client's declared errors",
    OPENAI_SDK + " (x-should-retry overrides the status)",
    catalogue=CATALOGUE,
)
def _should_retry_false(t: Trial) -> Verdict:
    dialect = _dialect(t)
    speaks = _speaks(dialect)
    t.up.post(LLM_PATHS[dialect]).respond(speaks.error(503, should_retry=False), speaks.reply())
    out = _call(t)
    n = _attempts(t)
    if n != 1:
        return t.fail(f"{out.describe()} after {n} attempts; the upstream said not to retry")
    if out.error is None:
        return t.fail("returned success for a 503")
    if not out.typed:
        return t.fail(f"{out.describe()} for a 503")
    return t.ok(f"raised {type(out.error).__name__} after 1 attempt")


@scenario(
    "overloaded-529-retried",
    "529 overloaded_error twice, then 200: the client waits before each retry and returns "
    "after 3 attempts",
    ANTHROPIC_ERRORS,
    catalogue=CATALOGUE,
)
def _overloaded_retried(t: Trial) -> Verdict:
    dialect = _dialect(t)
    speaks = _speaks(dialect)
    t.up.post(LLM_PATHS[dialect]).respond(speaks.error(529).times(2), speaks.reply())
    out = _call(t)
    n = _attempts(t)
    if out.error is not None:
        return t.fail(f"{out.describe()} after {n} attempt(s)")
    if n != 3:
        return t.fail(f"returned after {n} attempt(s), not 3")
    gaps = t.up.journal.intervals(path=LLM_PATHS[dialect])
    waits = ", ".join(f"{g:.2f}" for g in gaps)
    if min(gaps) <= 0:
        return t.fail(f"retried without waiting (waits {waits} s)")
    return t.ok(f"returned after 3 attempts, waiting {waits} s")


@scenario(
    "token-budget-respected",
    "against a budget of 3 calls' tokens per minute, refilled continuously (429 with "
    "Retry-After and the provider's token headers when spent), 6 calls all succeed and none "
    "comes before a 429's wait has passed",
    OPENAI_LIMITS + "; " + OPENAI_SDK,
    catalogue=CATALOGUE,
)
def _token_budget(t: Trial) -> Verdict:
    dialect = _dialect(t)
    log = RetryAfterLog()
    budget = _speaks(dialect).token_budget(3 * MAX_TOKENS)
    t.up.post(LLM_PATHS[dialect]).respond(budget).add_policy(log)
    failures = sum(_call(t).error is not None for _ in range(6))
    early = log.early(t.up.journal.filter("POST", LLM_PATHS[dialect]))
    if early:
        return t.fail(early[0] + f" ({len(early)} early request(s) in all)")
    if failures:
        return t.fail(f"{failures} of 6 calls failed ({len(log.not_before)} 429s)")
    return t.ok(f"6 calls succeeded with {len(log.not_before)} 429(s), none ignored")
