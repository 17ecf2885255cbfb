"""Response bodies drawn from an OpenAPI description: valid ones, and ones that break the schema.

The spec-driven mock and the client fuzzer draw from these; :mod:`apiharness.strategies`
publishes them. They live in ``contract`` so that the contract package never imports the
public strategies module built on top of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from hypothesis import strategies as st

from apiharness.contract._mutate import InvalidBody, Violation, invalid_bodies
from apiharness.contract._spec import Operation, Spec, load_spec
from apiharness.errors import ConfigurationError

__all__ = ["SpecLike", "invalid_response_bodies", "response_bodies"]

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
