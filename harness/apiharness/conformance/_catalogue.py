"""The scenario catalogues: each failure an API client must survive, as an executable check.

Scenarios live in named catalogues. ``default`` (this module, :data:`CATALOGUE`) grades the
request/response patterns every client needs; further catalogues (streaming, LLM providers, the
transport layer) live in their own modules, listed in :data:`CATALOGUE_MODULES` and imported
only when chosen (``apiharness grade --catalogue NAME``), so grading a plain client never loads
their dependencies. Ids are unique across all catalogues.

A scenario declares how the upstream misbehaves, drives the client through its adapter, and
judges what the upstream's journal saw. Ids are stable: an id never changes meaning; new
scenarios get new ids, and a retired id stays in :data:`RETIRED` with what replaced it. Each
scenario states the expected behaviour in one line, names its source, and demands no more.

Randomised checks are sized so that the standard wait schemes (AWS full, equal and decorrelated
jitter; tenacity's, stamina's, urllib3's and the openai SDK's) fail them with a computed
probability below 1e-4, and a client with the bug the scenario names passes with a probability
below 1e-4 too: ``tests/conformance/test_conformance_chance.py`` computes both (Chernoff bounds).
"""

from __future__ import annotations

import importlib
import inspect
import itertools
import statistics
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from apiharness._stacks import httpx
from apiharness.conformance._resource import (
    COLLECTION_PATH,
    RESOURCE,
    RESOURCE_PATH,
)
from apiharness.conformance._trial import Outcome, Trial, Verdict
from apiharness.errors import ConformanceError
from apiharness.upstream import (
    Behaviour,
    IdempotencyPolicy,
    JournalEntry,
    Route,
    Upstream,
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

__all__ = [
    "CATALOGUE",
    "CATALOGUE_MODULES",
    "DEFAULT_CATALOGUE",
    "RETIRED",
    "Scenario",
    "find_scenario",
    "load_catalogue",
    "scenario",
]


# Sources, named once.
RFC9110_RETRY_AFTER = "RFC 9110 §10.2.3 (Retry-After)"
RFC9110_IDEMPOTENT = "RFC 9110 §9.2.2 (idempotent methods)"
AWS_BACKOFF = "AWS Architecture Blog, 'Exponential Backoff and Jitter' (2015)"
IDEMPOTENCY_DRAFT = "IETF draft-ietf-httpapi-idempotency-key-header"
BREAKER = "M. Nygard, 'Release It!' 2nd ed., Circuit Breaker pattern"
RFC9110_408 = "RFC 9110 §15.5.9 (408: the client MAY repeat the request)"

#: Ids that no longer run, with what replaced them. An id is never reused.
RETIRED: dict[str, str] = {
    "backoff-grows": "needed 4 attempts and a 1.5x mean ratio over 10 clients, which stamina's "
    "default fails half the time; replaced by backoff-grows-by-last-wait",
    "lost-response-exactly-once": "demanded success although its statement only forbids a "
    "second effect; split into lost-response-no-double-effect and lost-response-recovers",
    "timeout-bounded": "its 5 s limit raced httpx's 5 s default timeout; replaced by "
    "hang-bounded-8s",
    "rate-limit-respected": "its 1 s Retry-After was covered by chance by a jittered first "
    "wait; replaced by rate-limit-window-respected",
}

#: Real seconds the hang scenario allows: clear of httpx's 5 s default (one attempt ends near
#: 5 s) and below two such attempts (10 s); requests and urllib3 have no default at all.
HANG_LIMIT = 8.0
#: backoff-grows-by-last-wait: fresh clients graded, and the ratio of mean waits demanded. After
#: EARLY_TRIALS clients, one passes early if its ratio is already EARLY_RATIO, or if every last
#: wait so far exceeds every first wait (for waits that do not grow that has probability
#: 1/C(40, 20), whatever their distribution).
GROWTH_TRIALS, GROWTH_RATIO = 120, 1.4
EARLY_TRIALS, EARLY_RATIO = 20, 2.5
#: attempts-bounded: fresh clients graded; each must stop within the bound.
BOUNDED_TRIALS, MAX_ATTEMPTS = 50, 10
#: retry-after-bounded: how much longer than asked a client may wait before retrying.
RETRY_AFTER_SLACK = 10.0


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
    #: The catalogue the scenario belongs to.
    catalogue: str = "default"
    #: How its upstream is served: keywords of :meth:`Upstream.serve` (``tls="expired"`` …).
    serve: Mapping[str, Any] = field(default_factory=dict)


DEFAULT_CATALOGUE = "default"

#: Every catalogue by name: its module (imported on first use) and a one-line description.
CATALOGUE_MODULES: dict[str, tuple[str, str]] = {
    DEFAULT_CATALOGUE: (__name__, "retries, backoff, timeouts, validation, idempotency"),
    "transport": (
        "apiharness.conformance._transport",
        "TLS: certificate checks, a stalled handshake, client certificates; HTTP/2: refused "
        "streams, GOAWAY",
    ),
    "streaming": (
        "apiharness.conformance._streaming",
        "Server-Sent Events: resume, duplicates, in-stream errors, stalls, retry: (needs stream)",
    ),
    "llm": (
        "apiharness.conformance._llm",
        "LLM provider APIs: retry-after-ms, x-should-retry, 529, token budgets",
    ),
}

#: The loaded catalogues: name -> scenario id -> scenario, each in registration order.
_LOADED: dict[str, dict[str, Scenario]] = {DEFAULT_CATALOGUE: {}}

#: The default catalogue (id -> scenario), the one graded when no catalogue is named.
CATALOGUE: dict[str, Scenario] = _LOADED[DEFAULT_CATALOGUE]


def load_catalogue(name: str = DEFAULT_CATALOGUE) -> dict[str, Scenario]:
    """The scenarios of the catalogue ``name`` (id -> scenario), importing its module once."""
    if name not in CATALOGUE_MODULES:
        raise ConformanceError(
            f"unknown conformance catalogue {name!r}; known: {', '.join(CATALOGUE_MODULES)}"
        )
    if name not in _LOADED:
        _LOADED[name] = {}
        importlib.import_module(CATALOGUE_MODULES[name][0])  # its @scenario calls fill it
    return _LOADED[name]


def find_scenario(scenario_id: str) -> Scenario:
    """The scenario with this id, in whichever catalogue declares it."""
    if scenario_id in RETIRED:
        raise ConformanceError(
            f"conformance scenario {scenario_id!r} was retired: {RETIRED[scenario_id]}"
        )
    for name in CATALOGUE_MODULES:
        found = load_catalogue(name).get(scenario_id)
        if found is not None:
            return found
    raise ConformanceError(
        f"unknown conformance scenario {scenario_id!r}; known in the default catalogue: "
        f"{', '.join(CATALOGUE)} (other catalogues: "
        f"{', '.join(n for n in CATALOGUE_MODULES if n != DEFAULT_CATALOGUE) or 'none'})"
    )


def scenario(
    id: str,
    statement: str,
    source: str,
    *,
    wall_limit: float = 10.0,
    ticking: bool = False,
    catalogue: str = DEFAULT_CATALOGUE,
    serve: Mapping[str, Any] | None = None,
) -> Callable[[Callable[[Trial], Verdict]], Callable[[Trial], Verdict]]:
    """Register a check under ``id`` in the catalogue named ``catalogue``; ``serve`` gives
    the keywords of :meth:`~apiharness.upstream.Upstream.serve` for its server variant
    (``{"tls": "expired"}``), checked now."""

    def register(check: Callable[[Trial], Verdict]) -> Callable[[Trial], Verdict]:
        if id in RETIRED or any(id in loaded for loaded in _LOADED.values()):
            raise ValueError(f"scenario id {id!r} is taken (ids are never reused)")
        if catalogue not in CATALOGUE_MODULES:
            raise ValueError(f"catalogue {catalogue!r} is not listed in CATALOGUE_MODULES")
        options = dict(serve or {})
        unknown = set(options) - set(inspect.signature(Upstream.serve).parameters)
        if unknown:
            raise ValueError(f"scenario {id!r}: Upstream.serve() takes no {sorted(unknown)}")
        _LOADED.setdefault(catalogue, {})[id] = Scenario(
            id, statement, source, check, wall_limit, ticking, catalogue, options
        )
        return check

    return register


def ok() -> Behaviour:
    return respond(200, json=RESOURCE)


def _must_succeed(t: Trial, out: Outcome, path: str, attempts: int | None = None) -> Verdict:
    """Common verdict: the call returned, after exactly ``attempts`` attempts if given."""
    n = t.count(path=path)
    if out.error is not None or out.timed_out:  # a client still blocked has not returned
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
    return _gives_up_on_long_retry_after(t, 429)


def _gives_up_on_long_retry_after(t: Trial, code: int) -> Verdict:
    t.up.get(RESOURCE_PATH).respond(status(code, retry_after=3600))
    out = t.get()
    n = t.count(path=RESOURCE_PATH)
    bad = _must_fail_typed(t, out, f"a {code} with Retry-After: 3600")
    if bad:
        return bad
    if n != 1:
        gaps = ", ".join(f"{g:.1f}" for g in t.up.journal.intervals(path=RESOURCE_PATH))
        return t.fail(f"sent {n} attempts, {gaps} s apart, despite Retry-After: 3600")
    if out.virtual_seconds > 60:
        return t.fail(f"waited {out.virtual_seconds:.0f} s before giving up")
    return t.ok(f"raised {type(out.error).__name__} after 1 attempt, {out.virtual_seconds:.1f} s")


@scenario(
    "retry-after-503-beyond-deadline",
    "a 503 with Retry-After of one hour makes the client fail fast with its own error, "
    "not sleep or retry",
    RFC9110_RETRY_AFTER + " (503 and Retry-After); " + AWS_BACKOFF,
)
def _retry_after_503_beyond_deadline(t: Trial) -> Verdict:
    return _gives_up_on_long_retry_after(t, 503)


@scenario(
    "retry-after-503-seconds",
    "after a 503 with Retry-After: 3 the next attempt waits at least 3 s",
    RFC9110_RETRY_AFTER + " (503 and Retry-After)",
)
def _retry_after_503_seconds(t: Trial) -> Verdict:
    t.up.get(RESOURCE_PATH).respond(status(503, retry_after=3), ok())
    return _waited_for_retry_after(t, "503 with Retry-After: 3", 3.0)


@scenario(
    "retry-after-bounded",
    f"after a 429 or 503 with Retry-After: 3, or a 503 with an HTTP-date 5 s ahead, the next "
    f"attempt comes at most {RETRY_AFTER_SLACK:g} s later than asked (or the client gives up "
    f"at once with its own error)",
    RFC9110_RETRY_AFTER,
)
def _retry_after_bounded(t: Trial) -> Verdict:
    seen = []
    for code, after, asked in ((429, 3, 3.0), (503, 3, 3.0), (503, None, 5.0)):
        t.fresh()
        value = after if after is not None else t.clock.now() + timedelta(seconds=5)
        t.up.get(RESOURCE_PATH).respond(status(code, retry_after=value), ok())
        out = t.get()
        what = f"{code} with Retry-After: {'3' if after is not None else '<date 5 s ahead>'}"
        gaps = t.up.journal.intervals(path=RESOURCE_PATH)
        if not gaps:
            if out.error is not None and not out.typed:
                return t.fail(f"{out.describe()} for a {what}")
            seen.append(f"gave up on a {what}")
            continue
        if gaps[0] > asked + RETRY_AFTER_SLACK:
            return t.fail(f"attempt 2 came {gaps[0]:.1f} s after a {what}")
        seen.append(f"{gaps[0]:.1f} s after a {what}")
    return t.ok("; ".join(seen))


@scenario(
    "retry-408",
    "a GET answered 408, then 200, is retried and returns the resource after exactly 2 attempts",
    RFC9110_408,
)
def _retry_408(t: Trial) -> Verdict:
    t.up.get(RESOURCE_PATH).respond(status(408), ok())
    return _must_succeed(t, t.get(), RESOURCE_PATH, attempts=2)


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
    "backoff-grows-by-last-wait",
    f"riding out up to five 503s, a client that retries at least twice waits longer before its "
    f"last retry than before its first: over {GROWTH_TRIALS} fresh clients the mean last wait "
    f"is at least {GROWTH_RATIO}x the mean first wait",
    AWS_BACKOFF,
)
def _backoff_grows_by_last_wait(t: Trial) -> Verdict:
    firsts, lasts = [], []
    for _ in range(GROWTH_TRIALS):
        t.fresh()
        t.up.get(RESOURCE_PATH).respond(status(503).times(5), ok())
        out = t.get()
        if out.error is not None and not out.typed:
            return t.fail(f"{out.describe()} against 503s")
        waits = t.up.journal.intervals(path=RESOURCE_PATH)
        if len(waits) < 2:
            n = len(waits) + 1
            return t.ok(f"made {n} attempt(s), so had no second wait to compare; not applicable")
        firsts.append(waits[0])
        lasts.append(waits[-1])
        if len(firsts) == EARLY_TRIALS and (
            min(lasts) > max(firsts) or sum(lasts) >= EARLY_RATIO * sum(firsts) > 0
        ):
            break
        if len(firsts) == EARLY_TRIALS and sum(lasts) <= 0:
            break  # never waited before a last retry: no number of clients can change that
    first, last = statistics.fmean(firsts), statistics.fmean(lasts)
    did = f"mean first wait {first:.2f} s, mean last wait {last:.2f} s over {len(firsts)} clients"
    if last <= 0:
        return t.fail(f"retried without waiting ({did})")
    return t.ok(did) if last >= GROWTH_RATIO * first else t.fail(did)


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
    # Graded over fresh clients: a client bounded only by a deadline, with random waits, makes a
    # varying number of attempts and must not pass by luck (see test_conformance_chance.py).
    counts: list[int] = []
    for _ in range(BOUNDED_TRIALS):
        t.fresh()
        t.up.get(RESOURCE_PATH).respond(status(503))
        out = t.get()
        n = t.count(path=RESOURCE_PATH)
        bad = _must_fail_typed(t, out, "a permanent 503")
        if bad:
            return bad
        did = f"raised {type(out.error).__name__} after {n} attempt(s)"
        if not 2 <= n <= MAX_ATTEMPTS:
            return t.fail(
                did + (f" (client {len(counts) + 1} of {BOUNDED_TRIALS})" if counts else "")
            )
        counts.append(n)
    spread = f"{min(counts)}" if min(counts) == max(counts) else f"{min(counts)} to {max(counts)}"
    return t.ok(
        f"raised {type(out.error).__name__} after {spread} attempts ({BOUNDED_TRIALS} clients)"
    )


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


def _lose_first_response(t: Trial) -> tuple[Outcome, IdempotencyPolicy, int]:
    # The upstream honours keys (a repeat replays the stored response) but does not require
    # them, and loses the response to the first request it processes.
    charges = IdempotencyPolicy(required=False)
    created = respond(201, json=RESOURCE)
    t.up.post(COLLECTION_PATH).respond(drop_after_processing(created), created).add_policy(charges)
    out = t.create()
    return out, charges, len(_keys(t))


@scenario(
    "lost-response-no-double-effect",
    "when a POST's response is lost after processing, the upstream never performs the effect "
    "twice (giving up with the client's own error is fine)",
    IDEMPOTENCY_DRAFT,
)
def _lost_response_no_double_effect(t: Trial) -> Verdict:
    out, charges, n = _lose_first_response(t)
    effects = charges.side_effects
    how = "returned" if out.error is None else out.describe()
    did = f"{how} after {n} attempt(s); the upstream performed {effects} effect(s)"
    return t.ok(did) if effects == 1 else t.fail(did)


@scenario(
    "lost-response-recovers",
    "when a POST's response is lost after processing, the client retries with the same "
    "Idempotency-Key and returns the created resource: one effect, one success",
    IDEMPOTENCY_DRAFT,
)
def _lost_response_recovers(t: Trial) -> Verdict:
    out, charges, n = _lose_first_response(t)
    keys = _keys(t)
    if out.error is not None:
        return t.fail(f"{out.describe()} after {n} attempt(s); the operation had succeeded")
    if None in keys:
        return t.fail(f"returned after {n} attempt(s); the POST carried no Idempotency-Key")
    if len(set(keys)) != 1:
        return t.fail(f"returned after {n} attempt(s) with {len(set(keys))} distinct keys")
    did = f"returned after {n} attempt(s) with one key; {charges.side_effects} effect(s)"
    return t.ok(did) if charges.side_effects == 1 else t.fail(did)


# -- wire faults and bodies -----------------------------------------------------------------


@scenario(
    "hang-bounded-8s",
    f"against an upstream that never answers, a GET ends with the client's own error within "
    f"{HANG_LIMIT:g} real seconds (retries included)",
    "AWS Builders' Library, 'Timeouts, retries and backoff with jitter'",
    wall_limit=HANG_LIMIT,
    ticking=True,
)
def _hang_bounded(t: Trial) -> Verdict:
    t.up.get(RESOURCE_PATH).respond(hang())
    return ends_in_time(t, "a hung upstream", "still blocked")


def ends_in_time(t: Trial, what: str, blocked: str) -> Verdict:
    """A GET against ``what`` must end, within the scenario's wall limit, in a declared error."""
    out = t.get()
    n = t.count(path=RESOURCE_PATH)
    if out.timed_out:
        return t.fail(f"{blocked} after {out.wall_seconds:.1f} s ({n} attempt(s) so far)")
    bad = _must_fail_typed(t, out, what)
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


class RetryAfterLog:
    """Route policy that records when each 429 asked the client to come back
    (``retry-after-ms`` first, as the LLM SDKs read it, then ``Retry-After`` in seconds)."""

    def __init__(self) -> None:
        self.not_before: list[tuple[JournalEntry, float]] = []  # (the 429's entry, seconds)

    def before(self, request: httpx.Request, route: Route) -> Behaviour | None:
        return None

    def after(self, request: httpx.Request, route: Route, outcome: RouteOutcome) -> None:
        response = outcome.response
        if response is None or response.status != 429 or outcome.entry is None:
            return
        millis, seconds = response.header("retry-after-ms"), response.header("retry-after")
        if millis is not None and millis.isdigit():
            self.not_before.append((outcome.entry, int(millis) / 1000))
        elif seconds is not None and seconds.isdigit():
            self.not_before.append((outcome.entry, float(seconds)))

    def early(self, entries: list[JournalEntry]) -> list[str]:
        """Each request among ``entries`` that came before the 429 preceding it allowed."""
        following = {id(a): b for a, b in itertools.pairwise(entries)}
        return [
            f"a request {gap:.2f} s after a 429 asking for {wait:g} s"
            for entry, wait in self.not_before
            if id(entry) in following
            for gap in [following[id(entry)].monotonic - entry.monotonic]
            if gap + 1e-6 < wait
        ]


@scenario(
    "rate-limit-window-respected",
    "against a limit of 5 requests per 10 s, no request comes before a 429's Retry-After has "
    "passed, and all 12 calls succeed",
    "RFC 6585 §4 (429 Too Many Requests); " + RFC9110_RETRY_AFTER,
)
def _rate_limit_window_respected(t: Trial) -> Verdict:
    # A 10 s window makes the first 429 ask for about 10 s: longer than any common first
    # backoff, so a client that ignores Retry-After cannot wait long enough by chance.
    log = RetryAfterLog()
    t.up.get(RESOURCE_PATH).respond(rate_limit(5, per=10.0, then=ok())).add_policy(log)
    failures = 0
    for _ in range(12):
        if t.get().error is not None:
            failures += 1
    early = log.early(t.up.journal.filter("GET", RESOURCE_PATH))
    if early:
        return t.fail(early[0] + f" ({len(early)} early request(s) in all)")
    if failures:
        return t.fail(f"{failures} of 12 calls failed")
    return t.ok(f"12 calls succeeded with {len(log.not_before)} 429(s), none ignored")
