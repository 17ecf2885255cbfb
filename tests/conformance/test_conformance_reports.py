"""HTML and JUnit reports of the conformance scorecard (issue 21, point 5).

The HTML page is checked structurally: one timeline picture per scenario, statement and verdict
beside it, attempts drawn in virtual time with the Retry-After asked beside the wait taken, no
secret of the client's in any encoding, and nothing loaded from anywhere.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from apiharness.cli import cli
from apiharness.conformance import grade
from apiharness.conformance._html import LEFT, MAX_MARKS, RIGHT, WIDTH, timeline_svg
from apiharness.conformance._timeline import AttemptRecord
from apiharness.recording import encoded_forms

EXAMPLES = Path(__file__).parent.parent.parent / "examples"
REFERENCE = "shop.reference:make_client"
PICKED = ["retry-after-seconds", "retry-503-burst", "no-retry-4xx", "hang-bounded-8s"]
SECRET = "sk_live_Zq8yS3cr3tT0ken"


class Page(HTMLParser):
    """The tags, attributes and text of a page, as a browser's parser sees them."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.articles: list[dict[str, Any]] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if tag == "article":
            self.articles.append({"class": attributes.get("class"), "svgs": 0, "text": ""})
        elif tag == "svg" and self.articles:
            self.articles[-1]["svgs"] += 1

    def handle_data(self, data: str) -> None:
        if self.articles:
            self.articles[-1]["text"] += data


@pytest.fixture(scope="module")
def card() -> Any:
    return grade(REFERENCE, scenarios=PICKED)


def test_one_timeline_per_scenario_with_statement_and_verdict(card: Any, tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    card.write_html(path)
    page = Page(path.read_text())
    assert len(page.articles) == len(PICKED)
    for article, result in zip(page.articles, card.results, strict=True):
        assert article["svgs"] == 1
        assert article["class"] == f"scenario {'pass' if result.passed else 'fail'}"
        text = " ".join(article["text"].split())
        assert result.scenario in text
        assert ("PASS" if result.passed else "FAIL") in text
        assert " ".join(result.expected.split()) in text
    marks = [a for t, a in page.tags if t == "circle"]
    assert len(marks) == sum(len(r.attempts) for r in card.results)


def test_retry_after_asked_is_drawn_beside_the_wait_taken(card: Any) -> None:
    [result] = [r for r in card.results if r.scenario == "retry-after-seconds"]
    first, second = result.attempts[:2]
    assert (first.status, first.retry_after) == (429, 3.0)
    assert second.t - first.t >= 3.0  # virtual time: the reference client waited as asked
    svg = timeline_svg(result.attempts)
    assert "asked 3 s" in svg
    assert f"waited {second.t - first.t:.2f} s" in svg
    root = ET.fromstring(svg)  # the picture is well-formed XML on its own
    ns = {"s": "http://www.w3.org/2000/svg"}
    asked = root.find("s:g[@class='retry-after']/s:rect", ns)
    waited = root.find("s:g[@class='waited']/s:rect", ns)
    assert asked is not None
    assert waited is not None
    # Drawn to the same scale: the wait taken is at least as long as the wait asked.
    assert float(waited.get("width", 0)) >= float(asked.get("width", 0)) - 0.5


def test_nothing_is_loaded_from_anywhere(card: Any) -> None:
    from apiharness.conformance._html import render_html

    text = render_html(card)
    page = Page(text)
    assert not [t for t, _ in page.tags if t in {"script", "link", "img", "iframe", "object"}]
    assert not [a for _, a in page.tags if "src" in a or "href" in a]
    assert "url(" not in text
    assert "@import" not in text
    # The only URL is the SVG namespace, which is a name, not a fetch.
    assert set(re.findall(r"https?://[^\s\"'<>]+", text)) == {"http://www.w3.org/2000/svg"}


class LeakyAdapter:
    """A client that puts its secret everywhere a request can carry one."""

    errors = (httpx.HTTPError,)

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {SECRET}", "X-Api-Key": SECRET}
        )

    def get(self, path: str) -> object:
        response = self.http.get(path, params={"api_key": SECRET})
        response.raise_for_status()
        return response.json()

    def create(self, path: str, body: dict[str, Any]) -> object:
        response = self.http.post(path, json={**body, "token": SECRET}, params={"key": SECRET})
        response.raise_for_status()
        return response.json()

    def close(self) -> None:
        self.http.close()


def test_no_secret_in_any_report(tmp_path: Path) -> None:
    leaky = grade(LeakyAdapter, scenarios=["retry-503-burst", "post-key-stable", "no-retry-4xx"])
    assert any(r.attempts for r in leaky.results)
    leaky.write_html(tmp_path / "r.html")
    leaky.write_junit(tmp_path / "r.xml")
    leaky.write_json(tmp_path / "r.json")
    for report in tmp_path.iterdir():
        data = report.read_bytes()
        for needle, encoding in encoded_forms(SECRET).items():
            assert needle not in data, f"{report.name}: the secret ({encoding})"


def test_junit_has_a_case_per_scenario_and_a_failure_per_failed_one(
    card: Any, tmp_path: Path
) -> None:
    path = tmp_path / "report.xml"
    card.write_junit(path)
    root = ET.parse(path).getroot()
    [suite] = root.findall("testsuite")
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == PICKED
    failed = [r.scenario for r in card.results if not r.passed]
    assert [c.get("name") for c in cases if c.find("failure") is not None] == failed
    assert suite.get("tests") == str(len(PICKED))
    assert suite.get("failures") == str(len(failed))


attempts = st.lists(
    st.builds(
        AttemptRecord,
        t=st.floats(0, 3600, allow_nan=False),
        method=st.sampled_from(["GET", "POST"]),
        path=st.just("/resources/res_1"),
        answer=st.sampled_from(["200", "429", "503", "reset"]),
        status=st.sampled_from([200, 429, 503, None]),
        retry_after=st.none() | st.floats(0, 7200, allow_nan=False),
    ),
    max_size=150,
).map(lambda xs: tuple(sorted(xs, key=lambda a: a.t)))


@given(attempts)
def test_every_timeline_is_well_formed_and_inside_its_box(shown: tuple[AttemptRecord, ...]) -> None:
    root = ET.fromstring(timeline_svg(shown))
    ns = {"s": "http://www.w3.org/2000/svg"}
    xs = [float(c.get("cx", "nan")) for c in root.iterfind(".//s:circle", ns)]
    assert len(xs) == min(len(shown), MAX_MARKS)
    assert xs == sorted(xs)  # in time order, left to right
    assert all(LEFT - 0.01 <= x <= WIDTH - RIGHT + 0.01 for x in xs)
    for rect in root.iterfind(".//s:rect", ns):
        assert float(rect.get("x", 0)) + float(rect.get("width", 0)) <= WIDTH + 0.01


def test_grade_and_pytest_write_html_and_junit(
    tmp_path: Path, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(EXAMPLES))
    monkeypatch.syspath_prepend(str(EXAMPLES))
    html, junit = tmp_path / "cli.html", tmp_path / "cli.xml"
    args = ["grade", REFERENCE, "-s", "reset-retried", "--html", str(html), "--junit", str(junit)]
    assert CliRunner().invoke(cli, args).exit_code == 0
    assert len(Page(html.read_text()).articles) == 1
    assert ET.parse(junit).getroot().find("testsuite/testcase").get("name") == "reset-retried"

    out = pytester.path / "out"
    result = pytester.runpytest_subprocess(
        "-p",
        "apiharness",
        "-n",
        "2",
        f"--apiharness-conformance={REFERENCE}",
        f"--apiharness-html={out / 'card.html'}",
        f"--apiharness-junit={out / 'card.xml'}",
        f"--apiharness-report={out / 'card.json'}",
        "-k",
        "reset or no-retry or retry-after-seconds",
    )
    result.assert_outcomes(passed=3)
    page = Page((out / "card.html").read_text())
    assert [a["svgs"] for a in page.articles] == [1, 1, 1]
    names = [c.get("name") for c in ET.parse(out / "card.xml").getroot().iter("testcase")]
    assert names == ["retry-after-seconds", "no-retry-4xx", "reset-retried"]
    data = json.loads((out / "card.json").read_text())
    assert all(r["attempts"] for r in data["results"])  # the timeline travels across workers
