"""OpenAPI contracts: load descriptions, validate responses, check cassettes for drift.

The parts, one module each: ``_loader`` reads documents and their ``$ref``s, ``_spec`` walks
operations and validates bodies, ``_generate``/``_mutate`` make response bodies (public through
:mod:`apiharness.strategies`), ``_models`` builds pydantic models, ``_drift`` checks VCR.py
cassettes, ``_schemathesis`` runs Schemathesis against servers.

Schemathesis is imported only by the functions that run it (the ``openapi`` extra)::

    from apiharness.contract import load_spec

    spec = load_spec("fixtures/openapi/payments.yaml")
    charge = spec.validate_response("getCharge", 200, b'{"id": "ch_123456", ...}')
"""

from apiharness.contract._spec import MediaSpec, Operation, ResponseSpec, Spec, load_spec

__all__ = [
    "MediaSpec",
    "Operation",
    "ResponseSpec",
    "Spec",
    "load_spec",
]
