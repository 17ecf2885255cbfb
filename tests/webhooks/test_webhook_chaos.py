"""Receivers graded as providers deliver: duplicates at once, reordering, lost answers, retries.

A correct receiver (verify the raw bytes, deduplicate, answer 2xx quickly, process once) passes
every case; each classic flaw fails exactly the cases it should — in-process on Starlette
(ASGI) and Flask (WSGI), and over a real loopback socket (uvicorn, werkzeug).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from webhook_receivers import (
    LATE,
    STANDARD_SECRET,
    Flaw,
    Receiver,
    asgi,
    graded,
    secret_for,
    serve_asgi,
    serve_wsgi,
    wsgi,
)

from apiharness import ConfigurationError, VirtualClock, use_clock
from apiharness.webhooks import SenderReport, WebhookSender, WebhookSenderFactory
from apiharness.webhooks._chaos import CASES
from apiharness.webhooks._providers import PROVIDERS
from apiharness.webhooks._schemes import SCHEMES

FRAMEWORKS = pytest.mark.parametrize("framework", [asgi, wsgi], ids=["starlette", "flask"])
DUPLICATES = {"duplicate_delivery", "concurrent_duplicates", "lost_answer"}
STANDARD_FORGERIES = {
    "bad_signature",
    "wrong_secret",
    "stale_timestamp",
    "future_timestamp",
    "missing_webhook-id",
    "missing_webhook-timestamp",
    "missing_webhook-signature",
    "body_reserialised",
}
#: What each receiver must fail, against Standard Webhooks deliveries: exactly these cases.
EXPECTED: dict[Flaw | None, set[str]] = {
    None: set(),
    "rejects_duplicates": DUPLICATES,
    "processes_twice": DUPLICATES,
    "processes_before_verifying": STANDARD_FORGERIES | DUPLICATES,
    "answers_late": {"late_answer"},
    "never_forgets": set(),  # only differs from the correct one after a failure (see below)
    "needs_order": {"out_of_order"},
}


def wrong_cases(sender: WebhookSender, receiver: Receiver) -> set[str]:
    """Every case of the catalogue and of the chaos run that the receiver got wrong."""
    reports = [sender.attack(effects=receiver.effects), sender.chaos(effects=receiver.effects)]
    for report in reports:
        assert report.effects_checked
    return {o.case for report in reports for o in report.outcomes if o.wrong}


@FRAMEWORKS
@pytest.mark.parametrize("scheme", sorted(SCHEMES))
def test_a_correct_receiver_survives_every_chaos_case(
    scheme: str, framework: Any, webhook_sender: WebhookSenderFactory, clock: Any
) -> None:
    receiver, sender = graded(webhook_sender, framework, scheme)
    report = sender.chaos(effects=receiver.effects)
    report.assert_ok()
    assert report.exactly_once is True
    cases = [o.case for o in report.outcomes]
    # Twilio's form bodies carry no event id and cannot be made into a second event.
    assert cases == (list(CASES) if scheme != "twilio" else ["retry_schedule", "late_answer"])
    for outcome in report.outcomes:
        assert "https://" in outcome.source, outcome.case
        assert outcome.accepted
        assert not outcome.late
    by_case = {o.case: o for o in report.outcomes}
    assert by_case["retry_schedule"].note.startswith("acknowledged at attempt 1")
    if scheme != "twilio":
        assert by_case["concurrent_duplicates"].answers == (200, 200)
        assert by_case["out_of_order"].processed == 2
        assert by_case["lost_answer"].processed == 1


@FRAMEWORKS
@pytest.mark.parametrize("flaw", list(EXPECTED), ids=lambda f: f or "correct")
def test_each_flawed_receiver_fails_exactly_its_cases(
    flaw: Flaw | None, framework: Any, webhook_sender: WebhookSenderFactory, clock: Any
) -> None:
    receiver, sender = graded(webhook_sender, framework, "standard", flaw)
    assert wrong_cases(sender, receiver) == EXPECTED[flaw]


def test_what_the_flawed_receivers_are_told(
    webhook_sender: WebhookSenderFactory, clock: Any
) -> None:
    late = Receiver("github", "gh", flaw="answers_late")
    report = webhook_sender(asgi(late), scheme="github", secret="gh", path="/hook").chaos(
        effects=late.effects, cases=["late_answer"]
    )
    (outcome,) = report.outcomes
    assert report.late == ["late_answer"]
    # GitHub waits 10 s; the receiver worked 30 s, then its redelivery was acknowledged at once.
    assert outcome.note == f"answered in {LATE:g} s; GitHub waits 10 s"
    assert outcome.answers == (200, 200)
    assert outcome.processed == 1
    with pytest.raises(AssertionError, match="answered after the provider's timeout"):
        report.assert_ok()
    # Given more time than it takes, the same receiver is fine.
    relaxed = webhook_sender(asgi(late), scheme="github", secret="gh", path="/hook").chaos(
        effects=late.effects, cases=["late_answer"], timeout=LATE + 1
    )
    assert relaxed.ok

    twice = Receiver("shopify", "shp", flaw="processes_twice")
    sender = webhook_sender(wsgi(twice), scheme="shopify", secret="shp", path="/hook")
    report = sender.chaos(effects=twice.effects, cases=["concurrent_duplicates"])
    assert report.wrongly_processed == ["concurrent_duplicates"]
    assert report.outcomes[0].processed == 2


@pytest.mark.parametrize("framework", [asgi, wsgi], ids=["starlette", "flask"])
def test_a_receiver_down_for_an_hour_is_saved_by_the_retry_schedule(
    framework: Callable[[Receiver], Any], webhook_sender: WebhookSenderFactory, clock: Any
) -> None:
    receiver = Receiver("standard", STANDARD_SECRET)
    receiver.down_until = clock.time() + 3600
    sender = webhook_sender(
        framework(receiver), scheme="standard", secret=STANDARD_SECRET, path="/hook"
    )
    started = clock.monotonic()
    report = sender.chaos(effects=receiver.effects, cases=["retry_schedule"])
    report.assert_ok()
    (outcome,) = report.outcomes
    # Standard Webhooks' example schedule: 5 s, 5 min, 30 min, 2 h: the fifth attempt gets in.
    assert outcome.answers == (503, 503, 503, 503, 200)
    assert clock.monotonic() - started == 5 + 300 + 1800 + 7200
    assert outcome.note == "acknowledged at attempt 5, 2 h 35 min 5 s after the first"
    assert receiver.processed
    assert outcome.processed == 1


def test_a_receiver_that_keeps_the_id_of_a_failed_attempt_loses_the_event(
    webhook_sender: WebhookSenderFactory, clock: Any
) -> None:
    receiver = Receiver("standard", STANDARD_SECRET, flaw="never_forgets")
    receiver.down_until = clock.time() + 60
    sender = webhook_sender(asgi(receiver), scheme="standard", secret=STANDARD_SECRET, path="/hook")
    report = sender.chaos(effects=receiver.effects, cases=["retry_schedule"])
    (outcome,) = report.outcomes
    # The retry is acknowledged as a duplicate, so the provider stops: never processed.
    assert outcome.answers == (503, 200)
    assert outcome.accepted
    assert report.wrongly_processed == ["retry_schedule"]
    assert outcome.processed == 0


@pytest.mark.parametrize(
    ("scheme", "attempts"),
    [("standard", 10), ("stripe", 9), ("shopify", 9), ("slack", 4), ("github", 1), ("twilio", 1)],
)
def test_an_outage_longer_than_the_schedule_loses_the_event(
    scheme: str, attempts: int, webhook_sender: WebhookSenderFactory, clock: Any
) -> None:
    receiver = Receiver(scheme, secret_for(scheme))
    receiver.down_until = clock.time() + 5 * 24 * 3600
    sender = webhook_sender(asgi(receiver), scheme=scheme, secret=secret_for(scheme), path="/hook")
    started = clock.monotonic()
    report = sender.chaos(effects=receiver.effects, cases=["retry_schedule"])
    (outcome,) = report.outcomes
    assert report.wrongly_rejected == ["retry_schedule"]
    assert outcome.answers == (503,) * attempts
    schedule = PROVIDERS[scheme].retries
    assert clock.monotonic() - started == pytest.approx(sum(schedule))
    assert "stops retrying here and the event is lost" in outcome.note
    # Stripe's stand-in schedule stays inside its three days, Shopify's inside its four hours.
    assert sum(schedule) <= {"stripe": 3 * 86400, "shopify": 4 * 3600}.get(scheme, 10**9)


def test_chaos_refuses_what_cannot_run(webhook_sender: WebhookSenderFactory) -> None:
    receiver = Receiver("twilio", secret_for("twilio"))
    twilio = webhook_sender(
        asgi(receiver), scheme="twilio", secret=secret_for("twilio"), path="/hook"
    )
    with pytest.raises(ConfigurationError, match="concurrent_duplicates does not apply to twilio"):
        twilio.chaos(cases=["concurrent_duplicates"])
    with pytest.raises(ConfigurationError, match="unknown chaos case 'reorder'"):
        twilio.chaos(cases=["reorder"])
    with pytest.raises(ConfigurationError, match="timeout takes finite numbers of seconds > 0"):
        twilio.chaos(cases=["late_answer"], timeout=0)
    with pytest.raises(ConfigurationError, match="retries takes"):
        twilio.chaos(cases=["retry_schedule"], retries=[5, -1])
    # Days of retries in real time: refused, with the way out.
    with pytest.raises(ConfigurationError, match="virtual time: use the `clock` fixture"):
        twilio.chaos(cases=["retry_schedule"], retries=[3600])
    # Without retries there is nothing to wait for: real time is fine.
    assert twilio.chaos(cases=["retry_schedule"], retries=[]).ok


# -- over loopback: uvicorn for the ASGI receivers, werkzeug for the WSGI ones ----------------


@pytest.fixture
def virtual_time() -> Iterator[VirtualClock]:
    """Virtual time for the harness only: a loopback server's own loop keeps real time."""
    clock = VirtualClock(start=time.time())
    with use_clock(clock):
        yield clock


@pytest.mark.apiharness_real_time
@pytest.mark.parametrize("server", [serve_asgi, serve_wsgi], ids=["uvicorn", "werkzeug"])
@pytest.mark.parametrize("flaw", list(EXPECTED), ids=lambda f: f or "correct")
def test_over_loopback_each_receiver_fails_exactly_its_cases(
    flaw: Flaw | None,
    server: Callable[[Any], Iterator[str]],
    virtual_time: VirtualClock,
    webhook_sender: WebhookSenderFactory,
) -> None:
    receiver = Receiver("standard", STANDARD_SECRET, flaw=flaw)
    app = asgi(receiver) if server is serve_asgi else wsgi(receiver)
    serving = server(app)
    url = next(serving)
    try:
        sender = webhook_sender(url, scheme="standard", secret=STANDARD_SECRET, path="/hook")
        assert wrong_cases(sender, receiver) == EXPECTED[flaw]
    finally:
        next(serving, None)


@pytest.mark.apiharness_real_time
@FRAMEWORKS
@pytest.mark.parametrize("flaw", [None, "rejects_duplicates", "processes_twice", "answers_late"])
def test_receivers_verifying_with_the_standardwebhooks_reference_library(
    flaw: Flaw | None,
    framework: Any,
    virtual_time: VirtualClock,
    webhook_sender: WebhookSenderFactory,
) -> None:
    # The reference library reads the real wall clock, so virtual time starts at real now
    # here and none of these cases moves it by more than its five minutes' tolerance.
    receiver = Receiver("standard", STANDARD_SECRET, flaw=flaw, verifier="standardwebhooks")
    sender = webhook_sender(
        framework(receiver), scheme="standard", secret=STANDARD_SECRET, path="/hook"
    )
    assert wrong_cases(sender, receiver) == EXPECTED[flaw]
    assert virtual_time.monotonic() < 300


def test_reports_of_both_runs_read_alike(webhook_sender: WebhookSenderFactory, clock: Any) -> None:
    receiver = Receiver("standard", STANDARD_SECRET, flaw="processes_twice")
    sender = webhook_sender(asgi(receiver), scheme="standard", secret=STANDARD_SECRET, path="/hook")
    report: SenderReport = sender.chaos(effects=receiver.effects)
    text = str(report)
    assert "concurrent_duplicates  200  WRONG" in text
    assert "processed 2x" in text
    assert STANDARD_SECRET not in text
    blind = sender.chaos()
    assert blind.exactly_once is None
    assert blind.ok
    assert "exactly-once: not checked" in str(blind)


@pytest.mark.apiharness_real_time
def test_in_real_time_the_provider_stops_waiting_on_the_socket(
    webhook_sender: WebhookSenderFactory,
) -> None:
    """Outside virtual time the provider's timeout is a real read timeout: no answer at all."""
    receiver = Receiver("standard", STANDARD_SECRET)

    async def slow(scope: Any, receive: Any, send: Any) -> None:
        await asyncio.sleep(0.5)  # real time: this test runs without a virtual clock
        await asgi(receiver)(scope, receive, send)

    serving = serve_asgi(slow)
    url = next(serving)
    try:
        sender = webhook_sender(url, scheme="standard", secret=STANDARD_SECRET, path="/hook")
        report = sender.chaos(effects=receiver.effects, cases=["late_answer"], timeout=0.1)
    finally:
        next(serving, None)
    (outcome,) = report.outcomes
    assert outcome.late
    assert outcome.note == "no answer; Standard Webhooks waits 0.1 s"
    # The provider re-sent it and the receiver processed the event once, not twice.
    assert outcome.answers == (0, 200)
    assert outcome.processed == 1
