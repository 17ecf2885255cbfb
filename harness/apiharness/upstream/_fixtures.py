"""pytest fixtures and the ``upstream`` marker for the mocked upstream.

``upstream`` is a fresh in-process :class:`Upstream` per test. ``upstream_server`` is the
same on a loopback socket: one server per session (per xdist worker, so workers never share
a port or state), cleared before each test rather than restarted, which makes it cheaper per
test than starting a server. Both verify at teardown: a request that matched no route, a
route whose ``expect=`` count was not met, or a request the loopback server refused as a
client protocol error fails the test with a message saying how to opt out;
``upstream_server`` also re-raises errors from the server thread. A test that already failed
gets these findings printed with its failure instead of a second error.

The marker declares the upstream without code::

    @pytest.mark.upstream(
        {"GET /users/{id}": respond(200, json={"id": 1}),
         "POST /charges": [status(503), respond(201)]},
        allow_unmatched=True,
    )
    def test_client(upstream): ...
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

import pytest

from apiharness._teardown import check_at_teardown
from apiharness.errors import DeclarationError
from apiharness.upstream._server import LoopbackServer
from apiharness.upstream._tls import TLSCertificates, TLSFault
from apiharness.upstream._upstream import Upstream

__all__ = [
    "apiharness_tls_certificates",
    "apiharness_tls_server",
    "apiharness_upstream",
    "apiharness_upstream_server",
    "apply_marker",
    "check_marker_is_used",
    "upstream_session_server",
]

_OPTIONS = ("allow_unmatched", "check_expectations", "allow_rejected", "base_url")


def _declare(up: Upstream, routes: object) -> None:
    if not isinstance(routes, Mapping):
        raise DeclarationError(
            f"@pytest.mark.upstream takes mappings of 'METHOD /path' to behaviours, got "
            f"{routes!r}; e.g. @pytest.mark.upstream({{'GET /users/1': respond(200)}})"
        )
    for spec, script in routes.items():
        method, _, path = str(spec).partition(" ")
        if not path:
            raise DeclarationError(
                f"@pytest.mark.upstream route {spec!r} must read 'METHOD /path', e.g. 'GET /users'"
            )
        steps = script if isinstance(script, list | tuple) else [script]
        up.route(method, path.strip()).respond(*steps)


def check_marker_is_used(item: pytest.Item) -> None:
    """An ``upstream`` marker on a test that asks for neither fixture declares routes that no
    upstream serves: the test would talk to whatever its client reaches instead.

    Only a marker on the test itself counts; one on a class or module may cover tests that do
    not all use the upstream.
    """
    marked = any(marker.name == "upstream" for marker in item.own_markers)
    # The short names ask for these, so the closure holds them whichever name the test used.
    used = {"apiharness_upstream", "apiharness_upstream_server"}
    if marked and not used & set(getattr(item, "fixturenames", ())):
        raise DeclarationError(
            f"{item.name} is marked @pytest.mark.upstream but uses neither the `upstream` nor "
            "the `upstream_server` fixture, so nothing serves its routes; add one of them as "
            "an argument of the test, or remove the marker"
        )


def apply_marker(up: Upstream, node: pytest.Item, *, served: bool) -> None:
    """Declare on ``up`` what the test's ``upstream`` markers say (closest marker last)."""
    for marker in reversed(list(node.iter_markers("upstream"))):
        unknown = set(marker.kwargs) - set(_OPTIONS)
        if unknown:
            raise DeclarationError(
                f"@pytest.mark.upstream got unknown option(s) {sorted(unknown)}; "
                f"it accepts {', '.join(_OPTIONS)}"
            )
        for name in ("allow_unmatched", "check_expectations", "allow_rejected"):
            if name in marker.kwargs:
                value = marker.kwargs[name]
                if not isinstance(value, bool):
                    raise DeclarationError(f"@pytest.mark.upstream({name}=...) takes a bool")
                setattr(up, name, value)
        if "base_url" in marker.kwargs:
            if served:
                raise DeclarationError(
                    "@pytest.mark.upstream(base_url=...) applies to the in-process `upstream` "
                    "fixture; a served upstream's URL is the loopback server's"
                )
            up.base_url = marker.kwargs["base_url"]
        for routes in marker.args:
            _declare(up, routes)


@pytest.fixture
def apiharness_upstream(request: pytest.FixtureRequest, apiharness_seed: int) -> Iterator[Upstream]:
    """An in-process mocked upstream for this test (``https://api.test``); also ``upstream``.

    The implementation behind the short name; reachable under this one even when a
    fixture of your own takes the short name.
    """
    up = Upstream(seed=apiharness_seed)
    apply_marker(up, request.node, served=False)
    yield up
    check_at_teardown(request, up.verify)


@pytest.fixture(scope="session")
def upstream_session_server() -> Iterator[LoopbackServer]:
    """The session's loopback server (one per xdist worker); tests use ``upstream_server``."""
    up = Upstream(base_url="http://127.0.0.1")
    server = LoopbackServer(up).start()
    up.base_url = server.url
    yield server
    server.stop()


@pytest.fixture
def apiharness_upstream_server(
    request: pytest.FixtureRequest,
    upstream_session_server: LoopbackServer,
    apiharness_seed: int,
) -> Iterator[Upstream]:
    """A mocked upstream on ``http://127.0.0.1:PORT``, cleared for this test; also
    ``upstream_server``.

    The implementation behind the short name; reachable under this one even when a
    fixture of your own takes the short name.
    """
    server = upstream_session_server
    up = server.upstream
    server.check()  # never blame this test for a previous one's leftovers
    up.reset()
    up.seed, up.allow_unmatched, up.check_expectations = apiharness_seed, False, True
    up.allow_rejected = False
    apply_marker(up, request.node, served=True)
    yield up
    try:
        check_at_teardown(request, server.check, up.verify)
    finally:
        up.reset()


@pytest.fixture(scope="session")
def apiharness_tls_certificates(
    tmp_path_factory: pytest.TempPathFactory,
) -> TLSCertificates:
    """The session's throwaway PKI (one per xdist worker), in the session's temp folder; also
    ``tls_certificates``."""
    return TLSCertificates(tmp_path_factory.mktemp("apiharness-tls"))


@pytest.fixture
def apiharness_tls_server(
    request: pytest.FixtureRequest,
    apiharness_upstream: Upstream,
    apiharness_tls_certificates: TLSCertificates,
) -> Iterator[Callable[[TLSFault | str | None], LoopbackServer]]:
    """Serve this test's ``upstream`` over TLS, good or faulty; also ``tls_server``.

    The implementation behind the short name; reachable under this one even when a
    fixture of your own takes the short name.
    """
    servers: list[LoopbackServer] = []

    def serve(tls: TLSFault | str | None = None) -> LoopbackServer:
        server = apiharness_upstream.serve(
            https=True, tls=tls, certificates=apiharness_tls_certificates
        )
        servers.append(server.start())
        return server

    yield serve
    try:
        check_at_teardown(request, *(server.check for server in servers))
    finally:
        for server in servers:
            server.stop()
