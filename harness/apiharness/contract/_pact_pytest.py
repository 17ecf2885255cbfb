"""The pytest face of Pact export: ``--apiharness-pact-dir``, the marker, the fixture.

With ``--apiharness-pact-dir DIR``, every test that passes contributes the exchanges it had
with its mocked upstreams (the ``upstream``/``upstream_server`` fixtures, any fixture that
returns an :class:`~apiharness.upstream.Upstream` or a spec mock, and upstreams handed to
``apiharness_pact.watch``) to ``DIR/<consumer>-<provider>.json``::

    @pytest.mark.apiharness_pact(provider="inventory", given="item 7 exists")
    def test_reads_an_item(upstream): ...

Names: marker, else the ``apiharness_pact_consumer``/``apiharness_pact_provider`` ini values,
else the project folder's name and the upstream's host. Each test's interactions travel in its
report (``user_properties``), so under pytest-xdist the workers' interactions reach the
controller, which merges them and writes each pact once, atomically, at the end of the session
(the files are rewritten by each run, as pact-python's are).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from apiharness._stacks import httpx
from apiharness.contract._pact_export import PactWriter, ProviderState, pact_interactions
from apiharness.errors import ConfigurationError, PactError
from apiharness.recording import Redactor, secrets_from_env
from apiharness.upstream import Upstream

__all__ = ["MARKER", "PactTest", "add_options", "apiharness_pact", "configure", "export_test"]

PROPERTY = "apiharness_pact"
MARKER = (
    "apiharness_pact(consumer=None, provider=None, given=None, states=()): names and provider "
    "states of the Pact interactions this test exports with --apiharness-pact-dir"
)
_MARKER_ARGS = {"consumer", "provider", "given", "states"}
_TEST_KEY = pytest.StashKey["PactTest"]()
_SECRETS_KEY = pytest.StashKey[Mapping[str, str]]()


def add_options(group: Any, parser: pytest.Parser) -> None:
    """The Pact options, added to the plugin's ``apiharness`` group."""
    group.addoption(
        "--apiharness-pact-dir",
        default=None,
        metavar="DIR",
        help="Write Pact V4 files of the mocked exchanges passing tests had into DIR "
        "(one <consumer>-<provider>.json per pair).",
    )
    parser.addini("apiharness_pact_consumer", help="Consumer name of exported pacts.")
    parser.addini("apiharness_pact_provider", help="Provider name of exported pacts.")


class PactTest:
    """This test's part of the pacts: the upstreams it exports and its provider states.

    ``apiharness_pact.watch(up)`` adds an upstream the fixtures do not know about;
    ``apiharness_pact.given("item exists", id=7)`` adds a provider state.
    """

    def __init__(self) -> None:
        self.upstreams: list[Upstream] = []
        self.states: list[ProviderState] = []

    def watch(self, upstream: Upstream) -> Upstream:
        if not isinstance(upstream, Upstream):
            raise ConfigurationError(f"apiharness_pact.watch() takes an Upstream, got {upstream!r}")
        self.upstreams.append(upstream)
        return upstream

    def given(self, state: str, **params: Any) -> None:
        self.states.append((state, params) if params else state)


@pytest.fixture
def apiharness_pact(request: pytest.FixtureRequest) -> PactTest:
    """This test's Pact export (``--apiharness-pact-dir``): ``watch(up)``, ``given(state)``."""
    test: PactTest = request.node.stash.setdefault(_TEST_KEY, PactTest())
    return test


def _marker(item: pytest.Item) -> dict[str, Any]:
    marker = item.get_closest_marker("apiharness_pact")
    if marker is None:
        return {}
    unknown = set(marker.kwargs) - _MARKER_ARGS
    if unknown or marker.args:
        raise ConfigurationError(
            f"@pytest.mark.apiharness_pact takes only the keywords {sorted(_MARKER_ARGS)}, "
            f"got {marker.args!r} {sorted(unknown)}"
        )
    return dict(marker.kwargs)


def _states(options: Mapping[str, Any], test: PactTest | None) -> list[ProviderState]:
    states: list[ProviderState] = []
    given = options.get("given")
    if given is not None:
        states.append(given)
    extra = options.get("states", ())
    if isinstance(extra, str) or not isinstance(extra, Sequence):
        raise ConfigurationError(
            "apiharness_pact(states=...) is a list of names or (name, params) pairs, "
            f"got {extra!r}; for one state use given='...'"
        )
    states.extend(extra)
    if test is not None:
        states.extend(test.states)
    return states


def _upstreams(item: pytest.Item) -> list[Upstream]:
    found: dict[int, Upstream] = {}
    test = item.stash.get(_TEST_KEY, None)
    values = list(getattr(item, "funcargs", {}).values())
    for value in [*(test.upstreams if test else []), *values]:
        upstream = value if isinstance(value, Upstream) else getattr(value, "upstream", None)
        if isinstance(upstream, Upstream):
            found.setdefault(id(upstream), upstream)
    return list(found.values())


def export_test(item: pytest.Item) -> None:
    """Attach the passed test's interactions to its report (called for the call phase)."""
    options = _marker(item)
    config = item.config
    consumer = options.get("consumer") or config.getini("apiharness_pact_consumer")
    consumer = consumer or config.rootpath.name
    redactor = Redactor(secrets=config.stash.get(_SECRETS_KEY, {}))
    states = _states(options, item.stash.get(_TEST_KEY, None))
    for upstream in _upstreams(item):
        provider = options.get("provider") or config.getini("apiharness_pact_provider")
        provider = provider or httpx.URL(upstream.base_url).host
        found = pact_interactions(upstream, states=states, redactor=redactor)
        if found:
            shown = {"consumer": consumer, "provider": provider, "interactions": found}
            item.user_properties.append((PROPERTY, json.dumps(shown)))


class _Collector:
    """On the controller (or a run without xdist): merge the reports' interactions, write."""

    def __init__(self, config: pytest.Config, directory: str) -> None:
        self.config = config
        self.directory = directory
        self.writers: dict[tuple[str, str], PactWriter] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call":
            return
        for name, value in report.user_properties:
            if name != PROPERTY:
                continue
            shown = json.loads(str(value))
            key = (shown["consumer"], shown["provider"])
            writer = self.writers.get(key)
            if writer is None:
                writer = self.writers[key] = PactWriter(*key)
            writer.merge(shown["interactions"])

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        for writer in self.writers.values():
            try:
                path = writer.write(self.directory, merge=False)
            except PactError as exc:
                if reporter is not None:
                    reporter.write_line(f"apiharness: {exc}", red=True)
                session.exitstatus = pytest.ExitCode.USAGE_ERROR
                continue
            if reporter is not None:
                reporter.write_line(f"apiharness: wrote {path} ({len(writer)} interactions)")


def configure(config: pytest.Config, secrets: Mapping[str, str]) -> None:
    """Called from the plugin's ``pytest_configure``: the collector, on the controller only."""
    # As for cassettes: the declared secrets and every secret-looking environment variable.
    config.stash[_SECRETS_KEY] = {**secrets_from_env(), **secrets}
    directory = config.getoption("--apiharness-pact-dir")
    if directory and not hasattr(config, "workerinput"):
        config.pluginmanager.register(_Collector(config, directory), "apiharness-pact-collector")
