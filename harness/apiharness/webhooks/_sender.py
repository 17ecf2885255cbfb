"""The signed-webhook sender: delivers real deliveries to a receiver, then attacks it.

A :class:`WebhookSender` signs deliveries the way the provider does and sends them to the
receiver under test — a loopback URL, or an ASGI/WSGI app in-process through httpx's
``ASGITransport``/``WSGITransport``. :meth:`WebhookSender.attack` runs the negative catalogue
(bad signature, wrong secret, stale and future timestamps, missing headers, re-serialised body,
replayed delivery) after one valid delivery, and returns a :class:`SenderReport` saying which
deliveries the receiver wrongly accepted (a 2xx answer) or wrongly rejected.

Timestamps come from the active clock, so under the ``clock`` fixture the sender and an
in-process receiver agree on virtual time.
"""

from __future__ import annotations

import asyncio
import base64
import inspect
import ipaddress
import json
import secrets
import threading
import uuid
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

import httpx

from apiharness.clock import get_clock
from apiharness.errors import ConfigurationError, WebhookError
from apiharness.webhooks._common import Secret, require_bytes, tolerance_of
from apiharness.webhooks._schemes import Scheme, scheme_named

__all__ = ["Outcome", "SenderReport", "WebhookSender"]

_T = TypeVar("_T")
_IN_PROCESS_BASE = "http://testserver"
# Real seconds to wait for an in-process or loopback receiver to answer one delivery.
_ANSWER_TIMEOUT = 30.0
# How far outside the tolerance the stale and future deliveries are signed.
_MARGIN = 60


@dataclass(frozen=True)
class Outcome:
    """What the receiver answered to one delivery of the catalogue."""

    case: str
    description: str
    should_accept: bool
    status: int

    @property
    def accepted(self) -> bool:
        """The receiver answered 2xx: it took the delivery."""
        return 200 <= self.status < 300

    @property
    def wrong(self) -> bool:
        return self.accepted != self.should_accept


@dataclass
class SenderReport:
    """The catalogue's outcomes against one receiver."""

    scheme: str
    url: str
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def wrongly_accepted(self) -> list[str]:
        """Cases the receiver must have rejected but answered with 2xx."""
        return [o.case for o in self.outcomes if o.accepted and not o.should_accept]

    @property
    def wrongly_rejected(self) -> list[str]:
        """Valid deliveries the receiver refused."""
        return [o.case for o in self.outcomes if o.should_accept and not o.accepted]

    @property
    def server_errors(self) -> list[str]:
        """Cases answered with 5xx: rejected, but providers retry 5xx, so a forgery is resent."""
        return [o.case for o in self.outcomes if o.status >= 500]

    @property
    def ok(self) -> bool:
        return not self.wrongly_accepted and not self.wrongly_rejected

    def assert_ok(self) -> None:
        """Raise AssertionError naming every wrong answer and what to fix."""
        __tracebackhide__ = True  # the message is the report; this method's source is noise
        if self.ok:
            return
        lines = [f"the {self.scheme} receiver at {self.url} answered wrongly:"]
        lines += [
            f"  {o.case}: {o.description} -> {o.status}"
            f" ({'accepted' if o.accepted else 'rejected'}, should be "
            f"{'accepted' if o.should_accept else 'rejected'})"
            for o in self.outcomes
            if o.wrong
        ]
        lines.append(
            f"Verify the raw body bytes with apiharness.webhooks.{self.scheme}.verify() before "
            "anything else, answer 4xx when it raises WebhookVerificationError, and pass a "
            "dedup store where the scheme has delivery ids."
        )
        raise AssertionError("\n".join(lines))

    def __str__(self) -> str:
        width = max((len(o.case) for o in self.outcomes), default=4)
        rows = [f"webhook sender: {self.scheme} -> {self.url}"]
        for o in self.outcomes:
            verdict = "WRONG" if o.wrong else "ok"
            rows.append(f"  {o.case:<{width}}  {o.status:>3}  {verdict:<5}  {o.description}")
        return "\n".join(rows)


class _LoopThread:
    """An event loop in a daemon thread, so sync code can drive an ASGI app in-process."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="apiharness-webhook-sender", daemon=True
        )
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, _T]) -> _T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(_ANSWER_TIMEOUT)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=_ANSWER_TIMEOUT)
        self.loop.close()


def _is_asgi(app: object) -> bool:
    call = getattr(app, "__call__", None)  # noqa: B004 - the bound method is what we inspect
    return inspect.iscoroutinefunction(app) or inspect.iscoroutinefunction(call)


def _check_loopback(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if parts.scheme not in ("http", "https") or not loopback:
        raise ConfigurationError(
            f"webhook sender: {url!r} is not a loopback http(s) URL; the sender delivers forged "
            "webhooks, so it only targets receivers on 127.0.0.1, ::1 or localhost, or an "
            "ASGI/WSGI app passed in-process"
        )
    return url.rstrip("/")


class WebhookSender:
    """Signs deliveries like a provider and sends them to a receiver, good and forged.

    ``target`` is a loopback URL (``"http://127.0.0.1:8000"``) or an ASGI or WSGI app;
    ``path`` is appended to it. ``scheme`` names the provider (``"stripe"``, ``"github"``,
    ``"standard"``, ``"slack"``, ``"shopify"``, ``"twilio"``); ``secret`` is the one the
    receiver holds. ``payload`` defaults to a typical body for the provider. Example::

        sender = WebhookSender(app, scheme="stripe", secret="whsec_test", path="/hooks/stripe")
        assert sender.deliver().status_code == 200
        report = sender.attack()
        assert report.wrongly_accepted == []
    """

    def __init__(
        self,
        target: str | Callable[..., Any],
        *,
        scheme: str,
        secret: Secret,
        path: str = "/",
        payload: bytes | None = None,
        tolerance: float | None = None,
        app_kind: Literal["asgi", "wsgi"] | None = None,
    ) -> None:
        self.scheme: Scheme = scheme_named(scheme)
        self.payload = (
            self.scheme.example_payload if payload is None else require_bytes(payload, scheme)
        )
        default = self.scheme.tolerance
        # Schemes without a signed timestamp have no tolerance to probe.
        self.tolerance = (
            tolerance_of(default if tolerance is None else tolerance, scheme)
            if (default is not None)
            else 0.0
        )
        self._secret = secret
        if not path.startswith("/"):
            raise ConfigurationError(f"webhook sender: path must start with '/', got {path!r}")
        if isinstance(target, str):
            self.url = _check_loopback(target) + path
        elif callable(target):
            self.url = _IN_PROCESS_BASE + path
        else:
            raise ConfigurationError(
                "webhook sender: target must be a loopback URL or an ASGI/WSGI app, "
                f"got {type(target).__name__}"
            )
        self.sign(self.payload)  # refuses an unusable secret now, before any client exists
        self._runner: _LoopThread | None = None
        self._async_client: httpx.AsyncClient | None = None
        self._client: httpx.Client | None = None
        if isinstance(target, str):
            # trust_env=False: an HTTP(S)_PROXY in the environment must not see loopback traffic.
            self._client = httpx.Client(timeout=_ANSWER_TIMEOUT, trust_env=False)
        elif (app_kind or ("asgi" if _is_asgi(target) else "wsgi")) == "asgi":
            transport = httpx.ASGITransport(app=target, raise_app_exceptions=False)
            self._runner = _LoopThread()
            self._async_client = httpx.AsyncClient(transport=transport)
        else:
            self._client = httpx.Client(
                transport=httpx.WSGITransport(app=target, raise_app_exceptions=False)
            )

    def __repr__(self) -> str:
        return f"WebhookSender(scheme={self.scheme.name!r}, url={self.url!r})"

    # -- delivering -----------------------------------------------------------------------

    def sign(
        self,
        payload: bytes,
        *,
        secret: Secret | None = None,
        timestamp: float | None = None,
        delivery_id: str | None = None,
    ) -> dict[str, str]:
        """The provider's headers for ``payload`` (timestamp from the active clock)."""
        return self.scheme.sign(
            payload,
            self._secret if secret is None else secret,
            timestamp=get_clock().time() if timestamp is None else timestamp,
            delivery_id=delivery_id or f"msg_{uuid.uuid4().hex}",
            url=self.url,
        )

    def send(self, body: bytes, headers: dict[str, str]) -> httpx.Response:
        """POST ``body`` with ``headers`` (and a fitting Content-Type) to the receiver."""
        json_body = _json(body) is not None
        content_type = "application/json" if json_body else "application/x-www-form-urlencoded"
        request_headers = {"Content-Type": content_type, **headers}
        try:
            if self._async_client is not None and self._runner is not None:
                client = self._async_client
                return self._runner.run(
                    client.post(self.url, content=body, headers=request_headers)
                )
            if self._client is None:
                raise WebhookError("webhook sender: this sender is closed")
            return self._client.post(self.url, content=body, headers=request_headers)
        except httpx.TransportError as exc:
            raise WebhookError(
                f"webhook sender: could not reach the receiver at {self.url}: {exc}"
            ) from exc

    def deliver(self, payload: bytes | None = None) -> httpx.Response:
        """Send one valid, freshly signed delivery of ``payload`` (default: the sender's)."""
        body = self.payload if payload is None else require_bytes(payload, self.scheme.name)
        return self.send(body, self.sign(body))

    # -- attacking ------------------------------------------------------------------------

    def attack(self) -> SenderReport:
        """Run the negative catalogue against the receiver and report its answers.

        One valid delivery first (it must be accepted), then every negative case that applies
        to the scheme, each signed afresh with a new delivery id, and the replay last.
        """
        report = SenderReport(self.scheme.name, self.url)
        for case, description, body, headers, should_accept in self._catalogue():
            status = self.send(body, headers).status_code
            report.outcomes.append(Outcome(case, description, should_accept, status))
        return report

    def _catalogue(self) -> Iterator[tuple[str, str, bytes, dict[str, str], bool]]:
        scheme, body = self.scheme, self.payload
        yield "valid", "a correctly signed delivery", body, self.sign(body), True

        headers = self.sign(body)
        headers[scheme.signature_header] = _tamper(headers[scheme.signature_header])
        yield "bad_signature", "one character of the signature changed", body, headers, False

        wrong = (
            "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
            if scheme.name == "standard"
            else "apiharness-wrong-" + secrets.token_hex(16)
        )
        yield (
            "wrong_secret",
            "signed with another secret",
            body,
            self.sign(body, secret=wrong),
            False,
        )

        if scheme.timestamped:
            now = get_clock().time()
            late = self.tolerance + _MARGIN
            yield (
                "stale_timestamp",
                f"signed {late:g} s in the past (tolerance {self.tolerance:g} s)",
                body,
                self.sign(body, timestamp=now - late),
                False,
            )
            yield (
                "future_timestamp",
                f"signed {late:g} s in the future (tolerance {self.tolerance:g} s)",
                body,
                self.sign(body, timestamp=now + late),
                False,
            )

        for name in scheme.required_headers:
            headers = self.sign(body)
            headers = {k: v for k, v in headers.items() if k.lower() != name.lower()}
            yield f"missing_{name}", f"the {name} header left out", body, headers, False

        parsed = _json(body)
        if parsed is not None:
            reserialised = _reserialise(body, parsed)
            yield (
                "body_reserialised",
                "same JSON, different bytes, with the original body's signature",
                reserialised,
                self.sign(body),
                False,
            )

        if scheme.delivery_header is not None:
            headers = self.sign(body)
            yield "replay_original", "a fresh delivery, sent once", body, headers, True
            yield (
                "replayed_delivery",
                f"the same delivery ({scheme.delivery_header}) sent again",
                body,
                headers,
                False,
            )

    def close(self) -> None:
        """Close the HTTP client (and the event loop thread for an ASGI app)."""
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._runner is not None:
            if self._async_client is not None:
                self._runner.run(self._async_client.aclose())
                self._async_client = None
            self._runner.close()
            self._runner = None

    def __enter__(self) -> WebhookSender:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _json(body: bytes) -> object | None:
    try:
        return json.loads(body) if body[:1] in (b"{", b"[") else None
    except ValueError:
        return None


def _reserialise(body: bytes, parsed: object) -> bytes:
    """The same JSON in other bytes, as a receiver that parses and re-dumps would make it."""
    for options in ({"indent": 2}, {"separators": (",", ":")}, {"sort_keys": True, "indent": 1}):
        candidate = json.dumps(parsed, **options).encode()
        if candidate != body:
            return candidate
    return body + b"\n"


def _tamper(value: str) -> str:
    """Change the first character of the last signature in a header value.

    The first character of a hex or base64 digest carries only data bits (the last base64
    character may carry padding bits, which a decoder would ignore).
    """
    token = value.replace(",", " ").split()[-1]
    start = value.rindex(token)
    for prefix in ("sha256=", "v1=", "v0="):
        if value.startswith(prefix, start):
            start += len(prefix)
            break
    replacement = "1" if value[start] == "0" else "0"
    return value[:start] + replacement + value[start + 1 :]
