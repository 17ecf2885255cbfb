"""The engine behind both faces (pytest items and ``apiharness grade``): run scenarios."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable

from apiharness._scrub import scrub
from apiharness.clock import VirtualClock
from apiharness.conformance._adapter import ClientFactory, load_factory
from apiharness.conformance._catalogue import CATALOGUE, Scenario
from apiharness.conformance._scorecard import ScenarioResult, Scorecard
from apiharness.conformance._trial import Trial, Verdict, ticking
from apiharness.errors import ConformanceError
from apiharness.upstream import Upstream

__all__ = ["grade", "run_scenario", "select"]


def select(ids: Iterable[str] | None = None) -> list[Scenario]:
    """The scenarios named by ``ids`` (all, in catalogue order, when None)."""
    if ids is None:
        return list(CATALOGUE.values())
    chosen = []
    for scenario_id in ids:
        if scenario_id not in CATALOGUE:
            raise ConformanceError(
                f"unknown conformance scenario {scenario_id!r}; known: {', '.join(CATALOGUE)}"
            )
        chosen.append(CATALOGUE[scenario_id])
    return chosen


def run_scenario(
    scenario: Scenario, factory: ClientFactory | str, *, client: str = "", seed: int = 0
) -> ScenarioResult:
    """Run one scenario against the client the factory makes, in virtual time.

    A misconfigured adapter raises :class:`~apiharness.errors.ConformanceError`; anything the
    client does wrong, including raising or hanging, becomes a failed result.
    """
    make = load_factory(factory)
    started = time.perf_counter()
    clock = VirtualClock()
    upstream = Upstream(seed=seed)
    with clock.patch(), upstream.serve() as server:
        trial = Trial(upstream, clock, server, make, scenario.wall_limit)
        try:
            flowing = ticking(clock) if scenario.ticking else contextlib.nullcontext()
            with flowing:
                verdict = scenario.check(trial)
        except ConformanceError:
            raise
        except Exception as exc:
            message = scrub(str(exc), environment=True)  # the client's text, into a report
            verdict = Verdict(False, f"the scenario broke: {type(exc).__name__}: {message}")
        finally:
            trial.close()
    return ScenarioResult(
        scenario=scenario.id,
        passed=verdict.passed,
        observed=verdict.observed,
        expected=scenario.statement,
        details=verdict.details,
        client=client or _name(factory),
        wall_seconds=round(time.perf_counter() - started, 3),
    )


def grade(
    factory: ClientFactory | str,
    *,
    scenarios: Iterable[str] | None = None,
    client: str = "",
    seed: int = 0,
) -> Scorecard:
    """Run the catalogue (or the named scenarios) against a client; return the scorecard.

    >>> card = grade("shop.reference:make_client")  # doctest: +SKIP
    >>> print(card.render())  # doctest: +SKIP
    """
    name = client or _name(factory)
    return Scorecard([run_scenario(s, factory, client=name, seed=seed) for s in select(scenarios)])


def _name(factory: ClientFactory | str) -> str:
    if isinstance(factory, str):
        return factory
    module = getattr(factory, "__module__", "")
    return f"{module}:{getattr(factory, '__qualname__', repr(factory))}"
