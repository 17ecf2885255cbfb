"""The ``webhook_sender`` fixture (re-exported by the plugin module)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Protocol

import pytest

from apiharness.webhooks._common import Secret
from apiharness.webhooks._sender import WebhookSender

__all__ = ["WebhookSenderFactory", "webhook_sender"]


class WebhookSenderFactory(Protocol):
    """What the ``webhook_sender`` fixture returns: a :class:`WebhookSender` constructor."""

    def __call__(
        self,
        target: str | Callable[..., Any],
        *,
        scheme: str,
        secret: Secret,
        path: str = "/",
        payload: bytes | None = None,
        tolerance: float | None = None,
    ) -> WebhookSender: ...


@pytest.fixture
def webhook_sender() -> Iterator[WebhookSenderFactory]:
    """Make senders of signed webhooks for your receiver; they are closed after the test.

    Call it with a loopback URL or your ASGI/WSGI app, the provider scheme and the secret your
    receiver holds. ``attack()`` runs the negative catalogue (bad signature, wrong secret,
    stale and future timestamps, missing headers, re-serialised body, replay)::

        def test_receiver_rejects_forgeries(webhook_sender):
            sender = webhook_sender(app, scheme="stripe", secret="whsec_test", path="/hook")
            assert sender.deliver().status_code == 200
            sender.attack().assert_ok()
    """
    senders: list[WebhookSender] = []

    def make(
        target: str | Callable[..., Any],
        *,
        scheme: str,
        secret: Secret,
        path: str = "/",
        payload: bytes | None = None,
        tolerance: float | None = None,
    ) -> WebhookSender:
        sender = WebhookSender(
            target, scheme=scheme, secret=secret, path=path, payload=payload, tolerance=tolerance
        )
        senders.append(sender)
        return sender

    yield make
    for sender in senders:
        sender.close()
