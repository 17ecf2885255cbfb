"""The pacts apiharness writes, judged by the Pact tool itself: pact-python's provider Verifier
(the Rust FFI that pact brokers' users run) replays them against small real providers."""

from __future__ import annotations

import contextlib
import copy
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from apiharness.contract import PactWriter
from apiharness.upstream import Upstream, reset, respond, status

pytest.importorskip("pact")

Answer = Callable[[str, str, bytes], tuple[int, Any]]


@pytest.fixture
def provider() -> Iterator[Callable[[Answer], str]]:
    """Start a provider (stdlib HTTP server on 127.0.0.1) answering with a function."""
    servers: list[ThreadingHTTPServer] = []

    def start(answer: Answer) -> str:
        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                code, payload = answer(self.command, self.path, body)
                data = json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _any

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def verify(pact: Path, url: str, provider: str) -> tuple[bool, str, list[str]]:
    from pact import Verifier

    states: list[str] = []
    verifier = (
        Verifier(provider, host="127.0.0.1")  # without host, 127.0.0.1 is a "Host mismatch"
        .add_transport(url=url)
        .add_source(pact)
        .state_handler(
            lambda state, action, parameters: states.append(f"{action} {state}"), teardown=True
        )
    )
    try:
        verifier.verify()
    except RuntimeError:
        return False, verifier.output(strip_ansi=True), states
    return True, verifier.output(strip_ansi=True), states


@pytest.fixture
def items_pact(tmp_path: Path) -> Path:
    """A pact apiharness wrote from a test of a client: faults on the way, then the answers."""
    up = Upstream()
    up.get("/items/{id}").respond(
        status(503), reset(), respond(200, json={"id": 7, "name": "lamp"})
    )
    up.post("/items").respond(respond(201, json={"id": 8}))
    http = httpx.Client(transport=up, base_url=up.base_url)
    for _ in range(2):
        with contextlib.suppress(httpx.HTTPError):
            http.get("/items/7")
    assert http.get("/items/7").json() == {"id": 7, "name": "lamp"}
    assert http.post("/items", json={"name": "desk"}).status_code == 201
    writer = PactWriter("shop", "inventory")
    assert writer.add(up, states=["item 7 exists"]) == 2
    return writer.write(tmp_path)


def honest_items(method: str, path: str, body: bytes) -> tuple[int, Any]:
    if method == "GET" and path == "/items/7":
        return 200, {"id": 7, "name": "lamp"}
    if method == "POST" and path == "/items" and json.loads(body) == {"name": "desk"}:
        return 201, {"id": 8}
    return 404, {}


def test_a_provider_that_honours_the_pact_passes_the_real_verifier(
    items_pact: Path, provider: Callable[[Answer], str]
) -> None:
    ok, output, states = verify(items_pact, provider(honest_items), "inventory")
    assert ok, output
    assert "setup item 7 exists" in states  # the provider states reach the provider's handler


@pytest.mark.parametrize(
    ("deviation", "where"),
    [
        (
            lambda m, p, b: (
                (200, {"id": 7, "name": "desk"}) if m == "GET" else honest_items(m, p, b)
            ),
            "$.name",
        ),
        (lambda m, p, b: (200, {"id": 8}) if m == "POST" else honest_items(m, p, b), "status"),
        (lambda m, p, b: (500, {}) if m == "GET" else honest_items(m, p, b), "status"),
    ],
    ids=["other value", "other status", "error"],
)
def test_a_provider_that_deviates_fails_the_real_verifier(
    items_pact: Path, provider: Callable[[Answer], str], deviation: Answer, where: str
) -> None:
    ok, output, _ = verify(items_pact, provider(deviation), "inventory")
    assert not ok
    assert where in output


def test_schema_rules_let_a_provider_answer_other_valid_values(
    charge_pact: tuple[Path, dict[str, Any]], provider: Callable[[Answer], str]
) -> None:
    pact, served = charge_pact
    other = copy.deepcopy(served)
    other["id"], other["amount"] = "ch_Other42xyz", served["amount"] % 99999998 + 1
    assert other != served
    ok, output, _ = verify(pact, provider(lambda m, p, b: (200, other)), "payments")
    assert ok, output


@pytest.mark.parametrize(
    ("field", "value"),
    [("amount", "12"), ("id", "card_abcdef"), ("amount", 1.5)],
    ids=["string for integer", "id off its pattern", "decimal for integer"],
)
def test_schema_rules_still_catch_a_provider_that_breaks_the_schema(
    charge_pact: tuple[Path, dict[str, Any]],
    provider: Callable[[Answer], str],
    field: str,
    value: object,
) -> None:
    pact, served = charge_pact
    broken = {**served, field: value}
    ok, output, _ = verify(pact, provider(lambda m, p, b: (200, broken)), "payments")
    assert not ok
    assert f"$.{field}" in output
