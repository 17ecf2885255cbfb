"""Pact files: read them (V2, V3 and V4 HTTP interactions) and serve them as an upstream.

``up.from_pact(path)`` (a thin method on :class:`~apiharness.upstream.Upstream` that calls
:func:`serve_pact`) declares a route for each interaction's request; a request is answered by
the first interaction whose request it satisfies, with the interaction's matching rules
(:mod:`apiharness.contract._pact_matching`). Any behaviour of the upstream composes with the
served interactions, as with cassettes::

    served = up.from_pact("pacts/shop-inventory.json")
    served.route("get item 7").respond(status(503).times(2), served.responder())

A request that satisfies no interaction is answered 404 with the reasons, and counts as an
unmatched request: ``upstream.verify()`` (the fixtures' teardown) fails on it.
Response generators are not run: the interaction's example response is served as written.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, urlsplit

from apiharness._stacks import httpx
from apiharness.contract._pact_matching import Body, Message, check_rules, iter_rules, mismatches
from apiharness.errors import PactError

if TYPE_CHECKING:
    from apiharness.recording import Interaction
    from apiharness.upstream import Respond, Route, Upstream

__all__ = ["PactFile", "PactInteraction", "PactRoutes", "load_pact", "serve_pact"]

_HTTP_TYPE = "Synchronous/HTTP"
# A V4 body is an object of these keys; a V2/V3 body is the JSON value itself.
_V4_BODY_KEYS = frozenset({"content", "contentType", "contentTypeHint", "encoded"})
# The upstream frames bodies itself and refuses these in respond(headers=...).
_FRAMING = frozenset({"content-length", "transfer-encoding", "content-encoding"})


def _is_json(content_type: str | None) -> bool:
    base = (content_type or "").split(";", 1)[0].strip().lower()
    return base == "application/json" or base.endswith("+json")


def _headers(raw: object, where: str) -> dict[str, list[str]]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise PactError(f"{where}.headers is an object of names to values, got {raw!r}")
    out: dict[str, list[str]] = {}
    for name, value in raw.items():
        values = value if isinstance(value, list) else [value]
        out.setdefault(str(name).lower(), []).extend(str(v) for v in values)
    return out


def _query(raw: object, where: str) -> dict[str, list[str]] | None:
    if raw is None:
        return None
    if isinstance(raw, str):  # V2: the query string itself
        found: dict[str, list[str]] = {}
        for name, value in parse_qsl(raw, keep_blank_values=True):
            found.setdefault(name, []).append(value)
        return found
    if not isinstance(raw, Mapping):
        raise PactError(f"{where}.query is an object of names to value lists, got {raw!r}")
    return {str(k): [str(x) for x in (v if isinstance(v, list) else [v])] for k, v in raw.items()}


def _body(part: Mapping[str, Any], headers: Mapping[str, list[str]], where: str) -> Body | None:  # noqa: PLR0911 - one per body form
    if "body" not in part:
        return None
    raw = part["body"]
    header_type = headers.get("content-type", [None])[0]
    if isinstance(raw, Mapping) and "content" in raw and raw.keys() <= _V4_BODY_KEYS:
        content_type = raw.get("contentType") or header_type
        content, encoded = raw["content"], raw.get("encoded", False)
        if encoded in ("base64", True):
            try:
                data = base64.b64decode(str(content), validate=True)
            except ValueError as exc:
                raise PactError(f"{where}.body is marked base64 but does not decode") from exc
            if _is_json(content_type):
                return Body("json", json.loads(data), content_type)
            return Body("bytes", data, content_type)
        if content == "":
            return Body("text", "", content_type)  # an empty body, whatever its label
        if encoded == "json":
            return Body("json", json.loads(str(content)), content_type)
        if _is_json(content_type) or not isinstance(content, str):
            return Body("json", content, content_type or "application/json")
        return Body("text", content, content_type)
    if raw is None:
        return Body("json", None, header_type)
    if isinstance(raw, str) and not _is_json(header_type):
        return Body("text", raw, header_type)
    return Body("json", raw, header_type or "application/json")


def _v2_rules(flat: Mapping[str, Any]) -> dict[str, Any]:
    """V2's flat ``$.body.x`` rules in V3/V4's categories."""
    rules: dict[str, Any] = {}
    for key, matcher in flat.items():
        wrapped = {"matchers": [matcher]}
        if key == "$.path":
            rules["path"] = wrapped
        elif key.startswith("$.body"):
            rules.setdefault("body", {})["$" + key[len("$.body") :]] = wrapped
        elif key.startswith(("$.query.", "$.headers.")):
            category, _, name = key[2:].partition(".")
            rules.setdefault("header" if category == "headers" else "query", {})[name] = wrapped
    return rules


def _rules(part: Mapping[str, Any], where: str) -> dict[str, Any]:
    raw = part.get("matchingRules") or {}
    if not isinstance(raw, Mapping):
        raise PactError(f"{where}.matchingRules is an object, got {raw!r}")
    rules = _v2_rules(raw) if any(k.startswith("$") for k in raw) else dict(raw)
    if isinstance(rules.get("path"), Mapping) and "matchers" not in rules["path"]:
        rules["path"] = next(iter(rules["path"].values()), {})  # {"": {...}} in some writers
    check_rules(iter_rules(rules), where)
    return rules


def message_of(part: object, where: str) -> Message:
    """A pact request (or a specification test case's request) as :class:`Message`."""
    if not isinstance(part, Mapping):
        raise PactError(f"{where} is an object, got {part!r}")
    headers = _headers(part.get("headers"), where)
    return Message(
        method=str(part.get("method", "GET")),
        path=str(part.get("path", "/")),
        query=_query(part.get("query"), where),
        headers=headers,
        body=_body(part, headers, where),
        rules=_rules(part, where),
    )


@dataclass(frozen=True)
class PactInteraction:
    """One HTTP interaction of a pact: its description, provider states, request and response."""

    description: str
    states: tuple[str, ...]
    request: Message
    status: int
    response_headers: tuple[tuple[str, str], ...]
    response_body: Body | None

    def recorded(self) -> Interaction:
        """The interaction as a cassette's (its example request and response), e.g. for the
        drift check."""
        from urllib.parse import urlencode

        from apiharness.recording import Interaction, RecordedRequest, RecordedResponse

        request = self.request
        query = urlencode([(k, v) for k, vs in (request.query or {}).items() for v in vs])
        uri = "http://pact.invalid" + request.path + (f"?{query}" if query else "")
        headers = tuple((k, v) for k, vs in (request.headers or {}).items() for v in vs)
        sent = request.body.encode() if request.body is not None else None
        body = self.response_body
        answer = body.encode() if body is not None else b""
        response_headers = self.response_headers
        if (
            body is not None
            and body.content_type
            and not any(k.lower() == "content-type" for k, _ in response_headers)
        ):
            response_headers = (("Content-Type", body.content_type), *response_headers)
        return Interaction(
            RecordedRequest(request.method.upper(), uri, headers, sent),
            RecordedResponse(self.status, "", response_headers, answer),
        )

    def respond(self) -> Respond:
        """The interaction's response as the upstream's ``respond(...)`` value."""
        from apiharness.upstream import respond

        headers = [(k, v) for k, v in self.response_headers if k.lower() not in _FRAMING]
        body = self.response_body
        if body is None or (body.kind == "json" and body.content is None and not body.content_type):
            return respond(self.status, headers=headers)
        if body.content_type and not any(k.lower() == "content-type" for k, _ in headers):
            headers.insert(0, ("Content-Type", body.content_type))
        return respond(self.status, content=body.encode(), headers=headers)


@dataclass(frozen=True)
class PactFile:
    """A loaded pact: consumer and provider names, its HTTP interactions, its specification."""

    consumer: str
    provider: str
    specification: str
    interactions: tuple[PactInteraction, ...]
    path: Path | None = None

    def __iter__(self) -> Iterator[PactInteraction]:
        return iter(self.interactions)

    def __len__(self) -> int:
        return len(self.interactions)


def _states(raw: Mapping[str, Any]) -> tuple[str, ...]:
    states = raw.get("providerStates")
    if isinstance(states, list):
        return tuple(str(s.get("name")) for s in states if isinstance(s, Mapping))
    single = raw.get("providerState")  # V2
    return (str(single),) if single else ()


def _interaction(raw: object, where: str) -> PactInteraction | None:
    if not isinstance(raw, Mapping):
        raise PactError(f"{where} is an object, got {raw!r}")
    if raw.get("type", _HTTP_TYPE) != _HTTP_TYPE:
        return None  # messages and plugin interactions: not HTTP, nothing to serve
    for part in ("request", "response"):
        if not isinstance(raw.get(part), Mapping):
            raise PactError(f"{where} has no {part} object; an HTTP interaction needs both")
    response = raw["response"]
    status = response.get("status", 200)
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise PactError(f"{where}.response.status is an HTTP status code, got {status!r}")
    headers = _headers(response.get("headers"), f"{where}.response")
    return PactInteraction(
        description=str(raw.get("description", "")),
        states=_states(raw),
        request=message_of(raw["request"], f"{where}.request"),
        status=status,
        response_headers=tuple((name, v) for name, values in headers.items() for v in values),
        response_body=_body(response, headers, f"{where}.response"),
    )


def parse_pact(document: object, path: Path | None = None) -> PactFile:
    """A pact document (already parsed JSON) as a :class:`PactFile`; bad input: PactError."""
    shown = str(path) if path else "the pact"
    if not isinstance(document, Mapping) or not isinstance(document.get("interactions"), list):
        raise PactError(
            f"{shown} is not a pact: a pact is a JSON object with consumer, provider and an "
            "interactions list"
        )
    metadata = document.get("metadata") or {}
    spec = metadata.get("pactSpecification") or metadata.get("pact-specification") or {}
    version = str(spec.get("version", "2.0.0")) if isinstance(spec, Mapping) else "2.0.0"
    interactions = []
    for index, raw in enumerate(document["interactions"]):
        found = _interaction(raw, f"{shown}: interactions[{index}]")
        if found is not None:
            interactions.append(found)

    def name(role: str) -> str:
        party = document.get(role)
        return str(party.get("name", "")) if isinstance(party, Mapping) else ""

    return PactFile(name("consumer"), name("provider"), version, tuple(interactions), path)


def load_pact(path: str | os.PathLike[str]) -> PactFile:
    """Read a pact file; a missing, unreadable or invalid one raises :class:`PactError`."""
    where = Path(path)
    try:
        document = json.loads(where.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PactError(f"cannot read the pact {where}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise PactError(f"the pact {where} is not valid JSON: {exc}") from exc
    return parse_pact(document, where)


def actual_message(request: httpx.Request, prefix: str = "") -> Message:
    """What a pact compares of an httpx request (the path without the upstream's prefix)."""
    query: dict[str, list[str]] = {}
    for name, value in parse_qsl(request.url.query.decode(), keep_blank_values=True):
        query.setdefault(name, []).append(value)
    headers: dict[str, list[str]] = {}
    for name, value in request.headers.multi_items():
        headers.setdefault(name.lower(), []).append(value)
    path = request.url.path
    if prefix and path.startswith(prefix):
        path = path[len(prefix) :] or "/"
    content_type = request.headers.get("content-type")
    body = Body("bytes", request.content, content_type) if request.content else None
    return Message(request.method, path, query, headers, body)


class PactRoutes:
    """The routes :func:`serve_pact` declared and the interactions behind them."""

    def __init__(self, upstream: Upstream, pact: PactFile) -> None:
        self.upstream = upstream
        self.pact = pact
        self._prefix = urlsplit(upstream.base_url).path.rstrip("/")
        self._routes: dict[str, Route] = {}
        self.mismatches: list[str] = []

    @property
    def routes(self) -> list[Route]:
        """The declared routes, one per distinct request shape, in pact order."""
        return list(dict.fromkeys(self._routes.values()))

    def __iter__(self) -> Iterator[PactInteraction]:
        return iter(self.pact)

    def interaction(self, description: str) -> PactInteraction:
        """The interaction with this description; unknown: :class:`PactError` listing them."""
        for found in self.pact:
            if found.description == description:
                return found
        known = ", ".join(repr(i.description) for i in self.pact)
        raise PactError(f"no interaction {description!r} in the pact; it has: {known}")

    def route(self, description: str) -> Route:
        """The route serving the interaction with this description (to script faults on)."""
        self.interaction(description)
        return self._routes[description]

    def response(self, description: str) -> Respond:
        """The interaction's response, e.g. to wrap in ``truncate(after=..., response=...)``."""
        return self.interaction(description).respond()

    def match(self, request: httpx.Request) -> PactInteraction | list[str]:
        """The first interaction ``request`` satisfies, else the reasons per interaction."""
        actual = actual_message(request, self._prefix)
        reasons = []
        for candidate in self.pact:
            problems = mismatches(candidate.request, actual)
            if not problems:
                return candidate
            reasons.append(f"  {candidate.description!r}: " + "; ".join(problems[:3]))
        return reasons

    def responder(self) -> Callable[[httpx.Request], Respond]:
        """The behaviour answering with the first interaction a request satisfies."""

        def serve(request: httpx.Request) -> Respond:
            from apiharness.upstream import respond

            found = self.match(request)
            if isinstance(found, PactInteraction):
                return found.respond()
            text = (
                f"apiharness: {request.method} {request.url.path} satisfies no interaction of "
                f"the pact {self.pact.path or ''}:\n" + "\n".join(found[:5])
            )
            self.mismatches.append(text)
            self.upstream.dispatcher.note_unmatched(text)
            return respond(404, text=text, headers={"X-Apiharness": "pact-mismatch"})

        serve.__name__ = serve.__qualname__ = f"pact({self.pact.consumer}->{self.pact.provider})"
        return serve


def _template(interaction: PactInteraction) -> str:
    """The route path: the literal path, or one parameter per segment under a path rule."""
    path = interaction.request.path or "/"
    if not path.startswith("/"):
        path = "/" + path
    segments = path[1:].split("/")
    if not interaction.request.rules.get("path"):
        # Pact files hold paths decoded (the Pact maintainers' rule, in
        # https://github.com/DiUS/pact-jvm/issues/66): encode each segment, so that a brace is
        # no parameter and a '%' stays itself once the route decodes its template.
        return "/" + "/".join(quote(s, safe="") for s in segments)
    return "/" + "/".join(f"{{p{i}}}" if s else "" for i, s in enumerate(segments))


def serve_pact(
    upstream: Upstream,
    pact: PactFile | str | os.PathLike[str],
    *,
    states: Iterable[str] | None = None,
) -> PactRoutes:
    """Declare routes on ``upstream`` that serve the pact's HTTP interactions.

    ``states`` keeps only interactions whose provider states are all among those given (and
    those without states); by default every interaction is served, the first that matches
    answering. Returns the routes and helpers to mix the pact's answers with faults.
    """
    loaded = pact if isinstance(pact, PactFile) else load_pact(pact)
    if states is not None:
        wanted = set(states)
        kept = tuple(i for i in loaded if set(i.states) <= wanted)
        loaded = PactFile(loaded.consumer, loaded.provider, loaded.specification, kept, loaded.path)
    if not loaded.interactions:
        raise PactError(
            f"the pact {loaded.path or ''} has no HTTP interactions to serve"
            + (" in the given provider states" if states is not None else "")
        )
    served = PactRoutes(upstream, loaded)
    answer = served.responder()
    for interaction in loaded:
        route = upstream.route(interaction.request.method.upper(), _template(interaction))
        route.respond(answer)
        served._routes[interaction.description] = route
    return served
