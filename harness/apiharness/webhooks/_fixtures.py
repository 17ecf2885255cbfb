"""The ``webhook_sender`` fixture (re-exported by the plugin module)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from apiharness.webhooks._sender import WebhookSender, WebhookSenderFactory

__all__ = ["apiharness_webhook_sender"]


@pytest.fixture
def apiharness_webhook_sender() -> Iterator[WebhookSenderFactory]:
    """Make senders of signed webhooks for your receiver, closed after the test; also
    ``webhook_sender``.

    The implementation behind the short name; reachable under this one even when a
    fixture of your own takes the short name.
    """
    senders: list[WebhookSender] = []

    def make(*args: Any, **kwargs: Any) -> WebhookSender:
        sender = WebhookSender(*args, **kwargs)
        senders.append(sender)
        return sender

    yield make
    for sender in senders:
        sender.close()
