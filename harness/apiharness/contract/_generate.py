"""Hypothesis strategies for values that a JSON Schema (2020-12, or normalised OpenAPI 3.0) accepts.

Why hand-written: schemathesis 4 generates *requests* from a description, but has no public
API for generating *response* bodies; its internal generators are private and change between
minor releases. hypothesis-jsonschema, the obvious library, fails on object schemas with
Hypothesis >= 6.170.10 and ignores ``nullable``. So this module maps the keywords OpenAPI
descriptions use onto Hypothesis' *public* strategies (``integers``, ``text``, ``from_regex``,
``fixed_dictionaries`` …), which have been stable for years, and guards the result with
jsonschema: the top-level strategy filters through the real validator, so a keyword this module
only approximates (``not``, ``if``/``then``, ``minProperties``, overlapping ``oneOf`` branches)
can cost a rejected example, never an invalid one. Upgrades of either library cannot silently
produce invalid bodies; at worst a health check reports too many rejections.
"""

from __future__ import annotations

import contextlib
import json
import math
import string
from collections.abc import Callable
from typing import Any
from urllib.parse import urldefrag

from hypothesis import strategies as st

from apiharness.contract._loader import join_ref, pointer_parts
from apiharness.errors import InvalidSpecError

__all__ = ["SchemaStrategies", "draw_values", "json_values", "unsatisfiable"]

Lookup = Callable[[str], Any]
_TYPES = ("null", "boolean", "integer", "number", "string", "array", "object")
_SAFE_TEXT = st.characters(codec="utf-8")  # utf-8 excludes lone surrogates
_WORD = st.text(string.ascii_lowercase + string.digits + "_", min_size=1, max_size=12)

_scalars = (
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(_SAFE_TEXT, max_size=20)
)


def json_values(max_leaves: int = 8) -> st.SearchStrategy[Any]:
    """Any JSON value (for schemas that accept anything)."""
    return st.recursive(
        _scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_WORD, inner, max_size=3),
        max_leaves=max_leaves,
    )


class _Enough(Exception):
    """Raised inside the draw loop when the time budget is spent."""


def draw_values(
    strategy: st.SearchStrategy[Any], seed: int, count: int, *, budget: float | None = None
) -> list[Any]:
    """``count`` values of ``strategy``, outside a test: the same ones for the same seed.

    Hypothesis has no public "give me N seeded values" call (``.example()`` is for the REPL);
    a ``@given`` function under ``@seed``, with no database and only the generate phase, is.
    ``budget`` (seconds) stops early once at least one value is drawn: a mock must answer
    its first request in bounded time even for a schema as big as GitHub's.
    """
    import time

    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as seeded

    drawn: list[Any] = []
    deadline = None if budget is None else time.monotonic() + budget

    @seeded(seed)
    @settings(
        max_examples=count,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )
    @given(strategy)
    def collect(value: Any) -> None:
        drawn.append(value)
        if deadline is not None and time.monotonic() > deadline:
            raise _Enough

    with contextlib.suppress(_Enough):
        collect()
    # Hypothesis replays the example that raised: keep each value once, in drawn order.
    return drawn[:count] if deadline is None else _dedupe_tail(drawn)


def _dedupe_tail(drawn: list[Any]) -> list[Any]:
    if len(drawn) >= 2 and drawn[-1] == drawn[-2]:
        return drawn[:-1]
    return drawn


def _format_strategies() -> dict[str, st.SearchStrategy[str]]:
    from datetime import UTC

    host = st.from_regex(r"[a-z]{1,10}\.example\.(com|org)", fullmatch=True)
    return {
        "date-time": st.datetimes(timezones=st.just(UTC)).map(
            lambda d: d.isoformat().replace("+00:00", "Z")
        ),
        "date": st.dates().map(lambda d: d.isoformat()),
        "time": st.times().map(lambda t: t.isoformat() + "Z"),
        "email": st.builds(
            # Dots only between characters: "a..b@" and ".a@" are not valid addresses.
            "{}@{}".format,
            st.from_regex(r"[a-z][a-z0-9]{0,7}(\.[a-z0-9]{1,7}){0,2}", fullmatch=True),
            host,
        ),
        "hostname": host,
        "uri": st.builds(
            "https://{}/{}".format, host, st.from_regex(r"[a-z0-9/]{0,20}", fullmatch=True)
        ),
        "uri-reference": st.from_regex(r"/[a-z0-9/]{0,20}", fullmatch=True),
        "uuid": st.uuids().map(str),
        "ipv4": st.ip_addresses(v=4).map(str),
        "ipv6": st.ip_addresses(v=6).map(str),
        "byte": st.binary(max_size=24).map(lambda b: __import__("base64").b64encode(b).decode()),
    }


_FORMATS: dict[str, st.SearchStrategy[str]] | None = None


def _formats() -> dict[str, st.SearchStrategy[str]]:
    global _FORMATS  # noqa: PLW0603 - built once, lazily: constructing strategies costs time
    if _FORMATS is None:
        _FORMATS = _format_strategies()
    return _FORMATS


def schema_types(schema: dict[str, Any]) -> list[str]:
    """The JSON types a schema allows, from ``type`` or inferred from its keywords."""
    kind = schema.get("type")
    if isinstance(kind, str):
        return [kind]
    if isinstance(kind, list):
        return [k for k in kind if k in _TYPES]
    if "enum" in schema or "const" in schema:
        return []
    inferred = []
    if {"properties", "required", "additionalProperties"} & schema.keys():
        inferred.append("object")
    if {"items", "prefixItems", "minItems", "maxItems"} & schema.keys():
        inferred.append("array")
    if {"minLength", "maxLength", "pattern", "format"} & schema.keys():
        inferred.append("string")
    if {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"} & schema.keys():
        inferred.append("number")
    return inferred


class SchemaStrategies:
    """Builds strategies for schemas of one document set; ``lookup`` resolves absolute URIs."""

    def __init__(self, lookup: Lookup) -> None:
        self._lookup = lookup
        self._by_uri: dict[str, st.SearchStrategy[Any]] = {}

    def resolve(self, schema: Any, base: str) -> tuple[Any, str]:
        """Follow ``$ref`` (only) from ``schema``; return the target and its document URI.

        A chain of ``$ref``s that comes back on itself names no schema at all:
        :class:`~apiharness.InvalidSpecError`.
        """
        seen: set[str] = set()
        while isinstance(schema, dict) and isinstance(schema.get("$ref"), str):
            target = join_ref(base, schema["$ref"])
            if target in seen:
                raise InvalidSpecError(
                    f"$ref {schema['$ref']!r} is circular: the chain of $refs never reaches "
                    "a schema; point one of them at a schema"
                )
            seen.add(target)
            schema, base = self._lookup(target), urldefrag(target)[0]
        return schema, base

    def for_uri(self, uri: str) -> st.SearchStrategy[Any]:
        """The strategy for the schema at ``uri`` (cached; recursion-safe through deferred)."""
        found = self._by_uri.get(uri)
        if found is None:
            # A placeholder first, so that a schema that refers to itself terminates.
            self.resolve({"$ref": uri}, uri)  # a circular chain of bare $refs: a typed error
            self._by_uri[uri] = st.deferred(lambda: self._by_uri[uri])
            found = self.for_schema(self._lookup(uri), urldefrag(uri)[0])
            self._by_uri[uri] = found
        return found

    def for_schema(self, schema: Any, base: str) -> st.SearchStrategy[Any]:  # noqa: PLR0911
        """A strategy for values the schema (found in document ``base``) accepts, or nearly."""
        if schema is True or schema == {}:
            return json_values()
        if schema is False or not isinstance(schema, dict):
            return st.nothing()
        if isinstance(schema.get("$ref"), str):
            return self.for_uri(join_ref(base, schema["$ref"]))
        if "const" in schema:
            return st.just(schema["const"])
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            return st.sampled_from(schema["enum"])
        if isinstance(schema.get("allOf"), list):
            return self.for_schema(self.merge_all_of(schema, base), base)
        for key in ("oneOf", "anyOf"):
            if isinstance(schema.get(key), list) and schema[key]:
                rest = {k: v for k, v in schema.items() if k not in (key, "discriminator")}
                branches = [self.for_schema(_combine(rest, sub), base) for sub in schema[key]]
                return st.one_of(_discriminated(schema, branches))
        types = schema_types(schema)
        if not types:
            return json_values()
        return st.one_of([self._for_type(kind, schema, base) for kind in types])

    def merge_all_of(self, schema: dict[str, Any], base: str) -> dict[str, Any]:
        """``allOf`` folded into one schema: properties merged, ``required`` united."""
        # A worklist, not recursion: an allOf chain through many $refs, or a cycle of them
        # (A is allOf B, B is allOf A), must not exhaust the stack. Merging is associative
        # and merging a schema twice adds nothing, so each schema is folded in once, in order.
        merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
        pending = [(sub, base) for sub in reversed(schema["allOf"])]
        seen = {id(schema)}
        while pending:
            resolved, sub_base = self.resolve(*pending.pop())
            if not isinstance(resolved, dict) or id(resolved) in seen:
                continue
            seen.add(id(resolved))
            if isinstance(resolved.get("allOf"), list):
                pending.extend((sub, sub_base) for sub in reversed(resolved["allOf"]))
                resolved = {k: v for k, v in resolved.items() if k != "allOf"}
            merged = _combine(merged, resolved)
        return merged

    def _for_type(  # noqa: PLR0911 - one return per JSON type
        self, kind: str, schema: dict[str, Any], base: str
    ) -> st.SearchStrategy[Any]:
        if kind == "null":
            return st.none()
        if kind == "boolean":
            return st.booleans()
        if kind == "integer":
            return _integers(schema)
        if kind == "number":
            return _numbers(schema)
        if kind == "string":
            return _strings(schema)
        if kind == "array":
            return self._arrays(schema, base)
        return self._objects(schema, base)

    def _arrays(self, schema: dict[str, Any], base: str) -> st.SearchStrategy[Any]:
        items = schema.get("items", True)
        min_size = int(schema.get("minItems", 0))
        max_size = int(schema.get("maxItems", min_size + 5))
        element = self.for_schema(items, base) if items is not False else st.nothing()
        unique = json.dumps if schema.get("uniqueItems") else None
        return st.lists(element, min_size=min_size, max_size=max_size, unique_by=unique)

    def _objects(self, schema: dict[str, Any], base: str) -> st.SearchStrategy[Any]:
        # Bodies are responses: a writeOnly property is never sent back (OpenAPI 3.0 and 3.1;
        # Schemathesis' response check forbids it), even when the schema requires it.
        props = {
            name: sub
            for name, sub in (schema.get("properties") or {}).items()
            if not self._write_only(sub, base)
        }
        hidden = set(schema.get("properties") or {}) - set(props)
        # In declared order, never a set's: draws must not depend on PYTHONHASHSEED, or a seeded
        # run would generate different bodies in each process.
        required = [name for name in dict.fromkeys(schema.get("required") or ()) if name in props]
        # Required names the schema gives no property schema for: any value will do.
        loose = [
            name
            for name in schema.get("required") or ()
            if name not in props and name not in hidden
        ]
        fixed = {name: self.for_schema(props[name], base) for name in required}
        fixed.update({name: json_values(2) for name in loose})
        optional = {
            name: self.for_schema(sub, base) for name, sub in props.items() if name not in required
        }
        core = st.fixed_dictionaries(fixed, optional=optional)
        extra_schema = schema.get("additionalProperties", True)
        if (
            extra_schema is False
            or "patternProperties" in schema
            or "unevaluatedProperties" in schema
        ):
            return core
        # Clients must tolerate undocumented fields where the schema allows them; send a few.
        values = self.for_schema(extra_schema, base) if isinstance(extra_schema, dict) else _scalars
        extra_keys = _WORD.filter(lambda name: name not in props and name not in hidden)
        extras = st.dictionaries(extra_keys, values, max_size=2)
        return st.builds(lambda a, b: {**b, **a}, core, extras)

    def _write_only(self, sub: Any, base: str) -> bool:
        resolved, _ = self.resolve(sub, base)
        return isinstance(resolved, dict) and resolved.get("writeOnly") is True


def _discriminated(
    schema: dict[str, Any], branches: list[st.SearchStrategy[Any]]
) -> list[st.SearchStrategy[Any]]:
    """Branches whose objects carry the discriminator value that names them (OpenAPI).

    The value is the ``mapping`` key pointing at the branch's ``$ref``, else the schema's
    name; a branch with neither is left as it is.
    """
    discriminator = schema.get("discriminator")
    if not isinstance(discriminator, dict) or not isinstance(
        discriminator.get("propertyName"), str
    ):
        return branches
    prop = discriminator["propertyName"]
    raw_mapping = discriminator.get("mapping")
    mapping: dict[str, Any] = raw_mapping if isinstance(raw_mapping, dict) else {}
    key = "oneOf" if "oneOf" in schema else "anyOf"
    out = []
    for sub, branch in zip(schema[key], branches, strict=True):
        ref = sub.get("$ref") if isinstance(sub, dict) else None
        names = [name for name, target in mapping.items() if target == ref]
        if not names and isinstance(ref, str):
            names = [ref.rsplit("/", 1)[-1]]
        if not names:
            out.append(branch)
            continue
        values = st.sampled_from(names)
        out.append(
            st.tuples(branch, values).map(
                lambda pair: {**pair[0], prop: pair[1]} if isinstance(pair[0], dict) else pair[0]
            )
        )
    return out


def _combine(left: dict[str, Any], right: dict[str, Any]) -> dict[str, Any]:
    out = dict(left)
    for key, value in right.items():
        if key == "properties" and isinstance(out.get(key), dict):
            out[key] = {**out[key], **value}
        elif key == "required" and isinstance(out.get(key), list):
            out[key] = list(dict.fromkeys([*out[key], *value]))
        else:
            out[key] = value
    return out


def _integers(schema: dict[str, Any]) -> st.SearchStrategy[int]:
    low, high = schema.get("minimum"), schema.get("maximum")
    if isinstance(schema.get("exclusiveMinimum"), int | float):
        low = math.floor(schema["exclusiveMinimum"]) + 1
    if isinstance(schema.get("exclusiveMaximum"), int | float):
        high = math.ceil(schema["exclusiveMaximum"]) - 1
    low = None if low is None else math.ceil(low)
    high = None if high is None else math.floor(high)
    step = schema.get("multipleOf")
    if isinstance(step, int) and step > 0:
        lo = None if low is None else -(-low // step)
        hi = None if high is None else high // step
        return st.integers(lo, hi).map(lambda n: n * step)
    return st.integers(low, high)


def _numbers(schema: dict[str, Any]) -> st.SearchStrategy[float]:
    if isinstance(schema.get("multipleOf"), int | float):
        return (
            _integers({**schema, "multipleOf": None})
            .map(float)
            .filter(lambda x: (x / schema["multipleOf"]).is_integer())
        )
    ex_low, ex_high = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    return st.floats(
        min_value=ex_low if isinstance(ex_low, int | float) else schema.get("minimum"),
        max_value=ex_high if isinstance(ex_high, int | float) else schema.get("maximum"),
        exclude_min=isinstance(ex_low, int | float),
        exclude_max=isinstance(ex_high, int | float),
        allow_nan=False,
        allow_infinity=False,
    )


def _strings(schema: dict[str, Any]) -> st.SearchStrategy[str]:
    low = int(schema.get("minLength", 0))
    high = schema.get("maxLength")
    pattern, fmt = schema.get("pattern"), schema.get("format")
    if isinstance(pattern, str):
        base: st.SearchStrategy[str] = st.from_regex(pattern, fullmatch=True)
    elif isinstance(fmt, str) and fmt in _formats():
        base = _formats()[fmt]
    else:
        return st.text(_SAFE_TEXT, min_size=low, max_size=high if high is not None else low + 20)
    if low or high is not None:
        return base.filter(lambda s: low <= len(s) <= (high if high is not None else len(s)))
    return base


def unsatisfiable(
    lookup: Lookup, schema: Any, base: str, where: tuple[str | int, ...] = ()
) -> tuple[tuple[str | int, ...], str] | None:
    """Where and why no value can satisfy ``schema``, or None when some value may.

    A static check of the contradictions found in real descriptions (``allOf`` of two types,
    ``minimum`` above ``maximum``, an empty ``enum``, a required property whose schema is
    ``false`` …), followed only where a value must go: required properties, every ``allOf``
    branch, items of a non-empty array, and ``oneOf``/``anyOf`` only when every branch fails.
    None means "not known to be impossible", not a proof; the validator still guards draws.
    """
    return _Unsat(lookup).check(schema, base, where, frozenset())


class _Unsat:
    def __init__(self, lookup: Lookup) -> None:
        self._lookup = lookup
        self._memo: dict[str, tuple[tuple[str | int, ...], str] | None] = {}

    def check(  # noqa: PLR0911, PLR0912 - one early return per contradiction
        self, schema: Any, base: str, where: tuple[str | int, ...], seen: frozenset[str]
    ) -> tuple[tuple[str | int, ...], str] | None:
        if schema is False:
            return where, "the schema is `false`"
        if not isinstance(schema, dict):
            return None
        ref = schema.get("$ref")
        if isinstance(ref, str):
            target = join_ref(base, ref)
            if target in seen:
                return None  # a cycle: assume a finite value exists
            if target not in self._memo:
                try:
                    resolved = self._lookup(target)
                except (KeyError, IndexError, ValueError, TypeError):
                    return None  # reported by the loader
                doc, fragment = urldefrag(target)
                # Paths from here on name the referenced schema where it stands.
                here = tuple(pointer_parts(fragment))
                self._memo[target] = self.check(resolved, doc, here, seen | {target})
            return self._memo[target]
        if isinstance(schema.get("enum"), list) and not schema["enum"]:
            return where, "`enum` is empty"
        for low, high in (
            ("minimum", "maximum"),
            ("minLength", "maxLength"),
            ("minItems", "maxItems"),
            ("minProperties", "maxProperties"),
        ):
            lo, hi = schema.get(low), schema.get(high)
            if isinstance(lo, int | float) and isinstance(hi, int | float) and lo > hi:
                return where, f"`{low}` {lo} is above `{high}` {hi}"
        types = self._types(schema, base, seen)
        if types is not None and not types:
            return where, "its `allOf` branches and `type` allow no common type"
        for index, sub in enumerate(schema.get("allOf") or ()):
            found = self.check(sub, base, (*where, "allOf", index), seen)
            if found:
                return found
        for key in ("oneOf", "anyOf"):
            branches = schema.get(key)
            if isinstance(branches, list) and branches:
                reasons = [
                    self.check(sub, base, (*where, key, i), seen) for i, sub in enumerate(branches)
                ]
                if all(reasons):
                    return reasons[0]
        raw_props = schema.get("properties")
        props: dict[str, Any] = raw_props if isinstance(raw_props, dict) else {}
        if types is None or "object" in types:
            for name in schema.get("required") or ():
                if name in props:
                    found = self.check(props[name], base, (*where, "properties", name), seen)
                    if found and types == {"object"}:
                        return found
        items = schema.get("items")
        if schema.get("minItems", 0) and types == {"array"} and items is not None:
            return self.check(items, base, (*where, "items"), seen)
        return None

    def _types(self, schema: dict[str, Any], base: str, seen: frozenset[str]) -> set[str] | None:
        """The JSON types ``type`` and the ``allOf`` branches leave (None: unconstrained)."""
        allowed: set[str] | None = None
        own = schema.get("type")
        if isinstance(own, str | list):
            allowed = {own} if isinstance(own, str) else set(own)
        for sub in schema.get("allOf") or ():
            resolved = sub
            if isinstance(sub, dict) and isinstance(sub.get("$ref"), str):
                target = join_ref(base, sub["$ref"])
                if target in seen:
                    continue
                try:
                    resolved = self._lookup(target)
                except (KeyError, IndexError, ValueError, TypeError):
                    continue
            kind = resolved.get("type") if isinstance(resolved, dict) else None
            if isinstance(kind, str | list):
                branch = {kind} if isinstance(kind, str) else set(kind)
                if "number" in branch:
                    branch.add("integer")
                if allowed is not None and "number" in allowed:
                    allowed = allowed | {"integer"}
                allowed = branch if allowed is None else allowed & branch
        return allowed
