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

__all__ = ["apiharness_oauth_server"]


@pytest.fixture
def apiharness_oauth_server(
    request: pytest.FixtureRequest, apiharness_seed: int
) -> Iterator[AuthorizationServer]:
    """A mock OAuth 2 authorization server at ``https://auth.test``, fresh for the test; also
    ``oauth_server``.

    The implementation behind the short name; reachable under this one even when a
    fixture of your own takes the short name.
    """
    server = AuthorizationServer(seed=apiharness_seed)
    server.register_client(DEFAULT_CLIENT_ID, redirect_uris=[DEFAULT_REDIRECT_URI])
    yield server
    check_at_teardown(request, server.upstream.verify)
