"""Untrusted trees (cassettes, specs, bodies) are walked in time linear in their size.

Each case below hung, took exponential time, raised ``RecursionError`` or crashed the process
before: YAML alias bombs and recursive aliases in cassettes (the leak gate, the cassette model,
drift) and in specs; deep nesting in spec files, dict specs and bodies; ``allOf`` and
``oneOf`` cycles in the generator and the mutator.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apiharness import CassetteError, InvalidSpecError, SchemaViolationError
from apiharness._trees import depth_problem, tree_problem
from apiharness._yaml import MAX_DEPTH, UnsafeYamlError, load_yaml
from apiharness.contract import check_cassettes as drift_check
from apiharness.contract import load_spec
from apiharness.contract._drift import DriftKind
from apiharness.recording import Cassette, find_leaks
from apiharness.strategies import invalid_response_bodies, response_bodies
from apiharness.upstream import Upstream

SECRET = "sk_live_hostile_0123456789"


def alias_bomb(levels: int = 9, width: int = 9) -> str:
    """The "billion laughs" in YAML: each level aliases the previous one ``width`` times."""
    lines = [f"l0: &l0 [{', '.join(['lol'] * width)}]"]
    for level in range(1, levels):
        aliases = ", ".join([f"*l{level - 1}"] * width)
        lines.append(f"l{level}: &l{level} [{aliases}]")
    return "\n".join(lines) + "\n"


def cassette_with(extra: str) -> str:
    """A valid cassette with ``extra`` as a top-level key (VCR.py ignores unknown keys)."""
    return (
        "interactions:\n"
        "- request: {method: GET, uri: 'https://api.example/x', body: null, headers: {}}\n"
        "  response:\n"
        "    status: {code: 200, message: OK}\n"
        "    headers: {}\n"
        "    body: {string: ''}\n"
        "version: 1\n" + extra
    )


RECURSIVE_ALIAS = "loop: &loop [*loop]\n"


def quick(func: Callable[[], Any], seconds: float = 2.0) -> Any:
    """Run ``func``; fail if it took longer than ``seconds`` (the old code took minutes)."""
    started = time.perf_counter()
    try:
        return func()
    finally:
        assert time.perf_counter() - started < seconds


# -- the shared YAML reader: cassettes, the leak gate, drift ------------------------------


def test_an_alias_bomb_is_refused_at_once() -> None:
    text = alias_bomb()
    assert len(text) < 500
    with pytest.raises(UnsafeYamlError, match=r"expand to .* over 10 times"):
        quick(lambda: load_yaml(text), 0.5)


def test_a_recursive_alias_is_refused() -> None:
    with pytest.raises(UnsafeYamlError, match="contains itself"):
        load_yaml(RECURSIVE_ALIAS)
    with pytest.raises(UnsafeYamlError, match="contains itself"):
        load_yaml("a: &m {b: *m}\n")


def test_nesting_deeper_than_the_limit_is_refused_and_the_limit_itself_loads() -> None:
    at_limit = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert tree_problem(load_yaml(at_limit), max_depth=MAX_DEPTH) is None
    deeper = "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)
    with pytest.raises(UnsafeYamlError, match=f"deeper than {MAX_DEPTH}"):
        load_yaml(deeper)


def test_modest_aliases_still_load_as_plain_data() -> None:
    # PyYAML's dumper writes anchors for shared objects; such cassettes must keep loading.
    shared = {"Content-Type": ["application/json"]}
    text = yaml.dump({"a": shared, "b": shared, "c": [shared] * 20})
    assert "&id001" in text
    assert load_yaml(text) == yaml.safe_load(text)


@pytest.mark.parametrize(
    "extra", [alias_bomb(), RECURSIVE_ALIAS, "deep: " + "[" * 500 + "]" * 500 + "\n"]
)
def test_the_cassette_model_answers_with_a_cassette_error(extra: str) -> None:
    text = cassette_with(extra)
    with pytest.raises(CassetteError, match="not a loadable cassette"):
        quick(lambda: Cassette.from_yaml(text))


@pytest.mark.parametrize("extra", [alias_bomb(), RECURSIVE_ALIAS])
def test_the_leak_gate_is_quick_on_aliases_and_still_finds_the_secret(extra: str) -> None:
    # 368 bytes of aliases took the leak gate 12.5 s; a recursive one raised RecursionError.
    text = cassette_with(extra + f"note: {SECRET}\n").encode()
    leaks = quick(lambda: find_leaks(text, {"API_KEY": SECRET}))
    assert [leak.secret for leak in leaks] == ["API_KEY"]


@pytest.mark.parametrize("extra", [alias_bomb(), RECURSIVE_ALIAS])
def test_drift_reports_an_alias_cassette_as_unreadable(tmp_path: Path, extra: str) -> None:
    cassette = tmp_path / "bomb.yaml"
    cassette.write_text(cassette_with(extra))
    spec = Path(__file__).parent.parent / "fixtures" / "openapi" / "payments.yaml"
    report = quick(lambda: drift_check(str(spec), cassette))
    assert [issue.kind for issue in report.issues] == [DriftKind.UNREADABLE]
    assert "expand" in report.issues[0].detail or "itself" in report.issues[0].detail


# -- specs ----------------------------------------------------------------------------------

HEAD = "openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths: {}\n"


def nested(depth: int) -> dict[str, Any]:
    """A dict spec whose components nest ``depth`` levels (built without recursion)."""
    node: dict[str, Any] = {"type": "string"}
    for _ in range(depth):
        node = {"type": "object", "properties": {"a": node}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "paths": {},
        "components": {"schemas": {"Deep": node}},
    }


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            HEAD + "x-bomb:\n" + "".join(f"  {line}\n" for line in alias_bomb().splitlines()),
            "expand",
        ),
        (HEAD + "x-loop: &loop [*loop]\n", "contains itself"),
        (HEAD + "x-deep: " + "[" * 900 + "]" * 900 + "\n", "deeper than"),
    ],
    ids=["alias-bomb", "recursive-alias", "deep"],
)
def test_hostile_yaml_specs_are_invalid_spec_errors(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    with pytest.raises(InvalidSpecError, match=problem):
        quick(lambda: load_spec(path))


def test_json_nested_past_the_json_modules_limit_is_an_invalid_spec_error(tmp_path: Path) -> None:
    path = tmp_path / "spec.json"
    path.write_text('{"openapi": "3.1.0", "x": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(InvalidSpecError, match="deeper than"):
        quick(lambda: load_spec(path))


def test_dict_specs_deep_or_cyclic_are_invalid_spec_errors() -> None:
    with pytest.raises(InvalidSpecError, match="deeper than"):
        load_spec(nested(100_000))  # deepcopy raised RecursionError
    cyclic = nested(1)
    cyclic["components"]["schemas"]["Deep"]["properties"]["self"] = cyclic["components"]
    with pytest.raises(InvalidSpecError, match="contains itself"):
        quick(lambda: load_spec(cyclic))  # the $ref walk never ended


def test_a_spec_nested_just_within_the_limit_loads_validates_and_generates() -> None:
    spec = load_spec(nested(45))  # 2 levels per schema: 94 levels with the root's
    uri = spec.document["components"]["schemas"]["Deep"]
    assert uri["type"] == "object"
    schema_uri = f"{spec.uri}#/components/schemas/Deep"
    assert spec.validator(schema_uri).is_valid({"a": {"a": {}}})


def _deep_value(depth: int) -> Any:
    value: Any = None
    for _ in range(depth):
        value = [value]
    return value


def returning(path: str, schema: str, schemas: dict[str, Any]) -> dict[str, Any]:
    """A 3.1 description whose one operation, ``GET path``, answers 200 with ``schema``."""
    ref = {"$ref": f"#/components/schemas/{schema}"}
    ok = {"description": "ok", "content": {"application/json": {"schema": ref}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "paths": {path: {"get": {"responses": {"200": ok}}}},
        "components": {"schemas": schemas},
    }


RECURSIVE_SPEC = returning(
    "/n",
    "N",
    {
        "N": {
            "anyOf": [
                {"type": "array", "items": {"$ref": "#/components/schemas/N"}},
                {"type": "null"},
            ]
        }
    },
)


@pytest.mark.parametrize("depth", [171, 100_000])
def test_deep_bodies_are_refused_before_validation(depth: int) -> None:
    # 171 levels: jsonschema's RecursionError; 100,000 decoded: jsonschema-rs crashed Python.
    spec = load_spec(RECURSIVE_SPEC)
    with pytest.raises(SchemaViolationError, match="nested deeper than") as info:
        spec.validate_response("GET /n", 200, _deep_value(depth))
    assert info.value.path == "$"
    with pytest.raises(SchemaViolationError, match="nested deeper than"):
        spec.validate_response("GET /n", 200, "[" * depth + "]" * depth)
    assert spec.validate_response("GET /n", 200, _deep_value(90)) is not None


def test_the_spec_mock_answers_400_to_a_deep_request_body() -> None:
    spec = {
        **RECURSIVE_SPEC,
        "paths": {
            "/n": {
                "post": {
                    "requestBody": {
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/N"}}
                        }
                    },
                    # The mock answers only documented statuses (issue 20): 400 is listed.
                    "responses": {
                        "204": {"description": "ok"},
                        "400": {
                            "description": "bad",
                            "content": {"application/problem+json": {"schema": {}}},
                        },
                    },
                }
            }
        },
    }
    upstream = Upstream()
    upstream.from_spec(spec)
    with httpx.Client(transport=upstream, base_url=upstream.base_url) as client:
        for depth in (300, 100_000):
            body = "[" * depth + "]" * depth
            response = client.post("/n", content=body, headers={"content-type": "application/json"})
            assert response.status_code == 400
            assert "nested too deep" in response.text
            assert "nested too deep" in response.headers["apiharness-problem"]
        assert client.post("/n", json=[[None]]).status_code == 204


CYCLES = returning(
    "/c",
    "A",
    {
        "A": {
            "allOf": [{"$ref": "#/components/schemas/B"}],
            "anyOf": [{"$ref": "#/components/schemas/A"}, {"type": "object"}],
            "type": "object",
            "properties": {"a": {"type": "integer"}},
            "required": ["a"],
        },
        "B": {
            "allOf": [{"$ref": "#/components/schemas/A"}],
            "properties": {"b": {"type": "string"}},
        },
    },
)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_allof_and_oneof_cycles_generate_and_mutate(data: st.DataObject) -> None:
    # merge_all_of and the mutator's oneOf descent recursed without end (RecursionError).
    body = data.draw(response_bodies(CYCLES, "GET /c", 200))
    assert isinstance(body, dict)
    assert isinstance(body["a"], int)
    bad = data.draw(invalid_response_bodies(CYCLES, "GET /c", 200))
    assert bad.content is not None


# -- the measure itself -------------------------------------------------------------------


def test_the_measure_is_linear_on_shared_nodes_and_stops_on_cycles() -> None:
    shared: Any = []
    for _ in range(200):
        shared = [shared, shared]  # 2**200 nodes expanded, 200 stored
    assert "expand" in (quick(lambda: tree_problem(shared, max_depth=1000), 0.5) or "")
    assert quick(lambda: depth_problem(shared, max_depth=1000), 0.5) is None
    loop: list[Any] = []
    loop.append(loop)
    assert "contains itself" in (tree_problem(loop, max_depth=10) or "")
    assert "deeper than 10" in (depth_problem(loop, max_depth=10) or "")
    document = json.loads(json.dumps({"a": [1, {"b": "c" * 50}], "d": None}))
    assert tree_problem(document, max_depth=3) is None
    assert tree_problem(document, max_depth=2) == "containers nested deeper than 2 levels"
    assert depth_problem(document, max_depth=3) is None
    assert depth_problem(document, max_depth=2) == "containers nested deeper than 2 levels"


def test_models_of_a_recursive_schema_outside_components_terminate() -> None:
    from apiharness.contract import build_models

    spec = {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "paths": {},
        "x-defs": {
            "Tree": {"type": "array", "items": {"$ref": "#/x-defs/Tree"}},
            "Ping": {"$ref": "#/x-defs/Pong"},
            "Pong": {"$ref": "#/x-defs/Ping"},
        },
        "components": {
            "schemas": {
                "Holder": {
                    "type": "object",
                    "properties": {
                        "tree": {"$ref": "#/x-defs/Tree"},
                        "ping": {"$ref": "#/x-defs/Ping"},
                    },
                }
            }
        },
    }
    models = build_models(spec)  # RecursionError before
    holder = models.Holder.model_validate({"tree": [[], [[]]], "ping": 1})
    assert holder.model_dump()["tree"] == [[], [[]]]


def test_a_circular_chain_of_bare_refs_is_an_invalid_spec_error_when_generating() -> None:
    spec = returning(
        "/c",
        "A",
        {
            "A": {
                "type": "object",
                "properties": {"x": {"$ref": "#/components/schemas/B"}},
                "required": ["x"],
            },
            "B": {"$ref": "#/components/schemas/C"},
            "C": {"$ref": "#/components/schemas/B"},
        },
    )
    # Hypothesis' InvalidArgument ("a deferred strategy defined as itself") on the first draw.
    with pytest.raises(InvalidSpecError, match="circular"):
        response_bodies(spec, "GET /c", 200).example()
