"""Pact V4 export: what a test exercised, never what a fault produced, never a secret."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apiharness import upstream as faults
from apiharness._scrub import Needles
from apiharness.clock import VirtualClock
from apiharness.contract import PactWriter, example_spec, load_pact, pact_interactions
from apiharness.errors import PactError
from apiharness.upstream import Behaviour, Upstream, respond

FAULTS: list[Behaviour] = [
    faults.status(503),
    faults.status(429, retry_after=2),
    faults.reset(),
    faults.close(),
    faults.garbage(),
    faults.hang(),
    faults.truncate(after=2, response=respond(200, json={"n": -1})),
    faults.dribble(2, over=1.0, response=respond(200, json={"n": -2})),
    faults.delay(1.0, then=respond(200, json={"n": -3})),
    faults.drop_after_processing(respond(200, json={"n": -4})),
    faults.malformed_json(),
    faults.wrong_content_type(respond(200, json={"n": -5})),
]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(FAULTS), st.integers(0, 3)), min_size=1, max_size=8))
def test_only_answers_that_stand_for_the_api_are_exported(script: list[Behaviour | int]) -> None:
    up = Upstream()
    behaviours = [respond(200, json={"n": s}) if isinstance(s, int) else s for s in script]
    up.get("/things").respond(*behaviours)
    with (
        VirtualClock().patch(),
        httpx.Client(transport=up, base_url=up.base_url, timeout=5) as http,
    ):
        for _ in script:
            with contextlib.suppress(httpx.HTTPError):
                http.get("/things").read()
    exported = pact_interactions(up)
    bodies = sorted(i["response"]["body"]["content"]["n"] for i in exported)
    assert bodies == sorted(s for s in script if isinstance(s, int))
    assert all(i["response"]["status"] == 200 for i in exported)


def test_rate_limited_answers_are_not_exported_but_admitted_ones_are() -> None:
    up = Upstream()
    up.get("/x").respond(faults.rate_limit(1, per=60, then=respond(200, json={"ok": True})))
    http = httpx.Client(transport=up, base_url=up.base_url)
    assert [http.get("/x").status_code for _ in range(3)] == [200, 429, 429]
    assert [i["response"]["status"] for i in pact_interactions(up)] == [200]


def test_unmatched_requests_are_not_exported() -> None:
    up = Upstream(allow_unmatched=True)
    httpx.Client(transport=up, base_url=up.base_url).get("/nowhere")
    assert pact_interactions(up) == []


SECRETS = {
    "bearer": "sk_live_51Habcdefghijklmnop",
    "key": "AKIAIOSFODNN7EXAMPLE1",
    "tok": "t0k-9f8e7d6c5b4a",
}


def test_secrets_never_reach_the_pact_in_any_encoding(tmp_path: Path) -> None:
    up = Upstream()
    up.post("/login", headers={"Authorization": None}).respond(
        respond(200, json={"access_token": SECRETS["tok"], "user": "ann"})
    )
    http = httpx.Client(transport=up, base_url=up.base_url)
    http.post(
        "/login",
        params={"api_key": SECRETS["key"]},
        headers={"Authorization": f"Bearer {SECRETS['bearer']}"},
        json={"password": SECRETS["tok"], "user": "ann"},
    )
    writer = PactWriter("app", "auth")
    assert writer.add(up) == 1
    written = writer.write(tmp_path).read_bytes()
    assert Needles(SECRETS).find(written) == set()
    request = json.loads(written)["interactions"][0]["request"]
    # The redacted header and parameter match any value: the provider's real ones are secret.
    assert request["matchingRules"]["header"]["authorization"]["matchers"] == [{"match": "type"}]
    assert request["matchingRules"]["query"]["api_key"]["matchers"] == [{"match": "type"}]
    assert request["body"]["content"]["user"] == "ann"


def _charge_id(body: dict[str, Any]) -> str:
    return str(body["id"])


def test_a_spec_backed_upstream_exports_rules_from_the_schema(tmp_path: Path) -> None:
    up = Upstream()
    up.from_spec(example_spec("payments"), seed=3)
    http = httpx.Client(transport=up, base_url=up.base_url)
    got = http.get("/charges/ch_abcdef123")
    assert got.status_code == 200
    [interaction] = pact_interactions(up)
    request, response = interaction["request"], interaction["response"]
    assert request["matchingRules"]["path"]["matchers"][0]["match"] == "regex"
    rules = response["matchingRules"]["body"]
    assert rules["$.id"]["matchers"] == [{"match": "regex", "regex": "^ch_[A-Za-z0-9]{6,24}$"}]
    assert rules["$.amount"]["matchers"] == [{"match": "integer"}]
    assert rules["$.created"]["matchers"] == [{"match": "type"}]
    assert "$.status" not in rules  # an enum: the exact value is the contract
    # Served back, the rules let another charge id through.
    writer = PactWriter("shop", "payments")
    writer.merge([interaction])
    back = Upstream()
    back.from_pact(writer.write(tmp_path))
    again = httpx.Client(transport=back, base_url=back.base_url).get("/charges/ch_zzzzzz999")
    assert (again.status_code, again.json()) == (200, got.json())


def test_a_plain_upstream_exports_exact_values_and_round_trips(tmp_path: Path) -> None:
    up = Upstream(base_url="https://api.test/v2")
    up.get("/items/{id}").respond(lambda r: respond(200, json={"id": r.url.path.rsplit("/", 1)[1]}))
    up.post("/items").respond(respond(201, text="made", headers={"Location": "/v2/items/9"}))
    http = httpx.Client(transport=up, base_url=up.base_url)
    sent = [http.get("/items/1"), http.get("/items/2"), http.post("/items", content=b"\x00\xff")]
    writer = PactWriter("shop", "items")
    assert writer.add(up, states=["two items", ("item", {"id": 1})]) == 3
    path = writer.write(tmp_path)
    loaded = load_pact(path)
    assert [i.request.path for i in loaded] == [
        "/items/1",
        "/items/2",
        "/items",
    ]  # base URL's path off
    assert all("matchingRules" not in i for i in json.loads(path.read_text())["interactions"])
    assert loaded.interactions[0].states == ("two items", "item")
    back = Upstream(base_url="https://api.test/v2")
    back.from_pact(path)
    replay = httpx.Client(transport=back, base_url=back.base_url)
    again = [
        replay.get("/items/1"),
        replay.get("/items/2"),
        replay.post("/items", content=b"\x00\xff"),
    ]
    assert [(r.status_code, r.content) for r in again] == [(r.status_code, r.content) for r in sent]
    assert again[2].headers["location"] == "/v2/items/9"
    assert replay.get("/items/3").status_code == 404  # exact values: only what was exercised


def test_writes_merge_deduplicate_and_keep_descriptions_unique(tmp_path: Path) -> None:
    def exercised(n: int) -> Upstream:
        up = Upstream()
        up.get("/x").respond(respond(200, json={"n": n}))
        httpx.Client(transport=up, base_url=up.base_url).get("/x")
        return up

    first = PactWriter("a", "b")
    first.add(exercised(1))
    first.add(exercised(1))
    assert len(first) == 1
    first.write(tmp_path)
    second = PactWriter("a", "b")
    second.add(exercised(2))
    document = json.loads(second.write(tmp_path).read_text())
    assert sorted(i["description"] for i in document["interactions"]) == [
        "GET /x -> 200",
        "GET /x -> 200 #2",
    ]
    assert document["metadata"]["pactSpecification"]["version"] == "4.0"
    assert len(load_pact(second.write(tmp_path, merge=False))) == 1


@pytest.mark.parametrize("state", [3, ("a", 1), ""])
def test_bad_states_and_names_are_refused(state: Any) -> None:
    with pytest.raises(PactError, match="provider state"):
        PactWriter("a", "b").add(Upstream(), states=[state])
    with pytest.raises(PactError, match="consumer name"):
        PactWriter("", "b")


def test_an_unmergeable_file_is_refused_with_advice(tmp_path: Path) -> None:
    (tmp_path / "a-b.json").write_text("{")
    with pytest.raises(PactError, match="merge=False"):
        PactWriter("a", "b").write(tmp_path)


PLUGIN_TESTS = """
import httpx, pytest
from apiharness.upstream import respond, status

def _get(up, path):
    return httpx.Client(transport=up, base_url=up.base_url).get(path)

@pytest.mark.apiharness_pact(provider="inventory", given="item {n} exists")
def test_item_{n}(upstream):
    upstream.get("/items/{n}").respond(status(503), respond(200, json={{"id": {n}}}))
    assert _get(upstream, "/items/{n}").status_code == 503
    assert _get(upstream, "/items/{n}").json() == {{"id": {n}}}

def test_failing_{n}(upstream):
    upstream.get("/broken/{n}").respond(respond(200))
    _get(upstream, "/broken/{n}")
    assert False

def test_watched_{n}(apiharness_pact):
    from apiharness.upstream import Upstream
    up = apiharness_pact.watch(Upstream(base_url="https://billing.test"))
    apiharness_pact.given("account", id={n})
    up.get("/invoices").respond(respond(200, json=[]))
    _get(up, "/invoices")
"""


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_the_plugin_merges_the_passing_tests_of_every_worker(
    pytester: pytest.Pytester, workers: list[str]
) -> None:
    for n in range(4):
        pytester.makepyfile(**{f"test_part{n}": PLUGIN_TESTS.format(n=n)})
    pytester.makeini("[pytest]\napiharness_pact_consumer = shop\n")
    result = pytester.runpytest("-p", "apiharness", "--apiharness-pact-dir", "pacts", *workers)
    result.assert_outcomes(passed=8, failed=4)
    inventory = json.loads((pytester.path / "pacts" / "shop-inventory.json").read_text())
    assert sorted(i["request"]["path"] for i in inventory["interactions"]) == [
        f"/items/{n}" for n in range(4)
    ]
    assert all(i["response"]["status"] == 200 for i in inventory["interactions"])
    states = sorted(i["providerStates"][0]["name"] for i in inventory["interactions"])
    assert states == [f"item {n} exists" for n in range(4)]
    billing = json.loads((pytester.path / "pacts" / "shop-billing.test.json").read_text())
    params = sorted(i["providerStates"][0]["params"]["id"] for i in billing["interactions"])
    assert params == [0, 1, 2, 3]
    assert sorted(p.name for p in (pytester.path / "pacts").iterdir()) == [
        "shop-billing.test.json",
        "shop-inventory.json",
    ]  # the failing tests' /broken exchanges went nowhere


def test_a_bad_marker_fails_the_test_with_advice(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        @pytest.mark.apiharness_pact(provder="typo")
        def test_x(upstream):
            pass
        """
    )
    result = pytester.runpytest("-p", "apiharness", "--apiharness-pact-dir", "pacts")
    result.stdout.fnmatch_lines(["*apiharness_pact takes only the keywords*"])
    assert result.ret != 0


def test_the_plugin_redacts_secret_environment_values_as_cassettes_do(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "zq-8c1f0e9d7b6a5"
    monkeypatch.setenv("SHOP_API_TOKEN", secret)
    pytester.makepyfile(
        f"""
        import httpx
        from apiharness.upstream import respond

        def test_note(upstream):
            upstream.post("/notes").respond(respond(201, json={{"echo": "{secret}"}}))
            http = httpx.Client(transport=upstream, base_url=upstream.base_url)
            assert http.post("/notes", json={{"note": "{secret}"}}).status_code == 201
        """
    )
    result = pytester.runpytest("-p", "apiharness", "--apiharness-pact-dir", "pacts")
    result.assert_outcomes(passed=1)
    [written] = (pytester.path / "pacts").iterdir()
    assert written.name == f"{pytester.path.name}-api.test.json"
    assert Needles({"token": secret}).find(written.read_bytes()) == set()
    assert "/notes" in written.read_text()
