"""``resilient_client`` hands the transport options (``verify``, ``cert`` …) to its inner
transport: httpx ignores them on a ``Client`` that is given a transport. A certificate that
fails verification is not retried (it fails identically each time); a stalled handshake is."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest

from apiharness.clients import (
    Backoff,
    RetryPolicy,
    RetryScheduled,
    async_resilient_client,
    resilient_client,
)
from apiharness.errors import RetryExhausted
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


# Short real sleeps: a client that retried would make all four attempts within the test.
QUICK = RetryPolicy(Backoff(base=0.01, cap=0.02), max_attempts=4)
#: What OpenSSL says about each (its X509_verify_cert_error_string).
REFUSED = {
    TLSFault.EXPIRED: "certificate has expired",
    TLSFault.NOT_YET_VALID: "certificate is not yet valid",
    TLSFault.WRONG_HOST: "IP address mismatch",
    TLSFault.SELF_SIGNED: "self-signed certificate",
    TLSFault.UNKNOWN_CA: "unable to get local issuer certificate",
    TLSFault.INCOMPLETE_CHAIN: "unable to get local issuer certificate",
}


@pytest.mark.parametrize("fault", list(REFUSED))
def test_a_failed_certificate_check_is_not_retried(
    upstream: Upstream, tls_server: Serve, fault: TLSFault
) -> None:
    upstream.get("/x").respond(respond(200))
    server = tls_server(fault)
    events: list[object] = []
    verify = server.ssl_context()
    with (
        resilient_client(server.base_url, verify=verify, retry=QUICK, on_event=events.append) as h,
        pytest.raises(httpx.ConnectError, match=REFUSED[fault]),
    ):
        h.get("/x")

    async def get() -> None:
        async with async_resilient_client(
            server.base_url, verify=verify, retry=QUICK, on_event=events.append
        ) as http:
            await http.get("/x")

    with pytest.raises(httpx.ConnectError, match=REFUSED[fault]):
        asyncio.run(get())
    assert server.accepted == 2  # one connection each, sync and async
    assert not [e for e in events if isinstance(e, RetryScheduled)]
    assert len(upstream.journal) == 0


def test_a_stalled_handshake_is_still_retried(upstream: Upstream, tls_server: Serve) -> None:
    """The same path with a transient TLS failure: every attempt reaches the server."""
    server = tls_server(TLSFault.HANDSHAKE_STALL)
    events: list[object] = []
    with (
        resilient_client(
            server.base_url,
            verify=server.ssl_context(),
            retry=QUICK,
            timeout=0.2,
            on_event=events.append,
        ) as http,
        pytest.raises(RetryExhausted, match="ConnectTimeout, ConnectTimeout"),
    ):
        http.get("/x")
    assert server.accepted == QUICK.max_attempts
    assert len([e for e in events if isinstance(e, RetryScheduled)]) == QUICK.max_attempts - 1
