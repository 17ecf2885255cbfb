"""TLS for the loopback server: a throwaway PKI, made per session, and its fault variants.

:class:`TLSCertificates` holds a session's certificates, all made by trustme (which builds on
cryptography): a root CA that clients are told to trust, an intermediate CA under it that
issues the good server certificate (sent with its chain, so a client must build a path of two
links), an *unknown* CA that no client trusts, and client certificates for mutual TLS. Every
file it writes goes into the one folder it is given (under pytest: the session's temp folder);
keys and certificates never touch the system's temp folder, so ``load_cert_chain`` is pointed
at PEM files written there rather than at trustme's own temporary files.

:class:`TLSFault` names what a server variant gets wrong. :meth:`TLSCertificates.server_context`
makes the server-side :class:`ssl.SSLContext` of each, once per session:

=====================  ======================================================================
``expired``            leaf valid from two days ago until yesterday (RFC 5280 §4.1.2.5)
``not-yet-valid``      leaf valid from tomorrow (RFC 5280 §4.1.2.5)
``wrong-host``         leaf for ``wrong-host.apiharness.test`` only, no 127.0.0.1 (RFC 9525 §6)
``self-signed``        the unknown CA's own self-signed certificate served as the leaf
``unknown-ca``         leaf for 127.0.0.1 issued by a CA no client trusts (RFC 5280 §6.1)
``incomplete-chain``   the good leaf without its intermediate (RFC 8446 §4.4.2)
``handshake-stall``    TCP accepted, the ClientHello read and never answered
``mtls-required``      good certificate; the server demands a client certificate issued by
                       the session's root CA (RFC 8446 §4.3.2) and refuses the handshake
                       without one
=====================  ======================================================================

Only the TLS layer differs: routes, behaviours and journal are the upstream's, whichever
variant serves it.
"""

from __future__ import annotations

import contextlib
import datetime
import enum
import os
import shutil
import ssl
import tempfile
import threading
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from apiharness._io import atomic_write
from apiharness.errors import ConfigurationError

if TYPE_CHECKING:
    import trustme

__all__ = ["TLSCertificates", "TLSFault", "parse_tls_fault"]

#: The names the server answers to; the good certificate covers both.
SERVER_NAMES = ("127.0.0.1", "localhost")
WRONG_HOST = "wrong-host.apiharness.test"
CLIENT_NAME = "client.apiharness.test"


class TLSFault(enum.StrEnum):
    """What a TLS server variant gets wrong (``up.serve(tls=TLSFault.EXPIRED)`` or
    ``up.serve(tls="expired")``)."""

    EXPIRED = "expired"
    NOT_YET_VALID = "not-yet-valid"
    WRONG_HOST = "wrong-host"
    SELF_SIGNED = "self-signed"
    UNKNOWN_CA = "unknown-ca"
    INCOMPLETE_CHAIN = "incomplete-chain"
    HANDSHAKE_STALL = "handshake-stall"
    MTLS_REQUIRED = "mtls-required"


def parse_tls_fault(value: object) -> TLSFault:
    """``value`` as a :class:`TLSFault`, or a :class:`ConfigurationError` naming the choices."""
    if isinstance(value, TLSFault):
        return value
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return TLSFault(value.strip().lower().replace("_", "-"))
    choices = ", ".join(repr(f.value) for f in TLSFault)
    raise ConfigurationError(
        f"tls={value!r} is not a TLS fault; choose one of {choices} "
        "(or a TLSFault member), or use https=True for a server with a good certificate"
    )


def _trustme() -> ModuleType:
    try:
        import trustme
    except ImportError:  # pragma: no cover - trustme ships with the dev and https extras
        raise ConfigurationError(
            "TLS servers need trustme: pip install 'apiharness[https]'"
        ) from None
    return trustme


class TLSCertificates:
    """A session's throwaway PKI: CAs, server certificates per fault, client certificates.

    ``directory`` receives every PEM file (made when missing); without one, a private temp
    folder is made and :meth:`cleanup` removes it. Under pytest the session fixture
    ``tls_certificates`` uses the session's temp folder. Paths a client needs:

    * :attr:`ca_path` — the root CA to trust (``verify=`` for requests, ``SSL_CERT_FILE``);
    * :attr:`client_cert_path` — key and certificate chain of a client the mTLS variant
      accepts (``cert=`` for httpx and requests, ``load_cert_chain`` for ssl);
    * :attr:`wrong_client_cert_path` — the same from the unknown CA, which it refuses.
    """

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        make = _trustme()
        self._owned = directory is None
        self.directory = Path(directory or tempfile.mkdtemp(prefix="apiharness-tls-"))
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._contexts: dict[TLSFault | None, ssl.SSLContext] = {}
        self.ca: trustme.CA = make.CA()
        self.intermediate: trustme.CA = self.ca.create_child_ca()
        self.unknown_ca: trustme.CA = make.CA()
        self.ca_path = self._write("ca.pem", self.ca.cert_pem.bytes())
        self.client_cert_path = self._write(
            "client.pem", self.ca.issue_cert(CLIENT_NAME).private_key_and_cert_chain_pem.bytes()
        )
        self.wrong_client_cert_path = self._write(
            "wrong-client.pem",
            self.unknown_ca.issue_cert(CLIENT_NAME).private_key_and_cert_chain_pem.bytes(),
        )

    def _write(self, name: str, data: bytes) -> str:
        path = str(self.directory / name)
        atomic_write(path, data, private=True)  # private keys among them
        return path

    def _server_pem(self, fault: TLSFault | None) -> bytes:
        """Key and certificate chain, PEM, of the server variant for ``fault``."""
        now = datetime.datetime.now(datetime.UTC)
        day = datetime.timedelta(days=1)
        issuer = self.intermediate
        leaf: trustme.LeafCert
        if fault is TLSFault.SELF_SIGNED:
            return self.unknown_ca.private_key_pem.bytes() + self.unknown_ca.cert_pem.bytes()
        if fault is TLSFault.UNKNOWN_CA:
            return self.unknown_ca.issue_cert(*SERVER_NAMES).private_key_and_cert_chain_pem.bytes()
        if fault is TLSFault.EXPIRED:
            leaf = issuer.issue_cert(*SERVER_NAMES, not_before=now - 2 * day, not_after=now - day)
        elif fault is TLSFault.NOT_YET_VALID:
            leaf = issuer.issue_cert(*SERVER_NAMES, not_before=now + day, not_after=now + 2 * day)
        elif fault is TLSFault.WRONG_HOST:
            leaf = issuer.issue_cert(WRONG_HOST)
        else:
            leaf = issuer.issue_cert(*SERVER_NAMES)
        if fault is TLSFault.INCOMPLETE_CHAIN:  # the leaf alone: its issuer is left out
            return leaf.private_key_pem.bytes() + leaf.cert_chain_pems[0].bytes()
        return leaf.private_key_and_cert_chain_pem.bytes()

    def server_context(self, fault: TLSFault | None = None) -> ssl.SSLContext:
        """The server-side context of the variant ``fault`` (None: the good server); made once.

        ``handshake-stall`` has none: that variant never speaks TLS.
        """
        if fault is TLSFault.HANDSHAKE_STALL:
            raise ConfigurationError("the handshake-stall variant has no TLS context")
        with self._lock:
            context = self._contexts.get(fault)
            if context is None:
                name = f"server-{fault.value if fault else 'good'}.pem"
                path = self._write(name, self._server_pem(fault))
                context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
                context.load_cert_chain(path)
                if fault is TLSFault.MTLS_REQUIRED:
                    context.verify_mode = ssl.CERT_REQUIRED
                    context.load_verify_locations(cadata=self.ca.cert_pem.bytes().decode())
                self._contexts[fault] = context
            return context

    def client_context(self, *, cert: str | None = None) -> ssl.SSLContext:
        """A client context trusting the session's root CA, presenting ``cert`` if given."""
        context = ssl.create_default_context(cafile=self.ca_path)
        if cert is not None:
            context.load_cert_chain(cert)
        return context

    def cleanup(self) -> None:
        """Remove the folder, if this object made it."""
        if self._owned:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __repr__(self) -> str:
        return f"<TLSCertificates in {self.directory}>"
