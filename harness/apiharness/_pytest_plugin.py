"""The pytest face of apiharness: options, markers and fixtures.

Thin on purpose: logic lives in the subpackages; this module only wires it into pytest.
Loaded with ``pytest -p apiharness`` or through the ``pytest11`` entry point.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from types import TracebackType

import pytest

from apiharness._seed import SEED_KEY, seed_for
from apiharness._teardown import FAILED_KEY
from apiharness.clock import VirtualClock
from apiharness.conformance import _pytest as _conformance
from apiharness.conformance._pytest import apiharness_conformance, pytest_collection_modifyitems
from apiharness.contract import _pact_pytest as _pact
from apiharness.contract._fixtures import schemathesis_check
from apiharness.contract._pact_pytest import apiharness_pact
from apiharness.errors import ApiHarnessError, ConfigurationError
from apiharness.recording._fixtures import MARKER as _RECORDING_MARKER
from apiharness.recording._fixtures import add_options as _add_recording_options
from apiharness.recording._fixtures import (
    apiharness_cassette,
    apiharness_secrets,
    check_secrets_at_end,
    declared_secrets,
    translate_vcr_advice,
)
from apiharness.recording._fixtures import record_mode as _check_record_mode
from apiharness.upstream import (
    AuthorizationServer,
    LoopbackServer,
    TLSCertificates,
    TLSFault,
    Upstream,
)
from apiharness.upstream._fixtures import (
    apiharness_tls_certificates,
    apiharness_tls_server,
    apiharness_upstream,
    apiharness_upstream_server,
    check_marker_is_used,
    upstream_session_server,
)
from apiharness.upstream._oauth_fixtures import apiharness_oauth_server
from apiharness.webhooks import WebhookSenderFactory
from apiharness.webhooks._fixtures import apiharness_webhook_sender

__all__ = [
    "apiharness_cassette",
    "apiharness_clock",
    "apiharness_conformance",
    "apiharness_oauth_server",
    "apiharness_pact",
    "apiharness_secrets",
    "apiharness_seed",
    "apiharness_tls_certificates",
    "apiharness_tls_server",
    "apiharness_upstream",
    "apiharness_upstream_server",
    "apiharness_webhook_sender",
    "clock_fixture",
    "oauth_server",
    "pytest_addoption",
    "pytest_collection_modifyitems",
    "pytest_configure",
    "pytest_runtest_makereport",
    "pytest_runtest_setup",
    "pytest_sessionfinish",
    "schemathesis_check",
    "tls_certificates",
    "tls_server",
    "upstream_fixture",
    "upstream_server",
    "upstream_session_server",
    "webhook_sender",
]

# One line per marker, in pytest's "name(args): help" form (shown by `pytest --markers`).
MARKERS = [
    "upstream(*routes, **options): declare the mocked upstream of the `upstream` and "
    "`upstream_server` fixtures: mappings {'METHOD /path': behaviour or [script]}; options "
    "allow_unmatched=, check_expectations=, allow_rejected=, base_url= (see apiharness.upstream)",
    "apiharness_real_time: this test runs in real time; it must not use the `clock` fixture",
    _RECORDING_MARKER,
    _pact.MARKER,
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
    _pact.add_options(group, parser)


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
        _pact.configure(config, declared_secrets(config))
    _check_record_mode(config)  # a bad ini value is a usage error at start, not a failure per test


def pytest_runtest_setup(item: pytest.Item) -> None:
    check_marker_is_used(item)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    message_only = False
    if (
        call.when == "call"
        and call.excinfo is None
        and item.config.getoption("--apiharness-pact-dir")
    ):
        _pact.export_test(item)  # before the report is made: it carries the interactions
    if call.excinfo is not None:
        translate_vcr_advice(item, call.excinfo.value)
        if not item.config.getoption("fulltrace", False):
            message_only = not _hide_our_frames(call)
    # Teardown checks read this: a failed test gets their findings beside its failure,
    # not as a second error (apiharness._teardown).
    report = yield
    if message_only and call.excinfo is not None:
        # Nothing of the user's is left to point at (a fixture's teardown check): the message.
        error = call.excinfo.value
        report.longrepr = f"{type(error).__name__}: {error}"
    if report.when in ("setup", "call") and report.failed:
        item.stash[FAILED_KEY] = True
    return report


_PACKAGE = Path(__file__).resolve().parent
_RUNNERS = frozenset({"_pytest", "pluggy", "pytest"})


def _hide_our_frames(call: pytest.CallInfo[None]) -> bool:
    """Drop apiharness' own frames from the traceback of an error it raised on purpose.

    Such an error's message is the whole story (what went wrong, how to fix it); the harness
    source around the ``raise`` only pushes it out of view. The test's own frames stay, and so
    does everything for any other exception (a bug in the harness keeps its full traceback);
    ``--fulltrace`` shows everything. Returns whether a frame of the user's code remains.

    pytest cuts a traceback from the raw frames (``Traceback.cut`` walks ``tb_next`` again), so
    filtering its entries is not enough: the exception gets a traceback without our frames.
    """
    assert call.excinfo is not None
    error = call.excinfo.value
    if not isinstance(error, ApiHarnessError):
        return True
    kept = [tb for tb in _frames(error.__traceback__) if not _ours(tb.tb_frame.f_code.co_filename)]
    rebuilt = None
    for tb in reversed(kept):
        rebuilt = TracebackType(rebuilt, tb.tb_frame, tb.tb_lasti, tb.tb_lineno)
    if rebuilt is None:
        return False
    call.excinfo = pytest.ExceptionInfo.from_exc_info((type(error), error, rebuilt))
    return any(
        tb.tb_frame.f_globals.get("__name__", "").partition(".")[0] not in _RUNNERS for tb in kept
    )


def _frames(tb: TracebackType | None) -> Iterator[TracebackType]:
    while tb is not None:
        yield tb
        tb = tb.tb_next


def _ours(filename: str) -> bool:
    return Path(filename).is_relative_to(_PACKAGE)


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


@pytest.fixture
def apiharness_clock(request: pytest.FixtureRequest) -> Iterator[VirtualClock]:
    """A virtual clock, active for the test; also ``clock``."""
    if request.node.get_closest_marker("apiharness_real_time") is not None:
        raise ConfigurationError(
            "this test is marked apiharness_real_time but asks for the `clock` fixture; "
            "remove one of the two"
        )
    virtual = VirtualClock()
    with virtual.patch():
        yield virtual


# Short names. Each is the ``apiharness_*`` fixture under a second name, so a project whose own
# conftest.py defines a fixture called ``upstream`` or ``clock`` (which shadows these) still
# reaches ours as ``apiharness_upstream``, ``apiharness_clock`` ... The Python names of the two
# first differ from the fixture names (``name=``): ``upstream`` and ``clock`` would shadow the
# subpackage and the module of those names once the plugin surface is bound on ``apiharness``.


@pytest.fixture(name="clock")
def clock_fixture(apiharness_clock: VirtualClock) -> VirtualClock:
    """A virtual clock, active for the test (also ``apiharness_clock``).

    Sleeps (``time.sleep``, ``asyncio.sleep``, anyio's, ``Event.wait(t)`` used as one) advance
    virtual time instantly, and every reading follows it (``time.time``, ``datetime.now``,
    ``monotonic``, ``perf_counter``, also when imported by name; see :mod:`apiharness.clock`),
    so a 30-second backoff schedule costs milliseconds::

        def test_backoff(clock):
            time.sleep(30)
            assert clock.monotonic() == 30
    """
    return apiharness_clock


@pytest.fixture(name="upstream")
def upstream_fixture(apiharness_upstream: Upstream) -> Upstream:
    """An in-process mocked upstream for this test, ``https://api.test`` (also
    ``apiharness_upstream``).

    Use it as the client's transport; unmatched requests and unmet ``expect=`` counts fail
    the test at teardown::

        def test_retries(upstream):
            upstream.get("/items").respond(status(503), respond(200, json=[]))
            http = httpx.Client(transport=upstream, base_url=upstream.base_url)
            assert http.get("/items").status_code == 503
    """
    return apiharness_upstream


@pytest.fixture
def upstream_server(apiharness_upstream_server: Upstream) -> Upstream:
    """A mocked upstream served on ``http://127.0.0.1:PORT``, cleared for this test (also
    ``apiharness_upstream_server``).

    ``upstream_server.base_url`` is the address for any client (requests, urllib3, aiohttp,
    a subprocess); ``upstream_server.server`` is the :class:`LoopbackServer`::

        def test_reset(upstream_server):
            upstream_server.get("/x").respond(reset())
            with pytest.raises(requests.ConnectionError):
                requests.get(upstream_server.base_url + "/x")
    """
    return apiharness_upstream_server


@pytest.fixture(scope="session")
def tls_certificates(apiharness_tls_certificates: TLSCertificates) -> TLSCertificates:
    """The session's throwaway PKI (also ``apiharness_tls_certificates``), made by trustme in
    the session's temp folder: ``ca_path`` to trust, ``client_cert_path`` for mutual TLS."""
    return apiharness_tls_certificates


@pytest.fixture
def tls_server(
    apiharness_tls_server: Callable[[TLSFault | str | None], LoopbackServer],
) -> Callable[[TLSFault | str | None], LoopbackServer]:
    """Serve the test's ``upstream`` over TLS, with a fault or without (also
    ``apiharness_tls_server``); the servers stop when the test ends::

        def test_rejects_expired(upstream, tls_server):
            upstream.get("/x").respond(respond(200))
            server = tls_server("expired")
            with pytest.raises(httpx.ConnectError, match="certificate has expired"):
                httpx.get(server.base_url + "/x", verify=server.ssl_context())
            assert len(upstream.journal) == 0
    """
    return apiharness_tls_server


@pytest.fixture
def oauth_server(apiharness_oauth_server: AuthorizationServer) -> AuthorizationServer:
    """A mock OAuth 2 authorization server at ``https://auth.test``, fresh for the test (also
    ``apiharness_oauth_server``).

    The public client ``"app"`` is registered with redirect URI
    ``http://127.0.0.1:8765/callback``. Use ``oauth_server.upstream`` as an httpx transport, or
    ``with oauth_server.serve() as live:`` and ``live.base_url`` on a loopback socket. Faults
    go on each endpoint; unmatched requests fail the test at teardown::

        def test_refresh_survives_a_503_burst(oauth_server):
            oauth_server.inject("token", status(503).times(2))
            http = httpx.Client(transport=oauth_server.upstream)
    """
    return apiharness_oauth_server


@pytest.fixture
def webhook_sender(apiharness_webhook_sender: WebhookSenderFactory) -> WebhookSenderFactory:
    """Make senders of signed webhooks for your receiver; they are closed after the test (also
    ``apiharness_webhook_sender``).

    Takes :class:`~apiharness.webhooks.WebhookSender`'s arguments: a loopback URL or your
    ASGI/WSGI app, the provider ``scheme`` and the ``secret`` your receiver holds, and ``path``.
    ``attack()`` runs the negative catalogue (bad signature, wrong secret, stale and future
    timestamps, missing headers, re-serialised body) and a duplicate, which must be acknowledged;
    ``effects=`` (how many events the receiver has processed) adds the exactly-once check::

        def test_receiver_rejects_forgeries(webhook_sender):
            sender = webhook_sender(app, scheme="stripe", secret="whsec_test", path="/hook")
            assert sender.deliver().status_code == 200
            sender.attack(effects=lambda: len(processed)).assert_ok()
    """
    return apiharness_webhook_sender
