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
import warnings
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from jsonschema.exceptions import best_match

from apiharness._stacks import httpx
from apiharness.contract._generate import draw_values, unsatisfiable
from apiharness.contract._loader import json_path, pointer_parts
from apiharness.contract._media import choose_media, concrete, encode_body
from apiharness.contract._requests import RequestCheck, RequestProblem
from apiharness.contract._spec import (
    MediaSpec,
    Operation,
    ResponseSpec,
    Spec,
    describe_error,
    is_json_media,
    load_spec,
)
from apiharness.errors import InvalidSpecError

if TYPE_CHECKING:
    from apiharness.upstream import Behaviour, Route, Upstream

__all__ = ["SpecMock", "mock_from_spec"]

_POOL_SIZE = 12
# Seconds a pool may take to fill on first use (at least one body is always drawn): big
# schemas (GitHub's issues) take seconds per body, and a client's timeout is often 5-10 s.
_POOL_BUDGET = 1.0
_REASONS = {400: "Bad Request", 422: "Unprocessable Content"}
_UNDOCUMENTED = ResponseSpec("200", "no response documented", {})


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
        self._check_satisfiable()
        for op in spec.operations:
            route = upstream.route(op.method, op.path)
            route.template.tail = True  # {ref} may be "heads/main": see _Template.tail
            check = RequestCheck(spec, op, self.problem)
            check.enabled = validate_requests
            route.add_policy(check)
            route.respond(self.answer(op))
            self._routes[op.name] = route

    def _check_satisfiable(self) -> None:
        """Refuse, naming the JSON path, a response schema no body can satisfy.

        Unless the response has a valid example to serve instead.
        """
        for op in self.spec.operations:
            for response in op.responses.values():
                for media in response.content.values():
                    if media.schema_uri is None or not is_json_media(media.media_type):
                        continue
                    doc, fragment = media.schema_uri.split("#", 1)
                    found = unsatisfiable(
                        self.spec.resolve,
                        self.spec.resolve(media.schema_uri),
                        doc,
                        tuple(pointer_parts(fragment)),
                    )
                    if found is None:
                        continue
                    # A guard against a false alarm of the static check: a valid example
                    # proves a body exists, and is what gets served.
                    if self.use_examples and self._valid_examples(op, response, media):
                        continue
                    where, why = found
                    raise InvalidSpecError(
                        f"{op.name} response {response.status} ({media.media_type}): no body "
                        f"can satisfy its schema: {why}; fix the schema, or give the response "
                        "a valid example to serve",
                        json_path=json_path(where),
                    )

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
            return self.respond_with(op, response, accept=request.headers.get("accept"))

        return answer

    def _pick(self, op: Operation, status: int | str | None) -> ResponseSpec:
        if status is not None:
            return self.spec.response(op, status)
        codes = sorted(key for key in op.responses if key.isdigit() and key.startswith("2"))
        if codes:
            return op.responses[codes[0]]
        # Only ranges or default documented: answer the first of them, as 200 unless given.
        # None at all (OpenAPI 3.1 makes `responses` optional): an empty 200.
        return next(iter(op.responses.values()), _UNDOCUMENTED)

    def respond_with(
        self,
        op: Operation,
        response: ResponseSpec,
        *,
        code: int | None = None,
        extra_headers: Mapping[str, str] | None = None,
        accept: str | None = None,
    ) -> Behaviour:
        """A ``respond(...)`` behaviour with the next body for this documented response.

        ``code`` is the status sent for a range (``4XX``) or ``default``; by default the
        range's first code, and 200 for ``default``. ``accept`` (the request's ``Accept``)
        picks among the documented media types.
        """
        from apiharness.upstream import respond

        if code is None:
            status = response.status
            code = int(status) if status.isdigit() else 200
            if status.endswith("XX"):
                code = int(status[0]) * 100
        chosen = choose_media(list(response.content), accept)
        media = response.media(chosen) if chosen else response.media()
        headers = {**self._headers(response), **(extra_headers or {})}
        if code < 200:
            # An informational status is never a final answer: clients read past it and wait
            # for the next one, which a description documenting only 1xx does not give. Send
            # the documented head, then close, so no client waits for its timeout.
            from apiharness.upstream import truncate

            return truncate(after=0, response=respond(code, content=b" ", headers=headers))
        if media is None or code in (204, 304):
            return respond(code, headers=headers)
        content_type = concrete(media.media_type)
        headers = {"Content-Type": content_type, **headers}
        body = self._next_body(op, response, media.media_type)
        if is_json_media(content_type):
            return respond(code, json=body, headers=headers)
        schema = self.spec.resolve(media.schema_uri) if media.schema_uri else {}
        encoded = encode_body(body, content_type, schema, self._resolve)
        return respond(code, content=encoded, headers=headers)

    def _resolve(self, schema: Any) -> Any:
        return self.spec.generator.resolve(schema, self.spec.uri)[0]

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
            valid = self._valid_examples(op, response, media)
            if valid:
                return valid
        if media.schema_uri is None:
            return [{}] if is_json_media(media_type) else [""]
        from apiharness.contract._bodies import response_bodies

        strategy = response_bodies(self.spec, op, response.status, media_type=media_type)
        pool = draw_values(strategy, self.seed, _POOL_SIZE, budget=_POOL_BUDGET)
        return pool or [None]

    def _valid_examples(self, op: Operation, response: ResponseSpec, media: MediaSpec) -> list[Any]:
        """The examples that fit their schema; each one that does not is named in a warning."""
        if media.schema_uri is None or not is_json_media(media.media_type):
            return list(media.examples)
        validator, kept = self.spec.validator(media.schema_uri), []
        for index, example in enumerate(media.examples):
            error = best_match(validator.iter_errors(example))
            if error is None:
                kept.append(example)
                continue
            warnings.warn(
                f"{op.name} response {response.status} ({media.media_type}): example {index} "
                f"breaks its schema at {json_path(tuple(error.absolute_path))} "
                f"({describe_error(error)}); serving generated bodies instead of it",
                UserWarning,
                stacklevel=2,
            )
        return kept

    def problem(self, op: Operation, problem: RequestProblem) -> Behaviour:
        """The answer to a bad request, in a status and media type the operation documents.

        The problem's own status (400, 422 …) when documented, else the nearest documented
        client error; its body is problem+json when the documented schema accepts it, else a
        documented body. An operation that documents no client error at all answers as it
        would a good request, with the problem named in an ``Apiharness-Problem`` header:
        the mock never answers with a status its description does not list.
        """
        from apiharness.upstream import respond

        # The problem is named in a header whatever the body may say (ASCII: header-safe).
        note = {"Apiharness-Problem": problem.detail.encode("ascii", "backslashreplace").decode()}
        found = self._problem_response(op, problem)
        if found is None:
            return self.respond_with(op, self._pick(op, None), extra_headers=note)
        code, documented = found
        body: dict[str, Any] = {
            "type": "about:blank",
            "title": _REASONS.get(code, "Bad Request"),
            "status": code,
            "detail": problem.detail,
        }
        if problem.pointer:
            body["errors"] = [{"pointer": problem.pointer, "message": problem.detail}]
        media = documented.media()
        if media is None or not is_json_media(media.media_type):
            return self.respond_with(op, documented, code=code, extra_headers=note)
        if media.schema_uri is not None and not self.spec.quick_is_valid(media.schema_uri)(body):
            return self.respond_with(op, documented, code=code, extra_headers=note)
        return respond(
            code, json=body, headers={"Content-Type": concrete(media.media_type), **note}
        )

    @staticmethod
    def _problem_response(
        op: Operation, problem: RequestProblem
    ) -> tuple[int, ResponseSpec] | None:
        for code in (problem.status, *problem.fallbacks, 400, 422):
            found = op.responses.get(str(code)) or op.responses.get(f"{code // 100}XX")
            if found is not None:
                return code, found
        default = op.responses.get("default")
        return (problem.status, default) if default is not None else None


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
