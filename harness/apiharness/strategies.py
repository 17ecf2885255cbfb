"""Public Hypothesis strategies: response bodies from OpenAPI descriptions, valid and invalid.

Valid bodies always validate against the operation's response schema (jsonschema decides, see
:mod:`apiharness.contract._generate` for how they are made and why not with
hypothesis-jsonschema); invalid ones always fail it, each tagged with the :class:`Violation`
it commits::

    from hypothesis import given
    from apiharness.strategies import invalid_response_bodies, response_bodies

    @given(response_bodies("fixtures/openapi/payments.yaml", "getCharge"))
    def test_my_client_parses_every_charge(body): ...

    @given(invalid_response_bodies("fixtures/openapi/payments.yaml", "getCharge"))
    def test_my_client_rejects_garbage(bad):
        print(bad.violation, bad.path, bad.content)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from hypothesis import strategies as st

from apiharness.contract._generate import SchemaStrategies
from apiharness.contract._mutate import InvalidBody, Violation, invalid_bodies
from apiharness.contract._spec import Operation, Spec, load_spec
from apiharness.errors import ConfigurationError

__all__ = [
    "InvalidBody",
    "Violation",
    "from_schema",
    "invalid_response_bodies",
    "response_bodies",
]

SpecLike = Spec | str | Mapping[str, Any]


def response_bodies(
    spec: SpecLike,
    operation: str | Operation,
    status: int | str | None = None,
    *,
    media_type: str | None = None,
) -> st.SearchStrategy[Any]:
    """Decoded JSON bodies that the response schema of ``operation`` accepts.

    ``operation`` is an operationId or ``"METHOD /path"``; ``status`` defaults to the first
    documented 2xx; ``media_type`` to the first JSON media type of that response.
    """
    loaded = load_spec(spec)
    uri = loaded.schema_uri(operation, status, media_type)
    return loaded.generator.for_uri(uri).filter(loaded.quick_is_valid(uri))


def invalid_response_bodies(
    spec: SpecLike,
    operation: str | Operation,
    status: int | str | None = None,
    *,
    media_type: str | None = None,
    violations: Iterable[Violation | str] | None = None,
) -> st.SearchStrategy[InvalidBody]:
    """Bodies that break the response schema of ``operation``, as :class:`InvalidBody`.

    ``violations`` restricts the kinds (default: all ten). Kinds the schema offers no place
    for (``enum_outside`` without an ``enum``) are simply never drawn; asking *only* for such
    kinds raises :class:`~apiharness.ConfigurationError` from Hypothesis' first draw.
    """
    loaded = load_spec(spec)
    uri = loaded.schema_uri(operation, status, media_type)
    try:
        kinds = (
            frozenset(Violation(v) for v in violations)
            if violations is not None
            else frozenset(Violation)
        )
    except ValueError:
        raise ConfigurationError(
            f"unknown violation in {list(violations or ())!r}; "
            f"choose from {[v.value for v in Violation]}"
        ) from None
    if not kinds:
        raise ConfigurationError("violations= is empty; leave it out to get every kind")
    return invalid_bodies(loaded.generator, uri, loaded.quick_is_valid(uri), kinds)


def from_schema(schema: Mapping[str, Any] | bool) -> st.SearchStrategy[Any]:
    """Values a standalone JSON Schema (2020-12, local ``$ref``s only) accepts."""
    from jsonschema import Draft202012Validator

    uri = "urn:apiharness:schema"
    document: Any = schema if isinstance(schema, bool) else dict(schema)

    def lookup(target: str) -> Any:
        from apiharness.contract._loader import pointer_parts

        node = document
        for part in pointer_parts(target.partition("#")[2]):
            node = node[int(part)] if isinstance(node, list) else node[part]
        return node

    validator = Draft202012Validator(document)
    return SchemaStrategies(lookup).for_schema(document, uri).filter(validator.is_valid)
