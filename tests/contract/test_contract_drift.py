"""Cassette drift: recorded interactions checked against the description, API and CLI."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import vcr
import yaml
from click.testing import CliRunner

from apiharness import CassetteDriftError
from apiharness.cli import cli
from apiharness.contract import DriftKind, assert_no_drift, check_cassettes

PAYMENTS = Path(__file__).parents[2] / "fixtures" / "openapi" / "payments.yaml"


def interaction(
    method: str, uri: str, status: int, body: Any, content_type: str = "application/json"
) -> dict[str, Any]:
    text = body if isinstance(body, str) else json.dumps(body)
    return {
        "request": {"method": method, "uri": uri, "body": None, "headers": {}},
        "response": {
            "status": {"code": status, "message": "x"},
            "headers": {"Content-Type": [content_type]},
            "body": {"string": text},
        },
    }


def write_cassette(path: Path, *interactions: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"interactions": list(interactions), "version": 1}))
    return path


def test_clean_cassettes_pass(tmp_path: Path, card: dict[str, Any]) -> None:
    write_cassette(
        tmp_path / "a" / "cards.yaml",
        interaction("GET", "https://api.payments.example/v1/cards/card_abc123", 200, card),
        interaction("DELETE", "https://api.payments.example/v1/cards/card_abc123", 204, ""),
        interaction(
            "GET",
            "https://api.payments.example/v1/cards/card_zzz999?expand=x",
            404,
            {"type": "about:blank", "title": "Not found", "status": 404},
            "application/problem+json",
        ),
    )
    report = assert_no_drift(PAYMENTS, tmp_path)
    assert (report.cassettes, report.interactions) == (1, 3)
    assert "no drift" in report.format()


def test_every_kind_of_drift_is_reported(tmp_path: Path, card: dict[str, Any]) -> None:
    secret_query = "api_key=sk_live_SECRET"
    write_cassette(
        tmp_path / "drift.yaml",
        interaction("GET", f"https://api.payments.example/v1/customers/c1?{secret_query}", 200, {}),
        interaction("GET", "https://api.payments.example/v1/cards/card_abc123", 500, {}),
        interaction(
            "GET",
            "https://api.payments.example/v1/cards/card_abc123",
            200,
            {**card, "last4": "sk_live_SECRET"},
        ),
        interaction(
            "GET",
            "https://api.payments.example/v1/cards/card_abc123",
            200,
            "<html></html>",
            "text/html",
        ),
        interaction("GET", "https://api.payments.example/v1/cards/card_abc123", 200, "{trunc"),
    )
    (tmp_path / "junk.yaml").write_text("just: a mapping\n")
    report = check_cassettes(PAYMENTS, tmp_path)
    kinds = [issue.kind for issue in report.issues]
    assert kinds == [
        DriftKind.UNDOCUMENTED_OPERATION,
        DriftKind.UNDOCUMENTED_STATUS,
        DriftKind.INVALID_BODY,
        DriftKind.INVALID_BODY,
        DriftKind.INVALID_BODY,
        DriftKind.UNREADABLE,
    ]
    assert report.issues[0].path == "/v1/customers/c1"
    assert report.issues[2].detail.startswith("getCard: at $.last4: violates pattern")
    assert "text/html" in report.issues[3].detail
    assert "not JSON" in report.issues[4].detail
    text = report.format()
    assert "SECRET" not in text  # neither query strings nor body values are reported
    with pytest.raises(CassetteDriftError, match="5 issue") as info:
        assert_no_drift(PAYMENTS, tmp_path / "drift.yaml")
    assert isinstance(info.value, AssertionError)


def test_unknown_version_and_malformed_interactions(tmp_path: Path) -> None:
    (tmp_path / "v2.yaml").write_text(yaml.safe_dump({"interactions": [], "version": 2}))
    write_cassette(tmp_path / "bad.yaml", {"request": {"method": "GET"}})
    report = check_cassettes(PAYMENTS, tmp_path)
    details = sorted(issue.detail for issue in report.issues)
    # Worded as the cassette player words them: the file, the interaction and its line, the field.
    assert details[0].endswith(
        "bad.yaml: interaction #0 (line 2): needs both a 'request' and a 'response' mapping"
    )
    assert "v2.yaml: cassette format version 2 is not supported" in details[1]
    assert all(str(issue).startswith("unreadable cassette: /") for issue in report.issues)


@pytest.fixture
def payments_server(card: dict[str, Any]) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            drifted = self.path.endswith("card_drift1")
            body = json.dumps({**card, "brand": "diners"} if drifted else card).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/v1"
    finally:
        server.shutdown()
        server.server_close()


def test_cassettes_recorded_by_vcrpy(tmp_path: Path, payments_server: str) -> None:
    cassette = tmp_path / "recorded.yaml"
    with vcr.VCR(record_mode="all").use_cassette(str(cassette)), httpx.Client() as client:
        assert client.get(f"{payments_server}/cards/card_abc123").status_code == 200
        assert client.get(f"{payments_server}/cards/card_drift1").status_code == 200
    report = check_cassettes(PAYMENTS, cassette)
    assert report.interactions == 2
    assert [issue.index for issue in report.issues] == [1]
    assert "$.brand" in report.issues[0].detail


def test_cli_exit_codes(tmp_path: Path, card: dict[str, Any]) -> None:
    clean = write_cassette(
        tmp_path / "clean" / "c.yaml",
        interaction("GET", "https://api.payments.example/v1/cards/card_abc123", 200, card),
    )
    drift = write_cassette(
        tmp_path / "drift" / "d.yaml",
        interaction("POST", "https://api.payments.example/v1/cards", 418, {}),
    )
    runner = CliRunner()
    ok = runner.invoke(cli, ["check-cassettes", str(PAYMENTS), str(clean.parent)])
    assert ok.exit_code == 0, ok.output
    assert "no drift" in ok.output
    bad = runner.invoke(cli, ["check-cassettes", str(PAYMENTS), str(drift)])
    assert bad.exit_code == 1
    assert "undocumented status: POST /v1/cards -> 418" in bad.output
    broken = tmp_path / "broken.yaml"
    broken.write_text("openapi: '9.9'\n")
    usage = runner.invoke(cli, ["check-cassettes", str(broken), str(clean)])
    assert usage.exit_code == 2
    assert "unsupported OpenAPI version" in usage.output


def test_cli_runs_drift_and_the_leak_gate_together(
    tmp_path: Path, card: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    clean = write_cassette(
        tmp_path / "c.yaml",
        interaction("GET", "https://api.payments.example/v1/cards/card_abc123", 200, card),
    )
    runner = CliRunner()
    both = runner.invoke(
        cli, ["check-cassettes", str(PAYMENTS), str(clean), "--secrets", "--no-env"]
    )
    assert both.exit_code == 0, both.output
    assert "no drift" in both.output
    assert "no secret in 1 cassette(s)" in both.output
    monkeypatch.setenv("CARD_ID_SECRET", "card_abc123")
    leak = runner.invoke(
        cli,
        ["check-cassettes", str(PAYMENTS), str(clean), "--secrets", "--secret", "CARD_ID_SECRET"],
    )
    assert leak.exit_code == 1
    assert "CARD_ID_SECRET" in leak.output
    assert "card_abc123" not in leak.output.replace("/v1/cards/card_abc123", "")
    neither = runner.invoke(cli, ["check-cassettes", str(clean)])
    assert neither.exit_code == 2
    assert "an OpenAPI description first (drift), and/or --secrets" in neither.output
