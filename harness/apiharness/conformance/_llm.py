"""The ``llm`` catalogue: the retry signals LLM provider APIs send, and whether a client obeys.

Chosen with ``apiharness grade --catalogue llm``. Each scenario makes one or more completion
calls through the adapter's ``create(path, body)``: ``path`` and ``body`` are the provider's
(``POST /v1/chat/completions`` for ``dialect = "openai"``, the default; ``POST /v1/messages``
for ``dialect = "anthropic"``), and errors come in that provider's body shape. An SDK adapter
may ignore ``path`` and pass ``body`` to its own completion call.
"""

from __future__ import annotations

import itertools
import json
import math
import threading

import httpx

from apiharness.clock import get_clock
from apiharness.conformance._catalogue import scenario
from apiharness.conformance._resource import LLM_PATHS
from apiharness.conformance._trial import Outcome, Trial, Verdict
from apiharness.upstream import Behaviour, JournalEntry, Route, respond
from apiharness.upstream import Outcome as RouteOutcome

__all__ = ["TokenBudget", "completion_call"]

CATALOGUE = "llm"
_MODELS = {"openai": "gpt-harness", "anthropic": "claude-harness"}
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
        "model": _MODELS[dialect],
        "messages": [{"role": "user", "content": "Say hi."}],
        "max_tokens": MAX_TOKENS,
    }
    return LLM_PATHS[dialect], body


def _success(dialect: str) -> Behaviour:
    if dialect == "anthropic":
        return respond(
            200,
            json={
                "id": "msg_harness",
                "type": "message",
                "role": "assistant",
                "model": _MODELS[dialect],
                "content": [{"type": "text", "text": "hi"}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": 3, "output_tokens": 1},
            },
        )
    return respond(
        200,
        json={
            "id": "chatcmpl-harness",
            "object": "chat.completion",
            "created": 0,
            "model": _MODELS[dialect],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "hi"},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
        },
    )


def _error(dialect: str, status: int, kind: str, headers: dict[str, str]) -> Behaviour:
    """An error answer in the provider's body shape (their API docs, 'Errors')."""
    message = f"harness {kind}"
    if dialect == "anthropic":
        body: object = {"type": "error", "error": {"type": kind, "message": message}}
    else:
        body = {"error": {"message": message, "type": kind, "param": None, "code": None}}
    return respond(status, json=body, headers=headers)


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
    limited = _error(dialect, 429, "rate_limit_error", {"retry-after-ms": "4500"})
    t.up.post(LLM_PATHS[dialect]).respond(limited, _success(dialect))
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
    refused = _error(dialect, 503, "api_error", {"x-should-retry": "false"})
    t.up.post(LLM_PATHS[dialect]).respond(refused, _success(dialect))
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
    overloaded = _error(dialect, 529, "overloaded_error", {})
    t.up.post(LLM_PATHS[dialect]).respond(overloaded.times(2), _success(dialect))
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


class TokenBudget:
    """A route policy: a tokens-per-minute budget, charged ``max_tokens`` per request.

    The budget refills continuously (a token bucket holding one minute's tokens, as providers
    describe theirs). Over budget it answers 429 the way OpenAI documents
    (``x-ratelimit-limit-tokens``, ``-remaining-tokens``, ``-reset-tokens`` as ``12s`` or
    ``1m0s``, and ``retry-after-ms``) in the provider's body shape, and remembers when it told
    the client to come back.
    """

    def __init__(self, dialect: str, per_minute: int) -> None:
        self.dialect, self.per_minute = dialect, per_minute
        self.not_before: list[tuple[JournalEntry | None, float]] = []
        self._left, self._at = float(per_minute), get_clock().monotonic()
        self._lock = threading.Lock()
        self._refused, self._wait = False, 0.0

    def before(self, request: httpx.Request, route: Route) -> Behaviour | None:
        now = get_clock().monotonic()
        cost = int(json.loads(request.content or b"{}").get("max_tokens", 1))
        rate = self.per_minute / 60
        with self._lock:
            self._left = min(self.per_minute, self._left + (now - self._at) * rate)
            self._at = now
            if cost <= self._left:
                self._left -= cost
                self._refused = False
                return None
            self._refused, self._wait = True, (cost - self._left) / rate
            wait, left = self._wait, self._left
        headers = {
            "retry-after-ms": str(math.ceil(wait * 1000)),
            "x-ratelimit-limit-tokens": str(self.per_minute),
            "x-ratelimit-remaining-tokens": str(int(left)),
            "x-ratelimit-reset-tokens": _duration((self.per_minute - left) / rate),
        }
        return _error(self.dialect, 429, "rate_limit_error", headers)

    def after(self, request: httpx.Request, route: Route, outcome: RouteOutcome) -> None:
        with self._lock:
            if self._refused:
                self.not_before.append((outcome.entry, self._wait))
                self._refused = False


def _duration(seconds: float) -> str:
    """OpenAI's reset format: ``12ms``, ``6s``, ``1m0s``."""
    if seconds < 1:
        return f"{math.ceil(seconds * 1000)}ms"
    whole = math.ceil(seconds)
    minutes, rest = divmod(whole, 60)
    return f"{minutes}m{rest}s" if minutes else f"{rest}s"


@scenario(
    "token-budget-respected",
    "against a budget of 3 calls' tokens per minute, refilled continuously (429 with "
    "retry-after-ms and x-ratelimit-reset-tokens when spent), 6 calls all succeed and none "
    "comes before a 429's wait has passed",
    OPENAI_LIMITS + "; " + OPENAI_SDK,
    catalogue=CATALOGUE,
)
def _token_budget(t: Trial) -> Verdict:
    dialect = _dialect(t)
    budget = TokenBudget(dialect, per_minute=3 * MAX_TOKENS)
    t.up.post(LLM_PATHS[dialect]).respond(_success(dialect)).add_policy(budget)
    failures = sum(_call(t).error is not None for _ in range(6))
    entries = t.up.journal.filter("POST", LLM_PATHS[dialect])
    following = {id(a): b for a, b in itertools.pairwise(entries)}
    early = [
        f"a request {gap:.2f} s after a 429 asking for {wait:.2f} s"
        for entry, wait in budget.not_before
        if entry is not None and id(entry) in following
        for gap in [following[id(entry)].monotonic - entry.monotonic]
        if gap + 1e-3 < wait
    ]
    if early:
        return t.fail(early[0] + f" ({len(early)} early request(s) in all)")
    if failures:
        return t.fail(f"{failures} of 6 calls failed ({len(budget.not_before)} 429s)")
    return t.ok(f"6 calls succeeded with {len(budget.not_before)} 429(s), none ignored")
