"""Pydantic models built at runtime from a description's component schemas.

The Python counterpart of openapi-fetch + zod: ``models = build_models(spec)`` gives one
pydantic model per object schema under ``components.schemas`` (``models.Charge``), and
:meth:`Models.parse_response` validates a response against the spec (jsonschema, the authority)
and returns it as typed objects.

Built at runtime rather than generated as code so that the models can never drift from the
description they came from. The mapping is deliberately literal: JSON types map to strict
Python types (no ``"1"`` → ``1`` coercion), ``enum``/``const`` to ``Literal``, ``oneOf``/
``anyOf`` to unions, nullable to ``| None``, optional properties default to ``None`` (absent),
``additionalProperties: false`` to ``extra="forbid"``; string formats stay ``str`` (a
``date-time`` is kept as the text that was sent). Property names that are not identifiers
(``"next-page"``, ``"from"``) become fields with an alias.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Iterator, Mapping
from typing import Annotated, Any, Literal, TypeVar, Union, cast

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, create_model

from apiharness.contract._generate import schema_types
from apiharness.contract._loader import join_ref, json_path
from apiharness.contract._spec import Operation, Spec, decode_json, load_spec
from apiharness.errors import SchemaViolationError

__all__ = ["Models", "build_models", "validate_model"]

M = TypeVar("M", bound=BaseModel)
_COMPONENT = re.compile(r"#/components/schemas/([^/]+)$")
_SCALARS: dict[str, Any] = {"string": str, "integer": int, "number": float, "boolean": bool}


class Models:
    """The models of one description, by component name: ``models.Charge``, ``models["Card"]``."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self._models: dict[str, type[BaseModel]] = {}
        self._aliases: dict[str, Any] = {}  # component name → type, for non-object schemas
        self._building: dict[str, str] = {}
        self._following: set[str] = set()  # $refs to non-component schemas being typed
        schemas = spec.document.get("components", {}).get("schemas", {}) or {}
        base = spec.uri
        for name in schemas:
            self._component(name, base)
        namespace = {model.__name__: model for model in self._models.values()}
        for model in self._models.values():
            model.model_rebuild(_types_namespace=namespace)

    def __getattr__(self, name: str) -> type[BaseModel]:
        try:
            return self._models[name]
        except KeyError:
            raise AttributeError(
                f"no object schema {name!r} under components.schemas; have: {sorted(self._models)}"
            ) from None

    def __getitem__(self, name: str) -> type[BaseModel]:
        return self.__getattr__(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._models)

    def __repr__(self) -> str:
        return f"<Models {sorted(self._models)}>"

    def response_type(self, operation: str | Operation, status: int | str | None = None) -> Any:
        """The Python type of a response body: a model, ``list[Model]``, a union …"""
        uri = self.spec.schema_uri(operation, status)
        return self._type({"$ref": uri}, uri.split("#", 1)[0], "Response")

    def parse_response(self, operation: str | Operation, status: int, body: Any) -> Any:
        """Validate a response against the description, then return it as typed objects.

        Raises :class:`~apiharness.SchemaViolationError` with the JSON path of the violation::

            models = build_models("openapi.yaml")
            charge = models.parse_response("getCharge", 200, response.content)
            charge.amount   # an int; charge is a models.Charge
        """
        op = self.spec.operation(operation)
        value = self.spec.validate_response(op, status, body)
        return _validated(TypeAdapter(self.response_type(op, status)), value, op.name, status)

    # -- building ---------------------------------------------------------------------------

    def _component(self, name: str, base: str) -> Any:
        if name in self._models:
            return self._models[name]
        if name in self._aliases:
            return self._aliases[name]
        if name in self._building:
            return _class_name(name)  # a forward reference, resolved by model_rebuild
        schema = self.spec.resolve(f"{base}#/components/schemas/{name}")
        self._building[name] = name
        try:
            built = self._type(schema, base, _class_name(name), component=True)
        finally:
            del self._building[name]
        if isinstance(built, type) and issubclass(built, BaseModel):
            self._models[name] = built
        else:
            self._aliases[name] = built
        return built

    def _type(  # noqa: PLR0911 - one branch per JSON Schema keyword family
        self, schema: Any, base: str, hint: str, *, component: bool = False
    ) -> Any:
        if schema is True or schema == {}:
            return Any
        if not isinstance(schema, dict):
            return Any
        ref = schema.get("$ref")
        if isinstance(ref, str):
            target = join_ref(base, ref)
            found = _COMPONENT.search(target)
            if found and target.split("#", 1)[0] == self.spec.uri:
                return self._component(found.group(1), base)
            if target in self._following:
                # A recursive schema outside components.schemas has no model to name: the
                # recursion is typed loosely instead of unrolled without end.
                return Any
            self._following.add(target)
            try:
                return self._type(self.spec.resolve(target), target.split("#", 1)[0], hint)
            finally:
                self._following.discard(target)
        if "const" in schema:
            return Literal[schema["const"]]
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            return Literal[tuple(schema["enum"])]
        if isinstance(schema.get("allOf"), list):
            return self._type(
                self.spec.generator.merge_all_of(schema, base), base, hint, component=component
            )
        for key in ("oneOf", "anyOf"):
            if isinstance(schema.get(key), list) and schema[key]:
                members = [self._type(sub, base, f"{hint}{i}") for i, sub in enumerate(schema[key])]
                return Union[tuple(members)]  # noqa: UP007 - built from a runtime tuple
        kinds = schema_types(schema)
        if not kinds:
            return Any
        members = [self._for_type(kind, schema, base, hint, component) for kind in kinds]
        return members[0] if len(members) == 1 else Union[tuple(members)]  # noqa: UP007

    def _for_type(
        self, kind: str, schema: dict[str, Any], base: str, hint: str, component: bool
    ) -> Any:
        if kind == "null":
            return type(None)
        if kind == "array":
            item = self._type(schema.get("items", True), base, f"{hint}Item")
            bounds = Field(min_length=schema.get("minItems"), max_length=schema.get("maxItems"))
            return Annotated[list[item], bounds]  # type: ignore[valid-type]
        if kind == "object":
            if "properties" not in schema and not component:
                values = self._type(schema.get("additionalProperties", True), base, f"{hint}Value")
                return dict[str, values]  # type: ignore[valid-type]
            return self._object(schema, base, hint)
        return Annotated[_SCALARS[kind], Field(**_constraints(kind, schema))]

    def _object(self, schema: dict[str, Any], base: str, name: str) -> type[BaseModel]:
        required = set(schema.get("required") or ())
        fields: dict[str, Any] = {}
        for prop, sub in (schema.get("properties") or {}).items():
            annotation = self._type(sub, base, name + _class_name(prop))
            field_name = _field_name(prop, fields)
            options: dict[str, Any] = {"alias": prop} if field_name != prop else {}
            if prop in required:
                fields[field_name] = (annotation, Field(**options))
            else:
                fields[field_name] = (annotation, Field(default=None, **options))
        closed = schema.get("additionalProperties") is False
        config = ConfigDict(
            extra="forbid" if closed else "allow", strict=True, populate_by_name=True
        )
        model = create_model(name, __config__=config, **fields)
        model.__doc__ = schema.get("description") or f"Built from the schema {name}."
        return cast("type[BaseModel]", model)


def _class_name(name: str) -> str:
    parts = re.split(r"[^0-9A-Za-z]+", name)
    joined = "".join(p[:1].upper() + p[1:] for p in parts if p)
    return joined if joined[:1].isalpha() else f"M{joined}"


def _field_name(prop: str, taken: Mapping[str, Any]) -> str:
    name = re.sub(r"\W", "_", prop)
    if not name or name[0].isdigit() or name.startswith("_"):
        name = f"f_{name.lstrip('_')}"
    if keyword.iskeyword(name) or name in dir(BaseModel):
        name += "_"
    while name in taken:
        name += "_"
    return name


def _constraints(kind: str, schema: dict[str, Any]) -> dict[str, Any]:
    if kind == "string":
        return {
            "min_length": schema.get("minLength"),
            "max_length": schema.get("maxLength"),
            "pattern": schema.get("pattern"),
        }
    if kind in ("integer", "number"):
        return {
            "ge": schema.get("minimum"),
            "le": schema.get("maximum"),
            "gt": schema.get("exclusiveMinimum"),
            "lt": schema.get("exclusiveMaximum"),
            "multiple_of": schema.get("multipleOf"),
        }
    return {}


def _validated(adapter: TypeAdapter[Any], value: Any, operation: str, status: int | None) -> Any:
    try:
        return adapter.validate_python(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = json_path(tuple(p for p in first["loc"] if isinstance(p, str | int)))
        label = f"{operation} response {status}" if operation else "the response"
        raise SchemaViolationError(
            f"{label} is invalid at {where}: {first['msg']}",
            path=where,
            violation=first["msg"],
            operation=operation,
            status=status,
        ) from None


def validate_model(model: type[M], body: Any) -> M:
    """Validate a response body (bytes, text or decoded JSON) with a pydantic model.

    Raises :class:`~apiharness.SchemaViolationError` with the JSON path of the first error
    instead of pydantic's ``ValidationError``, so callers catch one type::

        card = validate_model(models.Card, response.content)
    """
    value = decode_json(body)
    return cast("M", _validated(TypeAdapter(model), value, "", None))


def build_models(spec: Spec | str | Mapping[str, Any]) -> Models:
    """Pydantic models for every object schema under ``components.schemas``.

    ::

        models = build_models("openapi.yaml")
        card = models.Card.model_validate({"id": "card_abc123", ...})
    """
    return Models(load_spec(spec))
