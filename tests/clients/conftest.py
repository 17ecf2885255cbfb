"""Fixtures for the client tests: run a request through a sync or an async httpx client."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from _client_script import Runner


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    """Which httpx client the test runs with: "sync" or "async"."""
    return str(request.param)


@pytest.fixture
def run(kind: str) -> Runner:
    """``run(transport, method, url, **kwargs)`` through an httpx.Client or AsyncClient."""
    if kind == "sync":

        def sync(transport: Any, method: str, url: str, **kwargs: Any) -> httpx.Response:
            with httpx.Client(transport=transport) as client:
                return client.request(method, url, **kwargs)

        return sync

    def in_loop(transport: Any, method: str, url: str, **kwargs: Any) -> httpx.Response:
        async def main() -> httpx.Response:
            async with httpx.AsyncClient(transport=transport) as client:
                return await client.request(method, url, **kwargs)

        return asyncio.run(main())

    return in_loop
