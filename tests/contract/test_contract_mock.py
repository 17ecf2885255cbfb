"""The spec-driven mock: examples and generated bodies, request validation, faults per route,
the `apiharness mock` command, and Schemathesis checking the mock against its own spec."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from apiharness.contract import load_spec
from apiharness.contract._schemathesis import run_schemathesis
from apiharness.upstream import Upstream, reset, status

FIXTURES = Path(__file__).parents[2] / "fixtures" / "openapi"
PAYMENTS = FIXTURES / "payments.yaml"
USERS = FIXTURES / "users-items.yaml"
SPEC = load_spec(PAYMENTS)
BASES = {PAYMENTS: "/v1", USERS: ""}


def client_for(up: Upstream) -> httpx.Client:
    return httpx.Client(transport=up, base_url=up.base_url)


def mock_of(paths: dict[str, Any]) -> tuple[Upstream, httpx.Client]:
    """An upstream serving a minimal OpenAPI 3.1 description with these paths, and a client."""
    up = Upstream()
    up.from_spec({"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "paths": paths})
    return up, client_for(up)


def test_serves_examples_then_generated_valid_bodies() -> None:
    up = Upstream(base_url="https://api.test/v1", seed=3)
    up.from_spec(SPEC)
    http = client_for(up)
    created = http.post(
        "/cards", json={"number": "4242424242424242", "exp_month": 1, "exp_year": 2030}
    )
    assert created.status_code == 201
    assert created.json()["id"] == "card_1a2b3c"  # the spec's example
    bodies = [http.get(f"/charges/ch_abc{i:03d}") for i in range(6)]
    for response in bodies:
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        SPEC.validate_response("getCharge", 200, response.content)
    assert len({r.content for r in bodies}) > 1  # a pool, not one body
    assert http.delete("/cards/card_abcdef").status_code == 204


def test_same_seed_same_bodies() -> None:
    def bodies(seed: int) -> list[bytes]:
        up = Upstream(seed=seed)
        up.from_spec(SPEC)
        http = client_for(up)
        return [http.get("/charges/ch_abcdef").content for _ in range(4)]

    assert bodies(5) == bodies(5)
    assert bodies(5) != bodies(6)


def test_bad_requests_get_problem_json() -> None:
    up = Upstream(base_url="https://api.test/v1")
    up.from_spec(SPEC)
    http = client_for(up)
    missing_header = http.post("/charges", json={"amount": 1, "currency": "usd", "source": "t"})
    assert missing_header.status_code == 400
    assert missing_header.headers["content-type"] == "application/problem+json"
    assert "Idempotency-Key" in missing_header.json()["detail"]
    invalid = http.post(
        "/charges",
        json={"amount": 0, "currency": "usd", "source": "t"},
        headers={"Idempotency-Key": "k1"},
    )
    assert invalid.status_code == 422
    problem = invalid.json()
    assert problem["errors"] == [{"pointer": "/amount", "message": problem["detail"]}]
    SPEC.validate_response("createCharge", 422, invalid.content)
    not_json = http.post(
        "/charges",
        content=b"{",
        headers={"Idempotency-Key": "k", "Content-Type": "application/json"},
    )
    assert not_json.status_code == 400
    assert http.get("/charges", params={"limit": "500"}).status_code == 400
    assert http.get("/charges", params={"limit": "ten"}).status_code == 400
    assert http.get("/charges", params={"limit": "10"}).status_code == 200


def test_problem_falls_back_to_documented_error_schema() -> None:
    # getUser documents 404 only: a bad path parameter names no such user, in its schema.
    up = Upstream()
    up.from_spec(USERS)
    answer = client_for(up).get("/users/0")
    assert answer.status_code == 404
    assert answer.json()["status"] == 404
    load_spec(USERS).validate_response("getUser", 404, answer.content)


def test_a_bad_request_never_gets_an_undocumented_status() -> None:
    # The operation documents 200 only: a bad request is answered as documented, and the
    # problem is named in a header instead of an invented 400.
    _, http = mock_of(
        {
            "/n": {
                "get": {
                    "parameters": [{"name": "q", "in": "query", "schema": {"type": "integer"}}],
                    "responses": {"200": {"description": "ok"}},
                }
            }
        }
    )
    answer = http.get("/n", params={"q": "ten"})
    assert answer.status_code == 200
    assert "'q'" in answer.headers["apiharness-problem"]
    assert "apiharness-problem" not in http.get("/n", params={"q": "10"}).headers


def test_validation_can_be_turned_off() -> None:
    up = Upstream(base_url="https://api.test/v1")
    up.from_spec(SPEC, validate_requests=False)
    answer = client_for(up).post("/charges", json={})
    assert answer.status_code == 201


def test_faults_per_route_keep_validation() -> None:
    up = Upstream(base_url="https://api.test/v1")
    mock = up.from_spec(SPEC)
    mock.route("getCharge").respond(status(503).times(1), reset(), mock.answer("getCharge"))
    http = client_for(up)
    assert http.get("/charges/ch_abcdef").status_code == 503
    with pytest.raises(httpx.ReadError):
        http.get("/charges/ch_abcdef")
    assert http.get("/charges/ch_abcdef").status_code == 200
    # The policy survives a new script (getCharge documents 404, not 400, for a bad id).
    assert http.get("/charges/bad").status_code == 404
    assert up.journal.count("GET", "/v1/charges/ch_abcdef") == 3
    errors = mock.answer("createCharge", 429)
    mock.route("createCharge").respond(errors)
    limited = http.post(
        "/charges",
        json={"amount": 1, "currency": "usd", "source": "t"},
        headers={"Idempotency-Key": "k"},
    )
    assert limited.status_code == 429
    SPEC.validate_response("createCharge", 429, limited.content)


def test_served_on_loopback() -> None:
    up = Upstream(base_url="https://api.test/v1")
    up.from_spec(SPEC)
    with up.serve() as server:
        answer = httpx.get(server.base_url + "/cards/card_abcdef")
    assert answer.status_code == 200
    SPEC.validate_response("getCard", 200, answer.content)


@pytest.mark.parametrize("spec", [PAYMENTS, USERS], ids=["payments", "users-items"])
def test_schemathesis_finds_no_lie_in_the_mock(spec: Path) -> None:
    up = Upstream(base_url="https://api.test" + BASES[spec], seed=0)
    up.from_spec(spec)
    with up.serve() as server:
        report = run_schemathesis(spec, base_url=server.base_url, max_examples=8)
        server.check()
    assert report.operations == len(load_spec(spec).operations)
    assert report.ok, report.format()


def test_schemathesis_catches_a_lying_mock() -> None:
    up = Upstream(base_url="https://api.test")
    mock = up.from_spec(USERS)
    from apiharness.upstream import respond

    mock.route("getUser").respond(respond(200, json={"id": "not-an-int"}))
    with up.serve() as server:
        report = run_schemathesis(
            USERS, base_url=server.base_url, max_examples=3, operations=["getUser"]
        )
    assert list(report.failures) == ["GET /users/{id}"]


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_mock_command_serves_and_stops_cleanly(how: signal.Signals) -> None:
    exe = shutil.which("apiharness", path=str(Path(sys.executable).parent))
    assert exe is not None
    command = [exe, "mock", str(PAYMENTS), "--seed", "4"]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        try:
            assert process.stdout is not None
            base_url = process.stdout.readline().strip()
            assert base_url.startswith("http://127.0.0.1:")
            assert base_url.endswith("/v1")
            answer = httpx.get(base_url + "/cards/card_abcdef", timeout=10)
            assert answer.status_code == 200
            SPEC.validate_response("getCard", 200, answer.content)
        finally:
            process.send_signal(how)
            _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "stopped" in err


def test_mock_command_survives_what_a_client_sends() -> None:
    # On main, a NUL byte in the path or a malformed Host was a 500, then exit 1.
    exe = shutil.which("apiharness", path=str(Path(sys.executable).parent))
    assert exe is not None
    hostile = [
        b"GET /v1/cards/a\x00b HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /v1/cards/card_abcdef HTTP/1.1\r\nHost: evil.example/x?\r\n\r\n",
        b"POST /v1/cards HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n",
    ]
    with subprocess.Popen(
        [exe, "mock", str(PAYMENTS)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        try:
            assert process.stdout is not None
            base_url = process.stdout.readline().strip()
            port = httpx.URL(base_url).port
            assert port is not None
            for payload in hostile:
                with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                    sock.sendall(payload)
                    assert sock.recv(65536).startswith(b"HTTP/1.1 400 ")
            process.wait(timeout=1.5)  # the CLI checks for server errors every 0.5 s
        except subprocess.TimeoutExpired:
            pass  # still serving, as it should
        finally:
            assert process.poll() is None, "apiharness mock exited because of a client"
            assert httpx.get(base_url + "/cards/card_abcdef", timeout=10).status_code == 200
            process.send_signal(signal.SIGTERM)
            _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err


def test_mock_command_rejects_a_bad_spec(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from apiharness.cli import cli

    bad = tmp_path / "bad.yaml"
    bad.write_text("openapi: 3.1.0\npaths:\n  users: {}\n")
    result = CliRunner().invoke(cli, ["mock", str(bad)])
    assert result.exit_code == 2
    assert "must start with '/'" in result.output


def test_required_response_headers_are_sent() -> None:
    document = {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "paths": {
            "/limits": {
                "get": {
                    "responses": {
                        "200": {
                            "description": "ok",
                            "headers": {
                                "X-Rate-Remaining": {"$ref": "#/components/headers/Remaining"}
                            },
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        }
                    }
                }
            }
        },
        "components": {
            "headers": {
                "Remaining": {
                    "required": True,
                    "schema": {"$ref": "#/components/schemas/Count"},
                }
            },
            "schemas": {"Count": {"type": "integer", "minimum": 0, "maximum": 100}},
        },
    }
    up = Upstream()
    up.from_spec(document)
    answer = client_for(up).get("/limits")
    assert 0 <= int(answer.headers["X-Rate-Remaining"]) <= 100


def test_an_encoded_slash_is_part_of_a_path_parameter() -> None:
    # RFC 3986 section 2.2: "%2F" inside a segment is data. /files/a%2Fb is the file "a/b",
    # not version "b" of the file "a".
    def answering(text: str, *names: str) -> dict[str, object]:
        return {
            "get": {
                "parameters": [
                    {"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                    for n in names
                ],
                "responses": {
                    "200": {
                        "description": "ok",
                        "content": {"text/plain": {"schema": {"type": "string"}, "example": text}},
                    }
                },
            }
        }

    _, http = mock_of(
        {
            "/files/{name}": answering("file", "name"),
            "/files/{name}/{version}": answering("version", "name", "version"),
        }
    )
    assert http.get("/files/a%2Fb").text == "file"
    assert http.get("/files/a/b").text == "version"
    assert http.get("/files/a%2Fb/c").text == "version"


@pytest.mark.parametrize("path", ["/users/7", "/users", "/users/7/items", "/users/0"])
def test_head_is_answered_as_get_without_the_body(path: str) -> None:
    # RFC 9110 section 9.3.2: HEAD is GET without content, same status and header fields.
    # The description declares only GET on these paths.
    # Bodies are generated per request: two upstreams with one seed answer alike.
    answers = []
    for method in ("GET", "HEAD"):
        up = Upstream(seed=3)
        up.from_spec(USERS)
        answers.append(client_for(up).request(method, path))
    got, head = answers
    assert head.status_code == got.status_code
    assert head.content == b""
    assert head.headers == got.headers  # Content-Length included: what GET sent
    assert int(head.headers["content-length"]) == len(got.content) > 0


def test_a_declared_head_operation_answers_for_itself() -> None:
    up, http = mock_of(
        {
            "/n": {
                "get": {"responses": {"200": {"description": "ok"}}},
                "head": {"responses": {"204": {"description": "exists"}}},
            },
            "/posted": {"post": {"responses": {"201": {"description": "made"}}}},
        }
    )
    assert http.head("/n").status_code == 204
    assert http.head("/posted").status_code == 404  # no GET to answer as
    up.allow_unmatched = True
