"""Invalid response bodies, each tagged with what it violates.

A valid body is drawn first; then the schema is walked alongside it to list the places where
one keyword can be broken (a required property present, a ``maxLength``, an ``enum`` …); one
place is drawn and broken. Whether the result really is invalid is decided by jsonschema, not
by this module (a broken ``oneOf`` branch may still match another branch): such draws are
rejected, so every body the strategy yields fails validation.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from hypothesis import assume
from hypothesis import strategies as st

from apiharness.contract._generate import SchemaStrategies, schema_types
from apiharness.contract._loader import json_path

__all__ = ["InvalidBody", "Violation", "invalid_bodies"]


class Violation(enum.StrEnum):
    """What an invalid body violates."""

    MISSING_REQUIRED = "missing_required"
    WRONG_TYPE = "wrong_type"
    NULL_NOT_NULLABLE = "null_not_nullable"
    ENUM_OUTSIDE = "enum_outside"
    STRING_BOUNDS = "string_bounds"
    ARRAY_BOUNDS = "array_bounds"
    NUMBER_BOUNDS = "number_bounds"
    EXTRA_PROPERTY = "extra_property"
    TRUNCATED_JSON = "truncated_json"
    NOT_JSON = "not_json"


# Violations of the bytes on the wire rather than of the decoded value.
WIRE = frozenset({Violation.TRUNCATED_JSON, Violation.NOT_JSON})


@dataclass(frozen=True)
class InvalidBody:
    """A response body that breaks the schema: ``content`` is what goes on the wire.

    ``value`` is the decoded JSON (``None`` for truncated or non-JSON bodies), ``path`` the JSON
    path of the broken value, ``detail`` a sentence for failure reports.
    """

    content: bytes
    violation: Violation
    path: str
    detail: str
    value: Any = None

    def __str__(self) -> str:
        return f"{self.violation.value} at {self.path}: {self.detail}"


_SAMPLE_OF_TYPE: dict[str, Any] = {
    "string": "not-a-number",
    "integer": 7,
    "number": 2.5,
    "boolean": True,
    "array": [],
    "object": {},
}

# A site: where in the value, which violation, and how to produce the broken replacement.
Path = tuple[str | int, ...]
Breaker = Callable[[Any], Any]
_DELETE = object()


@dataclass(frozen=True)
class _Site:
    path: Path
    violation: Violation
    detail: str
    breaker: Breaker  # old value → new value (or _DELETE to remove the key)


def _sites(  # noqa: PLR0912 - one branch per keyword is the clearest shape
    gen: SchemaStrategies,
    schema: Any,
    base: str,
    value: Any,
    path: Path,
    *,
    branches: frozenset[int] = frozenset(),
) -> Iterator[_Site]:
    schema, base = gen.resolve(schema, base)
    if not isinstance(schema, dict):
        return
    entered = branches | {id(schema)}
    if isinstance(schema.get("allOf"), list):
        schema = gen.merge_all_of(schema, base)
    # ``branches``: the schemas already entered for this same value through oneOf/anyOf; a
    # branch that leads back to one of them (A is oneOf [B], B is oneOf [A]) is not entered
    # again, or the recursion would never end. Descending into the value starts afresh.
    for key in ("oneOf", "anyOf"):
        for sub in schema.get(key) or ():
            resolved, sub_base = gen.resolve(sub, base)
            if id(resolved) not in entered and _plausible(resolved, value):
                yield from _sites(gen, resolved, sub_base, value, path, branches=entered)
                break
    types = schema_types(schema)
    if types:
        wrong = [t for t in _SAMPLE_OF_TYPE if t not in types and not _accepts(types, t)]
        if wrong:
            sample = _SAMPLE_OF_TYPE[wrong[0]]
            yield _Site(
                path,
                Violation.WRONG_TYPE,
                f"a {wrong[0]} where {types} is required",
                _const(sample),
            )
        if "null" not in types and value is not None:
            yield _Site(
                path,
                Violation.NULL_NOT_NULLABLE,
                "null where the schema is not nullable",
                _const(None),
            )
    enum_values = schema.get("enum")
    if isinstance(enum_values, list) and value is not None:
        outside = _outside(enum_values, value)
        yield _Site(
            path,
            Violation.ENUM_OUTSIDE,
            f"{outside!r} is not one of {enum_values!r}",
            _const(outside),
        )
    if isinstance(value, str):
        yield from _length_sites(schema, value, path)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        yield from _number_sites(schema, path)
    elif isinstance(value, list):
        yield from _length_sites(schema, value, path)
        items = schema.get("items")
        if isinstance(items, dict | bool):
            for i, item in enumerate(value):
                yield from _sites(gen, items, base, item, (*path, i))
    elif isinstance(value, dict):
        props = schema.get("properties") or {}
        for name in schema.get("required") or ():
            if name in value:
                yield _Site(
                    (*path, name),
                    Violation.MISSING_REQUIRED,
                    f"required property {name!r} is missing",
                    lambda _old: _DELETE,
                )
        if schema.get("additionalProperties") is False:
            extra = "x_undocumented"
            while extra in props:
                extra += "_"
            yield _Site(
                (*path, extra),
                Violation.EXTRA_PROPERTY,
                f"property {extra!r} is not allowed (additionalProperties: false)",
                lambda _old: "surprise",
            )
        for name, sub in props.items():
            if name in value:
                yield from _sites(gen, sub, base, value[name], (*path, name))


def _const(value: Any) -> Breaker:
    def breaker(_old: Any) -> Any:
        return value

    return breaker


def _accepts(types: list[str], kind: str) -> bool:
    return kind == "integer" and "number" in types


def _plausible(schema: Any, value: Any) -> bool:
    if not isinstance(schema, dict):
        return False
    types = schema_types(schema)
    if "enum" in schema:
        return value in schema["enum"]
    if not types:
        return True
    if value is None:
        return "null" in types
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        return (
            "object" in types
            and all(k in value for k in schema.get("required") or ())
            and (schema.get("additionalProperties") is not False or set(value) <= set(props))
        )
    return True


def _outside(enum_values: list[Any], value: Any) -> Any:
    if isinstance(value, str):
        candidate = value + "_unknown"
        while candidate in enum_values:
            candidate += "_"
        return candidate
    if isinstance(value, int | float) and not isinstance(value, bool):
        numbers = [v for v in enum_values if isinstance(v, int | float)]
        return max(numbers, default=0) + 1
    return "not_in_enum"


def _length_sites(schema: dict[str, Any], value: str | list[Any], path: Path) -> Iterator[_Site]:
    """One site below the minimum length and one above the maximum, for strings and arrays."""
    grow: Callable[[Any, int], Any]
    if isinstance(value, str):
        violation, low_key, high_key, unit = (
            Violation.STRING_BOUNDS,
            "minLength",
            "maxLength",
            "characters",
        )
        grow = lambda old, n: (old + "x" * n)[:n]  # noqa: E731 - a one-line strategy
    else:
        violation, low_key, high_key, unit = Violation.ARRAY_BOUNDS, "minItems", "maxItems", "items"
        grow = lambda old, n: [old[i % len(old)] for i in range(n)]  # noqa: E731
    low, high = schema.get(low_key), schema.get(high_key)
    if isinstance(low, int) and low > 0:
        yield _Site(
            path, violation, f"fewer {unit} than {low_key} {low}", lambda old: old[: low - 1]
        )
    if isinstance(high, int) and (isinstance(value, str) or value):
        yield _Site(
            path, violation, f"more {unit} than {high_key} {high}", lambda old: grow(old, high + 1)
        )
    if isinstance(value, str) and isinstance(schema.get("pattern"), str):
        yield _Site(
            path,
            violation,
            f"does not match pattern {schema['pattern']!r}",
            _const("\u2603 not matching \u2603"),
        )


def _number_sites(schema: dict[str, Any], path: Path) -> Iterator[_Site]:
    for key, delta, words in (
        ("minimum", -1, "below minimum"),
        ("maximum", 1, "above maximum"),
        ("exclusiveMinimum", 0, "not above exclusiveMinimum"),
        ("exclusiveMaximum", 0, "not below exclusiveMaximum"),
    ):
        bound = schema.get(key)
        if isinstance(bound, int | float) and not isinstance(bound, bool):
            yield _Site(
                path,
                Violation.NUMBER_BOUNDS,
                f"{words} {bound}",
                _const(bound + delta),
            )


def _apply(value: Any, path: Path, breaker: Breaker) -> Any:
    if not path:
        return breaker(value)
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        copy = dict(value)
        if rest:
            copy[head] = _apply(value[head], rest, breaker)
        else:
            new = breaker(value.get(head))
            if new is _DELETE:
                del copy[head]
            else:
                copy[head] = new
        return copy
    copy_list = list(value)
    copy_list[int(head)] = _apply(value[int(head)], rest, breaker)
    return copy_list


def _dump(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8")


_NOT_JSON = (
    b"<html><body><h1>502 Bad Gateway</h1></body></html>",
    b"Internal Server Error",
    b"",
    b"\xff\xfe\x00garbage",
    b"{'single': 'quotes'}",
)


def invalid_bodies(
    gen: SchemaStrategies,
    schema_uri: str,
    is_valid: Callable[[Any], bool],
    violations: frozenset[Violation],
) -> st.SearchStrategy[InvalidBody]:
    """Bodies that break the schema at ``schema_uri``, restricted to ``violations``."""
    valid = gen.for_uri(schema_uri).filter(is_valid)
    base = schema_uri.split("#", 1)[0]
    schema = {"$ref": schema_uri}

    @st.composite
    def draw_invalid(draw: st.DrawFn) -> InvalidBody:
        value = draw(valid)
        sites = [s for s in _sites(gen, schema, base, value, ()) if s.violation in violations]
        # The kind first, then a place of that kind: a schema with thirty places to break a
        # type must not crowd out the two wire faults.
        kinds = sorted({s.violation for s in sites} | (violations & WIRE))
        assume(kinds)
        kind = draw(st.sampled_from(kinds))
        choice: _Site | Violation = kind
        if kind not in WIRE:
            choice = draw(st.sampled_from([s for s in sites if s.violation is kind]))
        if choice is Violation.NOT_JSON:
            return InvalidBody(
                draw(st.sampled_from(_NOT_JSON)), choice, "$", "the body is not JSON"
            )
        if choice is Violation.TRUNCATED_JSON:
            content = _dump(value)
            cut = draw(st.integers(0, max(len(content) - 1, 0)))
            truncated = content[:cut]
            assume(not _parses(truncated))
            return InvalidBody(
                truncated, choice, "$", f"JSON cut after {cut} of {len(content)} bytes"
            )
        assert isinstance(choice, _Site)
        broken = _apply(value, choice.path, choice.breaker)
        assume(not is_valid(broken))
        return InvalidBody(
            _dump(broken), choice.violation, json_path(choice.path), choice.detail, broken
        )

    return draw_invalid()


def _parses(content: bytes) -> bool:
    try:
        json.loads(content)
    except ValueError:
        return False
    return True
