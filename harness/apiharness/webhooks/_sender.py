"""The signed-webhook sender: delivers real deliveries to a receiver, then attacks it.

A :class:`WebhookSender` signs deliveries the way the provider does and sends them to the
receiver under test — a loopback URL, or an ASGI/WSGI app in-process through httpx's
``ASGITransport``/``WSGITransport``. :meth:`WebhookSender.attack` runs the negative catalogue
(bad signature, wrong secret, stale and future timestamps, missing headers, re-serialised body)
and a duplicated delivery after one valid delivery; :meth:`WebhookSender.chaos` delivers as
providers do (see :mod:`._chaos`). Both return a :class:`~._report.SenderReport`; with an
``effects`` probe they judge what the receiver processed as well as what it answered.

Timestamps come from the active clock, so under the ``clock`` fixture the sender and an
in-process receiver agree on virtual time.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import inspect
import ipaddress
import json
import secrets
import threading
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias, TypeVar
from urllib.parse import urlsplit

from apiharness._stacks import httpx
from apiharness._urls import shown_url
from apiharness.clock import get_clock
from apiharness.errors import ConfigurationError, WebhookError
from apiharness.webhooks._chaos import run_chaos
from apiharness.webhooks._common import Secret, require_bytes, tolerance_of
from apiharness.webhooks._report import Outcome, SenderReport
from apiharness.webhooks._schemes import Scheme, scheme_named

__all__ = ["Answer", "Effects", "WebhookSender", "WebhookSenderFactory"]

#: The effects probe: how many events the receiver has processed so far (sync or async).
Effects: TypeAlias = Callable[[], int | Awaitable[int]]

_T = TypeVar("_T")
_IN_PROCESS_BASE = "http://testserver"
# Real seconds to wait for an in-process or loopback receiver to answer one delivery.
_ANSWER_TIMEOUT = 30.0
# How far outside the tolerance the stale and future deliveries are signed.
_MARGIN = 60


@dataclass(frozen=True)
class Answer:
    """One answer as the provider sees it: the status (0 if none came) and how long it took."""

    status: int
    #: Seconds by the active clock (virtual seconds under a VirtualClock).
    elapsed: float

    @property
    def acknowledged(self) -> bool:
        return 200 <= self.status < 300


class _Probe:
    """The user's effects callable, checked: it must give a count, sync or async."""

    def __init__(self, effects: Effects, sender: WebhookSender) -> None:
        self._effects = effects
        self._sender = sender

    @classmethod
    def of(cls, effects: Effects | None, sender: WebhookSender) -> _Probe | None:
        if effects is None:
            return None
        if not callable(effects):
            raise ConfigurationError(
                "webhook sender: effects= takes a callable returning how many events the "
                f"receiver has processed, e.g. lambda: len(processed); got {type(effects).__name__}"
            )
        return cls(effects, sender)

    def count(self) -> int:
        value = self._effects()
        if inspect.isawaitable(value):
            value = self._sender._run_awaitable(value)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigurationError(
                "webhook sender: effects() must return how many events the receiver has "
                f"processed, an int >= 0; it returned {value!r}"
            )
        return value


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
        response = self._request(body, headers, _ANSWER_TIMEOUT)
        if response is None:
            raise WebhookError(
                f"webhook sender: the receiver at {self.url} did not answer within "
                f"{_ANSWER_TIMEOUT:g} s"
            )
        return response

    def _request(
        self, body: bytes, headers: dict[str, str], timeout: float
    ) -> httpx.Response | None:
        """The receiver's answer, or None if none came within ``timeout`` real seconds."""
        if self._async_client is not None and self._runner is not None:
            return self._runner.run(self._arequest(body, headers, timeout))
        if self._client is None:
            raise WebhookError("webhook sender: this sender is closed")
        with self._unreachable():
            try:
                return self._client.post(
                    self.url,
                    content=body,
                    headers=_with_content_type(body, headers),
                    timeout=timeout,
                )
            except httpx.TimeoutException:
                return None

    async def _arequest(
        self,
        body: bytes,
        headers: dict[str, str],
        timeout: float,  # noqa: ASYNC109 - the same signature as _request, which it mirrors
    ) -> httpx.Response | None:
        """:meth:`_request` for the in-process ASGI app, on the sender's loop thread."""
        assert self._async_client is not None
        post = self._async_client.post(
            self.url, content=body, headers=_with_content_type(body, headers)
        )
        with self._unreachable():
            try:
                return await asyncio.wait_for(post, timeout)
            except (httpx.TimeoutException, TimeoutError):
                return None

    @contextlib.contextmanager
    def _unreachable(self) -> Iterator[None]:
        """Turn a transport failure into a WebhookError naming the receiver."""
        try:
            yield
        except httpx.TransportError as exc:
            raise WebhookError(
                f"webhook sender: could not reach the receiver at {shown_url(self.url)}: "
                f"{type(exc).__name__}"
            ) from exc

    def post(self, body: bytes, headers: dict[str, str], *, timeout: float | None = None) -> Answer:
        """Deliver once and time the answer by the active clock (status 0: no answer at all).

        ``timeout`` bounds the real wait (default: the sender's own 30 s); under virtual time
        a receiver's sleeps move the clock, so :attr:`Answer.elapsed` is in virtual seconds.
        """
        clock = get_clock()
        started = clock.monotonic()
        response = self._request(body, headers, _ANSWER_TIMEOUT if timeout is None else timeout)
        return Answer(0 if response is None else response.status_code, clock.monotonic() - started)

    def post_concurrently(self, deliveries: Sequence[tuple[bytes, dict[str, str]]]) -> list[Answer]:
        """Send every delivery at the same moment; the answers in the same order."""
        if self._async_client is not None and self._runner is not None:

            async def one(body: bytes, headers: dict[str, str]) -> Answer:
                clock = get_clock()
                started = clock.monotonic()
                response = await self._arequest(body, headers, _ANSWER_TIMEOUT)
                status = 0 if response is None else response.status_code
                return Answer(status, clock.monotonic() - started)

            async def every() -> list[Answer]:
                return list(await asyncio.gather(*(one(b, h) for b, h in deliveries)))

            return self._runner.run(every())
        # Threads for a sync client (WSGI in-process, or a loopback socket each): the barrier
        # lines the requests up so that they reach the receiver together.
        barrier = threading.Barrier(len(deliveries))

        def send_one(delivery: tuple[bytes, dict[str, str]]) -> Answer:
            barrier.wait(_ANSWER_TIMEOUT)
            return self.post(*delivery)

        with ThreadPoolExecutor(len(deliveries), "apiharness-webhook-sender") as pool:
            return list(pool.map(send_one, deliveries))

    def deliver(self, payload: bytes | None = None) -> httpx.Response:
        """Send one valid, freshly signed delivery of ``payload``.

        Without ``payload``, a new event: the sender's payload with a fresh top-level ``id``
        when it is a JSON object that has one (providers give every event its own id).
        """
        body = self.event() if payload is None else require_bytes(payload, self.scheme.name)
        return self.send(body, self.sign(body))

    # -- events and redeliveries ----------------------------------------------------------

    def event(self, kind: str | None = None) -> bytes:
        """A new event: the payload with a fresh ``id`` (and ``type`` ending in ``.kind``).

        A payload that is not a JSON object with an ``id`` is returned as it is.
        """
        parsed = _json(self.payload)
        if not isinstance(parsed, dict) or "id" not in parsed:
            return self.payload
        original = str(parsed["id"])
        prefix = original.split("_", 1)[0] + "_" if "_" in original else "evt_"
        event = {**parsed, "id": prefix + uuid.uuid4().hex}
        if kind is not None:
            base = str(parsed.get("type", "event")).rsplit(".", 1)[0]
            event["type"] = f"{base}.{kind}"
        return json.dumps(event).encode()

    @property
    def has_event_ids(self) -> bool:
        """Deliveries carry an id a receiver can recognise a redelivery by.

        A delivery-id header (GitHub, Shopify, Standard Webhooks), or an ``id`` in a JSON body
        (Stripe's and Slack's events).
        """
        parsed = _json(self.payload)
        return self.scheme.delivery_header is not None or (
            isinstance(parsed, dict) and "id" in parsed
        )

    def redelivery(self, body: bytes, headers: dict[str, str]) -> dict[str, str]:
        """The headers a provider re-sends ``body`` with: the same id, signed afresh."""
        name = self.scheme.delivery_header
        delivery_id = None if name is None else headers.get(name)
        return self.sign(body, delivery_id=delivery_id)

    # -- attacking ------------------------------------------------------------------------

    def attack(self, *, effects: Effects | None = None) -> SenderReport:
        """Run the negative catalogue and a duplicate against the receiver; report its answers.

        One valid delivery first (it must be acknowledged), then every negative case that
        applies to the scheme, each signed afresh with a new delivery id, and last one delivery
        sent twice: the copy must be acknowledged with 2xx too, and processed only once.

        ``effects`` is a callable (or coroutine function) returning how many events the
        receiver has processed so far, e.g. ``lambda: len(processed)``. With it, each case is
        also judged on what the receiver *did*: a valid delivery processed once, a forged or
        duplicated one not at all. Without it the report says exactly-once was not checked.
        """
        probe = _Probe.of(effects, self)
        report = SenderReport(self.scheme.name, self.url, effects_checked=probe is not None)
        for case, description, body, headers, should_accept in self._catalogue():
            before = probe.count() if probe is not None else 0
            status = self.post(body, headers).status
            processed = None if probe is None else probe.count() - before
            report.outcomes.append(
                Outcome(
                    case,
                    description,
                    should_accept,
                    status,
                    should_process=int(should_accept and case != "duplicate_delivery"),
                    processed=processed,
                )
            )
        return report

    def chaos(
        self,
        *,
        effects: Effects | None = None,
        cases: Sequence[str] | None = None,
        timeout: float | None = None,
        retries: Sequence[float] | None = None,
    ) -> SenderReport:
        """Deliver as providers really do, and report how the receiver coped.

        The cases, each documented by providers (``Outcome.source`` names where):

        * ``concurrent_duplicates`` — the same delivery twice at once;
        * ``out_of_order`` — an ``….updated`` event before its ``….created``;
        * ``lost_answer`` — the receiver answered, the provider never saw it and re-sends;
        * ``retry_schedule`` — on every failed attempt (not 2xx, or too late) the provider
          waits its next documented delay, in virtual time, and re-sends, until acknowledged
          or out of retries;
        * ``late_answer`` — one delivery timed against the provider's timeout (a late answer
          is a failure to the provider, which re-sends).

        Every case must end acknowledged (2xx) with each event processed once (judged when
        ``effects`` is given, as in :meth:`attack`). ``cases`` picks some (default: every case
        that applies to the scheme); ``timeout`` and ``retries`` (seconds between attempts)
        replace the provider's figures. ``retry_schedule`` waits days: it needs a
        :class:`~apiharness.clock.VirtualClock` active (the ``clock`` fixture). Example::

            sender = webhook_sender(app, scheme="standard", secret=SECRET, path="/hooks")
            sender.chaos(effects=lambda: len(processed)).assert_ok()
        """
        probe = _Probe.of(effects, self)
        report = SenderReport(self.scheme.name, self.url, effects_checked=probe is not None)
        report.outcomes.extend(run_chaos(self, probe, cases, timeout, retries))
        return report

    def _catalogue(self) -> Iterator[tuple[str, str, bytes, dict[str, str], bool]]:
        scheme = self.scheme
        body = self.event()
        yield "valid", "a correctly signed delivery", body, self.sign(body), True
        # The forgeries carry an event of their own: a receiver that processes before it
        # verifies is then caught by the effects probe, not mistaken for one deduplicating.

        body = self.event()
        headers = self.sign(body)
        headers[scheme.signature_header] = _tamper(headers[scheme.signature_header])
        yield "bad_signature", "one character of the signature changed", body, headers, False

        wrong = (
            "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
            if scheme.name == "standard"
            else "apiharness-wrong-" + secrets.token_hex(16)
        )
        body = self.event()
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
            body = self.event()
            yield (
                "stale_timestamp",
                f"signed {late:g} s in the past (tolerance {self.tolerance:g} s)",
                body,
                self.sign(body, timestamp=now - late),
                False,
            )
            body = self.event()
            yield (
                "future_timestamp",
                f"signed {late:g} s in the future (tolerance {self.tolerance:g} s)",
                body,
                self.sign(body, timestamp=now + late),
                False,
            )

        for name in scheme.required_headers:
            body = self.event()
            headers = self.sign(body)
            headers = {k: v for k, v in headers.items() if k.lower() != name.lower()}
            yield f"missing_{name}", f"the {name} header left out", body, headers, False

        body = self.event()
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

        if self.has_event_ids:
            # Providers deliver at least once, and a captured delivery may be replayed: either
            # way the copy verifies, must be acknowledged (or it is re-sent for days) and must
            # not be processed again. With a delivery-id header the copy is byte for byte the
            # same; an id only in the body (Stripe) comes back signed afresh, as Stripe retries.
            body = self.event()
            headers = self.sign(body)
            if scheme.delivery_header is not None:
                copy, what = headers, f"the same delivery ({scheme.delivery_header}) sent again"
            else:
                copy, what = self.redelivery(body, headers), "the same event (its id) sent again"
            yield "duplicate_original", "a fresh delivery, sent once", body, headers, True
            yield "duplicate_delivery", f"{what}: acknowledge it", body, copy, True

    def _run_awaitable(self, awaitable: Awaitable[_T]) -> _T:
        """Await ``awaitable`` on the sender's loop thread (an async effects probe)."""
        if self._runner is None:
            self._runner = _LoopThread()

        async def wait() -> _T:
            return await awaitable

        return self._runner.run(wait())

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


def _with_content_type(body: bytes, headers: dict[str, str]) -> dict[str, str]:
    """``headers`` with the Content-Type the provider sends ``body`` with."""
    json_body = _json(body) is not None
    kind = "application/json" if json_body else "application/x-www-form-urlencoded"
    return {"Content-Type": kind, **headers}


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


#: What the ``webhook_sender`` fixture gives: :class:`WebhookSender`'s constructor, tracked.
WebhookSenderFactory: TypeAlias = Callable[..., WebhookSender]
