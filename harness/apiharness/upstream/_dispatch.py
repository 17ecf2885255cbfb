"""Dispatch and settlement: from a request to its plan and journal entry, and back.

The :class:`Dispatcher` is the part of an :class:`~apiharness.upstream.Upstream` that answers
requests; both deliveries (the in-process transport and the loopback server) go through it
and through nothing else of the upstream's:

* :meth:`Dispatcher.dispatch` matches the request to a route, runs the route's policies and
  script, and journals it; it returns an :class:`Exchange` holding the plan;
* :meth:`Dispatcher.choose` runs the user code a *pending* exchange still waits on (a callable
  behaviour), after the route's lock is released — the loopback server calls it off its event
  loop;
* :meth:`Exchange.settle` records whether the response reached the client and tells the
  route's policies. It is called by :func:`~apiharness.upstream._wire.wire_steps`, before the
  step that lets the client see the outcome, never by a driver.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from apiharness._stacks import httpx
from apiharness._urls import path_segments
from apiharness.clock import Clock
from apiharness.upstream._behaviours import Behaviour, Context, Fault, Plan, ResponseData
from apiharness.upstream._journal import Journal, JournalEntry
from apiharness.upstream._routes import Outcome, Route, Router
from apiharness.upstream._scripts import as_behaviour

__all__ = ["Arrival", "Dispatcher", "Exchange"]


class _Unmatched(Behaviour):
    def plan(self, ctx: Context) -> Plan:  # pragma: no cover - never planned, only shown
        raise NotImplementedError


_UNMATCHED = _Unmatched("<unmatched>")


@dataclass(frozen=True, slots=True)
class Arrival:
    """When and where a request arrived: what its journal entry needs besides the plan."""

    path: str
    time: float
    monotonic: float


@dataclass(slots=True)
class Exchange:
    """One request in flight: its plan, its journal entry and the route that took it.

    While ``pending``, the plan still waits on user code (:meth:`Dispatcher.choose`) and there
    is no journal entry yet.
    """

    request: httpx.Request
    plan: Plan
    entry: JournalEntry | None
    route: Route | None
    arrival: Arrival | None = None
    settled: bool = field(default=False)

    @property
    def pending(self) -> bool:
        return self.plan.pending is not None

    def settle(self, delivered: bool) -> None:
        """Record whether the response reached the client, and tell the route's policies.

        Once per exchange; the wire steps call it before the client can see the outcome (and
        retry, or read the upstream's side-effect counters).
        """
        assert self.entry is not None, "choose() a pending exchange before delivering it"
        assert not self.settled, "an exchange is settled once"
        self.settled = True
        self.entry.delivered = delivered
        route = self.route
        if route is None or not route.policies:
            return
        outcome = Outcome(self.plan.response, delivered, self.entry)
        with route.lock:
            for policy in route.policies:
                policy.after(self.request, route, outcome)


class Dispatcher:
    """Matches requests to routes, plans them and journals them (thread-safe)."""

    def __init__(self, router: Router, journal: Journal) -> None:
        self.router = router
        self.journal = journal
        self._unmatched: list[str] = []
        self._lock = threading.Lock()

    def unmatched(self) -> list[str]:
        """The diagnostics of requests that matched no route, oldest first."""
        with self._lock:
            return list(self._unmatched)

    def note_unmatched(self, diagnostic: str) -> None:
        """Count a request as unmatched although a route answered it: a route that serves
        recorded or contracted exchanges (a pact) found none for it. ``verify()`` fails on it."""
        with self._lock:
            self._unmatched.append(diagnostic)

    def clear(self) -> None:
        with self._lock:
            self._unmatched.clear()
        self.journal.clear()

    def dispatch(
        self,
        request: httpx.Request,
        clock: Clock,
        *,
        choose: bool = True,
        path: str | None = None,
        segments: Sequence[str] | None = None,
    ) -> Exchange:
        """Match ``request``, run policies and the script, journal it. The body must be read.

        A callable behaviour runs after the route's lock is released: by default here, or,
        with ``choose=False``, when the caller passes the pending exchange to :meth:`choose`.
        ``path`` (the decoded URL path) and ``segments`` (:func:`~apiharness._urls.path_segments`
        of the raw path) are passed by a caller that already has them.
        """
        now, monotonic = clock.time(), clock.monotonic()
        if path is None:
            path = request.url.path  # decoded on every access: once is enough
        if segments is None:
            segments = path_segments(request.url.raw_path)
        route = self.router.find(request, segments)
        if route is None:
            text = self.router.explain(request, self.router.routes())
            with self._lock:
                self._unmatched.append(text)
            headers = (("Content-Type", "text/plain; charset=utf-8"), ("X-Apiharness", "unmatched"))
            answer = Plan(_UNMATCHED, ResponseData(404, headers, text.encode()))
            entry = self._record(request, Arrival(path, now, monotonic), answer, None)
            return Exchange(request, answer, entry, None)
        with route.lock:
            ctx = Context(request, route.rng, monotonic, route)
            plan: Plan | None = None
            for policy in route.policies:
                instead = policy.before(request, route)
                if instead is not None:
                    plan = as_behaviour("a policy's before()", instead).runner().plan(ctx)
                    break
            if plan is None:
                plan = route.runner.plan(ctx)
            arrival = Arrival(path, now, monotonic)
            if plan.pending is None:
                return Exchange(request, plan, self._record(request, arrival, plan, route), route)
        exchange = Exchange(request, plan, None, route, arrival)
        if choose:
            self.choose(exchange)
        return exchange

    def choose(self, exchange: Exchange) -> None:
        """Run the user code a pending exchange waits on, then journal it (no lock held)."""
        arrival, plan = exchange.arrival, exchange.plan
        assert exchange.route is not None
        assert arrival is not None
        while plan.pending is not None:
            plan = plan.pending()
        with exchange.route.lock:
            exchange.entry = self._record(exchange.request, arrival, plan, exchange.route)
        exchange.plan = plan

    def _record(
        self, request: httpx.Request, arrival: Arrival, plan: Plan, route: Route | None
    ) -> JournalEntry:
        """Journal a planned request, on its route if it has one (whose lock is held)."""
        seen = plan.memo.get(None)
        if seen is None:  # what the journal says of the plan, the same for every request
            response = plan.response
            status = response.status if response and plan.fault is not Fault.DROP else None
            seen = plan.memo[None] = (status, plan.processed, plan.faulty)
        status, processed, faulty = seen
        entry = JournalEntry(
            request,
            arrival.path,
            arrival.time,
            arrival.monotonic,
            plan.behaviour,
            route,
            status,
            processed,
            resumed_after=plan.resumed_after,
            response=plan.response,
            faulty=faulty,
        )
        if route is not None:
            route.record(entry)
        self.journal.append(entry)
        return entry
