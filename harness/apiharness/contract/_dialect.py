"""OpenAPI's reading of JSON Schema, where it differs by direction.

- Requests: a ``discriminator`` picks the ``oneOf``/``anyOf`` branch by the value of its
  property (through ``mapping`` or the schema's name), where JSON Schema demands "exactly one"
  match; ``readOnly`` properties are not required (OpenAPI 3.0 "Fixed Fields" of the Schema
  Object; 3.1 keeps the rule).
- Responses: ``writeOnly`` properties are not required, and not allowed (the generator never
  sends them; Schemathesis' response check forbids them);
  ``oneOf`` stays strict, as Schemathesis and other response checkers read it.

Only keywords are swapped, through jsonschema's public ``validators.extend``; everything
else is jsonschema's Draft 2020-12.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError

__all__ = ["validator_class"]


_BASE_ONE_OF = Draft202012Validator.VALIDATORS["oneOf"]
_BASE_ANY_OF = Draft202012Validator.VALIDATORS["anyOf"]
_BASE_REQUIRED = Draft202012Validator.VALIDATORS["required"]


def _chosen_branch(branches: list[Any], schema: Mapping[str, Any], instance: Any) -> int | None:
    """The index of the branch the discriminator names for ``instance``, or None."""
    discriminator = schema.get("discriminator")
    if not isinstance(discriminator, dict) or not isinstance(instance, dict):
        return None
    value = instance.get(discriminator.get("propertyName"))
    if not isinstance(value, str):
        return None
    mapping = discriminator.get("mapping") or {}
    target = mapping.get(value) if isinstance(mapping, dict) else None
    for index, branch in enumerate(branches):
        ref = branch.get("$ref") if isinstance(branch, dict) else None
        if not isinstance(ref, str):
            continue
        if target is not None:
            if ref == target or ref.rsplit("/", 1)[-1] == target:
                return index
        elif ref.rsplit("/", 1)[-1] == value:
            return index
    return None


def _discriminated(plain: Any) -> Any:
    """``oneOf``/``anyOf`` where a discriminator value picks the branch; ``plain`` otherwise."""

    def keyword(
        validator: Any, branches: list[Any], instance: Any, schema: Mapping[str, Any]
    ) -> Iterator[ValidationError]:
        index = _chosen_branch(branches, schema, instance)
        if index is not None:
            yield from validator.descend(instance, branches[index], schema_path=index)
        elif "discriminator" in schema:
            # The value names no branch: OpenAPI leaves it open; accept what any branch does.
            yield from _BASE_ANY_OF(validator, branches, instance, schema)
        else:
            yield from plain(validator, branches, instance, schema)

    return keyword


def _required_but(flag: str) -> Any:
    """``required``, except for properties marked ``flag`` (readOnly or writeOnly)."""

    def required_keyword(
        validator: Any, required: list[Any], instance: Any, schema: Mapping[str, Any]
    ) -> Iterator[ValidationError]:
        props = schema.get("properties")
        if isinstance(props, dict) and isinstance(required, list):
            required = [
                name
                for name in required
                if not (isinstance(props.get(name), dict) and props[name].get(flag) is True)
            ]
        yield from _BASE_REQUIRED(validator, required, instance, schema)

    return required_keyword


_Request = validators.extend(  # type: ignore[no-untyped-call]
    Draft202012Validator,
    {
        "oneOf": _discriminated(_BASE_ONE_OF),
        "anyOf": _discriminated(_BASE_ANY_OF),
        "required": _required_but("readOnly"),
    },
)


def _write_only(
    validator: Any, write_only: Any, instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    if write_only is True:
        yield ValidationError("a writeOnly value is never sent in a response")


_Response = validators.extend(  # type: ignore[no-untyped-call]
    Draft202012Validator, {"required": _required_but("writeOnly"), "writeOnly": _write_only}
)


def validator_class(direction: str) -> type[Draft202012Validator]:
    """Draft 2020-12 read as OpenAPI reads a ``"request"`` or a ``"response"`` body."""
    return _Request if direction == "request" else _Response  # type: ignore[no-any-return]
