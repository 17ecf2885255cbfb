"""Scenario results and the scorecard: a terminal table and a JSON report."""

from __future__ import annotations

import json
import os
import shutil
import textwrap
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from apiharness._io import atomic_write

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
    #: The client raised outside its declared errors (a crash, not a violated expectation).
    crashed: bool = False

    @property
    def verdict(self) -> str:
        """``PASS``, ``FAIL`` or ``CRASH``."""
        return "PASS" if self.passed else "CRASH" if self.crashed else "FAIL"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["details"] = list(self.details)
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
            crashed=bool(data.get("crashed", False)),
        )

    def explain(self) -> str:
        """A multi-line explanation for a failed test: expectation, observation, journal."""
        lines = [f"[{self.scenario}] expected: {self.expected}", f"observed: {self.observed}"]
        if self.crashed:
            lines[0] = f"[{self.scenario}] CRASH; expected: {self.expected}"
        lines += [f"  {line}" for line in self.details]
        return "\n".join(lines)


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

    def render(self, width: int | None = None) -> str:
        """The scorecard as a terminal table, one block per client."""
        width = width or min(shutil.get_terminal_size((110, 20)).columns, 140)
        if not self.results:
            return "apiharness conformance: no scenarios were run"
        name_w = max(len(r.scenario) for r in self.results)
        text_w = max(20, (width - name_w - 10) // 2)
        out: list[str] = []
        clients = list(dict.fromkeys(r.client for r in self.results))
        for client in clients:
            rows = [r for r in self.results if r.client == client]
            passed = sum(r.passed for r in rows)
            out.append(f"apiharness conformance: {client or 'client'}: {passed}/{len(rows)} passed")
            header = f"        {'scenario':<{name_w}}  {'what the client did':<{text_w}}  expected"
            out.append(header)
            out.append("  " + "-" * (len(header) - 2 + text_w // 2))
            for r in rows:
                did = textwrap.wrap(r.observed, text_w) or [""]
                exp = textwrap.wrap(r.expected, text_w) or [""]
                mark = r.verdict
                for i in range(max(len(did), len(exp))):
                    left = f"  {mark:<5} {r.scenario:<{name_w}}" if i == 0 else " " * (name_w + 8)
                    d = did[i] if i < len(did) else ""
                    e = exp[i] if i < len(exp) else ""
                    out.append(f"{left}  {d:<{text_w}}  {e}".rstrip())
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
