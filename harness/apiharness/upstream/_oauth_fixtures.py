"""The ``oauth_server`` fixture: a mock authorization server on its own mocked upstream."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from apiharness._teardown import check_at_teardown
from apiharness.upstream._authorization_server import (
    DEFAULT_CLIENT_ID,
    DEFAULT_REDIRECT_URI,
    AuthorizationServer,
)

__all__ = ["oauth_server"]


@pytest.fixture
def oauth_server(
    request: pytest.FixtureRequest, apiharness_seed: int
) -> Iterator[AuthorizationServer]:
    """A mock OAuth 2 authorization server at ``https://auth.test``, fresh for the test.

    The public client ``"app"`` is registered with redirect URI
    ``http://127.0.0.1:8765/callback``. Use ``oauth_server.upstream`` as an httpx transport, or
    ``with oauth_server.serve() as live:`` and ``live.base_url`` on a loopback socket. Faults
    go on each endpoint; unmatched requests fail the test at teardown::

        def test_refresh_survives_a_503_burst(oauth_server):
            oauth_server.inject("token", status(503).times(2))
            http = httpx.Client(transport=oauth_server.upstream)
    """
    server = AuthorizationServer(seed=apiharness_seed)
    server.register_client(DEFAULT_CLIENT_ID, redirect_uris=[DEFAULT_REDIRECT_URI])
    yield server
    check_at_teardown(request, server.upstream.verify)
