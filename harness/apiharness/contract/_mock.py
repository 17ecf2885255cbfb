"""The spec-driven mock: an :class:`~apiharness.upstream.Upstream` that serves a description.

``up.from_spec(spec)`` declares one route per operation. Each route's script answers with the
operation's first documented 2xx response: the spec's examples where present, otherwise bodies
generated from the response schema. Generated bodies come from a pool drawn once per response
with Hypothesis under a fixed seed (``@seed``, no database), so the same seed serves the same
bodies in the same order, and each one validates against the schema (the strategies filter
through jsonschema).

Incoming requests are checked by a route *policy* (see ``RoutePolicy`` in the upstream), not by
the script: replacing a route's script with faults (``mock.route("getCharge").respond(reset(),
mock.answer("getCharge"))``) keeps the validation, and every behaviour and fault of the
upstream stays available per route. A bad request gets an RFC 9457 problem+json answer: 400
for a missing or malformed parameter or unparseable body, 422 for a body that parses but breaks
its schema. When the operation documents that status with a schema the problem does not fit,
a body generated from the documented schema is sent instead, so the mock never lies about
its own description.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import httpx

from apiharness.contract._generate import draw_values
from apiharness.contract._spec import Operation, ResponseSpec, Spec, is_json_media, load_spec

if TYPE_CHECKING:
    from apiharness.upstream import Behaviour, Route, Upstream

__all__ = ["SpecMock", "mock_from_spec"]

_POOL_SIZE = 12
_REASONS = {400: "Bad Request", 422: "Unprocessable Content"}


class _Problem(Exception):
    def __init__(self, status: int, detail: str, pointer: str = "") -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.pointer = pointer


def _coerce(raw: str, schema: Any) -> Any:
    """A path/query/header string as the type its schema asks for (style "simple"/"form")."""
    kinds = schema.get("type") if isinstance(schema, dict) else None
    kinds = [kinds] if isinstance(kinds, str) else list(kinds or [])
    for kind in kinds:
        try:
            if kind == "integer":
                return int(raw)
            if kind == "number":
                return float(raw)
        except ValueError:
            continue
        if kind == "boolean" and raw in ("true", "false"):
            return raw == "true"
        if kind == "array":
            return raw.split(",")
        if kind == "string":
            return raw
    return raw


class _RequestCheck:
    """The route policy that validates requests against the operation."""

    def __init__(self, mock: SpecMock, operation: Operation) -> None:
        self.mock = mock
        self.operation = operation

    def before(self, request: httpx.Request, route: Route) -> Behaviour | None:
        if not self.mock.validate_requests:
            return None
        try:
            self._check(request, route)
        except _Problem as problem:
            return self.mock.problem(self.operation, problem)
        return None

    def after(self, request: httpx.Request, route: Route, outcome: Any) -> None:
        return None

    def _check(self, request: httpx.Request, route: Route) -> None:
        spec, op = self.mock.spec, self.operation
        path_values = route.params(request.url.path)
        for param in op.parameters:
            name, where = param["name"], param["in"]
            if where == "path":
                raw: str | None = path_values.get(name)
            elif where == "query":
                raw = request.url.params.get(name)
            elif where == "header":
                raw = request.headers.get(name)
            else:
                continue
            if raw is None:
                if param.get("required") or where == "path":
                    raise _Problem(400, f"missing required {where} parameter {name!r}")
                continue
            uri = op.parameter_schema_uris.get((name, where))
            if uri is None:
                continue
            schema, _ = spec.generator.resolve(spec.resolve(uri), uri.split("#", 1)[0])
            if not spec.quick_is_valid(uri)(_coerce(raw, schema)):
                raise _Problem(400, f"{where} parameter {name!r} does not match its schema")
        self._check_body(request)

    def _check_body(self, request: httpx.Request) -> None:
        op, body = self.operation, self.operation.request_body
        if body is None:
            return
        content = request.content
        if not content:
            if body.get("required"):
                raise _Problem(400, "the request body is required")
            return
        media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        uri = op.request_schema_uris.get(media)
        if uri is None:
            if media not in {m.lower() for m in body.get("content", {})}:
                raise _Problem(400, f"content type {media or 'none'!r} is not accepted here")
            return
        if not is_json_media(media):
            return
        try:
            value = json.loads(content)
        except ValueError:
            raise _Problem(400, "the request body is not valid JSON") from None
        if not self.mock.spec.quick_is_valid(uri)(value):
            from jsonschema.exceptions import best_match

            from apiharness.contract._loader import json_path
            from apiharness.contract._spec import describe_error

            error = best_match(self.mock.spec.validator(uri).iter_errors(value))
            if error is not None:
                pointer = "".join(f"/{p}" for p in error.absolute_path)
                where = json_path(tuple(error.absolute_path))
                raise _Problem(422, f"{where}: {describe_error(error)}", pointer)


class SpecMock:
    """The routes an upstream serves for a description; made by ``Upstream.from_spec``.

    ``mock.route("getCharge")`` is that operation's :class:`~apiharness.upstream.Route`, to
    script with any behaviour or fault; ``mock.answer("getCharge")`` the spec-driven
    behaviour, to put back in such a script::

        mock = up.from_spec("openapi.yaml")
        mock.route("getCharge").respond(status(503).times(2), mock.answer("getCharge"))
    """

    def __init__(
        self,
        upstream: Upstream,
        spec: Spec,
        *,
        seed: int,
        validate_requests: bool,
        use_examples: bool,
    ) -> None:
        self.upstream = upstream
        self.spec = spec
        self.seed = seed
        self.validate_requests = validate_requests
        self.use_examples = use_examples
        self._routes: dict[str, Route] = {}
        self._pools: dict[str, list[Any]] = {}
        self._counters: dict[str, itertools.count[int]] = {}
        self._lock = threading.Lock()
        for op in spec.operations:
            route = upstream.route(op.method, op.path)
            route.add_policy(_RequestCheck(self, op))
            route.respond(self.answer(op))
            self._routes[op.name] = route

    def __repr__(self) -> str:
        return f"<SpecMock {self.spec.title!r}: {len(self._routes)} routes>"

    def route(self, operation: str | Operation) -> Route:
        """The route serving ``operation`` (operationId or ``"METHOD /path"``)."""
        return self._routes[self.spec.operation(operation).name]

    def answer(
        self, operation: str | Operation, status: int | str | None = None
    ) -> Callable[[httpx.Request], Behaviour]:
        """The spec-driven behaviour of ``operation``: a documented response for ``status``.

        ``status`` defaults to the first documented 2xx. Each call serves the next example or
        generated body.
        """
        op = self.spec.operation(operation)
        response = self._pick(op, status)

        def answer(request: httpx.Request) -> Behaviour:
            return self.respond_with(op, response)

        return answer

    def _pick(self, op: Operation, status: int | str | None) -> ResponseSpec:
        if status is not None:
            return self.spec.response(op, status)
        codes = sorted(key for key in op.responses if key.isdigit() and key.startswith("2"))
        if codes:
            return op.responses[codes[0]]
        # Only ranges or default documented: answer the first of them, as 200 unless given.
        return next(iter(op.responses.values()))

    def respond_with(self, op: Operation, response: ResponseSpec) -> Behaviour:
        """A ``respond(...)`` behaviour with the next body for this documented response."""
        from apiharness.upstream import respond

        code = int(response.status) if response.status.isdigit() else 200
        media = response.media()
        headers = self._headers(response)
        if media is None or code in (204, 304):
            return respond(code, headers=headers)
        headers = {"Content-Type": media.media_type, **headers}
        body = self._next_body(op, response, media.media_type)
        if is_json_media(media.media_type):
            return respond(code, json=body, headers=headers)
        text = body if isinstance(body, str) else json.dumps(body)
        return respond(code, content=text.encode(), headers=headers)

    def _headers(self, response: ResponseSpec) -> dict[str, str]:
        """Values for the headers the response declares required, drawn from their schemas."""
        out = {}
        generator = self.spec.generator
        for name, raw in response.headers.items():
            # Header objects and their schemas may be $refs (relative to the root document).
            header, base = generator.resolve(raw, self.spec.uri)
            if not (isinstance(header, dict) and header.get("required") and "schema" in header):
                continue
            strategy = generator.for_schema(header["schema"], base)
            with self._lock:  # one draw at a time, as for bodies
                value = draw_values(strategy, self.seed, 1)[0]
            out[name] = value if isinstance(value, str) else json.dumps(value)
        return out

    def _next_body(self, op: Operation, response: ResponseSpec, media_type: str) -> Any:
        key = f"{op.name} {response.status} {media_type}"
        with self._lock:
            pool = self._pools.get(key)
            if pool is None:
                pool = self._pool(op, response, media_type)
                self._pools[key] = pool
                self._counters[key] = itertools.count()
            index = next(self._counters[key])
        return pool[index % len(pool)]

    def _pool(self, op: Operation, response: ResponseSpec, media_type: str) -> list[Any]:
        media = response.media(media_type)
        assert media is not None
        if self.use_examples and media.examples:
            return list(media.examples)
        if media.schema_uri is None:
            return [{}] if is_json_media(media_type) else [""]
        from apiharness.contract._bodies import response_bodies

        strategy = response_bodies(self.spec, op, response.status, media_type=media_type)
        pool = draw_values(strategy, self.seed, _POOL_SIZE)
        return pool or [None]

    def problem(self, op: Operation, problem: _Problem) -> Behaviour:
        """The answer to a bad request: problem+json, or the documented error body."""
        from apiharness.upstream import respond

        body: dict[str, Any] = {
            "type": "about:blank",
            "title": _REASONS.get(problem.status, "Bad Request"),
            "status": problem.status,
            "detail": problem.detail,
        }
        if problem.pointer:
            body["errors"] = [{"pointer": problem.pointer, "message": problem.detail}]
        documented = op.response_for(problem.status)
        media = documented.media() if documented else None
        if documented is not None and media is not None and media.schema_uri is not None:
            if not self.spec.quick_is_valid(media.schema_uri)(body):
                return self.respond_with(op, documented)
            headers = {"Content-Type": media.media_type}
        else:
            headers = {"Content-Type": "application/problem+json"}
        return respond(problem.status, json=body, headers=headers)


def mock_from_spec(
    upstream: Upstream,
    spec: Spec | str | Mapping[str, Any],
    *,
    seed: int | None = None,
    validate_requests: bool = True,
    use_examples: bool = True,
) -> SpecMock:
    """Declare on ``upstream`` one route per operation of ``spec``; see :class:`SpecMock`."""
    return SpecMock(
        upstream,
        load_spec(spec),
        seed=upstream.seed if seed is None else seed,
        validate_requests=validate_requests,
        use_examples=use_examples,
    )
