"""The ``transport`` catalogue: what a client must do below HTTP, on TLS.

Each scenario gets its own server variant (``serve=`` of :func:`scenario`): the same upstream
and journal behind a good certificate, a bad one, a handshake that never completes, or a
demand for a client certificate. The client is told to trust the session's throwaway CA
through ``SSL_CERT_FILE`` and ``REQUESTS_CA_BUNDLE`` (see :mod:`._adapter`), never by turning
verification off, and ``tls-trusts-configured-ca`` checks that it listened: a client that
fails that baseline rejects the bad certificates below for no good reason, so read their
verdicts beside it.

A bad certificate is rejected when the call raises one of the client's declared errors and
no request reached the upstream: a client with ``verify=False`` sends its request and fails.
Each kind of bad certificate is its own scenario, since each is a separate check in a client's
stack (a path to a trust anchor, the validity period, the name) that a client can get wrong
alone, for instance by pinning a certificate without checking its dates; they are declared
from one table.
"""

from __future__ import annotations

import functools
import ssl

from apiharness._causes import find_cause
from apiharness.conformance._catalogue import (
    HANG_LIMIT,
    _must_fail_typed,
    ends_in_time,
    ok,
    scenario,
)
from apiharness.conformance._resource import RESOURCE_PATH
from apiharness.conformance._trial import Trial, Verdict
from apiharness.upstream import TLSFault

__all__: list[str] = []

CATALOGUE = "transport"

RFC5280_VALIDITY = "RFC 5280 §4.1.2.5 and §6.1.3 (a)(2) (the validity period)"
RFC5280_PATH = "RFC 5280 §6.1 (a certification path must end at a trust anchor)"
RFC9525_NAME = "RFC 9525 §6 (the reference identity must match the presented one)"
RFC8446_CHAIN = "RFC 8446 §4.4.2 (the server sends the chain to its trust anchor)"
RFC8446_CLIENT_AUTH = "RFC 8446 §4.3.2 and §4.4.2 (CertificateRequest: the client's chain)"
RFC8446_HANDSHAKE = "RFC 8446 §4 (no data flows until the handshake completes)"


def _cause(error: BaseException) -> str:
    """The certificate check that failed, from the error or whatever it was raised from."""
    failed = find_cause(error, ssl.SSLCertVerificationError)
    if failed is not None and failed.verify_message:
        return f"OpenSSL: {failed.verify_message}"
    return str(error)[:120]


def _rejects(t: Trial, what: str) -> Verdict:
    """The verdict of every bad-certificate scenario: refused, typed, nothing sent."""
    t.up.get(RESOURCE_PATH).respond(ok())
    out = t.get()
    sent = t.count()
    if sent:
        return t.fail(f"accepted {what}: sent {sent} request(s) over that connection")
    if out.timed_out:
        return t.fail(out.describe())
    bad = _must_fail_typed(t, out, what)
    if bad or out.error is None:
        return bad or t.fail(out.describe())
    # Connections, not requests: a client that retries a certificate that failed its check
    # (it fails again, identically) shows here; no verdict turns on it.
    tried = t.server.accepted
    return t.ok(
        f"refused it: {type(out.error).__name__} ({_cause(out.error)}); nothing sent over "
        f"{tried} connection{'s' if tried != 1 else ''}"
    )


@scenario(
    "tls-trusts-configured-ca",
    "a GET over TLS to a server whose chain ends at the CA named by SSL_CERT_FILE "
    "(REQUESTS_CA_BUNDLE for requests) returns the resource",
    RFC5280_PATH + "; " + RFC8446_CHAIN,
    catalogue=CATALOGUE,
    serve={"https": True},
)
def _trusts_configured_ca(t: Trial) -> Verdict:
    t.up.get(RESOURCE_PATH).respond(ok())
    out = t.get()
    if out.error is not None or out.timed_out:
        cause = f" ({_cause(out.error)})" if out.error is not None else ""
        return t.fail(f"{out.describe()}{cause}: the configured CA was not trusted")
    return t.ok(f"returned after {t.count()} request(s)")


#: The bad certificates: id, what the server presents (for the statement and the verdict),
#: the variant, and the source. Each is its own check in a client's stack (a path to a trust
#: anchor, the validity period, the name), which a client can get wrong alone.
_BAD_CERTIFICATES = (
    (
        "tls-rejects-expired",
        "a server certificate whose validity ended yesterday",
        TLSFault.EXPIRED,
        RFC5280_VALIDITY,
    ),
    (
        "tls-rejects-not-yet-valid",
        "a server certificate valid only from tomorrow",
        TLSFault.NOT_YET_VALID,
        RFC5280_VALIDITY,
    ),
    (
        "tls-rejects-wrong-host",
        "a trusted certificate that does not name the host it dialled (127.0.0.1)",
        TLSFault.WRONG_HOST,
        RFC9525_NAME,
    ),
    (
        "tls-rejects-self-signed",
        "a self-signed server certificate it was not told to trust",
        TLSFault.SELF_SIGNED,
        RFC5280_PATH,
    ),
    (
        "tls-rejects-unknown-ca",
        "a server certificate issued by a CA it does not trust",
        TLSFault.UNKNOWN_CA,
        RFC5280_PATH,
    ),
    (
        "tls-rejects-incomplete-chain",
        "a leaf certificate sent without the intermediate linking it to the trusted CA",
        TLSFault.INCOMPLETE_CHAIN,
        RFC8446_CHAIN + "; " + RFC5280_PATH,
    ),
)

for _id, _what, _fault, _source in _BAD_CERTIFICATES:
    scenario(
        _id,
        f"a client refuses {_what}; no request is sent",
        _source,
        catalogue=CATALOGUE,
        serve={"tls": _fault},
    )(functools.partial(_rejects, what=_what))
del _id, _what, _fault, _source


@scenario(
    "tls-handshake-stall-bounded-8s",
    f"against a server that accepts TCP but never answers the TLS handshake, a GET ends with "
    f"the client's own error within {HANG_LIMIT:g} real seconds (retries included)",
    RFC8446_HANDSHAKE + "; AWS Builders' Library, 'Timeouts, retries and backoff with jitter'",
    wall_limit=HANG_LIMIT,
    ticking=True,
    catalogue=CATALOGUE,
    serve={"tls": TLSFault.HANDSHAKE_STALL},
)
def _handshake_stall_bounded(t: Trial) -> Verdict:
    t.up.get(RESOURCE_PATH).respond(ok())
    return ends_in_time(t, "a stalled handshake", "still in the handshake")


@scenario(
    "tls-presents-client-cert",
    "a client given a certificate (client_cert= of its factory) presents it to a server that "
    "requires one, and the GET returns the resource",
    RFC8446_CLIENT_AUTH,
    catalogue=CATALOGUE,
    serve={"tls": TLSFault.MTLS_REQUIRED},
)
def _presents_client_cert(t: Trial) -> Verdict:
    t.client_cert = t.server.client_cert_path
    t.up.get(RESOURCE_PATH).respond(ok())
    out = t.get()
    if not t.client.offered_cert:
        return t.fail(
            "its factory takes no client_cert keyword, so it was given no certificate to present"
        )
    if out.error is not None or out.timed_out:
        cause = f" ({_cause(out.error)})" if out.error is not None else ""
        return t.fail(f"{out.describe()}{cause}: the server refused it without a certificate")
    return t.ok(f"presented it; returned after {t.count()} request(s)")


# The HTTP/2 scenarios (refused streams, GOAWAY) live in their own module; importing it
# registers them in this catalogue.
from apiharness.conformance import _transport_http2  # noqa: E402, F401
