"""Pydantic models built from component schemas agree with jsonschema, and errors carry paths."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from apiharness import ResponseValidationError, SchemaViolationError
from apiharness.contract import build_models, load_spec, validate_model
from apiharness.strategies import Violation, invalid_response_bodies, response_bodies

FIXTURES = Path(__file__).parents[2] / "fixtures" / "openapi"
PAYMENTS = build_models(FIXTURES / "payments.yaml")
USERS = build_models(FIXTURES / "users-items.yaml")
FAST = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
RESPONSES = [
    (PAYMENTS, "getCharge", 200),
    (PAYMENTS, "listCharges", 200),
    (PAYMENTS, "getEvent", 200),
    (PAYMENTS, "createRefund", 201),
    (PAYMENTS, "createCharge", 429),
    (USERS, "listUsers", 200),
    (USERS, "listUserItems", 200),
]


def test_one_model_per_object_component() -> None:
    assert set(PAYMENTS) == {
        "BankTransferPayment",
        "Card",
        "CardInput",
        "CardPayment",
        "Charge",
        "ChargeInput",
        "Event",
        "Failure",
        "Problem",
        "Refund",
        "WebhookEndpoint",
    }
    assert issubclass(PAYMENTS.Charge, BaseModel)
    assert PAYMENTS["Card"] is PAYMENTS.Card
    with pytest.raises(AttributeError, match=r"have: .*Charge"):
        PAYMENTS.Nope  # noqa: B018 - the lookup is what is tested


@pytest.mark.parametrize(("models", "operation", "status"), RESPONSES)
@FAST
@given(data=st.data())
def test_valid_bodies_parse_into_typed_objects(
    models: Any, operation: str, status: int, data: st.DataObject
) -> None:
    body = data.draw(response_bodies(models.spec, operation, status))
    parsed = models.parse_response(operation, status, json.dumps(body).encode())
    if isinstance(body, dict):
        assert isinstance(parsed, BaseModel)
        dumped = parsed.model_dump(by_alias=True, exclude_unset=True)
        assert dumped == body
    else:
        assert isinstance(parsed, list)
        assert len(parsed) == len(body)


MODEL_OF = {
    ("getCharge", 200): "Charge",
    ("getEvent", 200): "Event",
    ("createRefund", 201): "Refund",
}


@pytest.mark.parametrize(("operation", "status"), list(MODEL_OF))
@FAST
@given(data=st.data())
def test_models_reject_what_the_schema_rejects(
    operation: str, status: int, data: st.DataObject
) -> None:
    kinds = set(Violation) - {Violation.TRUNCATED_JSON, Violation.NOT_JSON}
    bad = data.draw(invalid_response_bodies(PAYMENTS.spec, operation, status, violations=kinds))
    with pytest.raises(SchemaViolationError) as info:
        validate_model(PAYMENTS[MODEL_OF[operation, status]], bad.content)
    assert info.value.path.startswith("$")


def test_violation_paths_point_into_the_body() -> None:
    charge: dict[str, Any] = {
        "id": "ch_abcdef",
        "amount": 100,
        "amount_refunded": 0,
        "currency": "usd",
        "status": "succeeded",
        "created": "2026-01-01T00:00:00Z",
        "failure": None,
        "payment_method": {"type": "card", "card_id": "card_abcdef"},
    }
    typed = validate_model(PAYMENTS.Charge, charge)
    assert typed.amount == 100  # type: ignore[attr-defined]
    page = {"data": [charge, {**charge, "amount": "100"}], "has_more": False, "next_cursor": None}
    with pytest.raises(SchemaViolationError) as info:
        PAYMENTS.parse_response("listCharges", 200, page)
    assert info.value.path == "$.data[1].amount"
    assert isinstance(info.value, ResponseValidationError)
    with pytest.raises(SchemaViolationError) as info:
        validate_model(PAYMENTS.Charge, {**charge, "amount": True})
    assert info.value.path == "$.amount"
    with pytest.raises(SchemaViolationError, match="not JSON"):
        validate_model(PAYMENTS.Charge, b"{oops")


def test_awkward_property_names_and_recursion() -> None:
    spec = load_spec(
        {
            "openapi": "3.1.0",
            "info": {"title": "t", "version": "1"},
            "paths": {},
            "components": {
                "schemas": {
                    "Node": {
                        "type": "object",
                        "required": ["next-page", "from"],
                        "properties": {
                            "next-page": {"type": ["integer", "null"]},
                            "from": {"type": "string"},
                            "json": {"type": "boolean"},
                            "child": {"$ref": "#/components/schemas/Node"},
                        },
                    }
                }
            },
        }
    )
    models = build_models(spec)
    node = validate_model(
        models.Node, {"next-page": None, "from": "a", "child": {"next-page": 2, "from": "b"}}
    )
    assert node.child.next_page == 2  # type: ignore[attr-defined]
    assert node.from_ == "a"  # type: ignore[attr-defined]
    with pytest.raises(SchemaViolationError) as info:
        validate_model(models.Node, {"next-page": None, "from": "a", "child": {"from": "b"}})
    assert info.value.path == "$.child['next-page']"
