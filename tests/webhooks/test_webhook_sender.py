"""The sender tells a correct receiver from a naive one, in-process and over loopback."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from webhook_receivers import correct_app, naive_stripe_app

from apiharness import ConfigurationError
from apiharness.webhooks import (
    InvalidWebhookSecret,
    WebhookError,
    WebhookSender,
    WebhookSenderFactory,
)
from apiharness.webhooks._schemes import SCHEMES

STANDARD_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def secret_for(scheme: str) -> str:
    return STANDARD_SECRET if scheme == "standard" else f"{scheme}-test-secret"


@pytest.mark.parametrize("scheme", sorted(SCHEMES))
def test_correct_receiver_passes_the_whole_catalogue(
    scheme: str, webhook_sender: WebhookSenderFactory, clock: Any
) -> None:
    app = correct_app(scheme, secret_for(scheme))
    sender = webhook_sender(app, scheme=scheme, secret=secret_for(scheme), path="/hook")
    assert sender.deliver().status_code == 200
    report = sender.attack()
    report.assert_ok()
    cases = {o.case for o in report.outcomes}
    assert {"valid", "bad_signature", "wrong_secret"} <= cases
    assert ("stale_timestamp" in cases) == SCHEMES[scheme].timestamped
    assert ("duplicate_delivery" in cases) == (SCHEMES[scheme].delivery_header is not None)
    assert ("body_reserialised" in cases) == (scheme != "twilio")
    assert all(f"missing_{h}" in cases for h in SCHEMES[scheme].required_headers)
    assert report.server_errors == []


def test_naive_receiver_is_caught(webhook_sender: WebhookSenderFactory, clock: Any) -> None:
    sender = webhook_sender(
        naive_stripe_app("whsec_naive"), scheme="stripe", secret="whsec_naive", path="/hook"
    )
    report = sender.attack()
    assert not report.ok
    assert report.wrongly_accepted == ["stale_timestamp", "future_timestamp", "body_reserialised"]
    assert report.wrongly_rejected == []
    # It crashes on a missing header: rejected, but with a 5xx that providers retry.
    assert report.server_errors == ["missing_Stripe-Signature"]
    with pytest.raises(AssertionError, match="stale_timestamp") as info:
        report.assert_ok()
    assert "whsec_naive" not in str(info.value)
    assert "WRONG" in str(report)


def test_a_receiver_that_rejects_everything_is_caught(webhook_sender: WebhookSenderFactory) -> None:
    app = correct_app("github", "the-receivers-secret")
    report = webhook_sender(app, scheme="github", secret="another", path="/hook").attack()
    assert report.wrongly_rejected == ["valid", "duplicate_original", "duplicate_delivery"]
    assert report.wrongly_accepted == []


@pytest.fixture
def loopback_url() -> Iterator[str]:
    app = correct_app("standard", STANDARD_SECRET)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(500):
        if server.started:
            break
        threading.Event().wait(0.01)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


@pytest.mark.apiharness_real_time
def test_sender_over_a_real_loopback_socket(
    loopback_url: str, webhook_sender: WebhookSenderFactory
) -> None:
    sender = webhook_sender(loopback_url, scheme="standard", secret=STANDARD_SECRET, path="/hook")
    sender.attack().assert_ok()


def test_sender_refuses_non_loopback_targets_and_bad_arguments() -> None:
    with pytest.raises(ConfigurationError, match="loopback"):
        WebhookSender("https://example.com", scheme="stripe", secret="whsec_x")
    with pytest.raises(ConfigurationError, match="unknown webhook scheme 'paypal'"):
        WebhookSender("http://127.0.0.1:1", scheme="paypal", secret="x")
    with pytest.raises(ConfigurationError, match="path"):
        WebhookSender("http://127.0.0.1:1", scheme="stripe", secret="x", path="hook")
    with pytest.raises(ConfigurationError, match="target"):
        WebhookSender(42, scheme="stripe", secret="x")  # type: ignore[arg-type]


def test_unreachable_receiver_is_a_clear_error() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    with (
        WebhookSender(f"http://127.0.0.1:{port}", scheme="slack", secret="x") as sender,
        pytest.raises(WebhookError, match="could not reach"),
    ):
        sender.deliver()


def test_sender_refuses_an_unusable_secret_up_front() -> None:
    with pytest.raises(InvalidWebhookSecret, match="empty"):
        WebhookSender(correct_app("github", "s"), scheme="github", secret="")
    with pytest.raises(InvalidWebhookSecret, match="base64"):
        WebhookSender(correct_app("standard", "s"), scheme="standard", secret="whsec_!!")


def test_in_process_asgi_delivery_works_from_inside_a_running_event_loop(
    webhook_sender: WebhookSenderFactory,
) -> None:
    # The ASGI app runs on the sender's own loop thread, so a caller's loop does not get in the way.
    app = correct_app("slack", secret_for("slack"))

    async def main() -> int:
        sender = webhook_sender(app, scheme="slack", secret=secret_for("slack"), path="/hook")
        return sender.deliver().status_code

    assert asyncio.run(main()) == 200


def test_wsgi_app_in_process_and_explicit_kind(webhook_sender: WebhookSenderFactory) -> None:
    app = naive_stripe_app("whsec_w")
    sender = webhook_sender(app, scheme="stripe", secret="whsec_w", path="/hook", app_kind="wsgi")
    assert sender.deliver().status_code == 200
    assert sender.deliver(b'{"changed": true}').status_code == 200
