"""``resilient_client`` hands the transport options (``verify``, ``cert`` …) to its inner
transport: httpx ignores them on a ``Client`` that is given a transport."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest

from apiharness.clients import async_resilient_client, resilient_client
from apiharness.upstream import LoopbackServer, TLSFault, Upstream, respond

Serve = Callable[[TLSFault | str | None], LoopbackServer]


@pytest.fixture
def mtls(upstream: Upstream, tls_server: Serve) -> LoopbackServer:
    upstream.get("/x").respond(respond(200, json={"ok": True}))
    return tls_server("mtls-required")


def test_verify_with_a_client_certificate_reaches_a_mutual_tls_server(
    mtls: LoopbackServer,
) -> None:
    context = mtls.ssl_context(cert=mtls.client_cert_path)
    with resilient_client(mtls.base_url, verify=context, retry=None) as http:
        assert http.get("/x").json() == {"ok": True}
    # Without it, the default trust store does not know the session's CA: refused.
    with (
        resilient_client(mtls.base_url, retry=None) as http,
        pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"),
    ):
        http.get("/x")


def test_the_async_client_takes_them_too(mtls: LoopbackServer) -> None:
    context = mtls.ssl_context(cert=mtls.client_cert_path)

    async def get() -> object:
        async with async_resilient_client(mtls.base_url, verify=context, retry=None) as http:
            return (await http.get("/x")).json()

    assert asyncio.run(get()) == {"ok": True}
