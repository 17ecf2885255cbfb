"""Checking requests against an operation the way OpenAPI reads them, not plain JSON Schema.

A request that conforms to the description must never be rejected, so the check follows the
OpenAPI rules that differ from JSON Schema:

- parameters are strings on the wire, serialised by ``style``/``explode`` (form, simple, label,
  matrix, spaceDelimited, pipeDelimited, deepObject) or by ``content``; they are parsed back
  into arrays and objects and coerced to the types the schema asks for before validation;
- schemas are read as OpenAPI reads requests (see ``_dialect``): a ``discriminator`` picks the
  ``oneOf`` branch, ``readOnly`` properties are not required;
- bodies in JSON and ``application/x-www-form-urlencoded`` are validated; other media types
  (XML, multipart, binary) are accepted when the operation lists them, wildcards included.

Hand-written because no kept library does this for both 3.0 and 3.1 with jsonschema as its
validator (openapi-core brings its own request/response model and a second validator stack);
schema validation itself is jsonschema's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from jsonschema.exceptions import best_match

from apiharness._stacks import httpx
from apiharness.contract._generate import schema_types
from apiharness.contract._loader import json_path
from apiharness.contract._spec import decode_json
from apiharness.errors import SchemaViolationError

if TYPE_CHECKING:
    from apiharness.contract._spec import Operation, Spec
    from apiharness.upstream import Behaviour, Route

__all__ = ["RequestCheck", "RequestProblem", "media_matches"]

_MISSING = object()


class RequestProblem(Exception):
    """What is wrong with a request: the status to answer with, a sentence, a JSON pointer."""

    def __init__(
        self, status: int, detail: str, pointer: str = "", fallbacks: tuple[int, ...] = ()
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.pointer = pointer
        self.fallbacks = fallbacks  # statuses that also fit, when the first is not documented


# -- media types -------------------------------------------------------------------------------


def _base(media_type: str) -> str:
    return media_type.split(";", 1)[0].strip().lower()


def media_matches(offered: str, documented: str) -> bool:
    """Whether ``offered`` (a Content-Type) fits the ``documented`` media range."""
    have, want = _base(offered), _base(documented)
    if want in ("*/*", "*", have):
        return True
    kind, _, sub = want.partition("/")
    return sub == "*" and have.partition("/")[0] == kind


# -- parameters --------------------------------------------------------------------------------


def _scalar(raw: str, schema: Any) -> Any:  # noqa: PLR0911 - one return per JSON type
    """A string as the scalar type its schema asks for; the string itself when none fits."""
    kinds = schema_types(schema) if isinstance(schema, dict) else []
    for kind in kinds:
        if kind == "integer":
            try:
                return int(raw)
            except ValueError:
                continue
        if kind == "number":
            try:
                number = float(raw)
            except ValueError:
                continue
            return int(number) if number.is_integer() and "." not in raw else number
        if kind == "boolean" and raw in ("true", "false"):
            return raw == "true"
        if kind == "null" and raw in ("", "null"):
            return None
        if kind == "string":
            return raw
    if not kinds and isinstance(schema, dict) and ("enum" in schema or "const" in schema):
        options = schema.get("enum", [schema.get("const")])
        for option in options:
            if not isinstance(option, str) and json.dumps(option) == raw:
                return option
    return raw


def _kind(schema: Any) -> str:
    kinds = schema_types(schema) if isinstance(schema, dict) else []
    for kind in ("array", "object"):
        if kind in kinds:
            return kind
    return "scalar"


def _items(schema: Any, values: list[str]) -> list[Any]:
    items = schema.get("items", {}) if isinstance(schema, dict) else {}
    return [_scalar(value, items) for value in values]


def _pairs(schema: Any, values: list[str]) -> dict[str, Any]:
    props = schema.get("properties", {}) if isinstance(schema, dict) else {}
    keys, vals = values[0::2], values[1::2]
    return {key: _scalar(val, props.get(key, {})) for key, val in zip(keys, vals, strict=False)}


def _fields(schema: Any, pairs: Mapping[str, str]) -> dict[str, Any]:
    props = schema.get("properties", {}) if isinstance(schema, dict) else {}
    return {key: _scalar(val, props.get(key, {})) for key, val in pairs.items()}


def _delimited(raw: str, schema: Any, delimiter: str, explode: bool) -> Any:
    kind = _kind(schema)
    if kind == "array":
        return _items(schema, raw.split(delimiter) if raw else [])
    if kind == "object":
        if explode:
            return _fields(schema, dict(part.partition("=")[::2] for part in raw.split(delimiter)))
        return _pairs(schema, raw.split(delimiter))
    return _scalar(raw, schema)


def _path_value(raw: str, name: str, schema: Any, style: str, explode: bool) -> Any:
    if style == "label" and raw.startswith("."):
        return _delimited(raw[1:], schema, "." if explode else ",", explode)
    if style == "matrix" and raw.startswith(";"):
        if explode and _kind(schema) == "array":
            return _items(schema, [p.partition("=")[2] for p in raw[1:].split(";")])
        if explode and _kind(schema) == "object":
            return _delimited(raw[1:], schema, ";", explode)
        return _delimited(raw[1:].partition("=")[2], schema, ",", explode=False)
    return _delimited(raw, schema, ",", explode)


def _query_value(
    query: httpx.QueryParams, name: str, schema: Any, style: str, explode: bool
) -> Any:
    kind = _kind(schema)
    if style == "deepObject":
        prefix = name + "["
        found = {k[len(prefix) : -1]: v for k, v in query.multi_items() if k.startswith(prefix)}
        return _fields(schema, found) if found else _MISSING
    if kind == "object" and explode:
        props = schema.get("properties", {}) if isinstance(schema, dict) else {}
        found = {k: v for k, v in query.multi_items() if k in props}
        return _fields(schema, found) if found else _MISSING
    if name not in query:
        return _MISSING
    if kind == "array" and explode and style == "form":
        return _items(schema, query.get_list(name))
    delimiter = {"spaceDelimited": " ", "pipeDelimited": "|"}.get(style, ",")
    return _delimited(query[name], schema, delimiter, explode=False)


def _content_value(raw: str, param: Mapping[str, Any]) -> Any:
    media = next(iter(param.get("content") or {}), "")
    if media and (media.endswith("json") or media.endswith("+json")):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


# -- the check ---------------------------------------------------------------------------------


class RequestCheck:
    """The route policy of a spec-driven route: it checks each request against the operation.

    A request that breaks the description is answered by ``on_problem`` (the mock's problem
    response); one that conforms passes to the route's script.
    """

    def __init__(self, spec: Spec, operation: Operation, on_problem: Any) -> None:
        self.spec = spec
        self.operation = operation
        self.on_problem = on_problem
        self.enabled = True

    def before(self, request: httpx.Request, route: Route) -> Behaviour | None:
        if not self.enabled:
            return None
        try:
            self.check(request, route.params(request.url.raw_path))
        except RequestProblem as problem:
            return self.on_problem(self.operation, problem)  # type: ignore[no-any-return]
        return None

    def after(self, request: httpx.Request, route: Route, outcome: Any) -> None:
        return None

    def check(self, request: httpx.Request, path_values: Mapping[str, str]) -> None:
        """Raise :class:`RequestProblem` when ``request`` breaks the operation."""
        cookies = _cookies(request)
        for param in self.operation.parameters:
            name, where = param["name"], param["in"]
            value = self._value(param, request, path_values, cookies)
            if value is _MISSING:
                if param.get("required") or where == "path":
                    raise RequestProblem(400, f"missing required {where} parameter {name!r}")
                continue
            uri = self.operation.parameter_schema_uris.get((name, where))
            if uri is not None and not self._valid(uri, value):
                raise RequestProblem(
                    400,
                    f"{where} parameter {name!r} does not match its schema",
                    fallbacks=(404,) if where == "path" else (),
                )
        self._check_body(request)

    def _value(  # noqa: PLR0911 - one return per parameter location
        self,
        param: Mapping[str, Any],
        request: httpx.Request,
        path_values: Mapping[str, str],
        cookies: Mapping[str, str],
    ) -> Any:
        name, where = param["name"], param["in"]
        uri = self.operation.parameter_schema_uris.get((name, where))
        schema: Any = {}
        if uri is not None:
            schema, _ = self.spec.generator.resolve(self.spec.resolve(uri), uri.split("#", 1)[0])
        style = param.get("style") or ("form" if where in ("query", "cookie") else "simple")
        explode = param.get("explode", style == "form")
        if where == "query":
            if "content" in param:
                raw = request.url.params.get(name)
                return _MISSING if raw is None else _content_value(raw, param)
            return _query_value(request.url.params, name, schema, style, bool(explode))
        if where == "path":
            raw = path_values.get(name)
        elif where == "header":
            raw = request.headers.get(name)
        elif where == "cookie":
            raw = cookies.get(name)
        else:
            return _MISSING
        if raw is None:
            return _MISSING
        if "content" in param:
            return _content_value(raw, param)
        if where == "path":
            return _path_value(raw, name, schema, style, bool(explode))
        return _delimited(raw, schema, ",", bool(explode))

    def _valid(self, uri: str, value: Any) -> bool:
        if self.spec.quick_is_valid(uri)(value):
            return True
        return best_match(self.spec.request_validator(uri).iter_errors(value)) is None

    def _check_body(self, request: httpx.Request) -> None:
        body = self.operation.request_body
        if body is None:
            return
        content = request.content
        if not content:
            if body.get("required"):
                raise RequestProblem(400, "the request body is required")
            return
        offered = request.headers.get("content-type", "")
        documented = [m for m in body.get("content", {}) if media_matches(offered, m)]
        if not documented:
            raise RequestProblem(
                415 if offered else 400,
                f"content type {_base(offered) or 'none'!r} is not accepted here",
            )
        # The most specific documented range wins: application/json before */*.
        media = min(documented, key=lambda m: ("*" in m, -len(m)))
        uri = self.operation.request_schema_uris.get(media)
        if uri is None:
            return
        value = self._decode(content, offered, uri)
        if value is _MISSING:
            return
        validator = self.spec.request_validator(uri)
        if self.spec.quick_is_valid(uri)(value):
            return
        error = best_match(validator.iter_errors(value))
        if error is not None:
            from apiharness.contract._spec import describe_error

            pointer = "".join(f"/{p}" for p in error.absolute_path)
            where = json_path(tuple(error.absolute_path))
            raise RequestProblem(422, f"{where}: {describe_error(error)}", pointer)

    def _decode(self, content: bytes, offered: str, uri: str) -> Any:
        media = _base(offered)
        if media.endswith(("/json", "+json")):
            try:
                return decode_json(content)
            except SchemaViolationError as exc:  # not JSON, or nested too deep to validate
                raise RequestProblem(400, f"the request body is {exc.violation}") from None
        if media == "application/x-www-form-urlencoded":
            schema, _ = self.spec.generator.resolve(self.spec.resolve(uri), uri.split("#", 1)[0])
            try:
                text = content.decode()
            except UnicodeDecodeError:
                raise RequestProblem(400, "the form body is not UTF-8") from None
            fields: dict[str, list[str]] = {}
            for key, val in parse_qsl(text, keep_blank_values=True):
                fields.setdefault(key, []).append(val)
            props = schema.get("properties", {}) if isinstance(schema, dict) else {}
            return {
                key: _items(props.get(key), vals)
                if _kind(props.get(key)) == "array"
                else _delimited(vals[-1], props.get(key, {}), ",", explode=False)
                for key, vals in fields.items()
            }
        return _MISSING  # XML, multipart, binary: the media type is what can be checked


def _cookies(request: httpx.Request) -> dict[str, str]:
    out = {}
    for header in request.headers.get_list("cookie"):
        for part in header.split(";"):
            key, sep, value = part.strip().partition("=")
            if sep:
                out[key] = value
    return out
