"""Receivers under test, written as users write them, on real frameworks (Starlette, Flask).

:class:`Receiver` holds what a user's receiver does — verify, deduplicate, process, answer —
with one of the classic flaws switched on or none; :func:`asgi` and :func:`wsgi` put it behind
Starlette and Flask routes. ``processed`` lists the event ids it processed: the effects probe.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Literal

import standardwebhooks
import uvicorn
from flask import Flask, request
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from werkzeug.serving import make_server

from apiharness.clock import get_clock
from apiharness.webhooks import (
    MemoryDedupStore,
    WebhookDuplicate,
    WebhookSender,
    WebhookVerificationError,
    github,
    shopify,
    slack,
    standard,
    stripe,
    twilio,
)

Flaw = Literal[
    "rejects_duplicates",  # answers 409 to a delivery it has seen: the provider re-sends it
    "processes_twice",  # no dedup store: a redelivery is processed again
    "processes_before_verifying",  # does the work first, checks the signature after
    "answers_late",  # processes inline for 30 s before answering
    "never_forgets",  # on a failure keeps the claimed id, so the retry is acked unprocessed
    "needs_order",  # refuses an '.updated' event that comes before any '.created'
]
STANDARD_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#: Seconds the late receiver works before answering: beyond every provider's timeout.
LATE = 30.0
_WEEK = 7 * 24 * 3600.0


class Receiver:
    """One user's receiver for ``scheme``, correct unless ``flaw`` says otherwise.

    ``verifier="standardwebhooks"`` verifies with the Standard Webhooks reference library
    instead of apiharness (then deduplicates on ``webhook-id`` with the store by hand).
    ``down_until`` (epoch seconds by the active clock) makes it fail with 503 until then, as a
    receiver whose database is down would.
    """

    def __init__(
        self,
        scheme: str,
        secret: Any,
        *,
        flaw: Flaw | None = None,
        verifier: Literal["apiharness", "standardwebhooks"] = "apiharness",
    ) -> None:
        self.scheme = scheme
        self.secret = secret
        self.flaw = flaw
        self.verifier = verifier
        self.processed: list[str] = []
        self.seen = MemoryDedupStore(ttl=_WEEK)
        self.down_until = 0.0
        self.created_seen = False

    def effects(self) -> int:
        return len(self.processed)

    def _verify(self, body: bytes, headers: Mapping[str, str], url: str) -> str:
        """Verify and claim the delivery; its id. Raises WebhookDuplicate for a duplicate."""
        seen = None if self.flaw == "processes_twice" else self.seen
        if self.verifier == "standardwebhooks":
            try:
                standardwebhooks.Webhook(self.secret).verify(body, dict(headers))
            except (standardwebhooks.WebhookVerificationError, ValueError) as exc:
                raise WebhookVerificationError(str(exc)) from exc
            return self._claim(seen, headers["webhook-id"])
        scheme, secret = self.scheme, self.secret
        if scheme == "github":
            github.verify(body, headers, secret, dedup=seen)
            return headers["x-github-delivery"]
        if scheme == "standard":
            standard.verify(body, headers, secret, dedup=seen)
            return headers["webhook-id"]
        if scheme == "shopify":
            shopify.verify(body, headers, secret, dedup=seen)
            return headers["x-shopify-event-id"]
        if scheme == "stripe":
            stripe.verify(body, headers, secret)
        elif scheme == "slack":
            slack.verify(body, headers, secret)
        else:
            twilio.verify(body, headers, secret, url=url)
            return hashlib.sha256(body).hexdigest()  # Twilio's form bodies carry no event id
        # Stripe and Slack put the event id in the body: deduplicate on it.
        return self._claim(seen, json.loads(body)["id"])

    @staticmethod
    def _claim(seen: MemoryDedupStore | None, delivery_id: str) -> str:
        if seen is not None and not seen.claim(delivery_id, now=get_clock().time()):
            raise WebhookDuplicate("received before", delivery_id=delivery_id)
        return delivery_id

    def _in_order(self, body: bytes) -> bool:
        kind = str(json.loads(body).get("type", ""))
        self.created_seen |= kind.endswith(".created")
        return self.created_seen or not kind.endswith(".updated")

    def handle(self, body: bytes, headers: Mapping[str, str], url: str) -> tuple[int, float]:
        """The status to answer and the seconds of work before answering."""
        if self.flaw == "processes_before_verifying":
            self.processed.append(hashlib.sha256(body).hexdigest())
        try:
            delivery_id = self._verify(body, headers, url)
        except WebhookDuplicate:
            return (409 if self.flaw == "rejects_duplicates" else 200), 0.0
        except WebhookVerificationError:
            return 400, 0.0
        if self.flaw == "processes_before_verifying":
            return 200, 0.0
        if self.flaw == "needs_order" and not self._in_order(body):
            self.seen.forget(delivery_id)
            return 422, 0.0
        if get_clock().time() < self.down_until:
            if self.flaw != "never_forgets":
                self.seen.forget(delivery_id)  # so that the provider's retry is processed
            return 503, 0.0
        self.processed.append(delivery_id)
        return 200, (LATE if self.flaw == "answers_late" else 0.0)


def asgi(receiver: Receiver) -> Starlette:
    """``receiver`` behind a Starlette route at ``/hook``."""

    async def hook(req: Request) -> Response:
        status, work = receiver.handle(await req.body(), req.headers, str(req.url))
        await get_clock().asleep(work)
        return Response(status_code=status)

    return Starlette(routes=[Route("/hook", hook, methods=["POST"])])


def wsgi(receiver: Receiver) -> Flask:
    """``receiver`` behind a Flask route at ``/hook``."""
    app = Flask(f"receiver-{receiver.scheme}")

    @app.post("/hook")
    def hook() -> tuple[str, int]:
        status, work = receiver.handle(request.get_data(), request.headers, request.url)
        get_clock().sleep(work)
        return "", status

    return app


def serve_asgi(app: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a loopback port; yields its URL once, then stops it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(500):
        if server.started:
            break
        time.sleep(0.01)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


def serve_wsgi(app: Any) -> Iterator[str]:
    """Serve ``app`` with werkzeug's threaded server on a loopback port, like serve_asgi."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


def secret_for(scheme: str) -> str:
    """The secret the tests' receivers and senders share for ``scheme``."""
    return STANDARD_SECRET if scheme == "standard" else f"{scheme}-test-secret"


def graded(
    webhook_sender: Callable[..., WebhookSender],
    framework: Callable[[Receiver], Any],
    scheme: str,
    flaw: Flaw | None = None,
    **options: Any,
) -> tuple[Receiver, WebhookSender]:
    """A receiver for ``scheme`` behind ``framework`` (asgi or wsgi), and a sender aimed at it."""
    receiver = Receiver(scheme, secret_for(scheme), flaw=flaw, **options)
    sender = webhook_sender(
        framework(receiver), scheme=scheme, secret=secret_for(scheme), path="/hook"
    )
    return receiver, sender


def correct_app(scheme: str, secret: Any) -> Starlette:
    """The correct receiver behind Starlette (400 on a forgery, 200 on a duplicate)."""
    return asgi(Receiver(scheme, secret))


def naive_stripe_app(secret: str) -> Flask:
    """The classic mistakes: verifies re-serialised JSON, never looks at the timestamp's age."""
    app = Flask("naive")

    @app.post("/hook")
    def hook() -> tuple[str, int]:
        event = request.get_json()
        fields = dict(item.split("=", 1) for item in request.headers["Stripe-Signature"].split(","))
        signed = f"{fields['t']}.{json.dumps(event)}".encode()
        expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
        if expected != fields["v1"]:
            return "bad signature", 400
        return "ok", 200

    return app


__all__ = [
    "LATE",
    "STANDARD_SECRET",
    "Flaw",
    "Receiver",
    "asgi",
    "correct_app",
    "graded",
    "naive_stripe_app",
    "secret_for",
    "serve_asgi",
    "serve_wsgi",
    "wsgi",
]
