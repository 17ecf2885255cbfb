"""The scenario catalogue: each failure an API client must survive, as an executable check.

A scenario declares how the upstream misbehaves, drives the client through its adapter, and
judges what the upstream's journal saw. Ids are stable: an id never changes meaning; new
scenarios get new ids. Each states the expected behaviour in one line and names its source.

Thresholds are chosen so that no correct client can fail by chance (randomised checks use
enough trials that a jittered client fails with probability below 1e-4), and so that each
scenario fails for a plausible bug — the naive clients in ``examples/shop`` show which.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import httpx

from apiharness.conformance._resource import (
    COLLECTION_PATH,
    RESOURCE,
    RESOURCE_PATH,
)
from apiharness.conformance._trial import Outcome, Trial, Verdict
from apiharness.upstream import (
    Behaviour,
    IdempotencyPolicy,
    JournalEntry,
    Route,
    drop_after_processing,
    hang,
    malformed_json,
    rate_limit,
    reset,
    respond,
    status,
)
from apiharness.upstream import (
    Outcome as RouteOutcome,
)

__all__ = ["CATALOGUE", "Scenario", "scenario"]


# Sources, named once.
RFC9110_RETRY_AFTER = "RFC 9110 §10.2.3 (Retry-After)"
RFC9110_IDEMPOTENT = "RFC 9110 §9.2.2 (idempotent methods)"
AWS_BACKOFF = "AWS Architecture Blog, 'Exponential Backoff and Jitter' (2015)"
IDEMPOTENCY_DRAFT = "IETF draft-ietf-httpapi-idempotency-key-header"
BREAKER = "M. Nygard, 'Release It!' 2nd ed., Circuit Breaker pattern"


@dataclass(frozen=True)
class Scenario:
    """One conformance check: a stable id, the expected behaviour, its source, and the check."""

    id: str
    statement: str
    source: str
    check: Callable[[Trial], Verdict]
    #: Real seconds after which a client that has not returned fails the scenario.
    wall_limit: float = 10.0
    #: Let virtual time flow with real time (for real blocking such as a hung socket).
    ticking: bool = False


CATALOGUE: dict[str, Scenario] = {}


def scenario(
    id: str,
    statement: str,
    source: str,
    *,
    wall_limit: float = 10.0,
    ticking: bool = False,
) -> Callable[[Callable[[Trial], Verdict]], Callable[[Trial], Verdict]]:
    """Register a check in the catalogue under ``id``."""

    def register(check: Callable[[Trial], Verdict]) -> Callable[[Trial], Verdict]:
        if id in CATALOGUE:
            raise ValueError(f"duplicate scenario id {id!r}")
        CATALOGUE[id] = Scenario(id, statement, source, check, wall_limit, ticking)
        return check

    return register


def ok() -> Behaviour:
    return respond(200, json=RESOURCE)


def _must_succeed(t: Trial, out: Outcome, path: str, attempts: int | None = None) -> Verdict:
    """Common verdict: the call returned, after exactly ``attempts`` attempts if given."""
    n = t.count(path=path)
    if out.error is not None:
        return t.fail(f"{out.describe()} after {n} attempt(s)")
    if attempts is not None and n != attempts:
        return t.fail(f"returned after {n} attempt(s), not {attempts}")
    return t.ok(f"returned after {n} attempt(s)")


def _must_fail_typed(t: Trial, out: Outcome, what: str) -> Verdict | None:
    """None when the call raised one of the client's declared errors; else a failing verdict."""
    if out.error is None:
        return t.fail(f"returned {out.value!r:.60} for {what}: garbage passed as success")
    if not out.typed:
        return t.fail(f"{out.describe()} for {what}")
    return None


# -- retries -----------------------------------------------------------------------------


@scenario(
    "retry-503-burst",
    "a GET answered 503, 503, then 200 returns the resource after exactly 3 attempts",
    "RFC 9110 §15.6.4 (503 is temporary)",
)
def _retry_503_burst(t: Trial) -> Verdict:
    t.up.get(RESOURCE_PATH).respond(status(503).times(2), ok())
    return _must_succeed(t, t.get(), RESOURCE_PATH, attempts=3)


def _waited_for_retry_after(t: Trial, declared: str, at_least: float) -> Verdict:
    out = t.get()
    n = t.count(path=RESOURCE_PATH)
    if out.error is not None or n < 2:
        return t.fail(f"{out.describe()} after {n} attempt(s); it should have waited and retried")
    gap = t.up.journal.intervals(path=RESOURCE_PATH)[0]
    did = f"attempt 2 came {gap:.1f} s after a {declared}"
    if gap + 1e-6 < at_least:
        return t.fail(did)
    return t.ok(did)


@scenario(
    "retry-after-seconds",
    "after a 429 with Retry-After: 3 the next attempt waits at least 3 s",
    RFC9110_RETRY_AFTER,
)
def _retry_after_seconds(t: Trial) -> Verdict:
    t.up.get(RESOURCE_PATH).respond(status(429, retry_after=3), ok())
    return _waited_for_retry_after(t, "429 with Retry-After: 3", 3.0)


@scenario(
    "retry-after-date",
    "after a 503 with Retry-After as an HTTP-date 5 s ahead the next attempt waits until then",
    RFC9110_RETRY_AFTER + "; §5.6.7 (HTTP-date)",
)
def _retry_after_date(t: Trial) -> Verdict:
    when = t.clock.now() + timedelta(seconds=5)
    t.up.get(RESOURCE_PATH).respond(status(503, retry_after=when), ok())
    # HTTP-dates have one-second resolution.
    return _waited_for_retry_after(t, "503 with Retry-After: <date 5 s ahead>", 4.0)


@scenario(
    "retry-after-beyond-deadline",
    "a Retry-After of one hour makes the client fail fast with its own error, not sleep or retry",
    RFC9110_RETRY_AFTER + "; " + AWS_BACKOFF,
)
def _retry_after_beyond_deadline(t: Trial) -> Verdict:
    t.up.get(RESOURCE_PATH).respond(status(429, retry_after=3600))
    out = t.get()
    n = t.count(path=RESOURCE_PATH)
    bad = _must_fail_typed(t, out, "a 429 with Retry-After: 3600")
    if bad:
        return bad
    if n != 1:
        gaps = ", ".join(f"{g:.1f}" for g in t.up.journal.intervals(path=RESOURCE_PATH))
        return t.fail(f"sent {n} attempts, {gaps} s apart, despite Retry-After: 3600")
    if out.virtual_seconds > 60:
        return t.fail(f"waited {out.virtual_seconds:.0f} s before giving up")
    return t.ok(f"raised {type(out.error).__name__} after 1 attempt, {out.virtual_seconds:.1f} s")


@scenario(
    "no-retry-4xx",
    "a 400 or 404 is not retried: exactly one attempt each",
    "RFC 9110 §15.5 (client errors: repeating the request does not help)",
)
def _no_retry_4xx(t: Trial) -> Verdict:
    seen = []
    for code in (400, 404):
        path = f"/resources/missing-{code}"
        t.up.get(path).respond(respond(code, json={"error": "nope"}))
        out = t.get(path)
        if out.error is not None and not out.typed:
            return t.fail(f"{out.describe()} for a {code}")
        seen.append((code, t.count(path=path)))
    retried = [f"{code} tried {n} times" for code, n in seen if n != 1]
    if retried:
        return t.fail("; ".join(retried))
    return t.ok("one attempt for 400, one for 404")


def _schedules(t: Trial, failures: int, trials: int) -> list[list[float]] | Verdict:
    """Ride out ``failures`` 503s then 200, ``trials`` times with fresh clients."""
    schedules = []
    for _ in range(trials):
        t.fresh()
        t.up.get(RESOURCE_PATH).respond(status(503).times(failures), ok())
        out = t.get()
        n = t.count(path=RESOURCE_PATH)
        if out.error is not None or n != failures + 1:
            return t.fail(f"{out.describe()} after {n} attempt(s) against {failures} 503s then 200")
        schedules.append(t.up.journal.intervals(path=RESOURCE_PATH))
    return schedules


@scenario(
    "backoff-grows",
    "waits between retries grow: on average the third wait is at least 1.5x the first",
    AWS_BACKOFF,
)
def _backoff_grows(t: Trial) -> Verdict:
    schedules = _schedules(t, failures=3, trials=10)
    if isinstance(schedules, Verdict):
        return schedules
    first = statistics.fmean(s[0] for s in schedules)
    third = statistics.fmean(s[2] for s in schedules)
    second = statistics.fmean(s[1] for s in schedules)
    did = f"mean waits {first:.2f} s, {second:.2f} s, {third:.2f} s"
    if first <= 0 and third <= 0:
        return t.fail(f"retried without waiting ({did})")
    if third < 1.5 * first:
        return t.fail(did)
    return t.ok(did)


@scenario(
    "jitter",
    "waits are randomised: ten clients riding out the same failures do not all wait alike",
    AWS_BACKOFF,
)
def _jitter(t: Trial) -> Verdict:
    schedules = _schedules(t, failures=2, trials=10)
    if isinstance(schedules, Verdict):
        return schedules
    distinct = {tuple(round(x, 6) for x in s) for s in schedules}
    example = ", ".join(f"{x:.2f}" for x in schedules[0])
    did = f"{len(distinct)} distinct schedule(s) in 10, e.g. [{example}] s"
    return t.ok(did) if len(distinct) > 1 else t.fail(did)


@scenario(
    "attempts-bounded",
    "against a permanent 503 the client gives up after 2 to 10 attempts with its own error",
    AWS_BACKOFF + "; Google SRE book, ch. 22 (limit retries per request)",
)
def _attempts_bounded(t: Trial) -> Verdict:
    t.up.get(RESOURCE_PATH).respond(status(503))
    out = t.get()
    n = t.count(path=RESOURCE_PATH)
    bad = _must_fail_typed(t, out, "a permanent 503")
    if bad:
        return bad
    did = f"raised {type(out.error).__name__} after {n} attempt(s)"
    return t.ok(did) if 2 <= n <= 10 else t.fail(did)


# -- unsafe methods and idempotency keys ---------------------------------------------------


def _keys(t: Trial, path: str = COLLECTION_PATH) -> list[str | None]:
    return [e.headers.get("idempotency-key") for e in t.up.journal.filter("POST", path)]


@scenario(
    "post-not-retried-without-key",
    "a POST without an Idempotency-Key is sent once, even when it fails with 503",
    RFC9110_IDEMPOTENT,
)
def _post_not_retried_without_key(t: Trial) -> Verdict:
    t.up.post(COLLECTION_PATH).respond(status(503))
    out = t.create()
    keys = _keys(t)
    if out.error is not None and not out.typed:
        return t.fail(f"{out.describe()} for a 503")
    unkeyed = sum(k is None for k in keys)
    if len(keys) > 1 and unkeyed:
        return t.fail(f"sent the POST {len(keys)} times, {unkeyed} of them without a key")
    how = "with an Idempotency-Key" if unkeyed == 0 else "without a key"
    return t.ok(f"sent it {len(keys)} time(s) {how}")


@scenario(
    "post-key-stable",
    "a retried POST carries one Idempotency-Key on every attempt",
    IDEMPOTENCY_DRAFT,
)
def _post_key_stable(t: Trial) -> Verdict:
    t.up.post(COLLECTION_PATH).respond(status(503).times(2), respond(201, json=RESOURCE))
    out = t.create()
    keys = _keys(t)
    if not keys or keys[0] is None:
        return t.fail("sent the POST without an Idempotency-Key")
    if len(keys) < 2:
        return t.fail(f"{out.describe()} without retrying the keyed POST")
    distinct = len(set(keys))
    if distinct != 1:
        return t.fail(f"used {distinct} different keys over {len(keys)} attempts")
    if out.error is not None:
        return t.fail(f"{out.describe()} after {len(keys)} attempts with one key")
    return t.ok(f"{len(keys)} attempts, one key")


@scenario(
    "lost-response-exactly-once",
    "when a POST's response is lost after processing, the retry does not repeat the effect",
    IDEMPOTENCY_DRAFT,
)
def _lost_response_exactly_once(t: Trial) -> Verdict:
    # The upstream honours keys (a repeat replays the stored response) but does not require
    # them, and loses the response to the first request it processes.
    charges = IdempotencyPolicy(required=False)
    created = respond(201, json=RESOURCE)
    t.up.post(COLLECTION_PATH).respond(drop_after_processing(created), created).add_policy(charges)
    out = t.create()
    n = len(_keys(t))
    if out.error is not None:
        return t.fail(f"{out.describe()} after {n} attempt(s); the operation had succeeded")
    effects = charges.side_effects
    did = f"returned after {n} attempt(s); the upstream performed {effects} effect(s)"
    return t.ok(did) if effects == 1 else t.fail(did)


# -- wire faults and bodies -----------------------------------------------------------------


@scenario(
    "timeout-bounded",
    "against an upstream that never answers, a GET ends with the client's own error within 5 s",
    "AWS Builders' Library, 'Timeouts, retries and backoff with jitter'",
    wall_limit=5.0,
    ticking=True,
)
def _timeout_bounded(t: Trial) -> Verdict:
    t.up.get(RESOURCE_PATH).respond(hang())
    out = t.get()
    n = t.count(path=RESOURCE_PATH)
    if out.timed_out:
        return t.fail(f"still blocked after {out.wall_seconds:.1f} s ({n} attempt(s) so far)")
    bad = _must_fail_typed(t, out, "a hung upstream")
    if bad:
        return bad
    return t.ok(f"raised {type(out.error).__name__} after {out.wall_seconds:.1f} s, {n} attempt(s)")


@scenario(
    "reset-retried",
    "a GET whose connection is reset before any response is retried and succeeds",
    RFC9110_IDEMPOTENT + " (automatic retries after a connection failure)",
)
def _reset_retried(t: Trial) -> Verdict:
    t.up.get(RESOURCE_PATH).respond(reset(), ok())
    return _must_succeed(t, t.get(), RESOURCE_PATH, attempts=2)


@scenario(
    "malformed-json-typed-error",
    "a 200 whose body is not JSON raises one of the client's declared errors",
    "RFC 8259 (JSON)",
)
def _malformed_json(t: Trial) -> Verdict:
    t.up.get(RESOURCE_PATH).respond(malformed_json())
    out = t.get()
    bad = _must_fail_typed(t, out, "a malformed JSON body")
    return bad or t.ok(f"raised {type(out.error).__name__}")


@scenario(
    "schema-violation-typed-error",
    "a 200 whose JSON violates the published resource schema raises a declared error",
    "the suite's RESOURCE_SCHEMA (JSON Schema 2020-12)",
)
def _schema_violation(t: Trial) -> Verdict:
    t.up.get(RESOURCE_PATH).respond(respond(200, json={"id": 42, "name": None}))
    out = t.get()
    bad = _must_fail_typed(t, out, "a body violating the schema")
    return bad or t.ok(f"raised {type(out.error).__name__}")


# -- circuit breaker ---------------------------------------------------------------------------


def _open_breaker(t: Trial, calls: int = 30, quiet: int = 3) -> tuple[bool, str]:
    """Call until ``quiet`` consecutive calls reach no upstream; say whether it opened."""
    t.up.get(RESOURCE_PATH).respond(status(500))
    silent = 0
    for done in range(1, calls + 1):
        before = t.count(path=RESOURCE_PATH)
        out = t.get()
        if out.error is not None and not out.typed:
            return False, f"{out.describe()} on call {done}"
        silent = silent + 1 if t.count(path=RESOURCE_PATH) == before else 0
        if silent >= quiet:
            sent = t.count(path=RESOURCE_PATH)
            return True, f"failed fast from call {done - quiet + 1} on, after {sent} requests"
    return False, f"{calls} calls all reached the upstream ({t.count(path=RESOURCE_PATH)} requests)"


@scenario(
    "breaker-opens",
    "after a run of 500s the client fails fast: 3 calls in a row never reach the upstream",
    BREAKER,
)
def _breaker_opens(t: Trial) -> Verdict:
    opened, did = _open_breaker(t)
    return t.ok(did) if opened else t.fail(did)


@scenario(
    "breaker-recovers",
    "once the upstream heals and 5 minutes pass, an opened breaker lets calls succeed again",
    BREAKER,
)
def _breaker_recovers(t: Trial) -> Verdict:
    opened, did = _open_breaker(t)
    if not opened:
        return t.fail(f"the breaker never opened: {did}")
    t.up.reset()
    t.up.get(RESOURCE_PATH).respond(ok())
    t.clock.advance(300)
    for attempt in range(1, 6):
        if t.get().error is None:
            return t.ok(f"opened, then succeeded on call {attempt} after the upstream healed")
    return t.fail("opened, but 5 calls after healing and 300 s all failed")


# -- rate limits -----------------------------------------------------------------------------


class _RetryAfterLog:
    """Route policy that records when each 429 asked the client to come back."""

    def __init__(self) -> None:
        self.not_before: list[tuple[JournalEntry, float]] = []  # (the 429's entry, seconds)

    def before(self, request: httpx.Request, route: Route) -> Behaviour | None:
        return None

    def after(self, request: httpx.Request, route: Route, outcome: RouteOutcome) -> None:
        response = outcome.response
        if response is not None and response.status == 429:
            wait = response.header("retry-after")
            if wait is not None and wait.isdigit():
                self.not_before.append((outcome.entry, float(wait)))


@scenario(
    "rate-limit-respected",
    "against a 5 requests/s limit, no request comes before a 429's Retry-After has passed, "
    "and all 12 calls succeed",
    "RFC 6585 §4 (429 Too Many Requests); " + RFC9110_RETRY_AFTER,
)
def _rate_limit_respected(t: Trial) -> Verdict:
    log = _RetryAfterLog()
    t.up.get(RESOURCE_PATH).respond(rate_limit(5, per=1.0, then=ok())).add_policy(log)
    failures = 0
    for _ in range(12):
        if t.get().error is not None:
            failures += 1
    entries = t.up.journal.filter("GET", RESOURCE_PATH)
    following = {id(a): b for a, b in itertools.pairwise(entries)}
    early = [
        f"a request {gap:.2f} s after a 429 with Retry-After: {wait:g}"
        for entry, wait in log.not_before
        if entry is not None and id(entry) in following
        for gap in [following[id(entry)].monotonic - entry.monotonic]
        if gap + 1e-6 < wait
    ]
    if early:
        return t.fail(early[0] + f" ({len(early)} early request(s) in all)")
    if failures:
        return t.fail(f"{failures} of 12 calls failed")
    return t.ok(f"12 calls succeeded with {len(log.not_before)} 429(s), none ignored")
