"""The Pact specification's own V4 request-matching cases, run through our matching.

The cases are pact-foundation/pact-specification's (branch ``version-4``), vendored unchanged
in ``fixtures/pact-specification`` with their MIT licence; nobody on this team wrote them.
Each names an expected request (with matching rules), an actual one, and whether they match.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from apiharness.contract._pact import actual_message, message_of
from apiharness.contract._pact_matching import mismatches

ROOT = Path(__file__).parents[2] / "fixtures" / "pact-specification"
CASES = sorted((ROOT / "testcases" / "request").rglob("*.json"))


def test_the_cases_are_vendored_with_their_licence() -> None:
    assert "MIT License" in (ROOT / "LICENSE").read_text()
    assert "pact-foundation/pact-specification" in (ROOT / "SOURCE.md").read_text()
    # Every part of a request is covered: method, path, query, headers, JSON/XML/text bodies.
    assert {case.parent.name for case in CASES} == {"method", "path", "query", "headers", "body"}
    assert len(CASES) == 98


@pytest.mark.parametrize("case", CASES, ids=[str(c.relative_to(ROOT / "testcases")) for c in CASES])
def test_request_matching_agrees_with_the_specification(case: Path) -> None:
    data = json.loads(case.read_text())
    found = mismatches(
        message_of(data["expected"], "expected"), message_of(data["actual"], "actual")
    )
    assert (not found) is data["match"], f"{data['comment']}: {found}"


def _as_httpx(actual: dict[str, object]) -> httpx.Request | None:
    """The case's actual request as a client would send it, when httpx can express it."""
    body = actual.get("body")
    if isinstance(body, dict) and isinstance(body.get("content"), dict | list):
        content = json.dumps(body["content"]).encode()
    elif isinstance(body, dict) and isinstance(body.get("content"), str):
        content = body["content"].encode()
    elif body is None:
        content = b""
    else:
        return None
    headers = actual.get("headers") or {}
    query = actual.get("query") or {}
    assert isinstance(headers, dict)
    assert isinstance(query, dict)
    path = str(actual.get("path", "/"))
    if not path.startswith("/"):
        return None  # "" is not a path an HTTP request can carry
    params = [(k, v) for k, values in query.items() for v in values]
    return httpx.Request(
        str(actual.get("method", "GET")),
        "https://api.test" + path,
        params=params,
        headers=[(k, v) for k, v in headers.items() if isinstance(v, str)],
        content=content,
    )


@pytest.mark.parametrize("case", CASES, ids=[str(c.relative_to(ROOT / "testcases")) for c in CASES])
def test_a_served_pact_matches_real_requests_as_the_specification_says(case: Path) -> None:
    # The same verdict when the actual request is a real httpx request (bytes on the way).
    data = json.loads(case.read_text())
    request = _as_httpx(data["actual"])
    if request is None:
        pytest.skip("the actual request cannot be sent by an HTTP client as written")
    request.read()
    found = mismatches(message_of(data["expected"], "expected"), actual_message(request))
    assert (not found) is data["match"], f"{data['comment']}: {found}"
