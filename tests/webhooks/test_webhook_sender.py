"""The sender tells a correct receiver from a naive one, in-process and over loopback."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from webhook_receivers import (
    STANDARD_SECRET,
    Flaw,
    Receiver,
    asgi,
    correct_app,
    graded,
    naive_stripe_app,
    secret_for,
    serve_asgi,
    wsgi,
)

from apiharness import ConfigurationError
from apiharness.webhooks import (
    InvalidWebhookSecret,
    SenderReport,
    WebhookError,
    WebhookSender,
    WebhookSenderFactory,
)
from apiharness.webhooks._schemes import SCHEMES


@pytest.mark.parametrize("framework", [asgi, wsgi], ids=["starlette", "flask"])
@pytest.mark.parametrize("scheme", sorted(SCHEMES))
def test_correct_receiver_passes_the_whole_catalogue(
    scheme: str, framework: Any, webhook_sender: WebhookSenderFactory, clock: Any
) -> None:
    receiver, sender = graded(webhook_sender, framework, scheme)
    assert sender.deliver().status_code == 200
    report = sender.attack(effects=receiver.effects)
    report.assert_ok()
    assert report.exactly_once is True
    cases = {o.case for o in report.outcomes}
    assert {"valid", "bad_signature", "wrong_secret"} <= cases
    assert ("stale_timestamp" in cases) == SCHEMES[scheme].timestamped
    # Every scheme but Twilio's carries an event id (a header, or the body's "id").
    assert ("duplicate_delivery" in cases) == (scheme != "twilio")
    assert ("body_reserialised" in cases) == (scheme != "twilio")
    assert all(f"missing_{h}" in cases for h in SCHEMES[scheme].required_headers)
    assert report.server_errors == []
    # deliver(), valid and duplicate_original were processed (Twilio has no duplicate pair);
    # nothing forged, no duplicate.
    assert len(receiver.processed) == (3 if scheme != "twilio" else 2)
    assert len(set(receiver.processed)) == (3 if scheme != "twilio" else 1)


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
    yield from serve_asgi(correct_app("standard", STANDARD_SECRET))


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
    token = "hook_tok_5a4b3c2d1e0f"
    url = f"http://127.0.0.1:{port}/hooks?token={token}"
    with (
        WebhookSender(url, scheme="slack", secret="x") as sender,
        pytest.raises(WebhookError, match="could not reach") as caught,
    ):
        sender.deliver()
    assert f"127.0.0.1:{port}/hooks" in str(caught.value)
    assert token not in str(caught.value)  # a receiver URL's query may hold its credential


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


def attacked(
    webhook_sender: WebhookSenderFactory, framework: Any, scheme: str, flaw: Flaw
) -> SenderReport:
    """The catalogue's report, with the effects probe, on a receiver with ``flaw``."""
    receiver, sender = graded(webhook_sender, framework, scheme, flaw)
    return sender.attack(effects=receiver.effects)


def test_exactly_once_is_reported_unchecked_without_a_probe(
    webhook_sender: WebhookSenderFactory, clock: Any
) -> None:
    receiver = Receiver("standard", STANDARD_SECRET, flaw="processes_twice")
    sender = webhook_sender(asgi(receiver), scheme="standard", secret=STANDARD_SECRET, path="/hook")
    blind = sender.attack()
    # Every answer is right, so nothing can be said about the second processing...
    assert blind.ok
    assert blind.exactly_once is None
    assert "exactly-once: not checked" in str(blind)
    assert all(o.processed is None for o in blind.outcomes)
    # ...until the sender can see what the receiver did.
    seeing = sender.attack(effects=receiver.effects)
    assert seeing.exactly_once is False
    assert seeing.wrongly_processed == ["duplicate_delivery"]
    assert seeing.wrongly_accepted == seeing.wrongly_rejected == []
    with pytest.raises(
        AssertionError, match=r"duplicate_delivery: .* processed 1 time\(s\), should be 0"
    ):
        seeing.assert_ok()
    assert "not checked" not in str(seeing)


def test_a_receiver_that_rejects_duplicates_fails_the_duplicate(
    webhook_sender: WebhookSenderFactory, clock: Any
) -> None:
    report = attacked(webhook_sender, wsgi, "github", "rejects_duplicates")
    assert report.wrongly_rejected == ["duplicate_delivery"]
    assert report.wrongly_processed == []
    duplicate = report.outcomes[-1]
    assert (duplicate.status, duplicate.accepted) == (409, False)
    with pytest.raises(AssertionError, match="rejected \\(409\\), should be acknowledged with 2xx"):
        report.assert_ok()


def test_a_receiver_that_processes_before_verifying_is_caught_by_the_probe(
    webhook_sender: WebhookSenderFactory, clock: Any
) -> None:
    report = attacked(webhook_sender, asgi, "stripe", "processes_before_verifying")
    # It answers every forgery 400, so by status alone it looks right.
    assert report.wrongly_accepted == report.wrongly_rejected == []
    forged = [o.case for o in report.outcomes if not o.should_accept]
    assert report.wrongly_processed == [*forged, "duplicate_delivery"]


def test_the_effects_probe_may_be_async_and_must_count(
    webhook_sender: WebhookSenderFactory, clock: Any
) -> None:
    receiver = Receiver("slack", "slack-secret")
    sender = webhook_sender(asgi(receiver), scheme="slack", secret="slack-secret", path="/hook")

    async def effects() -> int:
        await asyncio.sleep(0)
        return receiver.effects()

    assert sender.attack(effects=effects).exactly_once is True
    with pytest.raises(ConfigurationError, match="must return how many events"):
        sender.attack(effects=lambda: "three")  # type: ignore[arg-type, return-value]
    with pytest.raises(ConfigurationError, match="effects= takes a callable"):
        sender.attack(effects=3)  # type: ignore[arg-type]


def test_the_documented_receiver_acknowledges_duplicates(
    webhook_sender: WebhookSenderFactory, clock: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    # `make docs-examples` runs the page's example from the wheel; this checks the verdicts.
    page = (Path(__file__).parents[2] / "docs" / "webhooks.md").read_text()
    blocks = re.findall(r"```python[^\n]*\n(.*?)```", page, re.S)
    receiver_code = next(b for b in blocks if "async def receive(request)" in b)
    monkeypatch.chdir(tmp_path)  # whatever it writes lands here
    namespace: dict[str, Any] = {}
    exec(compile(receiver_code, "docs/webhooks.md", "exec"), namespace)
    secret = namespace["SECRET"]
    sender = webhook_sender(namespace["app"], scheme="standard", secret=secret, path="/hooks")
    report = sender.attack(effects=lambda: len(namespace["processed"]))
    report.assert_ok()
    assert report.outcomes[-1].case == "duplicate_delivery"
    assert report.outcomes[-1].status == 204
