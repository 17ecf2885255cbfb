"""Typical webhook user code, type-checked with mypy --strict by `make typecheck` (never run)."""

from __future__ import annotations

from collections.abc import Mapping

from apiharness.webhooks import (
    MemoryDedupStore,
    SenderReport,
    WebhookDuplicate,
    WebhookSenderFactory,
    WebhookVerificationError,
    github,
    standard,
    stripe,
    twilio,
)


def receive(body: bytes, headers: Mapping[str, str]) -> int:
    seen = MemoryDedupStore(ttl=3600)
    try:
        stripe.verify(body, headers, ["whsec_new", "whsec_old"], tolerance=120)
        github.verify(body, headers, "secret", dedup=seen)
        standard.verify(body, headers, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", dedup=seen)
        twilio.verify(body, headers, "token", url="https://example.com/voice")
    except WebhookDuplicate as duplicate:
        return 200 if duplicate.delivery_id else 204
    except WebhookVerificationError:
        return 400
    return 204


def signed() -> dict[str, str]:
    headers: dict[str, str] = stripe.sign(b"{}", "whsec_x", timestamp=1_700_000_000)
    headers.update(standard.sign(b"{}", b"raw-key", msg_id="msg_1"))
    return headers


def attack(webhook_sender: WebhookSenderFactory, app: object) -> list[str]:
    report: SenderReport = webhook_sender(app, scheme="github", secret="s", path="/hook").attack()
    return report.wrongly_accepted


def graded(webhook_sender: WebhookSenderFactory, app: object, processed: list[str]) -> bool:
    sender = webhook_sender(app, scheme="standard", secret="whsec_x", path="/hook")
    attacked: SenderReport = sender.attack(effects=lambda: len(processed))
    chaotic = sender.chaos(effects=lambda: len(processed), cases=["lost_answer"], timeout=10)
    once: bool | None = chaotic.exactly_once
    return attacked.ok and bool(once) and chaotic.late == [] and chaotic.wrongly_processed == []
