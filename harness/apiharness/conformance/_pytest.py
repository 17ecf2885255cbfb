"""pytest face of the conformance suite: one test item per scenario, and the scorecard.

``--apiharness-conformance=module:make_client`` adds an item per scenario (its id in the item's
name, so ``-k``, JUnit XML, xdist and IDEs work). Results travel in each report's
``user_properties``, so the controller aggregates them across pytest-xdist workers, prints the
scorecard in the terminal summary and writes ``--apiharness-report=PATH`` (JSON, atomically).

Without the option, the ``apiharness_conformance`` fixture grades from a user's own test::

    @pytest.mark.parametrize("scenario", apiharness.conformance.CATALOGUE)
    def test_my_client(scenario, apiharness_conformance):
        apiharness_conformance.check(scenario, "myproject.conformance:make_client")
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from apiharness._seed import seed_for
from apiharness.conformance._adapter import ClientFactory, load_factory
from apiharness.conformance._catalogue import (
    CATALOGUE_MODULES,
    DEFAULT_CATALOGUE,
    Scenario,
    find_scenario,
    load_catalogue,
)
from apiharness.conformance._grader import run_scenario, select
from apiharness.conformance._scorecard import ScenarioResult, Scorecard
from apiharness.errors import ClientFactoryError, ConformanceError

__all__ = ["ConformanceChecker", "add_options", "configure"]

PROPERTY = "apiharness_conformance"


def add_options(group: pytest.OptionGroup) -> None:
    group.addoption(
        "--apiharness-conformance",
        action="store",
        default=None,
        metavar="MODULE:FACTORY",
        help="Grade the client built by this factory against the conformance catalogue: "
        "one test item per scenario.",
    )
    group.addoption(
        "--apiharness-catalogue",
        action="store",
        default=DEFAULT_CATALOGUE,
        choices=list(CATALOGUE_MODULES),
        help="With --apiharness-conformance: the catalogue to grade against "
        f"(default: {DEFAULT_CATALOGUE}).",
    )
    group.addoption(
        "--apiharness-report",
        action="store",
        default=None,
        metavar="PATH",
        help="Write the conformance scorecard as JSON to PATH (aggregated across xdist workers).",
    )
    group.addoption(
        "--apiharness-html",
        action="store",
        default=None,
        metavar="PATH",
        help="Write the conformance scorecard as a self-contained HTML page with a timeline of "
        "each scenario's attempts.",
    )
    group.addoption(
        "--apiharness-junit",
        action="store",
        default=None,
        metavar="PATH",
        help="Write the conformance scorecard as JUnit XML (one test case per scenario).",
    )


class ConformanceFailure(Exception):
    """A scenario failed; carries the result so the report explains itself."""

    def __init__(self, result: ScenarioResult) -> None:
        super().__init__(result.explain())
        self.result = result


def _run(node: pytest.Item, scenario: Scenario, factory: ClientFactory | str, name: str) -> None:
    try:
        result = run_scenario(scenario, factory, client=name, seed=seed_for(node.config))
    except ClientFactoryError:
        # Every other scenario would fail the same way: report it once and stop the run.
        node.session.shouldstop = "apiharness conformance: the client factory raised"
        raise
    node.user_properties.append((PROPERTY, json.dumps(result.to_dict())))
    if not result.passed:
        raise ConformanceFailure(result)


class ConformanceItem(pytest.Item):
    """One scenario against the client named by ``--apiharness-conformance``."""

    def __init__(self, *, scenario: Scenario, factory: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario
        self.factory = factory

    def runtest(self) -> None:
        _run(self, self.scenario, self.factory, self.factory)

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: Any = None,
    ) -> str | Any:
        if isinstance(excinfo.value, ConformanceFailure | ConformanceError):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[str, int | None, str]:
        return "apiharness-conformance", None, f"conformance: {self.scenario.id}"


class ConformanceSuite(pytest.Collector):
    def __init__(self, *, factory: str, catalogue: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.factory = factory
        self.catalogue = catalogue

    def collect(self) -> Iterator[ConformanceItem]:
        for scenario in select(catalogue=self.catalogue):
            yield ConformanceItem.from_parent(
                self, name=scenario.id, scenario=scenario, factory=self.factory
            )


class ConformanceChecker:
    """The ``apiharness_conformance`` fixture: grade scenarios from the user's own tests."""

    def __init__(self, node: pytest.Item) -> None:
        self._node = node

    def check(self, scenario: str, factory: ClientFactory | str) -> None:
        """Run ``scenario`` against the client ``factory`` builds; fail the test if it fails."""
        name = factory if isinstance(factory, str) else getattr(factory, "__qualname__", "")
        try:
            _run(self._node, find_scenario(scenario), factory, name)
        except ConformanceFailure as failure:
            message = str(failure)
        else:
            return
        # Outside the except block: the report is the explanation, not a chain of two.
        pytest.fail(message, pytrace=False)


def _order() -> list[str]:
    """Every scenario id of every catalogue, in catalogue order: how scorecards are sorted."""
    return [scenario_id for name in CATALOGUE_MODULES for scenario_id in load_catalogue(name)]


class _Reporter:
    """Collects results from reports (the controller sees every worker's) and reports them."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.card = Scorecard()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call":
            return
        for name, value in report.user_properties:
            if name == PROPERTY:
                self.card.extend([ScenarioResult.from_dict(json.loads(str(value)))])

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.card.results:
            return
        terminalreporter.write_sep("=", "apiharness conformance scorecard")
        verbose = self.config.get_verbosity() > 0  # -v: the journal of each failing scenario
        text = self.card.sorted(_order()).render(verbose=verbose)
        for line in text.splitlines():
            marked = {"green": True} if line.startswith("  PASS") else {}
            marked = {"red": True} if line.startswith("  FAIL") else marked
            terminalreporter.write_line(line, **marked)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if hasattr(self.config, "workerinput"):
            return
        card = self.card.sorted(_order())
        for option, write in (
            ("--apiharness-report", card.write_json),
            ("--apiharness-html", card.write_html),
            ("--apiharness-junit", card.write_junit),
        ):
            path = self.config.getoption(option)
            if not path:
                continue
            try:
                write(path)
            except OSError as exc:  # a report that cannot be written: say so, no INTERNALERROR
                reporter = self.config.pluginmanager.get_plugin("terminalreporter")
                if reporter is not None:
                    reporter.write_line(
                        f"apiharness: cannot write {option} {path}: {exc.strerror or exc}",
                        red=True,
                    )
                session.exitstatus = pytest.ExitCode.USAGE_ERROR


def configure(config: pytest.Config) -> None:
    """Called from the plugin's ``pytest_configure``."""
    if not hasattr(config, "workerinput"):
        config.pluginmanager.register(_Reporter(config), "apiharness-conformance-reporter")
    spec = config.getoption("--apiharness-conformance")
    if spec:
        root = str(config.invocation_params.dir)
        if root not in sys.path:
            sys.path.insert(0, root)
        load_factory(spec)  # fail at start-up, with advice, if the factory cannot be found


@pytest.hookimpl(tryfirst=True)  # before -k/-m deselection sees the items
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    spec = config.getoption("--apiharness-conformance")
    if spec:
        suite = ConformanceSuite.from_parent(
            session,
            name="apiharness-conformance",
            nodeid="apiharness-conformance",
            factory=spec,
            catalogue=config.getoption("--apiharness-catalogue"),
        )
        # Through the public collection hooks, so counts, --collect-only and xdist see them.
        report = suite.ihook.pytest_make_collect_report(collector=suite)
        suite.ihook.pytest_collectreport(report=report)
        items.extend(node for node in report.result if isinstance(node, pytest.Item))


@pytest.fixture
def apiharness_conformance(request: pytest.FixtureRequest) -> ConformanceChecker:
    """Grade conformance scenarios from your own (parametrized) tests; see the module doc."""
    item = request.node
    assert isinstance(item, pytest.Item)
    return ConformanceChecker(item)
