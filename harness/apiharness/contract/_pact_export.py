"""Pact V4 export: the exchanges a test really had with a mocked upstream, as a pact file.

:class:`PactWriter` turns an upstream's journal into Pact specification V4 HTTP interactions:
the request as it matched (method, path, query, the headers its route matched on, the body)
and the response that was served. Only answers that stand for the API are taken: a request
that matched no route, an answer the fault vocabulary shaped (wire faults, waits, slow bodies,
``status()``, ``rate_limit`` 429s, ``malformed_json`` ...; see ``JournalEntry.faulty``) or one
that never reached the client is never exported. Secrets are redacted by the cassettes'
:class:`~apiharness.recording.Redactor`, both passes over the test's exchanges, before
anything is written.

When the route was declared by ``Upstream.from_spec``, matching rules come from the OpenAPI
operation: the response (and request) body's schema gives ``type``, ``integer``, ``number``
and ``regex`` (a string's ``pattern``) rules, array schemas ``type`` rules with ``min``/``max``,
a templated path a ``regex`` rule; elsewhere values are exact. Paths are relative to the
upstream's base URL. Files are written atomically; interactions merge by content (the same
exchange from two tests is one interaction)::

    writer = PactWriter("shop", "inventory")
    writer.add(upstream, states=["item 7 exists"])
    writer.write("pacts")        # pacts/shop-inventory.json
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from apiharness._io import atomic_write
from apiharness.contract._requests import RequestCheck
from apiharness.contract._spec import Operation, Spec, is_json_media
from apiharness.errors import PactError, UnknownOperationError
from apiharness.recording import Interaction, RecordedRequest, RecordedResponse, Redactor

if TYPE_CHECKING:
    from apiharness.upstream import JournalEntry, Upstream

__all__ = ["PactWriter", "ProviderState", "pact_interactions"]

ProviderState = str | tuple[str, Mapping[str, Any]]
_SPECIFICATION = "4.0"
_FRAMING = frozenset({"content-length", "transfer-encoding", "content-encoding", "connection"})
_SUFFIX = re.compile(r" #\d+$")


def _state(state: object) -> dict[str, Any]:
    if isinstance(state, str) and state:
        return {"name": state}
    if (
        isinstance(state, tuple)
        and len(state) == 2
        and isinstance(state[0], str)
        and isinstance(state[1], Mapping)
    ):
        return {"name": state[0], "params": dict(state[1])}
    raise PactError(
        f"a provider state is a name or (name, params), e.g. 'item 7 exists' or "
        f"('item exists', {{'id': 7}}); got {state!r}"
    )


def _body(raw: bytes | None, content_type: str | None) -> dict[str, Any] | None:
    if not raw:
        return None
    if is_json_media(content_type or ""):
        try:
            return {"content": json.loads(raw), "contentType": content_type, "encoded": False}
        except ValueError:
            pass
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return {
            "content": base64.b64encode(raw).decode(),
            "contentType": content_type or "application/octet-stream",
            "encoded": "base64",
        }
    return {"content": text, "contentType": content_type or "text/plain", "encoded": False}


def _grouped(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, value in pairs:
        out.setdefault(name, []).append(value)
    return out


def _first(pairs: Iterable[tuple[str, str]], name: str) -> str | None:
    return next((v for k, v in pairs if k.lower() == name), None)


# -- matching rules from an OpenAPI operation ----------------------------------------------------


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key) else f"{path}['{key}']"


def _leaf_rule(schema: Mapping[str, Any], value: object) -> dict[str, Any] | None:  # noqa: PLR0911
    if "enum" in schema or "const" in schema or value is None:
        return None  # a fixed vocabulary: the exact value is the contract
    kinds = schema.get("type")
    kinds = set(kinds) if isinstance(kinds, list) else {kinds}
    if isinstance(value, bool):
        return {"match": "type"}
    if isinstance(value, int) and "integer" in kinds:
        return {"match": "integer"}
    if isinstance(value, int | float) and kinds & {"number", "integer"}:
        return {"match": "number"}
    if isinstance(value, str):
        pattern = schema.get("pattern")
        if isinstance(pattern, str):
            try:
                if re.search(pattern, value):
                    return {"match": "regex", "regex": pattern}
            except re.error:
                pass
        return {"match": "type"}
    return None


class _SchemaRules:
    """Walks a body and its schema together, writing a rule for each value the schema types."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.rules: dict[str, dict[str, Any]] = {}

    def walk(self, schema: Any, base: str, value: Any, path: str) -> None:
        schema, base = self.spec.generator.resolve(schema, base)
        if not isinstance(schema, Mapping):
            return
        for part in schema.get("allOf", []):
            self.walk(part, base, value, path)
        if isinstance(value, dict):
            props = schema.get("properties", {})
            extra = schema.get("additionalProperties")
            for key, item in value.items():
                sub = props.get(key) if isinstance(props, Mapping) else None
                sub = sub if sub is not None else (extra if isinstance(extra, Mapping) else None)
                if sub is not None:
                    self.walk(sub, base, item, _child(path, key))
        elif isinstance(value, list):
            if "items" not in schema:
                return
            rule: dict[str, Any] = {"match": "type"}
            for bound, key in (("min", "minItems"), ("max", "maxItems")):
                if isinstance(schema.get(key), int):
                    rule[bound] = schema[key]
            self.rules[path] = {"combine": "AND", "matchers": [rule]}
            for item in value:
                self.walk(schema["items"], base, item, path + "[*]")
        else:
            leaf = _leaf_rule(schema, value)
            if leaf is not None:
                self.rules[path] = {"combine": "AND", "matchers": [leaf]}


def _path_rule(operation: Operation) -> dict[str, Any] | None:
    """A regex for the operation's path template (relative to the base URL, as pact paths)."""
    if "{" not in operation.path:
        return None
    parts = re.split(r"\{[^}/]+\}", operation.path)
    regex = "^" + "[^/]+".join(re.escape(p) for p in parts) + "$"
    return {"combine": "AND", "matchers": [{"match": "regex", "regex": regex}]}


def _spec_of(entry: JournalEntry) -> RequestCheck | None:
    route = entry.route
    if route is None:
        return None
    return next((p for p in route.policies if isinstance(p, RequestCheck)), None)


def _body_rules(spec: Spec, uri: str | None, body: dict[str, Any] | None) -> dict[str, Any]:
    if (
        uri is None
        or body is None
        or body.get("encoded")
        or not is_json_media(str(body.get("contentType")))
    ):
        return {}
    walker = _SchemaRules(spec)
    walker.walk({"$ref": uri}, spec.uri, body["content"], "$")
    return walker.rules


def _with_rules(interaction: dict[str, Any], check: RequestCheck, status: int) -> None:
    spec, operation = check.spec, check.operation
    request, response = interaction["request"], interaction["response"]
    rules: dict[str, Any] = {}
    path_rule = _path_rule(operation)
    if path_rule is not None:
        rules["path"] = path_rule
    body = request.get("body")
    if body is not None:
        media = str(body.get("contentType", "")).split(";", 1)[0].strip().lower()
        found = _body_rules(spec, operation.request_schema_uris.get(media), body)
        if found:
            rules["body"] = found
    if rules:
        request["matchingRules"] = {**request.get("matchingRules", {}), **rules}
    try:
        documented = spec.response(operation, status)
    except UnknownOperationError:
        return
    body = response.get("body")
    media_spec = documented.media(body.get("contentType") if body else None)
    found = _body_rules(spec, media_spec.schema_uri if media_spec else None, body)
    if found:
        response["matchingRules"] = {"body": found}


# -- interactions ----------------------------------------------------------------------------------


def _exportable(entry: JournalEntry) -> bool:
    return (
        entry.route is not None
        and entry.delivered
        and not entry.faulty
        and entry.response is not None
    )


def _key(interaction: Mapping[str, Any]) -> str:
    shown = {k: interaction.get(k) for k in ("providerStates", "request", "response")}
    canonical = json.dumps(shown, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def pact_interactions(
    upstream: Upstream,
    entries: Iterable[JournalEntry] | None = None,
    *,
    states: Sequence[ProviderState] = (),
    redactor: Redactor | None = None,
) -> list[dict[str, Any]]:
    """The Pact V4 interactions of ``upstream``'s exportable journal entries (all by default).

    Faulty, undelivered and unmatched exchanges are left out; secrets are redacted by
    ``redactor`` (default: the cassettes' default :class:`~apiharness.recording.Redactor`).
    """
    given = [_state(s) for s in states]
    chosen = [
        e for e in (upstream.journal.entries if entries is None else entries) if _exportable(e)
    ]
    recorded = []
    for entry in chosen:
        assert entry.response is not None
        served = entry.response
        recorded.append(
            Interaction(
                RecordedRequest(
                    entry.method, entry.url, tuple(entry.headers.multi_items()), entry.body or None
                ),
                RecordedResponse(served.status, "", served.headers, served.body),
            )
        )
    redactor = redactor or Redactor()
    safe = redactor.redact_all(recorded)
    prefix = urlsplit(upstream.base_url).path.rstrip("/")
    return [
        _interaction(entry, exchange, given, prefix, redactor.placeholder)
        for entry, exchange in zip(chosen, safe, strict=True)
    ]


def _redacted_rules(values: Mapping[str, list[str]], placeholder: str) -> dict[str, dict[str, Any]]:
    """A ``type`` rule for each value redaction replaced: the provider's real one is secret."""
    return {
        name: {"combine": "AND", "matchers": [{"match": "type"}]}
        for name, found in values.items()
        if any(placeholder in value for value in found)
    }


def _interaction(
    entry: JournalEntry,
    exchange: Interaction,
    given: list[dict[str, Any]],
    prefix: str,
    placeholder: str,
) -> dict[str, Any]:
    assert entry.route is not None
    parts = urlsplit(exchange.request.uri)
    path = parts.path or "/"
    if prefix and path.startswith(prefix):
        path = path[len(prefix) :] or "/"
    request_headers = exchange.request.headers
    content_type = _first(request_headers, "content-type")
    wanted = set(entry.route.headers)
    if exchange.request.body:
        wanted.add("content-type")
    request: dict[str, Any] = {"method": entry.method, "path": path}
    query = _grouped(parse_qsl(parts.query, keep_blank_values=True))
    if query:
        request["query"] = query
    headers = _grouped((k, v) for k, v in request_headers if k.lower() in wanted)
    if headers:
        request["headers"] = headers
    body = _body(exchange.request.body, content_type)
    if body is not None:
        request["body"] = body
    secret = {"query": _redacted_rules(query, placeholder)}
    secret["header"] = _redacted_rules(headers, placeholder)
    if any(secret.values()):
        request["matchingRules"] = {k: v for k, v in secret.items() if v}
    served = exchange.response
    response: dict[str, Any] = {"status": served.status}
    response_headers = _grouped((k, v) for k, v in served.headers if k.lower() not in _FRAMING)
    if response_headers:
        response["headers"] = response_headers
    body = _body(served.body, _first(served.headers, "content-type"))
    if body is not None:
        response["body"] = body
    shown_query = f"?{parts.query}" if parts.query else ""
    interaction: dict[str, Any] = {
        "type": "Synchronous/HTTP",
        "description": f"{entry.method} {path}{shown_query} -> {served.status}",
        "providerStates": given,
        "request": request,
        "response": response,
    }
    check = _spec_of(entry)
    if check is not None:
        _with_rules(interaction, check, served.status)
    if not given:
        del interaction["providerStates"]
    interaction["key"] = _key(interaction)
    interaction["pending"] = False
    return interaction


class PactWriter:
    """A consumer-provider pact being built: add interactions, then write one V4 file.

    ``add(upstream, states=...)`` takes the upstream's exportable exchanges; ``merge(...)``
    takes interactions already exported (another test's, another worker's). The same exchange
    twice is one interaction; descriptions are made unique (``" #2"``).
    """

    def __init__(self, consumer: str, provider: str, *, redactor: Redactor | None = None) -> None:
        for role, name in (("consumer", consumer), ("provider", provider)):
            if not isinstance(name, str) or not name.strip():
                raise PactError(f"the pact's {role} name is a non-empty string, got {name!r}")
        self.consumer, self.provider = consumer, provider
        self.redactor = redactor
        self._interactions: dict[str, dict[str, Any]] = {}

    def __len__(self) -> int:
        return len(self._interactions)

    @property
    def filename(self) -> str:
        """``consumer-provider.json``, the Pact convention, with unsafe characters replaced."""
        return re.sub(r"[^A-Za-z0-9._-]+", "_", f"{self.consumer}-{self.provider}") + ".json"

    def add(self, upstream: Upstream, *, states: Sequence[ProviderState] = ()) -> int:
        """Add ``upstream``'s exportable exchanges; returns how many were taken."""
        found = pact_interactions(upstream, states=states, redactor=self.redactor)
        self.merge(found)
        return len(found)

    def merge(self, interactions: Iterable[Mapping[str, Any]]) -> None:
        """Add exported interactions (deduplicated by content)."""
        for raw in interactions:
            interaction = dict(raw)
            interaction["description"] = _SUFFIX.sub("", str(interaction.get("description", "")))
            interaction["key"] = _key(interaction)
            self._interactions.setdefault(interaction["key"], interaction)

    def interactions(self) -> list[dict[str, Any]]:
        """The interactions, sorted, with unique descriptions."""
        ordered = sorted(self._interactions.values(), key=lambda i: (i["description"], i["key"]))
        seen: dict[str, int] = {}
        out = []
        for interaction in ordered:
            base = interaction["description"]
            seen[base] = seen.get(base, 0) + 1
            shown = base if seen[base] == 1 else f"{base} #{seen[base]}"
            out.append({**interaction, "description": shown})
        return out

    def document(self) -> dict[str, Any]:
        """The pact as a JSON-ready object (Pact specification V4)."""
        return {
            "consumer": {"name": self.consumer},
            "provider": {"name": self.provider},
            "interactions": self.interactions(),
            "metadata": {"pactSpecification": {"version": _SPECIFICATION}},
        }

    def write(self, directory: str | os.PathLike[str], *, merge: bool = True) -> Path:
        """Write ``directory/consumer-provider.json`` atomically and return its path.

        With ``merge`` (the default) the interactions already in that file are kept beside
        the new ones, as pact-python's consumer does.
        """
        target = Path(directory) / self.filename
        combined = PactWriter(self.consumer, self.provider)
        combined._interactions = dict(self._interactions)
        if merge and target.exists():
            try:
                existing = json.loads(target.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise PactError(
                    f"cannot merge into {target}: it is not a readable pact ({exc}); delete it "
                    "or write with merge=False"
                ) from exc
            combined.merge(existing.get("interactions", []) if isinstance(existing, dict) else [])
        try:
            return atomic_write(target, json.dumps(combined.document(), indent=2) + "\n")
        except OSError as exc:
            raise PactError(f"cannot write the pact {target}: {exc.strerror or exc}") from exc
