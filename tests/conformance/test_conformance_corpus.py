"""The catalogue against the world: five real retry libraries, every verdict asserted.

Each verdict is followed by the line of the library's source (or README) that makes it right.
A verdict that contradicts a library's documented behaviour is a bug in the catalogue, not in
the library. Slow (about 100 s): marked ``corpus``, run by ``make corpora`` (and CI).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import stamina.instrumentation

from apiharness.conformance import CATALOGUE, grade

from .corpus_clients import CORPUS

pytestmark = pytest.mark.corpus

# Verdicts shared by every library here: none is a circuit breaker, an idempotency-key minter or
# a schema validator, and none of them reads a body it was not asked to.
_NOT_THEIR_JOB = {
    "post-key-stable": ("FAIL", "no library here adds an Idempotency-Key to a POST"),
    "lost-response-recovers": ("FAIL", "recovering needs a stable Idempotency-Key; none sends one"),
    "schema-violation-typed-error": ("FAIL", "none validates bodies against a schema"),
    "breaker-opens": ("FAIL", "none has a circuit breaker: every call reaches the upstream"),
    "breaker-recovers": ("FAIL", "no breaker opens, so none can recover"),
    "no-retry-4xx": ("PASS", "400 and 404 are in no library's retry list"),
    "reset-retried": ("PASS", "each retries connection errors on a GET"),
    "retry-503-burst": ("PASS", "each retries 503 at least twice"),
}

_LOCAL_BACKOFF_ONLY = {
    # tenacity and stamina know nothing of HTTP: they wait by their own schedule.
    "retry-after-seconds": ("FAIL", "the wait comes from the wait strategy; Retry-After unread"),
    "retry-after-date": ("FAIL", "the wait comes from the wait strategy; Retry-After unread"),
    "retry-after-503-seconds": (
        "FAIL",
        "the wait comes from the wait strategy; Retry-After unread",
    ),
    "retry-after-beyond-deadline": ("FAIL", "a 429 is retried by schedule, whatever it asks"),
    "retry-after-503-beyond-deadline": ("FAIL", "a 503 is retried by schedule, whatever it asks"),
    "retry-after-bounded": ("PASS", "its first waits are far below 3 s + 10 s"),
    "retry-408": ("FAIL", "the filter retries 429 and >= 500 (as stamina's docs show), not 408"),
    "post-not-retried-without-key": ("FAIL", "the decorator retries any call, POST included"),
    "lost-response-no-double-effect": ("FAIL", "the POST is retried after the lost response"),
    "rate-limit-window-respected": ("FAIL", "retries after its own short wait, not Retry-After"),
    "malformed-json-typed-error": ("CRASH", "httpx's Response.json() raises json.JSONDecodeError"),
    "jitter": ("PASS", "both draw random waits"),
    "backoff-grows-by-last-wait": ("PASS", "both waits grow exponentially"),
}

EXPECTED: dict[str, dict[str, tuple[str, str]]] = {
    "urllib3-on-requests": {
        **_NOT_THEIR_JOB,
        "retry-after-seconds": ("PASS", "respect_retry_after_header=True: sleep_for_retry"),
        "retry-after-date": ("PASS", "parse_retry_after handles HTTP-dates (email.utils)"),
        "retry-after-503-seconds": ("PASS", "RETRY_AFTER_STATUS_CODES = {413, 429, 503}"),
        "retry-after-beyond-deadline": (
            "FAIL",
            "DEFAULT_RETRY_AFTER_MAX = 21600: it sleeps 3600 s",
        ),
        "retry-after-503-beyond-deadline": ("FAIL", "DEFAULT_RETRY_AFTER_MAX = 21600 for 503 too"),
        "retry-after-bounded": ("PASS", "it sleeps exactly the Retry-After it parsed"),
        "retry-408": ("FAIL", "408 is not in the status_forcelist its guide shows"),
        "backoff-grows-by-last-wait": ("PASS", "get_backoff_time: 0, then factor * 2^(n-1)"),
        "jitter": ("FAIL", "backoff_jitter defaults to 0.0: every client waits alike"),
        "attempts-bounded": ("PASS", "total=5: six attempts, then RetryError"),
        "post-not-retried-without-key": ("PASS", "DEFAULT_ALLOWED_METHODS has no POST"),
        "lost-response-no-double-effect": (
            "PASS",
            "POST is not retried: ConnectionError, 1 effect",
        ),
        "hang-bounded-8s": ("PASS", "read timeouts count against total=5: 6 x 0.5 s"),
        "malformed-json-typed-error": ("PASS", "requests raises its own JSONDecodeError"),
        "rate-limit-window-respected": ("PASS", "429 is in RETRY_AFTER_STATUS_CODES"),
    },
    "tenacity": {
        **_NOT_THEIR_JOB,
        **_LOCAL_BACKOFF_ONLY,
        "attempts-bounded": ("PASS", "stop_after_attempt(5)"),
        "hang-bounded-8s": ("PASS", "5 attempts x 0.5 s read timeout"),
    },
    "stamina": {
        **_NOT_THEIR_JOB,
        **_LOCAL_BACKOFF_ONLY,
        "attempts-bounded": ("PASS", "attempts=10 by default"),
        "hang-bounded-8s": ("PASS", "10 attempts x 0.5 s, within the 45 s default timeout"),
    },
    "httpx-retries": {
        **_NOT_THEIR_JOB,
        "retry-after-seconds": ("PASS", "respect_retry_after_header=True by default"),
        "retry-after-date": ("PASS", "parse_retry_after: the date minus datetime.now()"),
        "retry-after-503-seconds": ("PASS", "_calculate_sleep reads Retry-After on any status"),
        "retry-after-beyond-deadline": ("FAIL", "Retry-After is capped by max_backoff_wait=120"),
        "retry-after-503-beyond-deadline": ("FAIL", "sleeps 120 s (max_backoff_wait), retries"),
        "retry-after-bounded": ("PASS", "it sleeps what Retry-After asks, up to 120 s"),
        "retry-408": ("FAIL", "RETRYABLE_STATUS_CODES: 429, 502, 503, 504"),
        "backoff-grows-by-last-wait": ("PASS", "backoff_factor * 2^attempts_made, jitter 1"),
        "jitter": ("PASS", "backoff *= uniform(1 - backoff_jitter, 1)"),
        "attempts-bounded": ("PASS", "total=5"),
        "post-not-retried-without-key": ("PASS", "RETRYABLE_METHODS has no POST"),
        "lost-response-no-double-effect": ("PASS", "POST is not retried"),
        "hang-bounded-8s": ("PASS", "TimeoutException is retryable: 6 x 0.5 s"),
        "malformed-json-typed-error": ("CRASH", "httpx's Response.json() raises JSONDecodeError"),
        "rate-limit-window-respected": ("PASS", "429 retried after its Retry-After"),
    },
    "openai": {
        **_NOT_THEIR_JOB,
        "retry-after-seconds": ("PASS", "_calculate_retry_timeout honours retry-after"),
        "retry-after-date": ("PASS", "_parse_retry_after_header parses an HTTP-date"),
        "retry-after-503-seconds": ("PASS", "Retry-After is read for any retried status"),
        "retry-after-beyond-deadline": ("PASS", "_should_retry: not above MAX_RETRY_AFTER_DELAY"),
        "retry-after-503-beyond-deadline": ("PASS", "the same rule for 503"),
        "retry-after-bounded": ("PASS", "it waits exactly the Retry-After (<= 120 s)"),
        "retry-408": ("PASS", "_should_retry: 408 is retried"),
        "backoff-grows-by-last-wait": ("PASS", "0.5 * 2^n * (1 - 0.25 * random())"),
        "jitter": ("PASS", "jitter = 1 - 0.25 * random()"),
        "attempts-bounded": ("PASS", "DEFAULT_MAX_RETRIES = 2: three attempts"),
        "post-not-retried-without-key": (
            "FAIL",
            "POSTs are retried; the key is sent only if _idempotency_header is set, and "
            "OpenAI leaves it None",
        ),
        "lost-response-no-double-effect": ("FAIL", "the POST is retried, without a key"),
        "hang-bounded-8s": ("FAIL", "DEFAULT_TIMEOUT reads for 600 s"),
        "malformed-json-typed-error": (
            "CRASH",
            "_response.py: data = response.json() is unguarded for JSON content types",
        ),
        "rate-limit-window-respected": ("PASS", "429 retried after its Retry-After"),
    },
}


@pytest.fixture(autouse=True)
def _quiet_stamina() -> Iterator[None]:
    hooks = stamina.instrumentation.get_on_retry_hooks()
    stamina.instrumentation.set_on_retry_hooks([])
    yield
    stamina.instrumentation.set_on_retry_hooks(list(hooks))


def test_every_scenario_has_a_justified_verdict_for_every_library() -> None:
    assert set(EXPECTED) == set(CORPUS)
    for name, verdicts in EXPECTED.items():
        assert set(verdicts) == set(CATALOGUE), name
        for verdict, why in verdicts.values():
            assert verdict in {"PASS", "FAIL", "CRASH"}
            assert why


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_real_library_gets_the_verdicts_its_source_predicts(name: str) -> None:
    card = grade(CORPUS[name], client=name)
    got = {r.scenario: r.verdict for r in card.results}
    want = {scenario: verdict for scenario, (verdict, _) in EXPECTED[name].items()}
    wrong = {
        s: f"{got[s]} (expected {want[s]}: {EXPECTED[name][s][1]}) — {r.observed}"
        for r in card.results
        for s in [r.scenario]
        if got[s] != want[s]
    }
    assert not wrong, "\n".join(f"{s}: {w}" for s, w in wrong.items())
