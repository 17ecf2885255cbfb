"""Chance neither fails a correct client nor passes a buggy one (issue 24, point 3).

For ``backoff-grows-by-last-wait`` the test computes, for each standard wait scheme, a rigorous
upper bound on the probability that a client using it fails (Chernoff: for X = last - r*first,
P(sum of n draws < 0) <= min over t > 0 of E[exp(-t X)]^n), and for clients whose waits do not
grow, the probability that they pass. The expectation is integrated on a grid over the two
uniform draws each scheme makes; the bound is minimised over t on a grid, which can only make it
larger. Each scheme is written from its library's source, named beside it.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import pytest

from apiharness.conformance._catalogue import (
    BOUNDED_TRIALS,
    EARLY_RATIO,
    EARLY_TRIALS,
    GROWTH_RATIO,
    GROWTH_TRIALS,
    MAX_ATTEMPTS,
)

LIMIT = 1e-4
#: (first wait, last wait) from two independent U(0, 1) draws.
Pair = Callable[[float, float], tuple[float, float]]
GRID = 48


def _decorrelated(u1: float, u2: float) -> tuple[float, float]:
    first = 1 + u1 * 2  # U(base, 3 * base), base = 1
    return first, 1 + u2 * (3 * first - 1)  # U(base, 3 * previous)


# Growing schemes, with the fewest waits they can be graded on (3 attempts: 2 waits) unless
# their default makes more attempts against five 503s.
GROWING: dict[str, Pair] = {
    # AWS blog: full jitter, sleep = U(0, base * 2^n)
    "aws-full-jitter": lambda u1, u2: (u1, 2 * u2),
    # AWS blog: equal jitter, v/2 + U(0, v/2)
    "aws-equal-jitter": lambda u1, u2: (0.5 + 0.5 * u1, 1 + u2),
    # AWS blog: decorrelated jitter, min(cap, U(base, 3 * sleep))
    "aws-decorrelated-jitter": _decorrelated,
    # tenacity wait_random_exponential: U(0, multiplier * 2^(attempt - 1))
    "tenacity-wait-random-exponential": lambda u1, u2: (u1, 2 * u2),
    # tenacity wait_exponential_jitter: initial * 2^(attempt - 1) + U(0, jitter=1)
    "tenacity-wait-exponential-jitter": lambda u1, u2: (1 + u1, 2 + u2),
    # stamina default: 0.1 * 2^(n - 1) + U(0, 1), 10 attempts in 45 s: all 6 attempts happen
    "stamina-default": lambda u1, u2: (0.1 + u1, 1.6 + u2),
    # openai SDK: 0.5 * 2^n * (1 - 0.25 * U), max_retries=2
    "openai-sdk": lambda u1, u2: (0.5 * (1 - 0.25 * u1), 1.0 * (1 - 0.25 * u2)),
    # urllib3 Retry: the first retry waits 0; then factor * 2^(n - 1) + U(0, backoff_jitter)
    "urllib3-backoff-jitter": lambda u1, u2: (0.0, 2 * 0.5 + 0.3 * u2),
}

# Waits that do not grow: the bug the scenario names. Any jitter, drawn afresh each time.
FLAT: dict[str, Pair] = {
    "flat-full-jitter": lambda u1, u2: (u1, u2),
    "flat-stamina-like": lambda u1, u2: (0.1 + u1, 0.1 + u2),
    "flat-1-to-2-s": lambda u1, u2: (1 + u1, 1 + u2),
    "flat-openai-like": lambda u1, u2: (0.5 * (1 - 0.25 * u1), 0.5 * (1 - 0.25 * u2)),
}


def _mgf(pair: Pair, t: float, ratio: float) -> float:
    """E[exp(-t * (last - ratio * first))] on a midpoint grid over (u1, u2)."""
    total = 0.0
    for i in range(GRID):
        for j in range(GRID):
            first, last = pair((i + 0.5) / GRID, (j + 0.5) / GRID)
            total += math.exp(-t * (last - ratio * first))
    return total / GRID**2


def chernoff(pair: Pair, ratio: float, n: int, *, below: bool) -> float:
    """Bound on P(sum(last) < ratio * sum(first)) (``below``) or on P(>=) over n clients."""
    best = 0.0  # log of the bound
    sign = 1.0 if below else -1.0
    for k in range(1, 60):
        log_mgf = math.log(_mgf(pair, sign * k * 0.1, ratio))
        best = min(best, n * log_mgf)
    return math.exp(best)


@pytest.mark.parametrize("name", sorted(GROWING))
def test_a_growing_scheme_fails_backoff_growth_with_probability_below_1e_4(name: str) -> None:
    # It fails only if, after all GROWTH_TRIALS clients, the ratio is below GROWTH_RATIO.
    p = chernoff(GROWING[name], GROWTH_RATIO, GROWTH_TRIALS, below=True)
    assert p < LIMIT, f"{name}: false-failure probability up to {p:.1e}"


@pytest.mark.parametrize("name", sorted(FLAT))
def test_flat_waits_pass_backoff_growth_with_probability_below_1e_4(name: str) -> None:
    # It passes early (EARLY_RATIO over EARLY_TRIALS, or every last wait above every first:
    # exchangeable draws put the lasts on top with probability 1/C(2n, n)) or at the end.
    early = chernoff(FLAT[name], EARLY_RATIO, EARLY_TRIALS, below=False)
    early += 1 / math.comb(2 * EARLY_TRIALS, EARLY_TRIALS)
    late = chernoff(FLAT[name], GROWTH_RATIO, GROWTH_TRIALS, below=False)
    assert early + late < LIMIT, f"{name}: passes with probability up to {early + late:.1e}"


def test_the_bound_is_tight_enough_to_mean_something() -> None:
    """The bound is an upper bound: a simulation never sees more failures than it allows."""
    rng = random.Random(24)
    pair = GROWING["aws-full-jitter"]
    ratio, n = GROWTH_RATIO, 20  # few clients, so failures are frequent enough to count
    runs = 4000
    failures = 0
    for _ in range(runs):
        draws = [pair(rng.random(), rng.random()) for _ in range(n)]
        failures += sum(last for _, last in draws) < ratio * sum(first for first, _ in draws)
    bound = chernoff(pair, ratio, n, below=True)
    assert failures / runs <= bound
    assert bound < 1  # and it is not vacuous


def test_a_client_bounded_only_by_a_deadline_cannot_pass_attempts_bounded_by_luck() -> None:
    """The issue's example: no attempt cap, a 120 s deadline, full-jitter waits (base 1 s,
    cap 60 s). One fresh client stays within MAX_ATTEMPTS with probability p, estimated by
    simulation with a 99.99 % upper confidence bound; all BOUNDED_TRIALS clients must."""
    rng = random.Random(7)
    runs = 20_000
    within = 0
    for _ in range(runs):
        elapsed, attempts = 0.0, 1
        while True:
            wait = rng.uniform(0, min(60.0, 2.0 ** (attempts - 1)))
            if elapsed + wait > 120:
                break
            elapsed += wait
            attempts += 1
        within += attempts <= MAX_ATTEMPTS
    p = within / runs
    upper = p + 4 * math.sqrt(p * (1 - p) / runs)  # normal approximation, about 3e-5 one-sided
    assert 0.05 < p < 0.95  # a single client really is a coin toss: trials are needed
    assert upper**BOUNDED_TRIALS < LIMIT
