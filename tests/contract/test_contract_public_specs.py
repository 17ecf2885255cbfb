"""The spec mock on descriptions nobody here wrote (fixtures/openapi/public, MIT-licensed).

The whole corpus runs under Schemathesis in ``make corpora-specs``; these tests pin the
OpenAPI readings it exposed, each with a request or body a plausible bug would get wrong.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apiharness import InvalidSpecError
from apiharness.contract import load_spec
from apiharness.upstream import Upstream

PUBLIC = Path(__file__).parents[2] / "fixtures" / "openapi" / "public"
OAS30 = PUBLIC / "oas-examples" / "3.0"
GITHUB = PUBLIC / "octokit" / "api.github.com.trimmed.json"


def mock(spec: Path | dict[str, Any], base: str = "http://mock.test") -> httpx.Client:
    up = Upstream(base_url=base)
    up.from_spec(load_spec(spec) if isinstance(spec, dict) else spec)
    return httpx.Client(transport=up, base_url=base)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        # No mapping: the value names the schema.
        ("/pets", {"pet_type": "Cat"}),
        ("/pets", {"pet_type": "Dog", "bark": True}),
    ],
)
def test_a_discriminator_picks_the_branch_of_a_request(path: str, body: dict[str, Any]) -> None:
    # Cat and Dog both accept {"pet_type": "Cat"}: plain oneOf says "matches two", OpenAPI's
    # discriminator says "a Cat".
    http = mock(OAS30 / "polymorphism.json")
    assert http.patch(path, json=body).status_code == 200


def test_a_discriminator_mapping_picks_the_branch() -> None:
    http = mock(OAS30 / "discriminators.json", "http://mock.test/anything")
    body = {"buyer_id": "", "event_id": "", "event_type": "application_denied"}
    assert http.post("/potentially-undefined-formData", json=body).status_code == 200
    # Still validated: a discriminator that is not a string fits no branch.
    bad = mock(OAS30 / "polymorphism.json").patch("/pets", json={"pet_type": 5})
    assert "oneOf" in bad.headers["apiharness-problem"]


def test_write_only_properties_are_never_served() -> None:
    http = mock(OAS30 / "response-schemas.json")
    spec = load_spec(OAS30 / "response-schemas.json")
    for _ in range(12):
        answer = http.get("/anything/object")
        assert answer.status_code == 200
        body = answer.json()
        assert "write-only" not in body
        spec.validate_response("GET /anything/object", 200, body)


def _spec(parameter: dict[str, Any], body: dict[str, Any] | None = None) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "parameters": [parameter],
        "responses": {"204": {"description": "ok"}, "400": {"description": "bad"}},
    }
    if body is not None:
        operation["requestBody"] = body
    return {
        "openapi": "3.0.3",
        "info": {"title": "t", "version": "1"},
        "paths": {"/p/{id}": {"post": operation}},
    }


_ARRAY = {"type": "array", "items": {"type": "integer"}, "minItems": 1}
_OBJECT = {
    "type": "object",
    "properties": {"r": {"type": "integer"}, "g": {"type": "boolean"}},
    "required": ["r", "g"],
}


@pytest.mark.parametrize(
    ("parameter", "url"),
    [
        ({"in": "query", "schema": _ARRAY}, "/p/1?x=1&x=2"),  # form, explode
        ({"in": "query", "schema": _ARRAY, "explode": False}, "/p/1?x=1,2"),
        (
            {"in": "query", "schema": _ARRAY, "style": "pipeDelimited", "explode": False},
            "/p/1?x=1|2",
        ),
        (
            {"in": "query", "schema": _ARRAY, "style": "spaceDelimited", "explode": False},
            "/p/1?x=1%202",
        ),
        ({"in": "query", "schema": _OBJECT}, "/p/1?r=1&g=true"),  # form, explode: own names
        ({"in": "query", "schema": _OBJECT, "explode": False}, "/p/1?x=r,1,g,false"),
        ({"in": "query", "schema": _OBJECT, "style": "deepObject"}, "/p/1?x[r]=1&x[g]=true"),
        (
            {"in": "query", "content": {"application/json": {"schema": _OBJECT}}},
            '/p/1?x={"r":1,"g":true}',
        ),
    ],
)
def test_query_styles_are_parsed_as_serialised(parameter: dict[str, Any], url: str) -> None:
    http = mock(_spec({"name": "x", "required": True, **parameter}))
    assert http.post(url).status_code == 204
    # The same parameter with a value its schema refuses is rejected, so parsing is not
    # "accept anything".
    broken = url.replace("1", "one").replace("true", "yes").replace("false", "no")
    assert http.post(broken.replace("/p/one", "/p/1")).status_code == 400


@settings(max_examples=30, deadline=None)
@given(values=st.lists(st.integers(-(10**6), 10**6), min_size=1, max_size=4))
def test_path_styles_round_trip(values: list[int]) -> None:
    joined = ",".join(map(str, values))
    for style, explode, segment in (
        ("simple", False, joined),
        ("label", False, "." + joined),
        ("label", True, "." + ".".join(map(str, values))),
        ("matrix", False, ";id=" + joined),
        ("matrix", True, "".join(f";id={v}" for v in values)),
    ):
        param = {"name": "id", "in": "path", "required": True, "style": style}
        param.update(explode=explode, schema=_ARRAY)
        spec = _spec(param)
        assert mock(spec).post(f"/p/{segment}").status_code == 204, (style, explode, segment)


def test_read_only_properties_are_not_required_in_requests() -> None:
    schema = {
        "type": "object",
        "required": ["id", "name"],
        "properties": {"id": {"type": "integer", "readOnly": True}, "name": {"type": "string"}},
    }
    body = {"required": True, "content": {"application/json": {"schema": schema}}}
    http = mock(_spec({"name": "id", "in": "path", "required": True, "schema": {}}, body))
    assert http.post("/p/1", json={"name": "n"}).status_code == 204
    assert http.post("/p/1", json={"id": 1}).status_code == 400  # name is still required


@pytest.mark.parametrize(
    ("documented", "sent", "accepted"),
    [
        ("*/*", "application/octet-stream", True),
        ("image/*", "image/png", True),
        ("image/*", "text/plain", False),
        ("application/vnd.api+json", "application/vnd.api+json; charset=utf-8", True),
        ("application/x-www-form-urlencoded", "application/x-www-form-urlencoded", True),
    ],
)
def test_request_media_ranges(documented: str, sent: str, accepted: bool) -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    body = {"required": True, "content": {documented: {"schema": schema}}}
    http = mock(_spec({"name": "id", "in": "path", "required": True, "schema": {}}, body))
    content = b"n=3" if "form" in sent else json.dumps({"n": 3}).encode()
    answer = http.post("/p/1", content=content, headers={"Content-Type": sent})
    assert (answer.status_code == 204) is accepted


def test_form_bodies_are_validated() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    body = {"content": {"application/x-www-form-urlencoded": {"schema": schema}}}
    http = mock(_spec({"name": "id", "in": "path", "required": True, "schema": {}}, body))
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    assert http.post("/p/1", content=b"n=3", headers=form).status_code == 204
    assert http.post("/p/1", content=b"n=three", headers=form).status_code == 400


def test_github_enterprise_team_parameters_route() -> None:
    http = mock(GITHUB, "https://api.github.com")
    answer = http.get("/enterprises/acme/teams/core-team/memberships")
    assert answer.status_code == 200
    load_spec(GITHUB).validate_response(
        "GET /enterprises/{enterprise}/teams/{enterprise-team}/memberships", 200, answer.json()
    )


def test_an_example_that_breaks_its_schema_is_replaced_and_named() -> None:
    # train-travel's payment example shows a card's cvc, which is writeOnly: never in a response.
    spec = PUBLIC / "oas-examples" / "3.1" / "train-travel.json"
    http = mock(spec, "https://api.example.com")
    operation = json.loads(spec.read_text())["paths"]["/bookings/{bookingId}/payment"]["post"]
    card = operation["requestBody"]["content"]["application/json"]["examples"]["Card"]["value"]
    with pytest.warns(UserWarning, match=r"create-booking-payment response 200 .*example 0"):
        answer = http.post("/bookings/1725ff48-ab45-4bb5-9d02-88745177dedb/payment", json=card)
    assert answer.status_code == 200
    assert "cvc" not in json.dumps(answer.json())


def test_operations_without_responses_answer() -> None:
    # OpenAPI 3.1 makes `responses` optional; schema-types 3.1 has none on any operation.
    http = mock(PUBLIC / "oas-examples" / "3.1" / "schema-types.json", "https://httpbin.org")
    assert http.post("/anything/null", json=None).status_code == 200


def test_generated_bodies_carry_the_discriminator_value_of_their_branch() -> None:
    # GitHub's GET /users/{username}: oneOf private-user / public-user, discriminated by
    # user_view_type with a mapping. A random string there is a value no client can dispatch.
    http = mock(GITHUB, "https://api.github.com")
    kinds = {http.get("/users/octocat").json()["user_view_type"] for _ in range(12)}
    assert kinds <= {"public", "private"}
    assert len(kinds) == 2


def test_a_last_path_parameter_may_hold_slashes() -> None:
    # GitHub documents {ref} as "heads/feature-a" (its own example): the spec mock's routes
    # let the last parameter take the rest of the path when nothing matches segment-wise.
    http = mock(GITHUB, "https://api.github.com")
    answer = http.patch("/repos/o/r/git/refs/heads/feature-a", json={"sha": "a" * 40})
    assert answer.status_code == 200
    assert "apiharness-problem" not in answer.headers
    # The longest template takes the tail, not PATCH /repos/{owner}/{repo}, declared first.
    operation = "PATCH /repos/{owner}/{repo}/git/refs/{ref}"
    load_spec(GITHUB).validate_response(operation, 200, answer.json())
    assert http.get("/repos/o/r/issues/1").status_code == 200  # literal routes still win
    # A plain upstream route keeps one segment per parameter.
    up = Upstream()
    up.get("/refs/{ref}")
    assert httpx.Client(transport=up).get("http://x/refs/a/b").status_code == 404


def test_informational_only_operations_never_hang() -> None:
    # http-status-codes documents GET /status/100 with a 100 only. A client reads past a 100
    # and waits for a final response; the mock sends the 100 and closes instead of idling.
    import time

    import requests

    up = Upstream(base_url="https://httpbin.org")
    up.from_spec(OAS30 / "http-status-codes.json")
    with up.serve() as server:
        for code in (100, 101, 103, 204, 304):
            started = time.monotonic()
            try:
                answer = requests.get(f"{server.base_url}/status/{code}", timeout=5)
            except requests.ConnectionError:
                assert code == 100  # HTTP gives a 100 no final response to follow
            else:
                assert answer.status_code == code
            assert time.monotonic() - started < 2


def _one_response(schema: dict[str, Any], **media: Any) -> dict[str, Any]:
    content = {"application/json": {"schema": schema, **media}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "paths": {"/x": {"get": {"responses": {"200": {"description": "ok", "content": content}}}}},
        "components": {"schemas": {"S": {"type": "string"}, "I": {"type": "integer"}}},
    }


_BASE = "$.paths['/x'].get.responses['200'].content['application/json'].schema"


@pytest.mark.parametrize(
    ("schema", "where", "why"),
    [
        ({"allOf": [{"$ref": "#/components/schemas/S"}, {"type": "integer"}]}, "", "common type"),
        ({"type": "integer", "minimum": 5, "maximum": 1}, "", "minimum"),
        ({"type": "string", "enum": []}, "", "enum"),
        (
            {"type": "object", "required": ["a"], "properties": {"a": False}},
            ".properties.a",
            "false",
        ),
        (
            {
                "type": "array",
                "minItems": 1,
                "items": {"type": "string", "minLength": 3, "maxLength": 2},
            },
            ".items",
            "minLength",
        ),
        (
            {"oneOf": [{"enum": []}, {"type": "integer", "minimum": 2, "maximum": 1}]},
            ".oneOf[0]",
            "enum",
        ),
    ],
)
def test_an_unsatisfiable_response_schema_is_refused_at_start(
    schema: dict[str, Any], where: str, why: str
) -> None:
    with pytest.raises(InvalidSpecError, match=why) as info:
        Upstream().from_spec(_one_response(schema))
    assert info.value.json_path == _BASE + where


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "properties": {"a": False}},  # optional: just leave it out
        {"oneOf": [{"enum": []}, {"type": "integer"}]},  # another branch works
        {"$ref": "#/components/schemas/S"},
    ],
)
def test_satisfiable_schemas_start(schema: dict[str, Any]) -> None:
    http = mock(_one_response(schema))
    answer = http.get("/x")
    assert answer.status_code == 200
    load_spec(_one_response(schema)).validate_response("GET /x", 200, answer.content)


def test_xml_bodies_follow_the_schemas_xml_object() -> None:
    from xml.etree import ElementTree as ET

    http = mock(OAS30 / "petstore.json", "https://petstore.swagger.io/v2")
    for _ in range(8):
        answer = http.get("/pet/7", headers={"Accept": "application/xml"})
        assert answer.headers["content-type"] == "application/xml"
        root = ET.fromstring(answer.content)
        assert root.tag == "Pet"
        tags = {child.tag for child in root}
        assert "name" in tags  # required
        assert not {"photoUrls", "tags"} & tags  # wrapped arrays go by their xml names
        for wrapper in root.iter("photoUrl"):
            assert all(item.tag == "photoUrls" for item in wrapper)
    # Without an Accept that asks, JSON (the first JSON type documented) is served.
    assert http.get("/pet/7").headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    ("documented", "served"),
    [("*/*", "application/json"), ("image/*", "image/png"), ("text/plain", "text/plain")],
)
def test_ranges_are_served_as_a_concrete_type(documented: str, served: str) -> None:
    spec = _one_response({"type": "string"})
    content = spec["paths"]["/x"]["get"]["responses"]["200"]["content"]
    content[documented] = content.pop("application/json")
    answer = mock(spec).get("/x")
    assert answer.headers["content-type"].split(";")[0] == served
    if served != "application/json":
        assert not answer.content.startswith(b'"')  # the string itself, not JSON text
