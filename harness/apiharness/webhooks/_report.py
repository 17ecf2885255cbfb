"""What the webhook sender found: an :class:`Outcome` per case, in a :class:`SenderReport`.

A case is judged on up to three things, each only where it applies: the status the provider
saw (2xx acknowledges, anything else makes it re-send), how many times the receiver processed
the delivery (read through the ``effects`` probe the user passes; without one, exactly-once is
reported as not checked rather than guessed from the status), and whether the answer came
within the provider's timeout.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Outcome", "SenderReport"]


@dataclass(frozen=True)
class Outcome:
    """What the receiver did with one case of the catalogue or of the chaos run.

    ``status`` is the answer the provider acts on (0 if none came at all); for a case of several
    deliveries it is the first answer that was not 2xx, else the last one, and ``answers`` holds
    them all. ``processed`` is how many times the receiver processed the case's deliveries, by
    the effects probe (None without one); ``should_process`` is how many it must (None where it
    is not judged). ``late`` is True when the provider's timeout passed before an answer it
    needed. ``source`` says where providers document the behaviour; ``note`` what happened.
    """

    case: str
    description: str
    should_accept: bool
    status: int
    should_process: int | None = None
    processed: int | None = None
    answers: tuple[int, ...] = ()
    late: bool = False
    source: str = ""
    note: str = ""

    @property
    def accepted(self) -> bool:
        """The receiver answered 2xx: it took the delivery."""
        return 200 <= self.status < 300

    @property
    def wrongly_processed(self) -> bool:
        """The probe counted a different number of processings than the case allows."""
        return (
            self.processed is not None
            and self.should_process is not None
            and self.processed != self.should_process
        )

    @property
    def wrong(self) -> bool:
        return self.accepted != self.should_accept or self.wrongly_processed or self.late

    def problems(self) -> list[str]:
        """What is wrong with the receiver's handling of this case, in words."""
        found = []
        if self.accepted and not self.should_accept:
            found.append(f"accepted ({self.status}), should be rejected")
        elif self.should_accept and not self.accepted:
            answer = "no answer" if self.status == 0 else f"rejected ({self.status})"
            found.append(f"{answer}, should be acknowledged with 2xx")
        if self.wrongly_processed:
            found.append(f"processed {self.processed} time(s), should be {self.should_process}")
        if self.late:
            found.append("answered after the provider's timeout")
        return found


@dataclass
class SenderReport:
    """The outcomes of a catalogue or chaos run against one receiver.

    ``effects_checked`` says whether an effects probe was given: without one, a duplicate that
    was acknowledged *and* processed again looks fine, so :attr:`exactly_once` is None.
    """

    scheme: str
    url: str
    outcomes: list[Outcome] = field(default_factory=list)
    effects_checked: bool = False

    @property
    def wrongly_accepted(self) -> list[str]:
        """Cases the receiver must have rejected but answered with 2xx."""
        return [o.case for o in self.outcomes if o.accepted and not o.should_accept]

    @property
    def wrongly_rejected(self) -> list[str]:
        """Valid deliveries (duplicates among them) the receiver did not acknowledge."""
        return [o.case for o in self.outcomes if o.should_accept and not o.accepted]

    @property
    def wrongly_processed(self) -> list[str]:
        """Cases the receiver processed a wrong number of times (forged, duplicated, lost)."""
        return [o.case for o in self.outcomes if o.wrongly_processed]

    @property
    def late(self) -> list[str]:
        """Cases the receiver answered only after the provider had given up waiting."""
        return [o.case for o in self.outcomes if o.late]

    @property
    def server_errors(self) -> list[str]:
        """Cases answered with 5xx: rejected, but providers retry 5xx, so a forgery is resent."""
        return [o.case for o in self.outcomes if o.status >= 500]

    @property
    def exactly_once(self) -> bool | None:
        """Every case processed as often as it must be; None when no effects probe was given."""
        if not self.effects_checked:
            return None
        return not self.wrongly_processed

    @property
    def ok(self) -> bool:
        return not any(o.wrong for o in self.outcomes)

    def assert_ok(self) -> None:
        """Raise AssertionError naming every wrong answer and what to fix."""
        if self.ok:
            return
        lines = [f"the {self.scheme} receiver at {self.url} handled deliveries wrongly:"]
        for o in self.outcomes:
            if o.wrong:
                detail = f"; {o.note}" if o.note else ""
                lines.append(f"  {o.case}: {o.description} -> {'; '.join(o.problems())}{detail}")
        lines.append(
            f"Verify the raw body bytes with apiharness.webhooks.{self.scheme}.verify() before "
            "anything else and answer 4xx when it raises WebhookVerificationError; pass a dedup "
            "store where deliveries have ids and answer 2xx, without processing, when it raises "
            "WebhookDuplicate; call the store's forget() when processing fails; answer quickly "
            "(store or enqueue the event, then 2xx)."
        )
        if not self.effects_checked:
            lines.append(self._unchecked())
        raise AssertionError("\n".join(lines))

    @staticmethod
    def _unchecked() -> str:
        return (
            "exactly-once: not checked (pass effects=, a callable returning how many events "
            "the receiver has processed)"
        )

    def __str__(self) -> str:
        width = max((len(o.case) for o in self.outcomes), default=4)
        rows = [f"webhook sender: {self.scheme} -> {self.url}"]
        for o in self.outcomes:
            verdict = "WRONG" if o.wrong else "ok"
            processed = "" if o.processed is None else f"  processed {o.processed}x"
            note = f"  ({o.note})" if o.note else ""
            rows.append(
                f"  {o.case:<{width}}  {o.status:>3}  {verdict:<5}  {o.description}"
                f"{processed}{note}"
            )
        if not self.effects_checked:
            rows.append("  " + self._unchecked())
        return "\n".join(rows)
