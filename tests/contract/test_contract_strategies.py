"""Response strategies: every valid body validates, every invalid one fails, tags are honest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from apiharness import ConfigurationError, SchemaViolationError
from apiharness.contract import Spec, load_spec
from apiharness.strategies import (
    InvalidBody,
    Violation,
    from_schema,
    invalid_response_bodies,
    response_bodies,
)

FIXTURES = Path(__file__).parents[2] / "fixtures" / "openapi"
SPECS = {name: load_spec(FIXTURES / name) for name in ("payments.yaml", "users-items.yaml")}
# One case per distinct schema: the payments errors all share one problem+json response.
CASES = list(
    {
        media.schema_uri: (name, op.name, status)
        for name, spec in SPECS.items()
        for op in spec.operations
        for status, response in op.responses.items()
        if (media := response.media()) is not None and media.schema_uri is not None
    }.values()
)
FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def plain_validator(spec: Spec, operation: str, status: str) -> Draft202012Validator:
    """A validator built here with jsonschema, not the cached one the strategies use."""
    uri = spec.schema_uri(operation, status)
    return Draft202012Validator({"$ref": uri}, registry=spec.registry)


@pytest.mark.parametrize(("name", "operation", "status"), CASES)
@FAST
@given(data=st.data())
def test_valid_bodies_validate(name: str, operation: str, status: str, data: st.DataObject) -> None:
    spec = SPECS[name]
    body = data.draw(response_bodies(spec, operation, status))
    json.dumps(body)  # serialisable as JSON
    errors = list(plain_validator(spec, operation, status).iter_errors(body))
    assert not errors, errors[0].message


@pytest.mark.parametrize(("name", "operation", "status"), CASES)
@FAST
@given(data=st.data())
def test_invalid_bodies_fail(name: str, operation: str, status: str, data: st.DataObject) -> None:
    spec = SPECS[name]
    bad = data.draw(invalid_response_bodies(spec, operation, status))
    assert isinstance(bad, InvalidBody)
    try:
        decoded = json.loads(bad.content)
    except ValueError:
        assert bad.violation in (Violation.TRUNCATED_JSON, Violation.NOT_JSON)
        return
    assert bad.violation not in (Violation.TRUNCATED_JSON, Violation.NOT_JSON)
    assert decoded == bad.value
    assert not plain_validator(spec, operation, status).is_valid(decoded)


def _value_at(value: Any, path: str) -> Any:
    # "$.data[0].amount" → value["data"][0]["amount"]; enough for the paths the mutator writes.
    import re

    for key, index in re.findall(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]", path):
        value = value[key] if key else value[int(index)]
    return value


@pytest.mark.parametrize("violation", list(Violation))
@FAST
@given(data=st.data())
def test_every_violation_is_produced_for_payments(
    violation: Violation, data: st.DataObject
) -> None:
    spec = SPECS["payments.yaml"]
    operation = {
        Violation.ARRAY_BOUNDS: "listCharges",
        Violation.ENUM_OUTSIDE: "getCharge",
        Violation.STRING_BOUNDS: "getCard",
    }.get(violation, "getCharge")
    bad = data.draw(invalid_response_bodies(spec, operation, violations=[violation]))
    assert bad.violation is violation
    validator = plain_validator(spec, operation, "200")
    if violation is Violation.MISSING_REQUIRED:
        parent, _, name = bad.path.rpartition(".")
        assert name not in _value_at(bad.value, parent)
    elif violation is Violation.NULL_NOT_NULLABLE:
        assert _value_at(bad.value, bad.path) is None
    elif violation is Violation.EXTRA_PROPERTY:
        assert "x_undocumented" in bad.path
    elif violation in (Violation.TRUNCATED_JSON, Violation.NOT_JSON):
        with pytest.raises(ValueError):  # noqa: PT011 - JSONDecodeError or UnicodeDecodeError
            json.loads(bad.content)
        return
    assert not validator.is_valid(bad.value)


def test_unknown_or_empty_violations_are_declaration_errors() -> None:
    with pytest.raises(ConfigurationError, match="choose from"):
        invalid_response_bodies(SPECS["payments.yaml"], "getCard", violations=["typo"])
    with pytest.raises(ConfigurationError, match="empty"):
        invalid_response_bodies(SPECS["payments.yaml"], "getCard", violations=[])


SCHEMAS = [
    {"type": "integer", "minimum": 3, "exclusiveMaximum": 9, "multipleOf": 2},
    {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
    {"type": "string", "pattern": "^[a-f]{2,4}$", "maxLength": 3},
    {"type": "string", "format": "date-time"},
    {"type": "array", "items": {"enum": [1, 2, 3]}, "minItems": 2, "uniqueItems": True},
    {"type": ["string", "null"], "minLength": 2},
    {"oneOf": [{"type": "integer"}, {"type": "string", "const": "x"}]},
    {
        "allOf": [
            {"properties": {"a": {"type": "integer"}}, "required": ["a"]},
            {"properties": {"b": {"type": "boolean"}}, "required": ["b"]},
        ]
    },
    {
        "$defs": {
            "node": {
                "type": "object",
                "properties": {"next": {"$ref": "#/$defs/node"}},
                "additionalProperties": False,
            }
        },
        "$ref": "#/$defs/node",
    },
    {"type": "object", "additionalProperties": {"type": "integer"}, "maxProperties": 3},
    {"not": {"type": "string"}},
    True,
]


@pytest.mark.parametrize("schema", SCHEMAS)
@FAST
@given(data=st.data())
def test_from_schema_keywords(schema: Any, data: st.DataObject) -> None:
    value = data.draw(from_schema(schema))
    assert Draft202012Validator(schema).is_valid(value)


@pytest.mark.parametrize(("name", "operation", "status"), CASES[:6])
@FAST
@given(data=st.data())
def test_validate_response_agrees_with_jsonschema(
    name: str, operation: str, status: str, data: st.DataObject
) -> None:
    # validate_response answers with jsonschema-rs when installed; it must agree with jsonschema.
    spec = SPECS[name]
    good = data.draw(response_bodies(spec, operation, status))
    assert spec.validate_response(operation, int(status), good) == good
    bad = data.draw(invalid_response_bodies(spec, operation, status))
    with pytest.raises(SchemaViolationError):
        spec.validate_response(operation, int(status), bad.content)
