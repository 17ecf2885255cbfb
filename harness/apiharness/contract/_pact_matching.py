"""Pact request matching: does a request satisfy an interaction's request and its rules?

Hand-written because no Python library does it: pact-python hands matching to the Rust FFI's
own mock server, which answers by itself and so cannot compose with the upstream's faults,
and exposes no "does this request match" call. The semantics follow the Pact specification
(V3/V4 matching rules) and are checked against its own request-matching test cases, vendored
in ``fixtures/pact-specification`` (``tests/contract/test_pact_specification.py``).

A rule's path (``$.animals[*].name``) selects values; the most specific rule whose path
matches the value's path, or the path of one of its parents, applies (rules are inherited),
so ``{"$.items": type}`` matches every item by type. Requests allow no unexpected body keys
or query parameters; headers may be extra. XML bodies are compared as text (their rules are
not applied); ``date``/``time``/``datetime`` matchers check that the value is a string.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from xml.etree.ElementTree import Element, ParseError

from defusedxml.ElementTree import fromstring as parse_xml

from apiharness.errors import PactError

__all__ = ["Body", "Message", "Rules", "check_rules", "mismatches", "rule_path"]

#: Matchers this module applies; a pact using another is refused at load, with its name.
KNOWN_MATCHERS = frozenset(
    {
        "equality",
        "regex",
        "type",
        "min",
        "max",
        "minmax",
        "integer",
        "decimal",
        "number",
        "boolean",
        "null",
        "include",
        "date",
        "time",
        "datetime",
        "timestamp",
        "contentType",
        "values",
        "notEmpty",
        "semver",
        "eachKey",
        "eachValue",
        "arrayContains",
        "statusCode",
    }
)
_SEMVER = re.compile(r"\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?")

Rules = Mapping[str, Any]  # {"combine": "AND", "matchers": [{"match": "type"}, ...]}
Token = str | int | None  # a field name, an index, or None for a wildcard


@dataclass(frozen=True)
class Body:
    """A body as a pact holds it: ``kind`` is json (``content`` a JSON value), text or bytes."""

    kind: str
    content: Any
    content_type: str | None

    def encode(self) -> bytes:
        if self.kind == "json":
            return json.dumps(self.content, separators=(",", ":")).encode()
        if self.kind == "bytes":
            return bytes(self.content)
        return str(self.content).encode()


@dataclass
class Message:
    """A request (expected or actual) in the shape matching needs."""

    method: str
    path: str
    query: dict[str, list[str]] | None
    headers: dict[str, list[str]] | None  # names lower-cased
    body: Body | None
    rules: dict[str, Any] = field(default_factory=dict)  # category -> rules (expected only)


# -- rule paths ---------------------------------------------------------------------------------

_TOKEN = re.compile(r"\.([^.\[\]]+)|\['((?:[^'\\]|\\.)*)'\]|\[(\d+|\*)\]")


def rule_path(expression: str) -> tuple[Token, ...]:
    """``$.a['b c'][*].*`` as tokens: field names, indices, None for ``*``."""
    if not expression.startswith("$"):
        raise PactError(f"a matching rule path starts with '$', got {expression!r}")
    tokens: list[Token] = []
    rest = expression[1:]
    while rest:
        found = _TOKEN.match(rest)
        if found is None:
            raise PactError(f"cannot read the matching rule path {expression!r} at {rest!r}")
        name, quoted, index = found.groups()
        if name is not None:
            tokens.append(None if name == "*" else name)
        elif quoted is not None:
            tokens.append(quoted.replace("\\'", "'"))
        else:
            tokens.append(None if index == "*" else int(index))
        rest = rest[found.end() :]
    return tuple(tokens)


def _weight(expression: tuple[Token, ...], path: Sequence[str | int]) -> int:
    """How well ``expression`` selects ``path`` or one of its parents (0: it does not)."""
    if len(expression) > len(path):
        return 0
    weight = 1
    for token, part in zip(expression, path, strict=False):
        if token is None:
            continue
        if token != part and not (isinstance(token, str) and str(part) == token):
            return 0
        weight *= 2
    return weight


def select(rules: Mapping[tuple[Token, ...], Rules], path: Sequence[str | int]) -> Rules | None:
    """The rule that applies at ``path``: the longest, then most specific, matching path."""
    best: tuple[int, int] = (0, 0)
    chosen: Rules | None = None
    for expression, rule in rules.items():
        weight = _weight(expression, path)
        if weight and (len(expression), weight) > best:
            best, chosen = (len(expression), weight), rule
    return chosen


def matchers_of(rule: Rules) -> list[Mapping[str, Any]]:
    found = rule.get("matchers", [rule] if "match" in rule else [])
    return [m for m in found if isinstance(m, Mapping)]


def check_rules(rules: Iterable[Rules], where: str) -> None:
    """Refuse matchers this module cannot apply, naming them."""
    for rule in rules:
        if not isinstance(rule, Mapping):
            raise PactError(f"{where}: a matching rule is an object, got {rule!r}")
        for matcher in matchers_of(rule):
            kind = matcher.get("match", "type")
            if kind not in KNOWN_MATCHERS:
                raise PactError(
                    f"{where}: the matcher {kind!r} is not supported; supported: "
                    + ", ".join(sorted(KNOWN_MATCHERS))
                )


# -- values ---------------------------------------------------------------------------------------


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _as_number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _show(value: object) -> str:
    return json.dumps(value) if not isinstance(value, bytes) else repr(value)


def _matcher_problem(  # noqa: PLR0911, PLR0912 - one branch per matcher kind
    matcher: Mapping[str, Any], expected: object, actual: object, *, text: bool
) -> str | None:
    """Why ``actual`` fails ``matcher`` (None: it passes). ``text``: a header/query/path value."""
    kind = matcher.get("match", "type")
    if kind in {"type", "min", "max", "minmax"}:
        if not text and _kind(expected) != _kind(actual):
            return f"expected a {_kind(expected)}, got {_show(actual)}"
        if isinstance(actual, list):
            if "min" in matcher and len(actual) < int(matcher["min"]):
                return f"expected at least {matcher['min']} item(s), got {len(actual)}"
            if "max" in matcher and len(actual) > int(matcher["max"]):
                return f"expected at most {matcher['max']} item(s), got {len(actual)}"
        return None
    if kind == "equality":
        return (
            None if _equal(expected, actual) else f"expected {_show(expected)}, got {_show(actual)}"
        )
    if kind in {"regex", "semver"}:
        pattern = matcher.get("regex", "") if kind == "regex" else _SEMVER.pattern
        subject = actual if isinstance(actual, str) else None
        if subject is None and isinstance(actual, int | float) and not isinstance(actual, bool):
            subject = json.dumps(actual)
        if subject is None or re.search(pattern, subject) is None:
            return f"{_show(actual)} does not match the regular expression {pattern!r}"
        return None
    if kind in {"integer", "decimal", "number"}:
        number = (
            _as_number(actual)
            if text
            else (
                actual if isinstance(actual, int | float) and not isinstance(actual, bool) else None
            )
        )
        if number is None:
            return f"expected a number, got {_show(actual)}"
        is_int = (
            isinstance(actual, int)
            if not text
            else float(number).is_integer() and "." not in str(actual)
        )
        if kind == "integer" and not is_int:
            return f"expected an integer, got {_show(actual)}"
        if kind == "decimal" and is_int:
            return f"expected a decimal number, got {_show(actual)}"
        return None
    if kind == "boolean":
        ok = isinstance(actual, bool) or (text and actual in {"true", "false"})
        return None if ok else f"expected a boolean, got {_show(actual)}"
    if kind == "null":
        return None if actual is None else f"expected null, got {_show(actual)}"
    if kind == "include":
        wanted = str(matcher.get("value", ""))
        ok = isinstance(actual, str) and wanted in actual
        return None if ok else f"{_show(actual)} does not include {wanted!r}"
    if kind in {"date", "time", "datetime", "timestamp"}:
        return None if isinstance(actual, str) else f"expected a {kind} string, got {_show(actual)}"
    if kind == "notEmpty":
        empty = actual in (None, "", [], {})
        return f"expected a value that is not empty, got {_show(actual)}" if empty else None
    if kind in {"eachKey", "eachValue", "values", "arrayContains", "contentType", "statusCode"}:
        return None  # structural, applied while walking containers
    return f"the matcher {kind!r} is not supported"


def _equal(expected: object, actual: object) -> bool:
    return _kind(expected) == _kind(actual) and expected == actual


def _apply(rule: Rules, expected: object, actual: object, *, text: bool) -> list[str]:
    problems = [_matcher_problem(m, expected, actual, text=text) for m in matchers_of(rule)]
    failed = [p for p in problems if p is not None]
    if str(rule.get("combine", "AND")).upper() == "OR":
        return failed if len(failed) == len(problems) and failed else []
    return failed


def _kinds(rule: Rules | None) -> set[str]:
    return {str(m.get("match", "type")) for m in matchers_of(rule)} if rule else set()


# -- bodies ---------------------------------------------------------------------------------------


def _label(path: Sequence[str | int]) -> str:
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)


class _BodyWalk:
    def __init__(self, rules: Mapping[str, Rules]) -> None:
        self.rules = {rule_path(k): v for k, v in rules.items()}
        self.problems: list[str] = []

    def compare(self, expected: Any, actual: Any, path: tuple[str | int, ...]) -> None:
        rule = select(self.rules, path)
        kinds = _kinds(rule)
        if rule is not None:
            if kinds & {"values", "eachValue", "eachKey", "arrayContains"} and len(kinds) == 1:
                pass
            else:
                found = _apply(rule, expected, actual, text=False)
                if found:
                    self.problems.extend(f"{_label(path)}: {p}" for p in found)
                    return
            if not isinstance(actual, list | dict):
                return
        elif not isinstance(expected, list | dict) or not isinstance(actual, list | dict):
            if not _equal(expected, actual):
                self.problems.append(
                    f"{_label(path)}: expected {_show(expected)}, got {_show(actual)}"
                )
            return
        if isinstance(expected, dict) and isinstance(actual, dict):
            self._objects(expected, actual, path, kinds)
        elif isinstance(expected, list) and isinstance(actual, list):
            self._arrays(expected, actual, path, kinds, rule)
        else:
            self.problems.append(f"{_label(path)}: expected {_show(expected)}, got {_show(actual)}")

    def _objects(
        self,
        expected: dict[str, Any],
        actual: dict[str, Any],
        path: tuple[str | int, ...],
        kinds: set[str],
    ) -> None:
        if kinds & {"values", "eachValue"} and expected:
            template = next(iter(expected.values()))
            for key, value in actual.items():
                self.compare(template, value, (*path, key))
            return
        for key, value in expected.items():
            if key not in actual:
                self.problems.append(f"{_label(path)}: the key {key!r} is missing")
            else:
                self.compare(value, actual[key], (*path, key))
        for key in actual.keys() - expected.keys():
            self.problems.append(f"{_label(path)}: unexpected key {key!r}")

    def _arrays(
        self,
        expected: list[Any],
        actual: list[Any],
        path: tuple[str | int, ...],
        kinds: set[str],
        rule: Rules | None,
    ) -> None:
        if "arrayContains" in kinds and rule is not None:
            for matcher in matchers_of(rule):
                for variant in matcher.get("variants", []):
                    wanted = expected[int(variant.get("index", 0))]
                    inner = {rule_path(k): v for k, v in variant.get("rules", {}).items()}
                    if not any(_variant_matches(wanted, got, inner) for got in actual):
                        self.problems.append(f"{_label(path)}: no item matches {_show(wanted)}")
            return
        if kinds & {"type", "min", "max", "minmax", "values", "eachValue"} and expected:
            for index, value in enumerate(actual):
                self.compare(
                    expected[index] if index < len(expected) else expected[0], value, (*path, index)
                )
            return
        if len(expected) != len(actual):
            self.problems.append(
                f"{_label(path)}: expected {len(expected)} item(s), got {len(actual)}"
            )
        for index, (want, got) in enumerate(zip(expected, actual, strict=False)):
            self.compare(want, got, (*path, index))


def _variant_matches(expected: Any, actual: Any, rules: Mapping[tuple[Token, ...], Rules]) -> bool:
    walk = _BodyWalk({})
    walk.rules = dict(rules)
    walk.compare(expected, actual, ())
    return not walk.problems


def _body_problems(  # noqa: PLR0911 - one per body kind
    expected: Body | None, actual: Body | None, rules: Mapping[str, Rules]
) -> list[str]:
    if expected is None:
        return []
    if actual is None or (
        not actual.content and actual.content != 0 and expected.content not in ("", None, b"")
    ):
        if expected.content in ("", b"") or (
            expected.kind == "json" and expected.content is None and actual is None
        ):
            return []
        return ["body: expected a body, got none"]
    if expected.kind == "json":
        content = actual.content
        if actual.kind != "json":
            try:
                content = json.loads(actual.content)
            except (TypeError, ValueError):
                return ["body: expected a JSON body, got one that does not parse"]
        walk = _BodyWalk(rules)
        walk.compare(expected.content, content, ())
        return walk.problems
    if _is_xml(expected.content_type) and expected.kind != "bytes":
        return _xml_problems(str(expected.content), actual.encode(), rules)
    want = expected.content if expected.kind == "bytes" else str(expected.content)
    got: Any = (
        actual.encode() if expected.kind == "bytes" else actual.encode().decode(errors="replace")
    )
    rule = select({rule_path(k): v for k, v in rules.items()}, ())
    if rule is not None:
        return [f"body: {p}" for p in _apply(rule, want, got, text=True)]
    return [] if want == got else ["body: the text differs from the expected one"]


def _is_xml(content_type: str | None) -> bool:
    base = (content_type or "").split(";", 1)[0].strip().lower()
    return base.endswith(("/xml", "+xml"))


def _xml_problems(expected: str, actual: bytes, rules: Mapping[str, Rules]) -> list[str]:
    """XML bodies: element names, attributes (``['@name']``), text (``#text``), children.

    Parsed with defusedxml: no entity expansion, no external entities, no DTD tricks.
    """
    try:
        want = parse_xml(expected.encode())
    except ParseError as exc:
        raise PactError(f"the pact's expected XML body does not parse: {exc}") from exc
    try:
        got = parse_xml(actual)
    except ParseError:
        return ["body: expected an XML body, got one that does not parse"]
    walk = _XmlWalk(rules)
    walk.element(want, got, ())
    return walk.problems


class _XmlWalk(_BodyWalk):
    """Paths hold each element's index among its parent's children (``$.animals[1].alligator``)
    and a rule may name it or leave it out (``$.animals.alligator``): the best of both applies."""

    def pick(self, path: tuple[str | int, ...]) -> Rules | None:
        named = tuple(p for p in path if not isinstance(p, int))
        found = [(k, r) for k, r in self.rules.items() if _weight(k, path) or _weight(k, named)]
        if not found:
            return None
        return max(
            found, key=lambda kr: (len(kr[0]), max(_weight(kr[0], path), _weight(kr[0], named)))
        )[1]

    def value(self, expected: str, actual: str, path: tuple[str | int, ...]) -> None:
        rule = self.pick(path)
        if rule is not None:
            self.problems.extend(
                f"{_label(path)}: {p}" for p in _apply(rule, expected, actual, text=False)
            )
        elif expected != actual:
            self.problems.append(f"{_label(path)}: expected {expected!r}, got {actual!r}")

    def element(  # noqa: PLR0912 - name, attributes, text, children
        self,
        expected: Element,
        actual: Element,
        path: tuple[str | int, ...],
    ) -> None:
        if expected.tag != actual.tag:
            self.problems.append(f"{_label(path)}: expected <{expected.tag}>, got <{actual.tag}>")
            return
        here = (*path, expected.tag)
        for name, value in expected.attrib.items():
            if name not in actual.attrib:
                self.problems.append(f"{_label(here)}: the attribute {name!r} is missing")
            else:
                self.value(value, actual.attrib[name], (*here, "@" + name))
        for name in actual.attrib.keys() - expected.attrib.keys():
            self.problems.append(f"{_label(here)}: unexpected attribute {name!r}")
        if (expected.text or "").strip() or (actual.text or "").strip():
            self.value((expected.text or "").strip(), (actual.text or "").strip(), (*here, "#text"))
        rule = self.pick(here)
        if rule is not None and any(
            r is rule and len(k) == len(here) for k, r in self.rules.items()
        ):
            found = _apply(
                {"matchers": [m for m in matchers_of(rule) if "min" in m or "max" in m]},
                [],
                list(actual),
                text=False,
            )
            self.problems.extend(f"{_label(here)}: {p}" for p in found)
        by_tag: dict[str, list[Element]] = {}
        for child in actual:
            by_tag.setdefault(child.tag, []).append(child)
        wanted: dict[str, list[Element]] = {}
        for child in expected:
            wanted.setdefault(child.tag, []).append(child)
        for tag, children in wanted.items():
            got = by_tag.get(tag, [])
            kinds = _kinds(self.pick((*here, tag)))
            if kinds & {"type", "min", "max"}:
                for child in got:
                    self.element(children[0], child, (*here, list(actual).index(child)))
                continue
            if len(got) != len(children):
                self.problems.append(
                    f"{_label(here)}: expected {len(children)} <{tag}> element(s), got {len(got)}"
                )
            for want, have in zip(children, got, strict=False):
                self.element(want, have, (*here, list(actual).index(have)))
        for tag in by_tag.keys() - wanted.keys():
            self.problems.append(f"{_label(here)}: unexpected element <{tag}>")


# -- headers, query, path -------------------------------------------------------------------------


def _split(values: Iterable[str]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",")]


# Media-type headers compare by type and parameters (an actual one may add parameters).
_MEDIA_HEADERS = frozenset({"content-type", "accept"})


def _media(value: str) -> tuple[str, dict[str, str]]:
    kind, *params = value.split(";")
    found = {}
    for param in params:
        name, _, val = param.partition("=")
        found[name.strip().lower()] = val.strip().strip('"').lower()
    return kind.strip().lower(), found


def _same_media(expected: str, actual: str) -> bool:
    """Same media type; every expected parameter present with the same (caseless) value."""
    (kind, params), (got_kind, got_params) = _media(expected), _media(actual)
    return kind == got_kind and all(got_params.get(k) == v for k, v in params.items())


def _named_problems(
    what: str,
    expected: Mapping[str, list[str]],
    actual: Mapping[str, list[str]],
    rules: Mapping[str, Rules],
    same: Callable[[str, list[str], list[str]], bool],
) -> list[str]:
    """Headers and query parameters: each expected name present, by its rule or ``same``."""
    problems = []
    for name, want in expected.items():
        got = actual.get(name)
        if got is None:
            problems.append(f"{what} {name!r} is missing")
            continue
        rule = rules.get(name)
        if rule is not None:
            problems.extend(
                f"{what} {name!r}: {p}"
                for i, v in enumerate(got)
                for p in _apply(rule, want[min(i, len(want) - 1)] if want else "", v, text=True)
            )
        elif not same(name, want, got):
            problems.append(f"{what} {name!r} has a different value than expected")
    return problems


def _same_header(name: str, want: list[str], got: list[str]) -> bool:
    wanted, found = _split(want), _split(got)
    if name in _MEDIA_HEADERS:
        return len(wanted) == len(found) and all(map(_same_media, wanted, found))
    return wanted == found


def _header_problems(
    expected: Mapping[str, list[str]], actual: Mapping[str, list[str]], rules: Mapping[str, Rules]
) -> list[str]:
    by_name = {k.lower(): v for k, v in rules.items()}
    return _named_problems("header", expected, actual, by_name, _same_header)


def _query_problems(
    expected: Mapping[str, list[str]], actual: Mapping[str, list[str]], rules: Mapping[str, Rules]
) -> list[str]:
    problems = _named_problems("query parameter", expected, actual, rules, _same_values)
    problems.extend(
        f"unexpected query parameter {name!r}" for name in actual.keys() - expected.keys()
    )
    return problems


def _same_values(_name: str, want: list[str], got: list[str]) -> bool:
    return want == got


def mismatches(expected: Message, actual: Message) -> list[str]:
    """Why ``actual`` does not satisfy ``expected`` and its rules (empty: it does)."""
    rules = expected.rules
    problems: list[str] = []
    if expected.method.upper() != actual.method.upper():
        problems.append(f"method is {actual.method.upper()}, expected {expected.method.upper()}")
    path_rule = rules.get("path")
    if path_rule:
        problems.extend(
            f"path: {p}" for p in _apply(path_rule, expected.path, actual.path, text=True)
        )
    elif expected.path != actual.path:
        problems.append(f"path is {actual.path}, expected {expected.path}")
    if expected.query is not None:
        problems.extend(_query_problems(expected.query, actual.query or {}, rules.get("query", {})))
    if expected.headers:
        problems.extend(
            _header_problems(expected.headers, actual.headers or {}, rules.get("header", {}))
        )
    problems.extend(_body_problems(expected.body, actual.body, rules.get("body", {})))
    return problems


def iter_rules(rules: Mapping[str, Any]) -> Iterator[Rules]:
    """Every rule of a category-keyed ``matchingRules`` object."""
    for category, value in rules.items():
        if category == "path":
            yield value
        elif isinstance(value, Mapping):
            yield from value.values()
