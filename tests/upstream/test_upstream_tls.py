"""TLS fault variants over real sockets, judged by real clients: the stdlib ssl module, httpx
and requests each see the failure OpenSSL reports for that certificate, no request reaches
the journal, and the same upstream answers once verification is off."""

from __future__ import annotations

import os
import socket
import ssl
import tempfile
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import requests

from apiharness.errors import ConfigurationError
from apiharness.upstream import (
    LoopbackServer,
    TLSCertificates,
    TLSFault,
    Upstream,
    respond,
)

Serve = Callable[[TLSFault | str | None], LoopbackServer]

# What OpenSSL 3 says about each certificate (X509_verify_cert_error_string), with its code.
BAD_CERTIFICATES = {
    TLSFault.EXPIRED: (10, "certificate has expired"),
    TLSFault.NOT_YET_VALID: (9, "certificate is not yet valid"),
    TLSFault.WRONG_HOST: (64, "IP address mismatch, certificate is not valid for '127.0.0.1'."),
    TLSFault.SELF_SIGNED: (18, "self-signed certificate"),
    TLSFault.UNKNOWN_CA: (20, "unable to get local issuer certificate"),
    TLSFault.INCOMPLETE_CHAIN: (20, "unable to get local issuer certificate"),
}


def stdlib_get(server: LoopbackServer, context: ssl.SSLContext, timeout: float = 5) -> bytes:
    """GET /x with nothing but the ssl module; the whole answer."""
    with (
        socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        tls.sendall(b"GET /x HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        chunks = []
        while chunk := tls.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.fixture
def answering(upstream: Upstream) -> Upstream:
    upstream.get("/x").respond(respond(200, json={"ok": True}))
    return upstream


@pytest.mark.parametrize("fault", list(BAD_CERTIFICATES))
def test_every_client_refuses_a_bad_certificate_and_sends_nothing(
    answering: Upstream, tls_server: Serve, fault: TLSFault
) -> None:
    code, message = BAD_CERTIFICATES[fault]
    server = tls_server(fault.value)
    with pytest.raises(ssl.SSLCertVerificationError) as caught:
        stdlib_get(server, server.ssl_context())
    assert (caught.value.verify_code, caught.value.verify_message) == (code, message)
    with pytest.raises(httpx.ConnectError, match=message.replace(".", r"\.")):
        httpx.get(server.base_url + "/x", verify=server.ssl_context(), timeout=5)
    with pytest.raises(requests.exceptions.SSLError, match="CERTIFICATE_VERIFY_FAILED"):
        requests.get(server.base_url + "/x", verify=server.ca_path, timeout=5)
    assert len(answering.journal) == 0
    # The same routes and journal behind the bad certificate, for a client that does not check.
    assert httpx.get(server.base_url + "/x", verify=False, timeout=5).json() == {"ok": True}
    assert [e.path for e in answering.journal] == ["/x"]


def test_the_good_server_passes_where_the_bad_ones_fail(
    answering: Upstream, tls_server: Serve
) -> None:
    """Its leaf comes from an intermediate, sent along: a client trusting only the root
    builds the path (the incomplete-chain variant, without the intermediate, fails)."""
    server = tls_server(None)
    assert stdlib_get(server, server.ssl_context()).startswith(b"HTTP/1.1 200")
    assert httpx.get(server.base_url + "/x", verify=server.ssl_context(), timeout=5).is_success
    assert requests.get(server.base_url + "/x", verify=server.ca_path, timeout=5).ok
    assert len(answering.journal) == 3


def test_a_stalled_handshake_accepts_tcp_and_never_answers(
    answering: Upstream, tls_server: Serve
) -> None:
    server = tls_server(TLSFault.HANDSHAKE_STALL)
    assert server.base_url.startswith("https://")
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw:
        raw.settimeout(0.3)
        raw.sendall(b"\x16\x03\x01\x00\x05hello")  # a record header and some bytes
        with pytest.raises(TimeoutError):
            raw.recv(1)  # accepted, read, never answered
    with pytest.raises(TimeoutError, match="handshake operation timed out"):
        stdlib_get(server, server.ssl_context(), timeout=0.3)
    with pytest.raises(httpx.ConnectTimeout):
        httpx.get(server.base_url + "/x", verify=server.ssl_context(), timeout=0.3)
    with pytest.raises(requests.exceptions.Timeout):
        requests.get(server.base_url + "/x", verify=server.ca_path, timeout=0.3)
    assert len(answering.journal) == 0


def test_mutual_tls_refuses_a_missing_or_wrong_client_certificate(
    answering: Upstream, tls_server: Serve, tls_certificates: TLSCertificates
) -> None:
    server = tls_server("mtls-required")
    good, wrong = tls_certificates.client_cert_path, tls_certificates.wrong_client_cert_path
    assert server.client_cert_path == good
    for cert in (None, wrong):
        # TLS 1.3: the client finishes first, so the refusal arrives as the request is sent:
        # the server drops the connection without an answer.
        assert stdlib_get(server, server.ssl_context(cert=cert)) == b""
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError, httpx.ConnectError)):
            httpx.get(server.base_url + "/x", verify=server.ssl_context(cert=cert), timeout=5)
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.get(server.base_url + "/x", verify=server.ca_path, cert=cert, timeout=5)
    assert len(answering.journal) == 0
    assert stdlib_get(server, server.ssl_context(cert=good)).startswith(b"HTTP/1.1 200")
    # httpx 0.28 takes the client certificate in its SSL context (cert= is deprecated).
    with httpx.Client(verify=server.ssl_context(cert=good)) as http:
        assert http.get(server.base_url + "/x").is_success
    assert requests.get(server.base_url + "/x", verify=server.ca_path, cert=good, timeout=5).ok
    assert len(answering.journal) == 3


@pytest.mark.parametrize("bad", ["expird", "", 3, "https"])
def test_a_bad_tls_option_names_the_choices(bad: object) -> None:
    with pytest.raises(ConfigurationError, match=r"not a TLS fault; choose one of 'expired'"):
        Upstream().serve(tls=bad)  # type: ignore[arg-type]


def test_tls_names_are_forgiving_about_case_and_underscores() -> None:
    assert Upstream().serve(tls="NOT_YET_VALID").tls is TLSFault.NOT_YET_VALID


def test_certificates_must_be_tls_certificates() -> None:
    with pytest.raises(ConfigurationError, match="certificates= takes"):
        Upstream().serve(https=True, certificates="ca.pem")  # type: ignore[arg-type]


def test_ca_path_needs_a_started_tls_server() -> None:
    with pytest.raises(ConfigurationError, match="https=True or tls="):
        _ = Upstream().serve(tls="expired").ca_path


def test_certificates_are_written_only_into_their_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing lands in the system's temp folder: trustme's own temp files are not used."""
    system_tmp = tmp_path / "system-tmp"
    system_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(system_tmp))
    certificates = TLSCertificates(tmp_path / "session")
    up = Upstream()
    up.get("/x").respond(respond(200))
    for fault in [None, *TLSFault]:
        with up.serve(https=True, tls=fault, certificates=certificates):
            pass
    assert list(system_tmp.iterdir()) == []
    written = {p.name for p in (tmp_path / "session").iterdir()}
    assert {"ca.pem", "client.pem", "wrong-client.pem", "server-good.pem"} <= written
    assert "server-expired.pem" in written


def test_the_session_certificates_live_in_the_session_temp_folder(
    tls_certificates: TLSCertificates, tmp_path_factory: pytest.TempPathFactory
) -> None:
    assert tls_certificates.directory.is_relative_to(tmp_path_factory.getbasetemp())
    assert os.path.exists(tls_certificates.ca_path)


def test_a_server_removes_the_certificates_it_made_but_not_shared_ones(
    tls_certificates: TLSCertificates,
) -> None:
    up = Upstream()
    with up.serve(tls="expired") as server:
        own = server.ca_path
    assert not os.path.exists(own)
    with up.serve(tls="expired", certificates=tls_certificates) as server:
        assert server.ca_path == tls_certificates.ca_path
    assert os.path.exists(tls_certificates.ca_path)
