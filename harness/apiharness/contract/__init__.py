"""OpenAPI contracts: load descriptions, validate responses, typed models, cassette drift.

The parts, one module each: ``_loader`` reads documents and their ``$ref``s, ``_spec`` walks
operations and validates bodies, ``_generate``/``_mutate`` make response bodies (public through
:mod:`apiharness.strategies`), ``_models`` builds pydantic models, ``_drift`` checks VCR.py
cassettes, ``_schemathesis`` runs Schemathesis against servers, ``_pact``/``_pact_matching``/
``_pact_export`` read, match, serve and write Pact files, ``_cli`` holds the commands::

    from apiharness.contract import example_spec, load_spec

    spec = load_spec(example_spec("payments"))  # or your own file, URL or dict
    charge = spec.validate_response("getCharge", 200, response.content)

Names are imported on first use, so that ``apiharness --help`` (which registers the
commands of :mod:`._cli`) does not pay for jsonschema, pydantic and Hypothesis. Schemathesis
is imported only by the functions that run it (the ``openapi`` extra).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from apiharness.contract._drift import (
        DriftIssue,
        DriftKind,
        DriftReport,
        assert_no_drift,
        check_cassettes,
        check_pacts,
    )
    from apiharness.contract._examples import EXAMPLE_SPECS, example_spec
    from apiharness.contract._fuzz import FuzzReport, FuzzTarget, fuzz_client
    from apiharness.contract._mock import SpecMock
    from apiharness.contract._models import Models, build_models, validate_model
    from apiharness.contract._pact import (
        PactFile,
        PactInteraction,
        PactRoutes,
        load_pact,
        serve_pact,
    )
    from apiharness.contract._pact_export import PactWriter, pact_interactions
    from apiharness.contract._schemathesis import (
        SchemathesisReport,
        assert_schemathesis,
        problem_json_errors,
        retry_after_is_valid,
        run_schemathesis,
    )
    from apiharness.contract._spec import MediaSpec, Operation, ResponseSpec, Spec, load_spec

_HOMES = {
    "DriftIssue": "_drift",
    "DriftKind": "_drift",
    "DriftReport": "_drift",
    "assert_no_drift": "_drift",
    "check_cassettes": "_drift",
    "check_pacts": "_drift",
    "EXAMPLE_SPECS": "_examples",
    "example_spec": "_examples",
    "FuzzReport": "_fuzz",
    "FuzzTarget": "_fuzz",
    "fuzz_client": "_fuzz",
    "SpecMock": "_mock",
    "MediaSpec": "_spec",
    "Models": "_models",
    "Operation": "_spec",
    "ResponseSpec": "_spec",
    "Spec": "_spec",
    "build_models": "_models",
    "load_spec": "_spec",
    "validate_model": "_models",
    "PactFile": "_pact",
    "PactInteraction": "_pact",
    "PactRoutes": "_pact",
    "load_pact": "_pact",
    "serve_pact": "_pact",
    "PactWriter": "_pact_export",
    "pact_interactions": "_pact_export",
    "SchemathesisReport": "_schemathesis",
    "assert_schemathesis": "_schemathesis",
    "problem_json_errors": "_schemathesis",
    "retry_after_is_valid": "_schemathesis",
    "run_schemathesis": "_schemathesis",
}

__all__ = [
    "EXAMPLE_SPECS",
    "DriftIssue",
    "DriftKind",
    "DriftReport",
    "FuzzReport",
    "FuzzTarget",
    "MediaSpec",
    "Models",
    "Operation",
    "PactFile",
    "PactInteraction",
    "PactRoutes",
    "PactWriter",
    "ResponseSpec",
    "SchemathesisReport",
    "Spec",
    "SpecMock",
    "assert_no_drift",
    "assert_schemathesis",
    "build_models",
    "check_cassettes",
    "check_pacts",
    "example_spec",
    "fuzz_client",
    "load_pact",
    "load_spec",
    "pact_interactions",
    "problem_json_errors",
    "retry_after_is_valid",
    "run_schemathesis",
    "serve_pact",
    "validate_model",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'apiharness.contract' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"apiharness.contract.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
