"""The pytest face of apiharness: options, markers and fixtures.

Thin on purpose: logic lives in the subpackages; this module only wires it into pytest.
Loaded with ``pytest -p apiharness`` or through the ``pytest11`` entry point.
"""

from __future__ import annotations

import contextlib
from collections.abc import Generator, Iterator

import pytest

from apiharness._seed import SEED_KEY, seed_for
from apiharness._teardown import FAILED_KEY
from apiharness.clock import VirtualClock
from apiharness.conformance import _pytest as _conformance
from apiharness.conformance._pytest import apiharness_conformance, pytest_collection_modifyitems
from apiharness.contract._fixtures import schemathesis_check
from apiharness.errors import ApiHarnessError, ConfigurationError
from apiharness.recording._fixtures import MARKER as _RECORDING_MARKER
from apiharness.recording._fixtures import add_options as _add_recording_options
from apiharness.recording._fixtures import (
    apiharness_cassette,
    apiharness_secrets,
    check_secrets_at_end,
)
from apiharness.recording._fixtures import record_mode as _check_record_mode
from apiharness.upstream._fixtures import (
    upstream_fixture,
    upstream_server,
    upstream_session_server,
)
from apiharness.upstream._oauth_fixtures import oauth_server
from apiharness.webhooks._fixtures import webhook_sender

__all__ = [
    "apiharness_cassette",
    "apiharness_conformance",
    "apiharness_secrets",
    "apiharness_seed",
    "clock_fixture",
    "oauth_server",
    "pytest_addoption",
    "pytest_collection_modifyitems",
    "pytest_configure",
    "pytest_runtest_makereport",
    "pytest_sessionfinish",
    "schemathesis_check",
    "upstream_fixture",
    "upstream_server",
    "upstream_session_server",
    "webhook_sender",
]

# One line per marker, in pytest's "name(args): help" form (shown by `pytest --markers`).
MARKERS = [
    "upstream(*routes, **options): declare the mocked upstream of the `upstream` and "
    "`upstream_server` fixtures: mappings {'METHOD /path': behaviour or [script]}; options "
    "allow_unmatched=, check_expectations=, base_url= (see apiharness.upstream)",
    "apiharness_real_time: this test runs in real time; it must not use the `clock` fixture",
    _RECORDING_MARKER,
]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("apiharness", "apiharness: API mocking and contract testing")
    group.addoption(
        "--apiharness-seed",
        action="store",
        default=None,
        metavar="INT",
        help="Seed for seeded random behaviours (random delays, chaos scripts). "
        "Default: the apiharness_seed ini value, else 0.",
    )
    _conformance.add_options(group)
    parser.addini(
        "apiharness_seed",
        help="Default seed for seeded random behaviours (an integer).",
        default="0",
    )
    _add_recording_options(group, parser)


@contextlib.contextmanager
def usage_errors() -> Iterator[None]:
    """Show a bad option or ini value as pytest's one-line usage error, not a traceback."""
    try:
        yield
    except ApiHarnessError as exc:
        raise pytest.UsageError(f"apiharness: {exc}") from exc


def pytest_configure(config: pytest.Config) -> None:
    for line in MARKERS:
        config.addinivalue_line("markers", line)
    with usage_errors():
        config.stash[SEED_KEY] = _read_seed(config)
        _conformance.configure(config)
    _check_record_mode(config)  # a bad ini value is a usage error at start, not a failure per test


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    # Teardown checks read this: a failed test gets their findings beside its failure,
    # not as a second error (apiharness._teardown).
    report = yield
    if report.when in ("setup", "call") and report.failed:
        item.stash[FAILED_KEY] = True
    return report


def pytest_sessionfinish(session: pytest.Session) -> None:
    check_secrets_at_end(session)


def _read_seed(config: pytest.Config) -> int:
    raw = config.getoption("--apiharness-seed")
    source = "--apiharness-seed"
    if raw is None:
        raw, source = config.getini("apiharness_seed"), "apiharness_seed (ini)"
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise ConfigurationError(
            f"{source} must be an integer, got {raw!r}; e.g. --apiharness-seed=1234"
        ) from None


@pytest.fixture(scope="session")
def apiharness_seed(request: pytest.FixtureRequest) -> int:
    """The run's seed for seeded random behaviours (``--apiharness-seed``)."""
    return seed_for(request.config)


# Named by `name=`: a Python name `clock` would shadow the module `apiharness.clock` once the
# plugin surface is re-exported from `apiharness`.
@pytest.fixture(name="clock")
def clock_fixture(request: pytest.FixtureRequest) -> Iterator[VirtualClock]:
    """A virtual clock, active for the test.

    Sleeps (``time.sleep``, ``asyncio.sleep``, anyio's, ``Event.wait(t)`` used as one) advance
    virtual time instantly, and every reading follows it (``time.time``, ``datetime.now``,
    ``monotonic``, ``perf_counter``, also when imported by name; see :mod:`apiharness.clock`),
    so a 30-second backoff schedule costs milliseconds::

        def test_backoff(clock):
            time.sleep(30)
            assert clock.monotonic() == 30
    """
    if request.node.get_closest_marker("apiharness_real_time") is not None:
        raise ConfigurationError(
            "this test is marked apiharness_real_time but asks for the `clock` fixture; "
            "remove one of the two"
        )
    virtual = VirtualClock()
    with virtual.patch():
        yield virtual
