"""``Upstream.from_pact``: pacts written by pact-python's consumer API, served with their rules,
composed with the upstream's faults, in-process and on a loopback socket."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from apiharness.contract import load_pact
from apiharness.errors import PactError, UnmatchedRequestError
from apiharness.upstream import Upstream, reset, status, truncate

pact_python = pytest.importorskip("pact")


@pytest.fixture(scope="module")
def consumer_pact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A pact written by pact-python's own consumer API (V4), with rules of several kinds."""
    from pact import Pact, match

    folder = tmp_path_factory.mktemp("pacts")
    pact = Pact("shop", "inventory").with_specification("V4")
    (
        pact.upon_receiving("get an item")
        .given("item 7 exists", {"id": 7})
        .with_request("GET", match.regex("/items/7", regex=r"^/items/\d+$"))
        .with_header("Accept", "application/json")
        .with_query_parameter("expand", match.str("price"))
        .will_respond_with(200)
        .with_body(
            {"id": match.int(7), "name": match.str("lamp"), "tags": match.each_like("red")},
            content_type="application/json",
        )
    )
    (
        pact.upon_receiving("create an item")
        .with_request("POST", "/items")
        .with_body(
            {"name": match.str("lamp"), "price": match.number(9.5)},
            content_type="application/json",
        )
        .will_respond_with(201)
        .with_body({"id": 8}, content_type="application/json")
    )
    pact.write_file(folder, overwrite=True)
    return folder / "shop-inventory.json"


def _client(up: Upstream) -> httpx.Client:
    return httpx.Client(transport=up, base_url=up.base_url, timeout=5)


def test_a_pact_python_pact_loads(consumer_pact: Path) -> None:
    loaded = load_pact(consumer_pact)
    assert (loaded.consumer, loaded.provider) == ("shop", "inventory")
    assert loaded.specification.startswith("4")
    assert {i.description for i in loaded} == {"get an item", "create an item"}
    assert next(i for i in loaded if i.states).states == ("item 7 exists",)


def test_requests_are_served_by_the_rules_not_the_examples(consumer_pact: Path) -> None:
    up = Upstream()
    up.from_pact(consumer_pact)
    http = _client(up)
    # Another id (path regex), another expand value (type rule): still the interaction.
    got = http.get("/items/12", params={"expand": "stock"}, headers={"Accept": "application/json"})
    assert got.status_code == 200
    assert got.json() == {"id": 7, "name": "lamp", "tags": ["red"]}
    assert got.headers["content-type"] == "application/json"
    made = http.post("/items", json={"name": "desk", "price": 120})
    assert (made.status_code, made.json()) == (201, {"id": 8})
    up.verify()


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "reason"),
    [
        ("GET", "/items/abc", {"params": {"expand": "x"}}, "path"),
        ("GET", "/items/7", {"params": {"expand": "x", "debug": "1"}}, "unexpected query"),
        ("POST", "/items", {"json": {"name": 5, "price": 1}}, "$.name"),
        ("POST", "/items", {"json": {"name": "a", "price": "1"}}, "$.price"),
        ("POST", "/items", {"json": {"name": "a", "price": 1, "x": 1}}, "unexpected key"),
    ],
)
def test_a_request_outside_the_contract_is_a_404_and_fails_verify(
    consumer_pact: Path, method: str, path: str, kwargs: dict[str, object], reason: str
) -> None:
    up = Upstream()
    up.from_pact(consumer_pact)
    got = _client(up).request(method, path, headers={"Accept": "application/json"}, **kwargs)  # type: ignore[arg-type]
    assert got.status_code == 404
    assert got.headers["x-apiharness"] == "pact-mismatch"
    assert reason in got.text
    with pytest.raises(UnmatchedRequestError, match="satisfies no interaction"):
        up.verify()


def test_faults_compose_with_the_served_interactions(consumer_pact: Path) -> None:
    up = Upstream()
    served = up.from_pact(consumer_pact)
    served.route("create an item").respond(
        status(503),
        truncate(after=3, response=served.response("create an item")),
        served.responder(),
    )
    http = _client(up)
    body = {"name": "desk", "price": 1.5}
    assert http.post("/items", json=body).status_code == 503
    with pytest.raises(httpx.RemoteProtocolError):
        http.post("/items", json=body)
    assert http.post("/items", json=body).json() == {"id": 8}
    assert [e.status for e in up.journal] == [503, 201, 201]
    assert [e.faulty for e in up.journal] == [True, True, False]


def test_faults_compose_on_a_loopback_socket(consumer_pact: Path) -> None:
    up = Upstream()
    served = up.from_pact(consumer_pact)
    served.route("get an item").respond(reset(), served.responder())
    with up.serve() as server, httpx.Client(base_url=server.base_url, timeout=5) as http:
        query = {"expand": "price"}
        accept = {"Accept": "application/json"}
        with pytest.raises(httpx.ReadError):
            http.get("/items/7", params=query, headers=accept)
        assert http.get("/items/7", params=query, headers=accept).json()["id"] == 7


def test_states_choose_the_interactions(consumer_pact: Path) -> None:
    up = Upstream()
    served = up.from_pact(consumer_pact, states=[])
    assert [i.description for i in served] == ["create an item"]
    with pytest.raises(PactError, match="no interaction 'get an item'"):
        served.route("get an item")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "not valid JSON"),
        ("[]", "is not a pact"),
        ('{"interactions": [{"request": {}}]}', "no response object"),
        (
            json.dumps(
                {
                    "interactions": [
                        {
                            "request": {
                                "path": "/",
                                "matchingRules": {"body": {"$.a": {"matchers": [{"match": "x"}]}}},
                            },
                            "response": {"status": 200},
                        }
                    ]
                }
            ),
            "the matcher 'x' is not supported",
        ),
        ('{"interactions": [{"request": {}, "response": {"status": 99}}]}', "HTTP status code"),
        ('{"interactions": []}', "no HTTP interactions"),
    ],
)
def test_bad_pacts_are_refused_with_advice(tmp_path: Path, content: str, message: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    with pytest.raises(PactError, match=message):
        Upstream().from_pact(bad)


def test_the_mock_command_refuses_a_bad_pact_and_needs_one_source(tmp_path: Path) -> None:
    from apiharness.cli import cli

    bad = tmp_path / "bad.json"
    bad.write_text("{")
    result = CliRunner().invoke(cli, ["mock", "--pact", str(bad)])
    assert result.exit_code == 2
    assert "not valid JSON" in result.output
    neither = CliRunner().invoke(cli, ["mock"])
    assert neither.exit_code == 2
    assert "one of the two" in neither.output


def test_the_mock_command_serves_a_pact(consumer_pact: Path) -> None:
    import shutil
    import signal
    import subprocess
    import sys

    exe = shutil.which("apiharness", path=str(Path(sys.executable).parent))
    assert exe is not None
    with subprocess.Popen(
        [exe, "mock", "--pact", str(consumer_pact)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            assert process.stdout is not None
            base_url = process.stdout.readline().strip()
            made = httpx.post(base_url + "/items", json={"name": "a", "price": 2}, timeout=10)
            assert (made.status_code, made.json()) == (201, {"id": 8})
            assert httpx.post(base_url + "/items", json={}, timeout=10).status_code == 404
        finally:
            process.send_signal(signal.SIGTERM)
            _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "2 interactions of the pact" in err


def test_pact_paths_match_segment_by_segment(tmp_path: Path) -> None:
    # Pact files hold paths decoded; a request's path is split on "/" before decoding, so a
    # "%2F" is data inside a segment (RFC 3986 section 2.2) and braces or spaces are text.
    from pact import Pact

    pact = Pact("shop", "files").with_specification("V4")
    pact.upon_receiving("a nested file").with_request("GET", "/files/a/b").will_respond_with(200)
    (
        pact.upon_receiving("a file named with braces")
        .with_request("GET", "/files/report {2024}.txt")
        .will_respond_with(204)
    )
    pact.write_file(tmp_path, overwrite=True)
    up = Upstream()
    up.from_pact(tmp_path / "shop-files.json")
    http = _client(up)
    assert http.get("/files/a/b").status_code == 200
    assert http.get("/files/report%20%7B2024%7D.txt").status_code == 204
    assert http.get("/files/a%2Fb").status_code == 404  # one segment "a/b", not two
    with pytest.raises(UnmatchedRequestError):
        up.verify()
