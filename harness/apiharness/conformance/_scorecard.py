"""Scenario results and the scorecard: terminal text, and JSON, HTML and JUnit reports."""

from __future__ import annotations

import json
import os
import shutil
import textwrap
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from apiharness._io import atomic_write
from apiharness.conformance._timeline import AttemptRecord

__all__ = ["ScenarioResult", "Scorecard"]

REPORT_VERSION = 1


@dataclass(frozen=True)
class ScenarioResult:
    """The verdict of one scenario: what the client did against what was expected."""

    scenario: str
    passed: bool
    observed: str
    expected: str
    details: tuple[str, ...] = ()
    client: str = ""
    wall_seconds: float = 0.0
    #: The attempts in virtual time, for the timeline picture of the HTML report.
    attempts: tuple[AttemptRecord, ...] = ()
    #: The client raised outside its declared errors (a crash, not a violated expectation).
    crashed: bool = False

    @property
    def verdict(self) -> str:
        """``PASS``, ``FAIL`` or ``CRASH``."""
        return "PASS" if self.passed else "CRASH" if self.crashed else "FAIL"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["details"] = list(self.details)
        data["attempts"] = [a.to_dict() for a in self.attempts]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScenarioResult:
        return cls(
            scenario=str(data["scenario"]),
            passed=bool(data["passed"]),
            observed=str(data["observed"]),
            expected=str(data["expected"]),
            details=tuple(str(d) for d in data.get("details", ())),
            client=str(data.get("client", "")),
            wall_seconds=float(data.get("wall_seconds", 0.0)),
            attempts=tuple(AttemptRecord.from_dict(a) for a in data.get("attempts", ())),
            crashed=bool(data.get("crashed", False)),
        )

    def explain(self) -> str:
        """A multi-line explanation for a failed test: expectation, observation, journal."""
        lines = [f"[{self.scenario}] expected: {self.expected}", f"observed: {self.observed}"]
        if self.crashed:
            lines[0] = f"[{self.scenario}] CRASH; expected: {self.expected}"
        lines += [f"  {line}" for line in self.details]
        return "\n".join(lines)


def _wrapped(text: str, first: str, rest: str, width: int) -> list[str]:
    return textwrap.wrap(
        text, width, initial_indent=first, subsequent_indent=rest, break_on_hyphens=False
    ) or [first.rstrip()]


@dataclass
class Scorecard:
    """Results in catalogue order; render as a table or a JSON report."""

    results: list[ScenarioResult] = field(default_factory=list)

    @property
    def passed(self) -> int:
        return sum(r.passed for r in self.results)

    @property
    def ok(self) -> bool:
        return bool(self.results) and all(r.passed for r in self.results)

    def extend(self, results: Iterable[ScenarioResult]) -> None:
        self.results.extend(results)

    def sorted(self, order: list[str]) -> Scorecard:
        rank = {name: i for i, name in enumerate(order)}
        key = lambda r: (r.client, rank.get(r.scenario, len(rank)), r.scenario)  # noqa: E731
        return Scorecard(sorted(self.results, key=key))

    def render(self, width: int | None = None, *, verbose: bool = False) -> str:
        """The scorecard as text for a terminal: one block per client, one row per scenario.

        A row says what the client did; a failed one adds what was expected, and with
        ``verbose`` the journal of its attempts. Lines fit ``width`` (default: the terminal's,
        from ``COLUMNS``, at most 100).
        """
        width = max(40, width or min(shutil.get_terminal_size((80, 20)).columns, 100))
        if not self.results:
            return "apiharness conformance: no scenarios were run\n"
        name_w = min(max(len(r.scenario) for r in self.results), width // 3)
        indent = " " * 8  # under the scenario's name; continuation lines get the width
        out: list[str] = []
        for client in dict.fromkeys(r.client for r in self.results):
            rows = [r for r in self.results if r.client == client]
            passed = sum(r.passed for r in rows)
            title = f"apiharness conformance: {client or 'client'}: {passed}/{len(rows)} passed"
            out += _wrapped(title, "", "  ", width)
            for r in rows:
                mark = r.verdict
                head = f"  {mark:<5} {r.scenario:<{name_w}}  "
                if len(head) > width - 10:  # a name too long for a row: on a line of its own
                    out += _wrapped(f"{mark} {r.scenario}", "  ", indent, width)
                    head = indent
                out += _wrapped(r.observed, head, indent, width)
                if not r.passed:
                    out += _wrapped(f"expected: {r.expected}", indent, indent + "  ", width)
                    if verbose:
                        for line in r.details:
                            out += _wrapped(line, indent + "| ", indent + "|   ", width)
            out.append("")
        return "\n".join(out).rstrip() + "\n"

    def to_json(self) -> str:
        clients: dict[str, dict[str, int]] = {}
        for r in self.results:
            entry = clients.setdefault(r.client, {"passed": 0, "failed": 0, "crashed": 0})
            entry["passed" if r.passed else "failed"] += 1
            entry["crashed"] += r.crashed
        report = {
            "version": REPORT_VERSION,
            "summary": clients,
            "results": [r.to_dict() for r in self.results],
        }
        return json.dumps(report, indent=2, sort_keys=True) + "\n"

    def write_json(self, path: str | os.PathLike[str]) -> None:
        """Write the JSON report atomically."""
        atomic_write(path, self.to_json())

    def write_html(self, path: str | os.PathLike[str]) -> None:
        """Write the self-contained HTML report (timelines as inline SVG) atomically."""
        from apiharness.conformance._html import render_html

        atomic_write(path, render_html(self))

    def write_junit(self, path: str | os.PathLike[str]) -> None:
        """Write the scorecard as JUnit XML (a test case per scenario) atomically."""
        from apiharness.conformance._junit import render_junit

        atomic_write(path, render_junit(self))
