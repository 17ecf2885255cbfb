"""The ``webhook_sender`` fixture (re-exported by the plugin module)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeAlias

import pytest

from apiharness.webhooks._sender import WebhookSender

__all__ = ["WebhookSenderFactory", "webhook_sender"]

#: What the ``webhook_sender`` fixture gives: :class:`WebhookSender`'s constructor, tracked.
WebhookSenderFactory: TypeAlias = Callable[..., WebhookSender]


@pytest.fixture
def webhook_sender() -> Iterator[WebhookSenderFactory]:
    """Make senders of signed webhooks for your receiver; they are closed after the test.

    Takes :class:`~apiharness.webhooks.WebhookSender`'s arguments: a loopback URL or your
    ASGI/WSGI app, the provider ``scheme`` and the ``secret`` your receiver holds, and ``path``.
    ``attack()`` runs the negative catalogue (bad signature, wrong secret, stale and future
    timestamps, missing headers, re-serialised body) and a duplicate, which must be acknowledged;
    ``effects=`` (how many events the receiver has processed) adds the exactly-once check::

        def test_receiver_rejects_forgeries(webhook_sender):
            sender = webhook_sender(app, scheme="stripe", secret="whsec_test", path="/hook")
            assert sender.deliver().status_code == 200
            sender.attack(effects=lambda: len(processed)).assert_ok()
    """
    senders: list[WebhookSender] = []

    def make(*args: Any, **kwargs: Any) -> WebhookSender:
        sender = WebhookSender(*args, **kwargs)
        senders.append(sender)
        return sender

    yield make
    for sender in senders:
        sender.close()
