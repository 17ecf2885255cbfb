"""Terminal output of the commands (issue 21, point 4): progress, colour, width, -v.

rich decides colour and live display; these tests pin what reaches the user: a line per
scenario on stderr as ``grade`` runs, a scorecard that fits the width it is given, colour only
when allowed, and the journal of failing scenarios with ``-v`` (CLI and pytest).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from _openapi import one_operation
from apiharness.cli import cli
from apiharness.conformance import ScenarioResult, Scorecard
from apiharness.contract import fuzz_client

EXAMPLES = Path(__file__).parent.parent / "examples"
NAIVE = "shop.naive_httpx:make_client"
PICKED = ["-s", "retry-503-burst", "-s", "no-retry-4xx"]
ANSI_COLOUR = re.compile(r"\x1b\[[0-9;]*3[0-9]m|\x1b\[[0-9;]*9[0-9]m")

words = st.text(st.characters(codec="ascii", categories=["L", "N"]), min_size=1, max_size=30)
sentences = st.lists(words, max_size=25).map(" ".join)
results = st.builds(
    ScenarioResult,
    scenario=st.from_regex(r"[a-z][a-z0-9-]{0,39}", fullmatch=True),
    passed=st.booleans(),
    observed=sentences,
    expected=sentences,
    details=st.lists(sentences, max_size=4).map(tuple),
    client=st.sampled_from(["shop.reference:make_client", "x:y"]),
)


@settings(max_examples=60)
@given(st.lists(results, min_size=1, max_size=8), st.integers(40, 140), st.booleans())
def test_scorecard_lines_fit_the_width(
    rows: list[ScenarioResult], width: int, verbose: bool
) -> None:
    text = Scorecard(rows).render(width, verbose=verbose)
    for line in text.splitlines():
        # A single word longer than the width can only overflow on its own.
        assert len(line) <= width or " " not in line.strip(), line
    marks = re.findall(r"^  (PASS|FAIL)\b", text, flags=re.MULTILINE)
    grouped = [r for c in dict.fromkeys(r.client for r in rows) for r in rows if r.client == c]
    assert marks == ["PASS" if r.passed else "FAIL" for r in grouped]
    shown_details = any(r.details and not r.passed for r in rows)
    assert ("| " in text) == (
        verbose and shown_details and any("".join(r.details).strip() for r in rows if not r.passed)
    )


def _grade(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    inherited = {k: v for k, v in os.environ.items() if k not in {"NO_COLOR", "FORCE_COLOR"}}
    environ = {**inherited, "PYTHONPATH": str(EXAMPLES), **(env or {})}
    command = [sys.executable, "-c", "from apiharness.cli import main; main()", "grade", NAIVE]
    return subprocess.run(
        [*command, *PICKED, *args],
        check=False,
        capture_output=True,
        text=True,
        env=environ,
        timeout=300,
    )


def test_grade_ticks_per_scenario_on_stderr_and_fits_80_columns() -> None:
    done = _grade(env={"COLUMNS": "80"})
    assert done.returncode == 1, done.stderr
    ticks = done.stderr.splitlines()
    assert [re.sub(r" \(.*", "", line) for line in ticks] == [
        "✓ retry-503-burst",
        "✗ no-retry-4xx",
    ]
    assert done.stdout.startswith(f"apiharness conformance: {NAIVE}: 1/2 passed")
    assert max(len(line) for line in done.stdout.splitlines()) <= 80
    assert not ANSI_COLOUR.search(done.stdout + done.stderr)  # a pipe: no colour
    assert "| attempt 1:" not in done.stdout


def test_grade_verbose_prints_the_journal_of_failing_scenarios() -> None:
    done = _grade("-v", env={"COLUMNS": "60"})
    assert "| attempt 1: GET /resources/missing-400" in done.stdout
    assert max(len(line) for line in done.stdout.splitlines()) <= 60


def test_colour_when_forced_and_none_with_no_color() -> None:
    forced = _grade(env={"FORCE_COLOR": "1"})
    assert ANSI_COLOUR.search(forced.stdout)
    plain = _grade(env={"FORCE_COLOR": "1", "NO_COLOR": "1"})
    assert not ANSI_COLOUR.search(plain.stdout + plain.stderr)


def test_pytest_verbose_prints_the_journal_in_the_scorecard(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(EXAMPLES))
    args = ["-p", "apiharness", f"--apiharness-conformance={NAIVE}", "-k", "no-retry-4xx"]
    quiet = pytester.runpytest_subprocess(*args)
    scorecard = quiet.stdout.str().split("apiharness conformance scorecard")[1]
    assert "| attempt" not in scorecard
    verbose = pytester.runpytest_subprocess(*args, "-v")
    scorecard = verbose.stdout.str().split("apiharness conformance scorecard")[1]
    assert "| attempt 1: GET /resources/missing-400" in scorecard


CAREFUL_SOURCE = """
def careful(target):
    try:
        value = target.http.get("/x").json()
    except ValueError as exc:
        raise ValueError("not JSON") from exc
    if type(value) is not int:
        raise ValueError("not an integer")
"""


@pytest.fixture
def careful_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A client raising ValueError on anything but an integer, importable as `careful_client`."""
    (tmp_path / "careful_client.py").write_text(CAREFUL_SOURCE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    return "careful_client:careful"


INTEGER_SPEC = one_operation({"type": "integer"})


def test_fuzz_reports_every_example_as_it_goes(careful_module: str) -> None:
    from careful_client import careful  # type: ignore[import-not-found]

    seen: list[int] = []
    report = fuzz_client(
        INTEGER_SPEC,
        "getX",
        careful,
        raises=ValueError,
        max_examples=30,
        on_example=lambda counts: seen.append(counts.valid + sum(counts.invalid.values())),
    )
    total = report.valid + sum(report.invalid.values())
    assert seen == list(range(1, total + 1))


def test_fuzz_command_output_has_no_progress_noise_in_a_pipe(
    tmp_path: Path, careful_module: str
) -> None:
    (tmp_path / "spec.json").write_text(json.dumps(INTEGER_SPEC))
    result = CliRunner().invoke(
        cli,
        ["fuzz", "spec.json", "getX", "--call", careful_module, "--raises", "builtins:ValueError"],
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith("getX: no failure; served")
