"""The engine behind both faces (pytest items and ``apiharness grade``): run scenarios."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable

from apiharness._scrub import scrub
from apiharness.clock import VirtualClock
from apiharness.conformance._adapter import ClientFactory, load_factory
from apiharness.conformance._catalogue import (
    DEFAULT_CATALOGUE,
    Scenario,
    find_scenario,
    load_catalogue,
)
from apiharness.conformance._scorecard import ScenarioResult, Scorecard
from apiharness.conformance._timeline import attempts_from
from apiharness.conformance._trial import Trial, Verdict, ticking, trusting
from apiharness.errors import ConformanceError
from apiharness.upstream import Upstream

__all__ = ["grade", "run_scenario", "select"]


def select(
    ids: Iterable[str] | None = None, *, catalogue: str = DEFAULT_CATALOGUE
) -> list[Scenario]:
    """The scenarios named by ``ids`` (when None: all of the catalogue, in its order).

    Named ids must belong to the chosen catalogue; an id from another one says which.
    """
    scenarios = load_catalogue(catalogue)
    if ids is None:
        return list(scenarios.values())
    chosen = []
    for scenario_id in ids:
        found = find_scenario(scenario_id)
        if found.catalogue != catalogue:
            raise ConformanceError(
                f"conformance scenario {scenario_id!r} is in the {found.catalogue!r} catalogue, "
                f"not {catalogue!r}; choose that catalogue to run it"
            )
        chosen.append(found)
    return chosen


def run_scenario(
    scenario: Scenario, factory: ClientFactory | str, *, client: str = "", seed: int = 0
) -> ScenarioResult:
    """Run one scenario against the client the factory makes, in virtual time.

    A misconfigured adapter raises :class:`~apiharness.errors.ConformanceError` (a factory
    that raises: :class:`~apiharness.errors.ClientFactoryError`, with its traceback); anything
    the client does wrong becomes a failed result, and raising outside its declared errors a
    crashed one.
    """
    make = load_factory(factory)
    started = time.perf_counter()
    clock = VirtualClock()
    upstream = Upstream(seed=seed)
    with clock.patch(), upstream.serve(**scenario.serve) as server:
        trial = Trial(upstream, clock, server, make, scenario.wall_limit)
        try:
            flowing = ticking(clock) if scenario.ticking else contextlib.nullcontext()
            with flowing, trusting(server.ca_path if server.https else None):
                verdict = scenario.check(trial)
        except ConformanceError:
            raise
        except Exception as exc:
            message = scrub(str(exc), environment=True)  # the client's text, into a report
            verdict = Verdict(False, f"the scenario broke: {type(exc).__name__}: {message}")
        finally:
            trial.close()
        attempts = attempts_from(upstream.journal)
    crashed = not verdict.passed and trial.crash is not None
    observed, details = verdict.observed, verdict.details
    if crashed:
        # A crash is not a violated expectation: say what raised where, keep the rest below.
        observed, details = f"crashed: {trial.crash}", (f"then: {verdict.observed}", *details)
    return ScenarioResult(
        scenario=scenario.id,
        passed=verdict.passed,
        observed=observed,
        expected=scenario.statement,
        details=details,
        crashed=crashed,
        client=client or _name(factory),
        wall_seconds=round(time.perf_counter() - started, 3),
        attempts=attempts,
    )


def grade(
    factory: ClientFactory | str,
    *,
    scenarios: Iterable[str] | None = None,
    catalogue: str = DEFAULT_CATALOGUE,
    client: str = "",
    seed: int = 0,
) -> Scorecard:
    """Run a catalogue (or the named scenarios of it) against a client; return the scorecard.

    >>> card = grade("shop.reference:make_client")  # doctest: +SKIP
    >>> print(card.render())  # doctest: +SKIP
    """
    name = client or _name(factory)
    chosen = select(scenarios, catalogue=catalogue)
    return Scorecard([run_scenario(s, factory, client=name, seed=seed) for s in chosen])


def _name(factory: ClientFactory | str) -> str:
    if isinstance(factory, str):
        return factory
    module = getattr(factory, "__module__", "")
    return f"{module}:{getattr(factory, '__qualname__', repr(factory))}"
