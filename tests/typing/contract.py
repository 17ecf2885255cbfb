"""Typical contract code, type-checked with mypy --strict by `make typecheck` (never executed)."""

from __future__ import annotations

from typing import Any

from hypothesis import given

from apiharness import ResponseValidationError, SchemaViolationError
from apiharness.contract import (
    FuzzTarget,
    assert_no_drift,
    build_models,
    fuzz_client,
    load_spec,
    run_schemathesis,
    validate_model,
)
from apiharness.strategies import InvalidBody, Violation, invalid_response_bodies, response_bodies
from apiharness.upstream import Upstream, status

SPEC = load_spec("fixtures/openapi/payments.yaml")
MODELS = build_models(SPEC)


def validated(body: bytes) -> Any:
    try:
        return SPEC.validate_response("getCharge", 200, body)
    except SchemaViolationError as exc:
        return exc.path, exc.violation


def typed_card(body: bytes) -> Any:
    return validate_model(MODELS.Card, body)


def mock() -> int:
    up = Upstream(base_url="https://api.test/v1")
    spec_mock = up.from_spec(SPEC, seed=3)
    spec_mock.route("getCharge").respond(status(503), spec_mock.answer("getCharge"))
    return len(up.routes)


def fuzz() -> str:
    def call(target: FuzzTarget) -> object:
        return target.http.get("/charges/ch_abcdef").json()

    return fuzz_client(SPEC, "getCharge", call, raises=ResponseValidationError).format()


@given(response_bodies(SPEC, "getCharge"))
def test_valid(body: Any) -> None:
    assert body is not None


@given(invalid_response_bodies(SPEC, "getCharge", violations=[Violation.WRONG_TYPE]))
def test_invalid(bad: InvalidBody) -> None:
    assert bad.violation is Violation.WRONG_TYPE


def drift_and_servers() -> bool:
    assert_no_drift(SPEC, "cassettes/")
    return run_schemathesis("fixtures/openapi/payments.yaml", base_url="http://127.0.0.1:1").ok
