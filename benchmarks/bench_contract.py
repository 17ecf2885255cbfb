"""OpenAPI contracts: generating bodies, validating them, and loading a large description.

Three tables, each measured side by side in one run:

* valid response bodies generated per second for the payments spec (apiharness' strategies
  driven by Hypothesis, as a user's ``@given`` test drives them);
* validation throughput of one response: ``Spec.validate_response`` against jsonschema used
  directly (a cached ``Draft202012Validator``; ``validate`` raises, ``is_valid`` does not), and
  the typed-model path (jsonschema, then pydantic);
* loading a generated 10 MB description with 1,170 operations (``make_large_spec``) and
  resolving every operation's response schemas, against Schemathesis' loader doing the same.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from apiharness.contract import build_models, load_spec
from apiharness.contract._generate import draw_values
from apiharness.strategies import invalid_response_bodies, response_bodies
from benchmarks import make_large_spec
from benchmarks._common import Table, median_time

PAYMENTS = Path(__file__).parents[1] / "fixtures" / "openapi" / "payments.yaml"


def _bodies_per_second(strategy: Any, count: int) -> float:
    started = time.perf_counter()
    drawn = draw_values(strategy, 0, count)
    return len(drawn) / (time.perf_counter() - started)


def generation(smoke: bool) -> Table:
    spec = load_spec(PAYMENTS)
    count = 30 if smoke else 400
    table = Table(
        "Generated response bodies, payments spec",
        "bodies/s",
        baseline="getCard 200 (flat object)",
        higher_is_better=True,
    )
    table.add(
        "getCard 200 (flat object)", _bodies_per_second(response_bodies(spec, "getCard"), count)
    )
    table.add(
        "getCharge 200 (oneOf, nullable allOf)",
        _bodies_per_second(response_bodies(spec, "getCharge"), count),
    )
    table.add(
        "listCharges 200 (page of charges)",
        _bodies_per_second(response_bodies(spec, "listCharges"), count),
    )
    table.add(
        "getCharge 200, invalid bodies",
        _bodies_per_second(invalid_response_bodies(spec, "getCharge"), count),
    )
    return table


def validation(smoke: bool) -> Table:
    spec = load_spec(PAYMENTS)
    models = build_models(spec)
    uri = spec.schema_uri("listCharges", 200)
    charge = {
        "id": "ch_abcdef12",
        "amount": 1999,
        "amount_refunded": 0,
        "currency": "eur",
        "status": "succeeded",
        "created": "2026-11-24T08:00:00Z",
        "description": None,
        "payment_method": {"type": "card", "card_id": "card_abcdef12"},
        "failure": None,
        "metadata": {"order": "1234"},
    }
    page = {"data": [charge] * 20, "has_more": True, "next_cursor": "ch_abcdef12"}
    raw = json.dumps(page).encode()
    plain = Draft202012Validator({"$ref": uri}, registry=spec.registry)
    number = 20 if smoke else 300
    table = Table(
        "Validating one response (listCharges 200, 20 charges)",
        "µs per response",
        baseline="jsonschema validator.validate(body)",
        target="apiharness no slower than jsonschema",
    )

    def per_call(func: Any) -> float:
        return median_time(func, repeat=5, number=number) * 1e6

    table.add("jsonschema validator.validate(body)", per_call(lambda: plain.validate(page)))
    table.add("jsonschema validator.is_valid(body)", per_call(lambda: plain.is_valid(page)))
    table.add(
        "apiharness spec.validate_response(decoded)",
        per_call(lambda: spec.validate_response("listCharges", 200, page)),
    )
    table.add(
        "apiharness spec.validate_response(bytes)",
        per_call(lambda: spec.validate_response("listCharges", 200, raw)),
        "includes json.loads",
    )
    table.add(
        "apiharness models.parse_response (typed)",
        per_call(lambda: models.parse_response("listCharges", 200, page)),
        "validate_response + pydantic",
    )
    return table


def _ours(path: Path) -> int:
    spec = load_spec(path)
    resolved = 0
    for operation in spec.operations:
        for response in operation.responses.values():
            for media in response.content.values():
                if media.schema_uri is not None:
                    spec.generator.resolve({"$ref": media.schema_uri}, spec.uri)
                    spec.validator(media.schema_uri)
                    resolved += 1
    return resolved


def _schemathesis(path: Path) -> int:
    import schemathesis
    from schemathesis.core.result import Err

    schema = schemathesis.openapi.from_path(str(path), config=schemathesis.Config())
    resolved = 0
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()  # an operation it cannot load: the comparison would be unfair
        for _status, response in result.ok().responses.items():
            response.get_schema()
            resolved += 1
    return resolved


def loading(smoke: bool) -> Table:
    copies = 8 if smoke else 130
    with tempfile.TemporaryDirectory() as folder:
        path = make_large_spec.write(Path(folder) / "large.json", copies)
        size = path.stat().st_size / 1e6
        operations = len(load_spec(path, check_schemas=False).operations)
        table = Table(
            f"Loading a {size:.1f} MB description ({operations} operations) "
            "and resolving every response schema",
            "s",
            baseline="schemathesis.openapi.from_path",
            target="within 1.5x of Schemathesis and under 2 s",
        )
        repeat = 1 if smoke else 3
        table.add(
            "schemathesis.openapi.from_path",
            median_time(lambda: _schemathesis(path), repeat=repeat),
            "+ get_schema() per response",
        )
        table.add(
            "apiharness load_spec",
            median_time(lambda: _ours(path), repeat=repeat),
            "checks refs and component schemas; + validator per response",
        )
    return table


def run(smoke: bool) -> list[Table]:
    """The contract benchmarks; ``smoke`` shrinks every size."""
    return [generation(smoke), validation(smoke), loading(smoke)]
