"""The conformance suite as pytest items: selection, scorecard, JSON report, xdist, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
NAIVE = "shop.naive_httpx:make_client"


@pytest.fixture(autouse=True)
def _examples_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(EXAMPLES))


def test_one_item_per_scenario_selectable_with_k(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess(
        "-p", "apiharness", f"--apiharness-conformance={NAIVE}", "-k", "retry-after or jitter"
    )
    result.assert_outcomes(failed=6, passed=1, deselected=16)
    assert "collected 23 items / 16 deselected / 7 selected" in result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "*apiharness conformance scorecard*",
            f"apiharness conformance: {NAIVE}: 1/7 passed",
            "*FAIL*retry-after-seconds*attempt 2 came 0.0 s*",
            "FAILED apiharness-conformance::jitter*",
        ]
    )


def test_collect_only_lists_every_scenario(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess(
        "-p", "apiharness", f"--apiharness-conformance={NAIVE}", "--collect-only", "-q"
    )
    result.stdout.fnmatch_lines(
        [
            "apiharness-conformance::retry-503-burst",
            "apiharness-conformance::rate-limit-window-respected",
        ]
    )
    assert "23 tests collected" in result.stdout.str()


def test_report_is_aggregated_across_xdist_workers(pytester: pytest.Pytester) -> None:
    report = pytester.path / "out" / "card.json"
    result = pytester.runpytest_subprocess(
        "-p",
        "apiharness",
        "-n",
        "2",
        f"--apiharness-conformance={NAIVE}",
        f"--apiharness-report={report}",
        "-k",
        "retry-503 or reset or no-retry or attempts",
    )
    result.assert_outcomes(passed=3, failed=1)
    data = json.loads(report.read_text())
    assert data["version"] == 1
    assert data["summary"] == {NAIVE: {"passed": 3, "failed": 1, "crashed": 0}}
    assert [r["scenario"] for r in data["results"]] == [
        "retry-503-burst",
        "no-retry-4xx",
        "attempts-bounded",
        "reset-retried",
    ]
    assert all(r["details"] for r in data["results"])


def test_bad_factory_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess(
        "-p", "apiharness", "--apiharness-conformance=shop.naive_httpx:nope"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: apiharness: module 'shop.naive_httpx' has no attribute*"])


def test_fixture_grades_from_users_own_tests(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.parametrize("scenario", ["reset-retried", "no-retry-4xx"])
        def test_my_client(scenario, apiharness_conformance):
            apiharness_conformance.check(scenario, "{NAIVE}")
        """
    )
    result = pytester.runpytest_subprocess("-p", "apiharness")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "?no-retry-4xx? expected: a 400 or 404 is not retried*",
            "*FAIL*no-retry-4xx*400 tried 3 times*",
            "FAILED test_fixture_grades_from_users_own_tests.py::test_my_client?no-retry-4xx?*",
        ]
    )


def test_a_factory_that_raises_stops_the_run_once_with_its_traceback(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        broken="""
        def make_client(base_url):
            settings = {}
            return settings["api_key"]
        """
    )
    result = pytester.runpytest_subprocess(
        "-p", "apiharness", "--apiharness-conformance=broken:make_client"
    )
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    # Count in the failure reports only: the short summary repeats the message's first line
    # uncut when CI is set (pytest does not truncate it there): that says nothing about repeats.
    reports = out.split("short test summary info")[0]
    assert reports.count("the client factory make_client(") == 1  # once, not per scenario
    assert "Interrupted: apiharness conformance: the client factory raised" in out
    result.stdout.fnmatch_lines(
        ["*raised KeyError*", "*broken.py*line 3*", "*KeyError: 'api_key'*"]
    )
