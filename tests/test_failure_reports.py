"""Failures read as the harness' message, not as the harness' source (issue 21, point 2).

Each inner session fails the way a newcomer's first test does: a wrong declaration, a client
the fuzzer breaks, a request no route answers (found at teardown), a webhook receiver that
accepts forgeries. The report must carry the teaching message and point at the user's line,
and no line of apiharness' own source may appear in it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import apiharness

PACKAGE = Path(apiharness.__file__).parent

FAILING = """
import httpx, pytest
from apiharness.upstream import status
from apiharness.contract import fuzz_client

SPEC = {
    "openapi": "3.0.3", "info": {"title": "t", "version": "1"},
    "paths": {"/x": {"get": {"operationId": "getX", "responses": {"200": {
        "description": "ok", "content": {"application/json": {"schema": {
            "type": "object", "required": ["a"], "properties": {"a": {"type": "integer"}}}}}}}}}},
}

def test_declaration(upstream):
    upstream.route("GET /x", status(99))

def test_fuzz():
    def call(t):
        return t.http.get("/x").json()["a"] + 1
    fuzz_client(SPEC, "getX", call, raises=ValueError, max_examples=20)

@pytest.mark.upstream({"GET /x": status(200)})
def test_teardown(upstream):
    with httpx.Client(transport=upstream, base_url=upstream.base_url) as client:
        client.get("/y")

def test_webhook(webhook_sender):
    def app(environ, start_response):
        start_response("200 OK", [])
        return [b""]
    webhook_sender(app, scheme="stripe", secret="whsec_test", path="/hook").attack().assert_ok()
"""


def _our_source_lines() -> set[str]:
    """Every distinctive line of the package's source (long enough not to occur by chance)."""
    lines = set()
    for path in PACKAGE.rglob("*.py"):
        for line in path.read_text(encoding="utf-8").splitlines():
            stripped = line.strip()
            if len(stripped) >= 25 and not stripped.startswith(("#", '"', "'", 'f"')):
                lines.add(stripped)
    return lines


@pytest.fixture(scope="module")
def our_lines() -> set[str]:
    return _our_source_lines()


def _leaked(output: str, our_lines: set[str]) -> list[str]:
    leaked = [
        line for line in output.splitlines() if re.search(r"apiharness[/\\]\S+\.py:\d+", line)
    ]
    for line in output.splitlines():
        # pytest prints source as "    code" or ">   code"; the message lines start with "E".
        code = line[1:].strip() if line.startswith(">") else line.strip()
        if not line.startswith("E") and code in our_lines:
            leaked.append(line)
    return leaked


def test_failures_show_messages_and_the_users_line_only(
    pytester: pytest.Pytester, our_lines: set[str]
) -> None:
    pytester.makepyfile(test_first_hour=FAILING)
    result = pytester.runpytest_subprocess("-p", "apiharness", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=3, passed=1, errors=1)
    output = result.stdout.str()
    assert _leaked(output, our_lines) == []
    result.stdout.fnmatch_lines(
        [
            '>       upstream.route("GET /x", status(99))',
            "E       apiharness.errors.DeclarationError: status(code) must be an HTTP status*",
            "test_first_hour.py:*: DeclarationError",
        ]
    )
    result.stdout.fnmatch_lines(
        ["E       apiharness.errors.FuzzFailure: getX -> 200: the client raised KeyError*"]
    )
    result.stdout.fnmatch_lines(["UnmatchedRequestError: 1 request(s) matched no route:"])
    result.stdout.fnmatch_lines(
        ["E       AssertionError: the stripe receiver at * handled deliveries wrongly:"]
    )
    # Hypothesis' note about the failing call adds nothing (and printed `drawn=` empty).
    assert "drawn=" not in output
    assert "Failing test case" not in output
    # Under 60 lines for five tests' worth of failures, headers included.
    assert len(output.splitlines()) < 90


def test_fulltrace_still_shows_everything(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_first_hour=FAILING)
    result = pytester.runpytest_subprocess(
        "-p", "apiharness", "-p", "no:cacheprovider", "--fulltrace", "-k", "declaration"
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*apiharness*_behaviours.py:*: DeclarationError"])


def test_a_bug_in_the_harness_keeps_its_traceback(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only errors raised on purpose lose our frames; anything else is a bug to report."""
    pytester.makepyfile(
        """
        from apiharness.upstream import _behaviours

        def test_bug(monkeypatch):
            def broken(where, value):
                raise KeyError("a bug")
            monkeypatch.setattr(_behaviours, "check_status", broken)
            _behaviours.status(200)
        """
    )
    result = pytester.runpytest_subprocess("-p", "apiharness", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*apiharness*_behaviours.py:*: in status"])
