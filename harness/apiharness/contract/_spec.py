"""The loaded description: operations, their responses, path matching and schema validation.

:func:`load_spec` reads a document (see :mod:`._loader`), walks ``paths`` once, resolving the
``$ref`` of every path item, parameter, request body, response and media type, and checks what
it walks, so a broken description fails at load time with the JSON path of the problem.
Schemas stay where they are: each media type keeps the URI of its schema, and validation asks
jsonschema to follow ``$ref``s through the shared :mod:`referencing` registry.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import quote, urldefrag

import jsonschema
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from apiharness._trees import depth_problem
from apiharness.contract._dialect import validator_class
from apiharness.contract._loader import (
    LoadedDocuments,
    SpecSource,
    join_ref,
    json_path,
    load_documents,
    pointer_parts,
)
from apiharness.errors import InvalidSpecError, SchemaViolationError, UnknownOperationError

if TYPE_CHECKING:
    from apiharness.contract._generate import SchemaStrategies

__all__ = ["MAX_BODY_DEPTH", "MediaSpec", "Operation", "ResponseSpec", "Spec", "load_spec"]

#: The deepest body validated: jsonschema recurses per level (a recursive schema exhausted
#: Python's stack at 170 levels) and jsonschema-rs crashed the process on 100,000.
MAX_BODY_DEPTH = 100

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_STATUS = re.compile(r"^([1-5][0-9][0-9]|[1-5]XX|default)$")
_TEMPLATE = re.compile(r"\{([^{}/]+)\}")
Parts = tuple[str | int, ...]
_TYPES = "array, boolean, integer, null, number, object, string"
_Param = tuple[Mapping[str, Any], str | None]  # a parameter object and its schema's URI


def _escape(part: str | int) -> str:
    return str(part).replace("~", "~0").replace("/", "~1")


def is_json_media(media_type: str) -> bool:
    """``application/json``, ``application/problem+json``, ``text/json; charset=utf-8`` …"""
    base = media_type.split(";", 1)[0].strip().lower()
    return base.endswith(("/json", "+json")) or base == "*/*"


@dataclass(frozen=True)
class MediaSpec:
    """One media type of a response: its schema's URI (``None`` when absent) and examples."""

    media_type: str
    schema_uri: str | None
    examples: tuple[Any, ...] = ()


@dataclass(frozen=True)
class ResponseSpec:
    """A documented response: status key (``"200"``, ``"4XX"``, ``"default"``) and content."""

    status: str
    description: str
    content: Mapping[str, MediaSpec]
    headers: Mapping[str, Any] = field(default_factory=dict)

    def media(self, media_type: str | None = None) -> MediaSpec | None:
        """The media type asked for, else the first JSON one, else the first; None if empty."""
        if media_type is not None:
            base = media_type.split(";", 1)[0].strip().lower()
            for key, media in self.content.items():
                if key.lower() == base or key == "*/*":
                    return media
            return None
        for key, media in self.content.items():
            if is_json_media(key):
                return media
        return next(iter(self.content.values()), None)


@dataclass(frozen=True)
class Operation:
    """One operation of the description, e.g. ``POST /charges`` (operationId ``createCharge``)."""

    method: str
    path: str
    operation_id: str | None
    responses: Mapping[str, ResponseSpec]
    parameters: tuple[Mapping[str, Any], ...]
    request_body: Mapping[str, Any] | None
    request_schema_uris: Mapping[str, str]
    location: str
    parameter_schema_uris: Mapping[tuple[str, str], str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The operationId when there is one, else ``"METHOD /path"``."""
        return self.operation_id or f"{self.method} {self.path}"

    def response_for(self, status: int) -> ResponseSpec | None:
        """The documented response for ``status``: exact code, then ``4XX``, then ``default``."""
        exact = self.responses.get(str(status))
        if exact is not None:
            return exact
        return self.responses.get(f"{status // 100}XX") or self.responses.get("default")

    def documented_statuses(self) -> list[int]:
        """The explicit status codes, in ascending order (ranges and ``default`` left out)."""
        return sorted(int(key) for key in self.responses if key.isdigit())

    def __repr__(self) -> str:
        return f"<Operation {self.method} {self.path} ({self.name})>"


def _compile_template(path: str) -> re.Pattern[str]:
    pattern, last = [], 0
    for match in _TEMPLATE.finditer(path):
        pattern.append(re.escape(path[last : match.start()]))
        pattern.append(f"(?P<p{len(pattern)}>[^/]+)")
        last = match.end()
    pattern.append(re.escape(path[last:]))
    return re.compile("".join(pattern) + "/?")


class Spec:
    """A loaded OpenAPI 3.0/3.1 description. Build one with :func:`load_spec`."""

    def __init__(self, loaded: LoadedDocuments, *, check_schemas: bool = True) -> None:
        self._loaded = loaded
        self.version = loaded.version
        self.uri = loaded.uri
        self.registry = loaded.registry
        self.document = loaded.root
        # Schemas written inline in responses, met while walking the paths; checked with the
        # components' schemas, so a description that cannot be served is refused at load.
        self._inline_schemas: list[tuple[Any, str, Parts]] = []
        self.operations: list[Operation] = list(self._walk_paths())
        self._by_id = {op.operation_id: op for op in self.operations if op.operation_id}
        self._by_key = {(op.method, op.path): op for op in self.operations}
        self._validators: dict[str, Draft202012Validator] = {}
        self._quick: dict[str, Callable[[Any], bool]] = {}
        if check_schemas:
            self._check_schemas()

    def __repr__(self) -> str:
        title = self.document.get("info", {}).get("title", "?")
        return f"<Spec {title!r} OpenAPI {self.version}, {len(self.operations)} operations>"

    @property
    def title(self) -> str:
        """``info.title`` of the description."""
        return str(self.document.get("info", {}).get("title", ""))

    # -- references -----------------------------------------------------------------------

    def resolve(self, uri: str) -> Any:
        """The node an absolute URI with a JSON pointer fragment names."""
        doc_uri, fragment = urldefrag(uri)
        node = self._loaded.documents[doc_uri]
        for part in pointer_parts(fragment):
            node = node[int(part)] if isinstance(node, list) else node[part]
        return node

    def _deref(self, node: Any, doc: str, parts: Parts) -> tuple[Any, str, Parts]:
        """Follow ``$ref`` chains from ``node`` found at ``doc``/``parts``."""
        seen: set[str] = set()
        while isinstance(node, dict) and isinstance(node.get("$ref"), str):
            ref = node["$ref"]
            target = join_ref(doc, ref)
            if target in seen:
                raise InvalidSpecError(
                    f"$ref {ref!r} is circular", json_path=json_path((*parts, "$ref"))
                )
            seen.add(target)
            target_doc, fragment = urldefrag(target)
            try:
                new_parts = tuple(pointer_parts(fragment))
                node = self.resolve(target)
            except (KeyError, IndexError, ValueError, TypeError):
                raise InvalidSpecError(
                    f"$ref {ref!r} points at nothing; check the name and the file",
                    json_path=json_path((*parts, "$ref")),
                    source=self._shown(doc),
                ) from None
            doc, parts = target_doc, new_parts
        return node, doc, parts

    def _shown(self, doc: str) -> str:
        return "" if doc == self.uri else doc

    def _location(self, doc: str, parts: Parts) -> str:
        # Percent-encoded (RFC 6901 section 6): "{id}" is not allowed in a URI as it stands.
        return f"{doc}#" + quote("".join("/" + _escape(p) for p in parts), safe="/~")

    # -- walking ----------------------------------------------------------------------------

    def _mapping(self, node: Any, doc: str, parts: Parts, what: str) -> dict[str, Any]:
        if not isinstance(node, dict):
            raise InvalidSpecError(
                f"{what} must be a mapping, got {type(node).__name__}",
                json_path=json_path(parts),
                source=self._shown(doc),
            )
        return node

    def _walk_paths(self) -> Iterator[Operation]:
        doc = self.uri
        paths = self.document.get("paths")
        if paths is None:
            if self.version == "3.0":
                raise InvalidSpecError(
                    "OpenAPI 3.0 requires `paths` (it may be empty: `paths: {}`)",
                    json_path="$.paths",
                )
            return
        paths = self._mapping(paths, doc, ("paths",), "`paths`")
        for path, raw_item in paths.items():
            where: Parts = ("paths", path)
            if not isinstance(path, str) or not path.startswith("/"):
                raise InvalidSpecError(
                    f"path {path!r} must start with '/'", json_path=json_path(where)
                )
            item, item_doc, item_parts = self._deref(raw_item, doc, where)
            item = self._mapping(item, item_doc, item_parts, "a path item")
            shared = self._parameters(item.get("parameters"), item_doc, item_parts)
            for method in METHODS:
                if method in item:
                    yield self._operation(
                        method,
                        path,
                        item[method],
                        doc=item_doc,
                        item_parts=item_parts,
                        shared=shared,
                    )

    def _parameters(self, raw: Any, doc: str, parts: Parts) -> dict[tuple[str, str], _Param]:
        out: dict[tuple[str, str], _Param] = {}
        if raw is None:
            return out
        if not isinstance(raw, list):
            raise InvalidSpecError(
                "`parameters` must be a list",
                json_path=json_path((*parts, "parameters")),
                source=self._shown(doc),
            )
        for i, entry in enumerate(raw):
            param, p_doc, p_parts = self._deref(entry, doc, (*parts, "parameters", i))
            param = self._mapping(param, p_doc, p_parts, "a parameter")
            if "name" not in param or "in" not in param:
                raise InvalidSpecError(
                    "a parameter needs `name` and `in`",
                    json_path=json_path(p_parts),
                    source=self._shown(p_doc),
                )
            uri = None
            if "schema" in param:
                uri = self._location(p_doc, (*p_parts, "schema"))
            elif isinstance(param.get("content"), dict) and param["content"]:
                # A parameter may carry its schema in `content` (e.g. JSON in a query string).
                media, media_obj = next(iter(param["content"].items()))
                if isinstance(media_obj, dict) and "schema" in media_obj:
                    uri = self._location(p_doc, (*p_parts, "content", media, "schema"))
            out[(param["name"], param["in"])] = (param, uri)
        return out

    def _operation(
        self,
        method: str,
        path: str,
        raw: Any,
        *,
        doc: str,
        item_parts: Parts,
        shared: dict[tuple[str, str], _Param],
    ) -> Operation:
        parts = (*item_parts, method)
        node = self._mapping(raw, doc, parts, "an operation")
        params = {**shared, **self._parameters(node.get("parameters"), doc, parts)}
        responses_raw = node.get("responses")
        if responses_raw is None and self.version == "3.0":
            raise InvalidSpecError(
                "an operation needs `responses` with at least one response",
                json_path=json_path((*parts, "responses")),
                source=self._shown(doc),
            )
        responses: dict[str, ResponseSpec] = {}
        raw_map = self._mapping(responses_raw or {}, doc, (*parts, "responses"), "`responses`")
        for key, value in raw_map.items():
            status = str(key)
            where = (*parts, "responses", status)
            if not _STATUS.match(status):
                raise InvalidSpecError(
                    f"{status!r} is not a status code; use e.g. '200', '4XX' or 'default'",
                    json_path=json_path(where),
                    source=self._shown(doc),
                )
            responses[status] = self._response(status, value, doc, where)
        body, body_uris = None, {}
        if "requestBody" in node:
            body, b_doc, b_parts = self._deref(node["requestBody"], doc, (*parts, "requestBody"))
            body = self._mapping(body, b_doc, b_parts, "`requestBody`")
            body_uris = {
                m.media_type: m.schema_uri
                for m in self._content(body.get("content", {}), b_doc, b_parts)
                if m.schema_uri
            }
        op_id = node.get("operationId")
        return Operation(
            method=method.upper(),
            path=path,
            operation_id=op_id if isinstance(op_id, str) else None,
            responses=responses,
            parameters=tuple(param for param, _ in params.values()),
            parameter_schema_uris={key: uri for key, (_, uri) in params.items() if uri},
            request_body=body,
            request_schema_uris=body_uris,
            location=json_path(parts),
        )

    def _response(self, status: str, raw: Any, doc: str, parts: Parts) -> ResponseSpec:
        node, r_doc, r_parts = self._deref(raw, doc, parts)
        node = self._mapping(node, r_doc, r_parts, "a response")
        content = {m.media_type: m for m in self._content(node.get("content", {}), r_doc, r_parts)}
        headers = node.get("headers") or {}
        return ResponseSpec(status, str(node.get("description", "")), content, headers)

    def _content(self, raw: Any, doc: str, parts: Parts) -> Iterator[MediaSpec]:
        content = self._mapping(raw, doc, (*parts, "content"), "`content`")
        for media_type, media_raw in content.items():
            m_parts = (*parts, "content", media_type)
            media = self._mapping(media_raw, doc, m_parts, "a media type object")
            schema_uri = None
            if "schema" in media:
                schema, s_doc, s_parts = self._deref(media["schema"], doc, (*m_parts, "schema"))
                if not isinstance(schema, dict | bool):
                    raise InvalidSpecError(
                        f"a schema must be a mapping, got {type(schema).__name__}",
                        json_path=json_path(s_parts),
                        source=self._shown(s_doc),
                    )
                schema_uri = self._location(doc, (*m_parts, "schema"))
                self._inline_schemas.append((schema, s_doc, s_parts))
            yield MediaSpec(media_type, schema_uri, self._examples(media))

    @staticmethod
    def _examples(media: Mapping[str, Any]) -> tuple[Any, ...]:
        if "example" in media:
            return (media["example"],)
        examples = media.get("examples")
        if isinstance(examples, dict):
            # External examples (externalValue) and $ref'd examples are skipped, not fetched.
            return tuple(
                e["value"] for e in examples.values() if isinstance(e, dict) and "value" in e
            )
        return ()

    def _check_schemas(self) -> None:
        """Every schema of the description must be a valid JSON Schema (``type: strng`` is not).

        Checked at load, naming the JSON path, rather than met as a 500 from the mock.
        """
        schemas = self.document.get("components", {}).get("schemas", {})
        if not isinstance(schemas, dict):
            raise InvalidSpecError(
                "`components.schemas` must be a mapping", json_path="$.components.schemas"
            )
        found = [(schema, self.uri, ("components", "schemas", n)) for n, schema in schemas.items()]
        quick = _metaschema_check()
        for schema, doc, parts in [*found, *self._inline_schemas]:
            if quick is not None and quick(schema):
                continue
            try:
                Draft202012Validator.check_schema(schema)
            except SchemaError as exc:
                where = (*parts, *exc.absolute_path)
                problem = exc.message
                if where[-1] == "type":
                    problem = f"{exc.instance!r} is not a JSON Schema type; use one of {_TYPES}"
                raise InvalidSpecError(
                    f"invalid schema: {problem}",
                    json_path=json_path(where),
                    source=self._shown(doc),
                ) from None

    # -- lookup -----------------------------------------------------------------------------

    def operation(self, name: str | Operation) -> Operation:
        """An operation by operationId (``"createCharge"``) or ``"METHOD /path"``."""
        if isinstance(name, Operation):
            return name
        found = self._by_id.get(name)
        if found is None and " " in name:
            method, _, path = name.partition(" ")
            found = self._by_key.get((method.upper(), path.strip()))
        if found is None:
            known = ", ".join(op.name for op in self.operations[:20])
            raise UnknownOperationError(
                f"no operation {name!r} in {self.title or 'the description'}; "
                f"use an operationId or 'METHOD /path', e.g. one of: {known}"
            )
        return found

    @cached_property
    def _matchers(self) -> dict[str, list[tuple[re.Pattern[str], Operation]]]:
        out: dict[str, list[tuple[re.Pattern[str], Operation]]] = {}
        # Concrete paths win over templated ones (OpenAPI: "/users/me" before "/users/{id}").
        for op in sorted(self.operations, key=lambda o: (o.path.count("{"), o.path)):
            out.setdefault(op.method, []).append((_compile_template(op.path), op))
        return out

    def match(self, method: str, path: str) -> tuple[Operation, dict[str, str]] | None:
        """The operation serving ``method`` ``path`` and its path parameters, or None.

        ``path`` is the request path relative to the API's base (no query string).
        """
        for pattern, op in self._matchers.get(method.upper(), ()):
            found = pattern.fullmatch(path)
            if found:
                names = _TEMPLATE.findall(op.path)
                return op, dict(zip(names, found.groups(), strict=True))
        return None

    def response(self, operation: str | Operation, status: int | str | None = None) -> ResponseSpec:
        """The documented response of ``operation`` for ``status`` (default: the first 2xx)."""
        op = self.operation(operation)
        if status is None:
            ok = [key for key in op.responses if key.startswith("2")]
            if not ok:
                raise UnknownOperationError(f"{op.name} documents no 2xx response; pass status=")
            return op.responses[sorted(ok)[0]]
        code = str(status)
        found = op.responses.get(code) or (op.response_for(int(code)) if code.isdigit() else None)
        if found is None:
            raise UnknownOperationError(
                f"{op.name} documents no response for status {code}; "
                f"documented: {', '.join(op.responses) or 'none'}"
            )
        return found

    def schema_uri(
        self,
        operation: str | Operation,
        status: int | str | None = None,
        media_type: str | None = None,
    ) -> str:
        """The URI of the response schema, for :meth:`validator` and the strategies."""
        op = self.operation(operation)
        response = self.response(op, status)
        media = response.media(media_type)
        if media is None or media.schema_uri is None:
            raise UnknownOperationError(
                f"{op.name} response {response.status} has no schema"
                + (f" for {media_type}" if media_type else "")
            )
        return media.schema_uri

    @cached_property
    def generator(self) -> SchemaStrategies:
        """Builds Hypothesis strategies for this description's schemas (see strategies)."""
        from apiharness.contract._generate import SchemaStrategies

        return SchemaStrategies(self.resolve)

    # -- validation -------------------------------------------------------------------------

    def validator(self, schema_uri: str) -> Draft202012Validator:
        """A cached jsonschema validator for the response schema at ``schema_uri``.

        It reads the schema as OpenAPI reads responses: a required ``writeOnly`` property
        may be absent (see ``_dialect``).
        """
        found = self._validators.get(schema_uri)
        if found is None:
            found = validator_class("response")({"$ref": schema_uri}, registry=self.registry)
            self._validators[schema_uri] = found
        return found

    def request_validator(self, schema_uri: str) -> Draft202012Validator:
        """A cached validator reading the schema as OpenAPI reads requests (``_dialect``)."""
        key = "request " + schema_uri
        found = self._validators.get(key)
        if found is None:
            found = validator_class("request")({"$ref": schema_uri}, registry=self.registry)
            self._validators[key] = found
        return found

    def accepts(self, schema_uri: str) -> Callable[[Any], bool]:
        """Whether a response body is valid: the quick test, confirmed by :meth:`validator`."""
        quick, full = self.quick_is_valid(schema_uri), self.validator(schema_uri)
        return lambda value: quick(value) or full.is_valid(value)

    def quick_is_valid(self, schema_uri: str) -> Callable[[Any], bool]:
        """A fast validity test for the schema at ``schema_uri``: jsonschema-rs if installed.

        jsonschema-rs (the ``openapi`` extra) answers about 200 times faster than jsonschema
        on the payments spec; its "invalid" is confirmed by jsonschema before anyone is told,
        so jsonschema stays the authority for what is reported.
        """
        found = self._quick.get(schema_uri)
        if found is None:
            found = self.validator(schema_uri).is_valid
            try:
                import jsonschema_rs

                registry = self._rs_registry
                fast = jsonschema_rs.Draft202012Validator({"$ref": schema_uri}, registry=registry)
                found = cast("Callable[[Any], bool]", fast.is_valid)
            except ImportError:  # pragma: no cover - the openapi extra is not installed
                pass
            except Exception:  # noqa: S110 - anything it cannot compile, jsonschema can
                pass
            self._quick[schema_uri] = found
        return found

    @cached_property
    def _rs_registry(self) -> Any:
        import jsonschema_rs

        return jsonschema_rs.Registry(list(self._loaded.documents.items()))

    def validate_response(
        self,
        operation: str | Operation,
        status: int,
        body: Any,
        *,
        media_type: str | None = None,
    ) -> Any:
        """Check a response body against the description; return it decoded.

        ``body`` is bytes or text (decoded as JSON) or an already decoded value. Raises
        :class:`~apiharness.SchemaViolationError` with the JSON path of the first violation,
        or :class:`~apiharness.UnknownOperationError` for an undocumented status::

            spec = load_spec("openapi.yaml")
            charge = spec.validate_response("getCharge", 200, response.content)
        """
        op = self.operation(operation)
        uri = self.schema_uri(op, status, media_type)
        value = decode_json(body, op.name, status)
        if self.quick_is_valid(uri)(value):
            return value
        error = jsonschema.exceptions.best_match(self.validator(uri).iter_errors(value))
        if error is None:  # the fast validator's regex dialect was stricter; jsonschema decides
            return value
        where = json_path(tuple(error.absolute_path))
        violation = describe_error(error)
        raise SchemaViolationError(
            f"{op.name} response {status} is invalid at {where}: {violation}",
            path=where,
            violation=violation,
            operation=op.name,
            status=status,
        )


def _metaschema_check() -> Callable[[Any], bool] | None:
    """A fast "is this a valid 2020-12 schema?" when jsonschema-rs is installed, else None.

    jsonschema checks a 10 MB description's schemas against the 2020-12 metaschema in about
    7 s; jsonschema-rs (installed with the ``openapi`` extra, through schemathesis) in 30 ms.
    Only the verdict is taken from it: a failing schema is checked again with jsonschema,
    whose error gives the message and path.
    """
    try:
        import jsonschema_rs
    except ImportError:  # pragma: no cover - the openapi extra is not installed
        return None
    validator = jsonschema_rs.validator_for(Draft202012Validator.META_SCHEMA)
    return cast("Callable[[Any], bool]", validator.is_valid)


def describe_error(error: jsonschema.ValidationError) -> str:
    """What a body broke, in words taken from the schema, never from the body.

    jsonschema's own messages quote the offending value, which may be a token or a card
    number; reports and exceptions must not carry it.
    """
    keyword = str(error.validator)
    if keyword == "required":
        return error.message  # "'amount' is a required property": names come from the schema
    if keyword in ("additionalProperties", "unevaluatedProperties"):
        return f"{keyword} is false: a property the schema does not allow"
    if keyword in ("oneOf", "anyOf"):
        how = "not exactly one" if keyword == "oneOf" else "none"
        return f"matches {how} of the {keyword} schemas"
    shown = json.dumps(error.validator_value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return f"violates {keyword}: {shown}"


def decode_json(body: Any, operation: str = "", status: int | None = None) -> Any:
    """``body`` as a JSON value: bytes/str are parsed, anything else is returned as is.

    A body nested deeper than :data:`MAX_BODY_DEPTH` is refused (it could not be validated).
    """
    label = f"{operation} response {status}" if operation else "the response"
    value = body
    if isinstance(body, bytes | bytearray | str):
        try:
            value = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise SchemaViolationError(
                f"{label} is not JSON ({exc.__class__.__name__}: {exc})",
                path="$",
                violation="not JSON",
                operation=operation,
                status=status,
            ) from None
        except RecursionError:  # the json module's own limit, about 1,000 levels
            value = None
            problem: str | None = f"containers nested deeper than {MAX_BODY_DEPTH} levels"
        else:
            problem = depth_problem(value, max_depth=MAX_BODY_DEPTH)
    else:
        problem = depth_problem(value, max_depth=MAX_BODY_DEPTH)
    if problem:
        raise SchemaViolationError(
            f"{label} cannot be validated: it holds {problem}",
            path="$",
            violation="nested too deep",
            operation=operation,
            status=status,
        )
    return value


def load_spec(
    source: SpecSource | Spec, *, base_uri: str | None = None, check_schemas: bool = True
) -> Spec:
    """Load an OpenAPI 3.0 or 3.1 description from a path, URL or dict.

    ``$ref``s are followed within the document and to relative files or URLs. A broken
    description raises :class:`~apiharness.InvalidSpecError` whose ``json_path`` says where::

        from apiharness.contract import load_spec

        spec = load_spec("openapi.yaml")
        spec.operation("createCharge")      # <Operation POST /charges (createCharge)>

    A dict whose ``$ref``s name other files needs ``base_uri`` (e.g. ``Path(...).as_uri()``).
    ``check_schemas=False`` skips checking ``components.schemas`` against the JSON Schema
    metaschema (faster on very large descriptions).
    """
    if isinstance(source, Spec):
        return source
    return Spec(load_documents(source, base_uri=base_uri), check_schemas=check_schemas)
