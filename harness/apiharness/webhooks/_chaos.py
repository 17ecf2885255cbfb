"""Delivery chaos as providers produce it: duplicates at once, reordering, lost answers, retries.

Each case reproduces something a provider documents (:data:`~._providers.SOURCES`), with that
provider's timeout and retry schedule (:data:`~._providers.PROVIDERS`). Redeliveries carry the
original id and a fresh signature, as Standard Webhooks specifies ("the timestamp of the attempt
is updated" while the id "remains the same no matter how many times a webhook ... is retried").

Hand-written: the webhook tools that exist (provider CLIs, Svix's and Hookdeck's relays) send to
a receiver but do not grade it, and none of them runs a retry schedule in virtual time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from apiharness.clock import VirtualClock, get_clock
from apiharness.errors import ConfigurationError
from apiharness.webhooks._providers import PROVIDERS, SOURCES
from apiharness.webhooks._report import Outcome

if TYPE_CHECKING:
    from apiharness.webhooks._sender import Answer, WebhookSender, _Probe

__all__ = ["CASES", "run_chaos"]

#: Every chaos case, in the order they run.
CASES = ("concurrent_duplicates", "out_of_order", "lost_answer", "retry_schedule", "late_answer")


class _Run:
    """One chaos run: the sender, the probe, and the provider's timing."""

    def __init__(
        self,
        sender: WebhookSender,
        probe: _Probe | None,
        timeout: float,
        retries: tuple[float, ...],
    ) -> None:
        self.sender = sender
        self.probe = probe
        self.timeout = timeout
        self.retries = retries
        self.profile = PROVIDERS[sender.scheme.name]
        self.provider = self.profile.name

    def measured(self, deliver: Callable[[], list[Answer]]) -> tuple[list[Answer], int | None]:
        """The answers of ``deliver()`` and how many processings the probe saw meanwhile."""
        before = 0 if self.probe is None else self.probe.count()
        answers = deliver()
        return answers, None if self.probe is None else self.probe.count() - before

    def judged(
        self, case: str, description: str, deliver: Callable[[], list[Answer]], should_process: int
    ) -> Outcome:
        """Deliver, then judge the answers and the processings as :meth:`outcome` does."""
        answers, processed = self.measured(deliver)
        return self.outcome(case, description, answers, processed, should_process)

    def outcome(
        self,
        case: str,
        description: str,
        answers: list[Answer],
        processed: int | None,
        should_process: int,
        *,
        deciding: Answer | None = None,
        late: bool = False,
        note: str = "",
    ) -> Outcome:
        if deciding is None:
            # The first answer that was not 2xx, else the last: one refusal fails the case.
            deciding = next((a for a in answers if not a.acknowledged), answers[-1])
        return Outcome(
            case,
            description,
            True,
            deciding.status,
            should_process=should_process,
            processed=processed,
            answers=tuple(a.status for a in answers),
            late=late,
            source=self.profile.source if case == "retry_schedule" else SOURCES[case],
            note=note,
        )

    def in_time(self, answer: Answer) -> bool:
        return answer.acknowledged and answer.elapsed <= self.timeout

    def post_timed(self, body: bytes, headers: dict[str, str]) -> Answer:
        """Deliver with the provider's timeout on the real wait too, outside virtual time."""
        virtual = isinstance(get_clock(), VirtualClock)
        return self.sender.post(body, headers, timeout=None if virtual else self.timeout)


def _concurrent_duplicates(run: _Run) -> Outcome:
    body = run.sender.event()
    headers = run.sender.sign(body)
    return run.judged(
        "concurrent_duplicates",
        "the same delivery twice at once: both acknowledged, processed once",
        lambda: run.sender.post_concurrently([(body, headers), (body, dict(headers))]),
        1,
    )


def _out_of_order(run: _Run) -> Outcome:
    sender = run.sender
    updated, created = sender.event("updated"), sender.event("created")
    return run.judged(
        "out_of_order",
        "an '.updated' event before its '.created': both acknowledged, each processed once",
        lambda: [sender.post(b, sender.sign(b)) for b in (updated, created)],
        2,
    )


def _lost_answer(run: _Run) -> Outcome:
    body = run.sender.event()
    headers = run.sender.sign(body)

    def deliver() -> list[Answer]:
        first = run.sender.post(body, headers)  # answered, but the answer never arrives
        if run.retries and isinstance(get_clock(), VirtualClock):
            get_clock().sleep(run.retries[0])
        return [first, run.sender.post(body, run.sender.redelivery(body, headers))]

    answers, processed = run.measured(deliver)
    return run.outcome(
        "lost_answer",
        "processed, but the answer was lost: the redelivery acknowledged, not processed again",
        answers,
        processed,
        1,
        note=f"the lost answer was {answers[0].status}, the redelivery got {answers[1].status}",
    )


def _retry_schedule(run: _Run) -> Outcome:
    sender, clock = run.sender, get_clock()
    body = sender.event()
    original = sender.sign(body)
    started = clock.monotonic()

    def deliver() -> list[Answer]:
        answers = [run.post_timed(body, original)]
        for delay in run.retries:
            if run.in_time(answers[-1]):
                break
            clock.sleep(delay)
            answers.append(run.post_timed(body, sender.redelivery(body, original)))
        return answers

    answers, processed = run.measured(deliver)
    last = answers[-1]
    span = _duration(clock.monotonic() - started)
    if run.in_time(last):
        note = f"acknowledged at attempt {len(answers)}, {span} after the first"
    else:
        note = (
            f"not acknowledged in {len(answers)} attempt(s) over {span}; {run.provider} "
            "stops retrying here and the event is lost"
        )
    return run.outcome(
        "retry_schedule",
        f"re-sent on {run.provider}'s schedule until acknowledged, processed once",
        answers,
        processed,
        1,
        deciding=last,
        late=last.acknowledged and not run.in_time(last),
        note=note,
    )


def _late_answer(run: _Run) -> Outcome:
    sender = run.sender
    body = sender.event()
    headers = sender.sign(body)

    def deliver() -> list[Answer]:
        answers = [run.post_timed(body, headers)]
        if not run.in_time(answers[0]) and sender.has_event_ids:
            # The provider gave up waiting and re-sends, whatever the receiver did meanwhile.
            answers.append(sender.post(body, sender.redelivery(body, headers)))
        return answers

    answers, processed = run.measured(deliver)
    first = answers[0]
    late = first.status == 0 or first.elapsed > run.timeout
    waited = "no answer" if first.status == 0 else f"answered in {_duration(first.elapsed)}"
    return run.outcome(
        "late_answer",
        f"answered within {run.provider}'s {run.timeout:g} s timeout",
        answers,
        processed,
        1,
        late=late,
        note=f"{waited}; {run.provider} waits {run.timeout:g} s",
    )


_CASES: dict[str, Callable[[_Run], Outcome]] = {
    "concurrent_duplicates": _concurrent_duplicates,
    "out_of_order": _out_of_order,
    "lost_answer": _lost_answer,
    "retry_schedule": _retry_schedule,
    "late_answer": _late_answer,
}


def _why_not(sender: WebhookSender, case: str) -> str | None:
    """Why ``case`` cannot run for this sender's scheme and payload, or None if it can."""
    if case in ("concurrent_duplicates", "lost_answer") and not sender.has_event_ids:
        return (
            "its deliveries carry no id to recognise a redelivery by (no delivery-id header, "
            "no 'id' in a JSON body)"
        )
    if case == "out_of_order" and sender.event("created") == sender.payload:
        return "its payload is not a JSON object with an 'id', so no second event can be made"
    return None


def run_chaos(
    sender: WebhookSender,
    probe: _Probe | None,
    cases: Sequence[str] | None,
    timeout: float | None,
    retries: Sequence[float] | None,
) -> list[Outcome]:
    """Run ``cases`` (default: all that apply) against the sender's receiver."""
    provider = PROVIDERS[sender.scheme.name]
    scheme = sender.scheme.name
    wait = provider.timeout if timeout is None else _seconds(timeout, "timeout", positive=True)
    schedule = (
        provider.retries
        if retries is None
        else tuple(_seconds(delay, "retries", positive=False) for delay in retries)
    )
    if cases is None:
        chosen = [case for case in CASES if _why_not(sender, case) is None]
    else:
        chosen = list(cases)
        for case in chosen:
            if case not in _CASES:
                raise ConfigurationError(
                    f"webhook sender: unknown chaos case {case!r}; choose from {', '.join(CASES)}"
                )
            reason = _why_not(sender, case)
            if reason is not None:
                raise ConfigurationError(
                    f"webhook sender: {case} does not apply to {scheme}: {reason}"
                )
    if "retry_schedule" in chosen and schedule and not isinstance(get_clock(), VirtualClock):
        total = _duration(sum(schedule))
        raise ConfigurationError(
            f"webhook sender: retry_schedule follows {provider.name}'s schedule over {total}; "
            "run it in virtual time: use the `clock` fixture, or "
            "`with apiharness.use_clock(VirtualClock()):`"
        )
    run = _Run(sender, probe, wait, schedule)
    return [_CASES[case](run) for case in chosen]


def _seconds(value: object, what: str, *, positive: bool) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
        or (positive and value == 0)
    ):
        bound = "> 0" if positive else ">= 0"
        raise ConfigurationError(
            f"webhook sender: chaos {what} takes finite numbers of seconds {bound}, got {value!r}"
        )
    return float(value)


def _duration(seconds: float) -> str:
    """``seconds`` in the largest units that keep it readable: '2 h 35 min 5 s'."""
    whole = round(seconds)
    if whole < 60:
        return f"{seconds:.3g} s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        count, whole = divmod(whole, size)
        if count:
            parts.append(f"{count} {unit}")
    return " ".join(parts)
