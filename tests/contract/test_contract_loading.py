"""Loading OpenAPI descriptions: formats, sources, $refs, 3.0 normalisation, errors with paths."""

from __future__ import annotations

import json
import socket
import tempfile
import threading
import traceback
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from apiharness import InvalidSpecError, SchemaViolationError, SpecError, UnknownOperationError
from apiharness.contract import load_spec

FIXTURES = Path(__file__).parents[2] / "fixtures" / "openapi"
PAYMENTS = FIXTURES / "payments.yaml"
USERS = FIXTURES / "users-items.yaml"


def minimal(**paths: Any) -> dict[str, Any]:
    return {"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "paths": paths}


def test_payments_operations_are_all_found() -> None:
    spec = load_spec(PAYMENTS)
    assert spec.version == "3.0"
    assert {op.name for op in spec.operations} == {
        "createCard",
        "getCard",
        "deleteCard",
        "listCharges",
        "createCharge",
        "getCharge",
        "createRefund",
        "createWebhookEndpoint",
        "getEvent",
    }
    assert spec.operation("POST /charges") is spec.operation("createCharge")
    assert spec.operation("createCharge").documented_statuses() == [201, 400, 402, 409, 422, 429]


def test_relative_file_refs_in_31() -> None:
    spec = load_spec(USERS)
    assert spec.version == "3.1"
    # The 404 response and its schema live in common.yaml.
    assert spec.validate_response("getUser", 404, b'{"title": "gone", "status": 404}')
    with pytest.raises(SchemaViolationError) as info:
        spec.validate_response("getUser", 404, {"title": "", "status": 404})
    assert info.value.path == "$.title"


@settings(max_examples=25, deadline=None)
@given(
    folder=st.text(
        st.characters(codec="utf-8", exclude_characters="/\\", exclude_categories=["Cc", "Cs"]),
        min_size=1,
        max_size=12,
    ).filter(lambda name: name not in (".", "..")),
    as_str=st.booleans(),
)
def test_a_path_is_a_path_whatever_characters_it_holds(folder: str, as_str: bool) -> None:
    # npm installs descriptions under node_modules/@scope/...; '@', '%', '#', '?', ':' and
    # spaces are characters of a file name, not of a URL, and relative $refs must follow.
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(tmp) / "@scope" / folder
        where.mkdir(parents=True)
        for name in ("users-items.yaml", "common.yaml"):
            (where / name).write_bytes((FIXTURES / name).read_bytes())
        target = where / "users-items.yaml"
        spec = load_spec(str(target) if as_str else target)
        assert spec.validate_response("getUser", 404, {"title": "gone", "status": 404})


def test_nullable_30_is_normalised(card: dict[str, Any]) -> None:
    spec = load_spec(PAYMENTS)
    assert spec.validate_response("getCard", 200, card)["holder_name"] is None
    with pytest.raises(SchemaViolationError) as info:
        spec.validate_response("getCard", 200, {**card, "last4": None})
    assert info.value.path == "$.last4"
    assert info.value.operation == "getCard"
    assert info.value.status == 200
    # An enum listing null stays valid after normalisation; a nullable allOf accepts null.
    refund = {"id": "re_abcdef", "charge_id": "ch_abcdef", "amount": 1, "status": "pending"}
    assert spec.validate_response("createRefund", 201, {**refund, "reason": None})


def test_boolean_exclusive_bounds_of_30() -> None:
    spec = load_spec(
        {
            "openapi": "3.0.3",
            "info": {"title": "t", "version": "1"},
            "paths": {
                "/n": {
                    "get": {
                        "responses": {
                            "200": {
                                "description": "ok",
                                "content": {
                                    "application/json": {
                                        "schema": {
                                            "type": "number",
                                            "minimum": 0,
                                            "exclusiveMinimum": True,
                                        }
                                    }
                                },
                            }
                        }
                    }
                }
            },
        }
    )
    assert spec.validate_response("GET /n", 200, 0.5) == 0.5
    with pytest.raises(SchemaViolationError):
        spec.validate_response("GET /n", 200, 0)


def test_json_file_and_dict_give_the_same_operations(tmp_path: Path) -> None:
    document = yaml.safe_load(PAYMENTS.read_text())
    as_json = tmp_path / "payments.json"
    as_json.write_text(json.dumps(document))
    names = [op.name for op in load_spec(PAYMENTS).operations]
    assert [op.name for op in load_spec(as_json).operations] == names
    assert [op.name for op in load_spec(document).operations] == names
    assert [op.name for op in load_spec(str(as_json)).operations] == names


def test_dict_with_file_refs_needs_base_uri() -> None:
    document = yaml.safe_load(USERS.read_text())
    with pytest.raises(InvalidSpecError, match="base_uri"):
        load_spec(document)
    spec = load_spec(document, base_uri=USERS.as_uri())
    assert spec.validate_response("getUser", 404, {"title": "x", "status": 404})


@pytest.fixture
def served_spec() -> Iterator[str]:
    files = {p.name: p.read_bytes() for p in FIXTURES.glob("*.yaml")}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = files.get(self.path.lstrip("/"))
            self.send_response(200 if body else 404)
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def test_load_from_url_follows_relative_refs(served_spec: str) -> None:
    spec = load_spec(f"{served_spec}/users-items.yaml")
    assert spec.validate_response("getUser", 404, {"title": "x", "status": 404})
    with pytest.raises(InvalidSpecError, match="cannot fetch"):
        load_spec(f"{served_spec}/missing.yaml")


def test_a_spec_urls_credentials_stay_out_of_its_errors(served_spec: str) -> None:
    user, token = "ci-bot", "tok_9f8e7d6c5b4a39281706"
    authority = served_spec.replace("http://", f"http://{user}:{token}@")
    for url in (f"{authority}/missing.yaml?token={token}", f"{served_spec}/x.yaml?key={token}"):
        with pytest.raises(InvalidSpecError) as caught:
            load_spec(url)
        shown = "".join(traceback.format_exception(caught.value))
        assert "HTTP 404" in shown
        assert token not in shown
        assert "missing.yaml" in shown or "x.yaml" in shown  # still says which document
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there
    with pytest.raises(InvalidSpecError, match="ConnectError") as caught:
        load_spec(f"http://127.0.0.1:{port}/spec.yaml?api_key={token}")
    assert token not in "".join(traceback.format_exception(caught.value))


@pytest.mark.parametrize(
    ("document", "where", "words"),
    [
        ({"info": {}}, "$.openapi", "missing the `openapi` field"),
        ({"swagger": "2.0"}, "$.openapi", "Swagger 2.0"),
        ({"openapi": "2.9"}, "$.openapi", "unsupported OpenAPI version"),
        ({**minimal(), "paths": []}, "$.paths", "must be a mapping"),
        (minimal(users={}), "$.paths.users", "must start with '/'"),
        (
            minimal(**{"/a": {"get": {"responses": {"20": {}}}}}),
            "$.paths['/a'].get.responses['20']",
            "not a status code",
        ),
        (
            minimal(**{"/a": {"get": {"responses": {"200": {"$ref": "#/nope"}}}}}),
            "$.paths['/a'].get.responses['200']['$ref']",
            "points at nothing",
        ),
        (
            minimal(**{"/a": {"get": {"parameters": [{"in": "query"}], "responses": {}}}}),
            "$.paths['/a'].get.parameters[0]",
            "`name` and `in`",
        ),
        (
            minimal(
                **{
                    "/a": {
                        "get": {
                            "responses": {
                                "200": {
                                    "description": "d",
                                    "content": {"application/json": {"schema": 5}},
                                }
                            }
                        }
                    }
                }
            ),
            "$.paths['/a'].get.responses['200'].content['application/json'].schema",
            "must be a mapping",
        ),
        (
            {**minimal(), "components": {"schemas": {"A": {"type": "strin"}}}},
            "$.components.schemas.A.type",
            "invalid schema",
        ),
        ({"openapi": "3.0.3", "info": {}}, "$.paths", "requires `paths`"),
    ],
)
def test_invalid_specs_point_at_the_problem(
    document: dict[str, Any], where: str, words: str
) -> None:
    with pytest.raises(InvalidSpecError) as info:
        load_spec(document)
    assert info.value.json_path == where
    assert words in str(info.value)
    assert isinstance(info.value, SpecError)


def test_unreadable_sources(tmp_path: Path) -> None:
    with pytest.raises(InvalidSpecError, match="cannot read"):
        load_spec(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("openapi: [unclosed\n")
    with pytest.raises(InvalidSpecError, match="line 2"):
        load_spec(bad)
    broken_ref = tmp_path / "ref.yaml"
    broken_ref.write_text(yaml.safe_dump(minimal(**{"/a": {"$ref": "other.yaml#/x"}})))
    with pytest.raises(InvalidSpecError) as info:
        load_spec(broken_ref)
    assert info.value.json_path == "$.paths['/a']['$ref']"
    with pytest.raises(InvalidSpecError, match="path, URL or dict"):
        load_spec(42)  # type: ignore[arg-type]


def test_match_prefers_concrete_paths_and_extracts_parameters() -> None:
    responses = {"200": {"description": "ok"}}
    spec = load_spec(
        minimal(
            **{
                "/users/{id}": {"get": {"responses": responses}},
                "/users/me": {"get": {"responses": responses}},
                "/users/{id}/items/{sku}": {"get": {"responses": responses}},
            }
        )
    )
    me = spec.match("GET", "/users/me")
    assert me is not None
    assert me[0].path == "/users/me"
    found = spec.match("get", "/users/42/items/ABC-1")
    assert found is not None
    assert found[1] == {"id": "42", "sku": "ABC-1"}
    assert spec.match("POST", "/users/me") is None
    assert spec.match("GET", "/users/1/2") is None


def test_unknown_operations_and_statuses_say_what_exists() -> None:
    spec = load_spec(PAYMENTS)
    with pytest.raises(UnknownOperationError, match="createCharge"):
        spec.operation("makeCharge")
    with pytest.raises(UnknownOperationError, match="documented: 201"):
        spec.validate_response("createCharge", 500, {})
    with pytest.raises(UnknownOperationError, match="no schema"):
        spec.validate_response("deleteCard", 204, b"")


def test_not_json_is_a_violation() -> None:
    spec = load_spec(PAYMENTS)
    with pytest.raises(SchemaViolationError, match="not JSON") as info:
        spec.validate_response("getCard", 200, b"<html>")
    assert info.value.violation == "not JSON"


def test_status_ranges_and_default() -> None:
    spec = load_spec(
        minimal(
            **{
                "/a": {
                    "get": {
                        "responses": {
                            "200": {"description": "ok"},
                            "5XX": {
                                "description": "server",
                                "content": {"application/json": {"schema": {"type": "object"}}},
                            },
                            "default": {
                                "description": "other",
                                "content": {"application/json": {"schema": {"type": "string"}}},
                            },
                        }
                    }
                }
            }
        )
    )
    assert spec.validate_response("GET /a", 503, {}) == {}
    assert spec.validate_response("GET /a", 418, '"teapot"') == "teapot"
    with pytest.raises(SchemaViolationError):
        spec.validate_response("GET /a", 418, {})


def test_examples_are_kept() -> None:
    spec = load_spec(USERS)
    media = spec.response("createUser", 201).media()
    assert media is not None
    assert media.examples[0]["name"] == "Ada Lovelace"
    for example in media.examples:
        spec.validate_response("createUser", 201, example)
