"""Receivers under test, written as users write them: one correct (Starlette), one naive (Flask)."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from flask import Flask, request
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from apiharness.webhooks import (
    MemoryDedupStore,
    WebhookDuplicate,
    WebhookVerificationError,
    github,
    shopify,
    slack,
    standard,
    stripe,
    twilio,
)


def correct_app(scheme: str, secret: Any) -> Starlette:
    """Verifies the raw body with apiharness, 400 on a verification error, 200 on a duplicate."""
    seen = MemoryDedupStore()

    def check(body: bytes, req: Request) -> None:
        headers = req.headers
        if scheme == "stripe":
            stripe.verify(body, headers, secret)
        elif scheme == "github":
            github.verify(body, headers, secret, dedup=seen)
        elif scheme == "standard":
            standard.verify(body, headers, secret, dedup=seen)
        elif scheme == "slack":
            slack.verify(body, headers, secret)
        elif scheme == "shopify":
            shopify.verify(body, headers, secret, dedup=seen)
        else:
            twilio.verify(body, headers, secret, url=str(req.url))

    async def hook(req: Request) -> PlainTextResponse:
        body = await req.body()
        try:
            check(body, req)
        except WebhookDuplicate:
            return PlainTextResponse("already received")
        except WebhookVerificationError:
            return PlainTextResponse("rejected", status_code=400)
        return PlainTextResponse("ok")

    return Starlette(routes=[Route("/hook", hook, methods=["POST"])])


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
