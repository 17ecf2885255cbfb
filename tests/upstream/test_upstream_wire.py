"""The wire steps: one sans-I/O sequence per plan, settled before the client sees the outcome."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator

import httpx
import pytest

from apiharness import upstream as u
from apiharness.upstream import Behaviour, _wire
from apiharness.upstream._behaviours import Context
from apiharness.upstream._wire import Abort, Close, Hang, Head, Send, Step, Wait, wire_steps

BEHAVIOURS: dict[str, tuple[Behaviour, bool]] = {  # behaviour, delivered
    "respond": (u.respond(200, json={"a": 1}), True),
    "delay": (u.delay(2, then=u.respond(201)), True),
    "dribble": (u.dribble(3, over=1.5), True),
    "hang": (u.hang(), False),
    "reset": (u.reset(), False),
    "close": (u.close(), False),
    "garbage": (u.garbage(16), False),
    "truncate": (u.truncate(after=4), False),
    "drop": (u.drop_after_processing(), False),
}


def steps_of(behaviour: Behaviour, method: str = "GET") -> list[Step | str]:
    """The steps, with "settle:True/False" where the settlement happened."""
    request = httpx.Request(method, "https://api.test/x")
    plan = behaviour.runner().plan(Context(request, random.Random(0), 0.0))
    events: list[Step | str] = []
    for step in wire_steps(plan, method, lambda ok: events.append(f"settle:{ok}")):
        events.append(step)
    return events


@pytest.mark.parametrize("name", list(BEHAVIOURS))
def test_settled_once_before_the_step_that_shows_the_outcome(name: str) -> None:
    behaviour, delivered = BEHAVIOURS[name]
    events = steps_of(behaviour)
    settles = [e for e in events if isinstance(e, str)]
    assert settles == [f"settle:{delivered}"]
    visible = [i for i, e in enumerate(events) if isinstance(e, Send | Close | Abort)]
    if visible:  # the last byte, FIN or RST comes after the bookkeeping
        assert events.index(settles[0]) < visible[-1]


def test_the_sequences_name_each_fault() -> None:
    assert steps_of(u.hang()) == [Hang(), "settle:False"]
    assert [type(e) for e in steps_of(u.reset())] == [str, Abort]
    assert [type(e) for e in steps_of(u.garbage(8))] == [str, Send, Close]
    assert [type(e) for e in steps_of(u.truncate(after=3))] == [str, Head, Send, Close]
    dribbled = steps_of(u.dribble(2, over=1.0))
    assert [type(e) for e in dribbled] == [Head, Wait, Send, Wait, str, Send]
    assert [e.seconds for e in dribbled if isinstance(e, Wait)] == [0.5, 0.5]
    # HEAD: the Content-Length GET would send (RFC 9110 section 8.6), and no content.
    steps = steps_of(u.respond(200, text="abc"), "HEAD")
    head = next(e for e in steps if isinstance(e, Head))
    assert ("Content-Length", "3") in head.headers
    assert b"".join(e.data for e in steps if isinstance(e, Send)) == b""


def test_a_driver_that_stops_early_settles_not_delivered() -> None:
    request = httpx.Request("GET", "https://api.test/x")
    plan = u.dribble(4, over=1.0).runner().plan(Context(request, random.Random(0), 0.0))
    settled: list[bool] = []
    steps = wire_steps(plan, "GET", settled.append)
    assert isinstance(next(steps), Head)
    assert isinstance(next(steps), Wait)
    steps.close()  # the client went away during the first gap
    assert settled == [False]


@pytest.mark.parametrize("method", ["GET", "HEAD", "POST"])
@pytest.mark.parametrize(
    "behaviour",
    [
        *(behaviour for behaviour, _ in BEHAVIOURS.values()),
        u.respond(204),
        u.status(503),
        u.sse(["a", "b"]),
    ],
    ids=repr,
)
def test_the_steps_made_once_per_plan_are_the_full_sequence(
    behaviour: Behaviour, method: str
) -> None:
    # A plain delivery's steps are made once and kept on the plan; every delivery of that plan,
    # the first and the ones after, is what the full interpreter (_steps) would do.
    request = httpx.Request(method, "https://api.test/x")
    plan = behaviour.runner().plan(Context(request, random.Random(0), 0.0))

    def run(steps_for: Callable[..., Iterator[Step]]) -> list[Step | str]:
        events: list[Step | str] = []
        events.extend(steps_for(plan, method, lambda ok: events.append(f"settle:{ok}")))
        return events

    full = run(_wire._steps)
    assert run(wire_steps) == full
    assert run(wire_steps) == full  # from the plan's cache
