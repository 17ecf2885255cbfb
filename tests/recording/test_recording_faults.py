"""Faults on replay: a cassette served as a mocked upstream's routes, faults mixed in."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import requests

from apiharness.errors import ConfigurationError
from apiharness.recording import Cassette, Interaction, RecordedRequest, RecordedResponse
from apiharness.upstream import Upstream, reset, status, truncate

ITEMS = json.dumps({"items": [1, 2, 3], "note": "x" * 40}).encode()


def recorded_cassette(tmp_path: Path) -> Path:
    def answer(method: str, uri: str, code: int, body: bytes) -> Interaction:
        return Interaction(
            RecordedRequest(method, uri, (("Authorization", "Bearer REDACTED"),)),
            RecordedResponse(
                code,
                "OK",
                (
                    ("Content-Type", "application/json"),
                    ("Content-Length", str(len(body))),
                    ("X-Request-Id", f"req-{code}"),
                    ("Set-Cookie", "a=1; Path=/"),
                    ("Set-Cookie", "b=2; Path=/"),
                ),
                body,
            ),
        )

    cassette = Cassette(
        [
            answer("GET", "https://api.example.com/v1/items?api_key=REDACTED", 200, ITEMS),
            answer("POST", "https://api.example.com/v1/items", 201, b'{"id": 7}'),
            answer("POST", "https://api.example.com/v1/items", 201, b'{"id": 8}'),
        ]
    )
    return cassette.save(tmp_path / "items.yaml")


def test_the_cassette_answers_as_routes_in_recorded_order(tmp_path: Path) -> None:
    up = Upstream(base_url="https://api.test")
    recorded = up.from_cassette(recorded_cassette(tmp_path))
    assert sorted((r.method, r.path) for r in recorded.routes) == [
        ("GET", "/v1/items"),
        ("POST", "/v1/items"),
    ]
    with httpx.Client(transport=up, base_url=up.base_url) as client:
        # the live secret is redacted before matching, as it was when recording
        items = client.get("/v1/items", params={"api_key": "live-key-123"})
        assert (items.status_code, items.content) == (200, ITEMS)
        assert items.headers["X-Request-Id"] == "req-200"
        assert items.headers.get_list("Set-Cookie") == ["a=1; Path=/", "b=2; Path=/"]
        assert [client.post("/v1/items").json()["id"] for _ in range(3)] == [7, 8, 8]
        missing = client.get("/v1/items", params={"api_key": "live-key-123", "page": "2"})
    assert missing.status_code == 404
    assert missing.headers["X-Apiharness"] == "not-recorded"
    assert "live-key-123" not in missing.text


def test_faults_compose_with_the_recorded_exchange(tmp_path: Path) -> None:
    up = Upstream(base_url="https://api.test")
    recorded = up.from_cassette(recorded_cassette(tmp_path))
    up.get("/v1/items").respond(
        status(429, retry_after=2),
        reset(),
        recorded.responder("GET", "/v1/items"),
    )
    with httpx.Client(transport=up, base_url=up.base_url) as client:
        limited = client.get("/v1/items?api_key=k")
        assert (limited.status_code, limited.headers["Retry-After"]) == (429, "2")
        with pytest.raises(httpx.ReadError):
            client.get("/v1/items?api_key=k")
        assert client.get("/v1/items?api_key=k").content == ITEMS
    assert [entry.status for entry in up.journal] == [429, None, 200]


def test_a_recorded_response_truncated_on_a_real_socket(tmp_path: Path) -> None:
    up = Upstream(base_url="http://api.test")
    recorded = up.from_cassette(recorded_cassette(tmp_path))
    whole = recorded.response("GET", "/v1/items?api_key=anything")
    up.get("/v1/items").respond(
        truncate(after=10, response=whole), recorded.responder("GET", "/v1/items")
    )
    with up.serve() as server:
        with pytest.raises(requests.exceptions.RequestException):
            requests.get(server.base_url + "/v1/items?api_key=k", timeout=10)
        again = requests.get(server.base_url + "/v1/items?api_key=k", timeout=10)
    assert again.content == ITEMS
    assert again.raw.headers.getlist("Set-Cookie") == ["a=1; Path=/", "b=2; Path=/"]
    with pytest.raises(ConfigurationError, match="recorded: GET /v1/items, POST /v1/items"):
        recorded.response("DELETE", "/v1/items")
