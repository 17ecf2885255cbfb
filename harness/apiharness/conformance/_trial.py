"""One scenario's run: a served upstream, a virtual clock, the client, and a watchdog.

The client under test runs in a worker thread that belongs to the scenario's virtual clock. If
it has not returned within the scenario's wall limit (a client with no timeout against a hung
upstream), the trial records a timeout and shuts the server down, which unblocks the client; the
run goes on instead of hanging. When the scenario ends its clock is closed: a thread that
outlives it sleeps in real time and never touches the next scenario's clock or upstream.

A call that raises outside the adapter's declared ``errors`` is a *crash*: the trial keeps the
first one with its type, its message (with the secrets the client sent scrubbed) and the frame
in the client's own code where it was raised, so the scorecard can tell it from a violated
expectation.
"""

from __future__ import annotations

import contextlib
import os
import sysconfig
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apiharness._scrub import scrub
from apiharness.clock import VirtualClock
from apiharness.conformance._adapter import ClientFactory, Driver
from apiharness.conformance._resource import COLLECTION_PATH, NEW_RESOURCE, RESOURCE_PATH
from apiharness.recording import Redactor
from apiharness.upstream import Journal, LoopbackServer, Upstream

__all__ = ["Outcome", "Trial", "Verdict"]

_perf = time.perf_counter  # wall time; never patched by the virtual clock
_TIMELINE_HEAD, _TIMELINE_TAIL = 8, 2  # journal lines shown in an explanation


@dataclass(frozen=True)
class Verdict:
    passed: bool
    observed: str
    details: tuple[str, ...] = ()


@dataclass
class Outcome:
    """What one call through the adapter did."""

    value: object = None
    error: BaseException | None = None
    typed: bool = False
    timed_out: bool = False
    virtual_seconds: float = 0.0
    wall_seconds: float = 0.0

    def describe(self) -> str:
        if self.timed_out:
            return f"did not return within {self.wall_seconds:.1f} s"
        if self.error is None:
            return "returned"
        kind = "" if self.typed else " (not one of its declared errors)"
        return f"raised {type(self.error).__name__}{kind}"


@dataclass
class Trial:
    """The world a scenario acts on: ``up`` (the upstream), ``clock``, and the client."""

    up: Upstream
    clock: VirtualClock
    server: LoopbackServer
    factory: ClientFactory
    wall_limit: float
    drivers: list[Driver] = field(default_factory=list)
    #: A client certificate (PEM path) to hand the factories made from now on (mutual TLS).
    client_cert: str | None = None
    #: The first call that raised outside the declared errors, described (see the module doc).
    crash: str | None = None
    _driver: Driver | None = None

    # -- the client ----------------------------------------------------------------------

    @property
    def client(self) -> Driver:
        if self._driver is None:
            self._driver = Driver(self.factory, self.server.base_url, client_cert=self.client_cert)
            self.drivers.append(self._driver)
        return self._driver

    def fresh(self) -> None:
        """Forget the upstream's routes and journal, and use a new client from now on."""
        self.up.reset()
        self._driver = None

    def get(self, path: str = RESOURCE_PATH) -> Outcome:
        return self._call(lambda: self.client.get(path))

    def create(self, path: str = COLLECTION_PATH, body: dict[str, Any] | None = None) -> Outcome:
        payload = body if body is not None else NEW_RESOURCE
        return self._call(lambda: self.client.create(path, payload))

    def stream(self, path: str, *, catalogue: str = "streaming") -> Outcome:
        """Read the stream at ``path`` through the adapter; ``value`` is the list of data."""
        self.client.require_stream(catalogue)
        return self._call(lambda: self.client.stream(path))

    def _call(self, call: Callable[[], object]) -> Outcome:
        driver = self.client
        outcome = Outcome()
        started_virtual, started_wall = self.clock.monotonic(), _perf()

        def work() -> None:
            try:
                outcome.value = call()
            except BaseException as exc:
                outcome.error = exc
                outcome.typed = isinstance(exc, driver.errors)

        worker = threading.Thread(target=work, name="apiharness-conformance-client", daemon=True)
        self.clock.adopt(worker)
        worker.start()
        worker.join(self.wall_limit)
        if worker.is_alive():
            outcome.timed_out = True
            # Unblock the client so the thread can end; its result no longer matters.
            self.server.stop()
        elif outcome.error is not None and not outcome.typed and self.crash is None:
            self.crash = describe_crash(outcome.error, self.up.journal)
        outcome.virtual_seconds = self.clock.monotonic() - started_virtual
        outcome.wall_seconds = _perf() - started_wall
        return outcome

    # -- the journal ---------------------------------------------------------------------

    def count(self, method: str | None = None, path: str | None = None) -> int:
        return self.up.journal.count(method, path)

    def timeline(self) -> tuple[str, ...]:
        """The journal as lines a person reads: each attempt, its gap, and its answer."""
        entries = self.up.journal.entries
        lines = []
        for k, entry in enumerate(entries, start=1):
            if _TIMELINE_HEAD < k <= len(entries) - _TIMELINE_TAIL:
                if k == _TIMELINE_HEAD + 1:
                    lines.append(f"... {len(entries) - _TIMELINE_HEAD - _TIMELINE_TAIL} more ...")
                continue
            answer = str(entry.status) if entry.status is not None else repr(entry.behaviour)
            key = entry.headers.get("idempotency-key")
            keyed = f" [Idempotency-Key {key[:8]}…]" if key else ""
            when = f"t={entry.monotonic:.2f} s"
            if k > 1:
                when += f" (+{entry.monotonic - entries[k - 2].monotonic:.2f} s)"
            lines.append(f"attempt {k}: {entry.method} {entry.path} {when}{keyed} -> {answer}")
        return tuple(lines)

    # -- verdicts ------------------------------------------------------------------------

    def ok(self, observed: str) -> Verdict:
        return Verdict(True, observed, self.timeline())

    def fail(self, observed: str) -> Verdict:
        return Verdict(False, observed, self.timeline())

    def close(self) -> None:
        for driver in self.drivers:
            with contextlib.suppress(Exception):
                driver.close()
        self.clock.close()


_NOT_THE_CLIENTS = tuple(
    path for path in {sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["purelib"]} if path
)


def _known_secrets(journal: Journal) -> set[str]:
    """Values of the secret headers the client sent (Authorization, API keys …)."""
    redactor = Redactor()
    secrets = set()
    for entry in journal.entries:
        for name, value in entry.headers.items():
            if redactor.is_secret_header(name) and value:
                secrets.add(value)
                secrets.update(part for part in value.split() if len(part) >= 8)
    return secrets


def describe_crash(error: BaseException, journal: Journal) -> str:
    """``Type: message at file:line in function``, secrets scrubbed, in the client's code."""
    # In every encoding, with the secrets of the environment too (scrub's placeholder).
    message = scrub(str(error), _known_secrets(journal), environment=True)
    frames = traceback.extract_tb(error.__traceback__)
    own = [
        f
        for f in frames
        if not f.filename.startswith(_NOT_THE_CLIENTS) and "/apiharness/" not in f.filename
    ]
    where = ""
    if own or frames:
        frame = (own or frames)[-1]
        path = Path(frame.filename)
        with contextlib.suppress(ValueError):
            path = path.relative_to(Path.cwd())
        where = f" at {path}:{frame.lineno} in {frame.name}"
    text = f"{type(error).__name__}: {message}" if message else type(error).__name__
    return f"{text[:300]}{where}"


#: The variables that tell clients which CAs to trust: httpx, ssl and urllib3; requests.
TRUST_VARIABLES = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")


@contextlib.contextmanager
def trusting(ca_path: str | None) -> Iterator[None]:
    """While the block runs, point the trust variables at ``ca_path`` (None: leave them)."""
    if ca_path is None:
        yield
        return
    saved = {name: os.environ.get(name) for name in TRUST_VARIABLES}
    os.environ.update(dict.fromkeys(TRUST_VARIABLES, ca_path))
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def ticking(clock: VirtualClock, step: float = 0.01) -> Iterator[None]:
    """Let virtual time flow at least as fast as real time while the block runs.

    For scenarios where the client blocks for real (a socket read timeout), so that its
    deadline, measured on the virtual clock, still sees time pass.
    """
    stop = threading.Event()

    def tick() -> None:
        last = _perf()
        while not stop.wait(step):
            now = _perf()
            clock.advance(now - last)
            last = now

    ticker = threading.Thread(target=tick, name="apiharness-conformance-ticker", daemon=True)
    ticker.start()
    try:
        yield
    finally:
        stop.set()
        ticker.join()
