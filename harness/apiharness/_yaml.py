"""A safe, fast YAML reader for cassettes: libyaml's parser, a small builder for plain data.

PyYAML's loaders spend most of their time in the Python constructor and resolver (about 85 %
of a 1,000-interaction cassette), not in libyaml's parser. Cassettes hold only mappings,
sequences, strings, integers, null and ``!!binary`` bodies, so this module builds exactly
those from libyaml's parse events, about three times faster than ``CSafeLoader``.

It is safe by construction: no tag can name a Python object; any tag other than the standard
scalar ones is refused. Plain scalars resolve as YAML 1.1 does for null, bool, int and float
(PyYAML's own patterns); timestamps stay text (cassette headers are text).

It is linear in its input, and so is any walk over what it returns: nesting deeper than
:data:`MAX_DEPTH` is refused as it is read, and a document with aliases is measured once read
(:func:`apiharness._trees.tree_problem`), refusing a recursive alias and aliases that would
expand it past ten times its size (a "billion laughs" bomb of 368 bytes took the leak gate
12.5 s per extra level). Every refusal is an :class:`UnsafeYamlError`, a ``yaml.YAMLError``.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import ScalarNode
from yaml.resolver import Resolver

from apiharness._trees import tree_problem

__all__ = ["MAX_DEPTH", "UnsafeYamlError", "load_yaml"]

#: The deepest nesting a cassette may have; VCR.py's format needs six levels.
MAX_DEPTH = 100

_CParser: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_TAG = "tag:yaml.org,2002:"
_SCALARS = {f"{_TAG}{name}" for name in ("null", "bool", "int", "float")}
_STRINGS = {f"{_TAG}str", f"{_TAG}timestamp", "!", None}
_constructor = SafeConstructor()


class UnsafeYamlError(yaml.YAMLError):
    """YAML a cassette may not hold: a tag naming a Python object, a second document ..."""

    def __init__(self, problem: str, mark: Any) -> None:
        self.problem = problem
        self.problem_mark = mark
        super().__init__(problem)


def _refuse_tag(tag: str, mark: Any) -> UnsafeYamlError:
    return UnsafeYamlError(f"the tag {tag!r} is not allowed in a cassette", mark)


def _convert(tag: str, value: str) -> Any:
    constructor = {
        f"{_TAG}null": _constructor.construct_yaml_null,
        f"{_TAG}bool": _constructor.construct_yaml_bool,
        f"{_TAG}int": _constructor.construct_yaml_int,
        f"{_TAG}float": _constructor.construct_yaml_float,
    }[tag]
    return constructor(ScalarNode(tag, value))


def _plain(value: str) -> Any:
    # The common case (status codes, the version) without regexes; "0777" is octal in YAML 1.1.
    if value.isascii() and value.isdigit() and (value == "0" or value[0] != "0"):
        return int(value)
    for tag, pattern in Resolver.yaml_implicit_resolvers.get(value[:1] if value else "", []):
        if tag in _SCALARS and pattern.match(value):
            return _convert(tag, value)
    return value


def _scalar(event: yaml.ScalarEvent) -> Any:
    tag, value = event.tag, event.value
    if tag is None or tag == "!":
        return _plain(value) if event.implicit[0] and tag is None else value
    if tag in _STRINGS:
        return value
    if tag in _SCALARS:
        return _convert(tag, value)
    if tag == f"{_TAG}binary":
        try:
            return base64.decodebytes(value.encode("ascii"))
        except (binascii.Error, UnicodeEncodeError) as exc:
            raise UnsafeYamlError("!!binary holds invalid base64", event.start_mark) from exc
    raise _refuse_tag(tag, event.start_mark)


def load_yaml(text: str | bytes) -> Any:
    """The single document in ``text`` as plain data; raises :class:`yaml.YAMLError`.

    :class:`UnsafeYamlError` (also a ``yaml.YAMLError``) on what a cassette may not hold: a
    Python tag, a second document, a container as a key, nesting deeper than
    :data:`MAX_DEPTH`, a recursive alias, or aliases expanding past ten times the text's size.
    """
    anchors: dict[str, Any] = {}
    stack: list[Any] = []  # open containers; a mapping's pending key is stacked after it
    root: Any = None
    documents = 0
    aliased = False

    def add(value: Any, anchor: str | None) -> None:
        nonlocal root
        if anchor is not None:
            anchors[anchor] = value
        if not stack:
            root = value
            return
        top = stack[-1]
        if isinstance(top, list):
            top.append(value)
        elif isinstance(top, _Key):
            stack.pop()
            mapping = stack[-1]
            mapping[top.key] = value
        else:  # a mapping waiting for its next key
            try:
                hash(value)
            except TypeError:
                raise UnsafeYamlError("a mapping or sequence as a key", None) from None
            stack.append(_Key(value))

    for event in yaml.parse(text, Loader=_CParser):
        if isinstance(event, yaml.ScalarEvent):
            add(_scalar(event), event.anchor)
        elif isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
            if event.tag is not None and event.tag not in {f"{_TAG}map", f"{_TAG}seq", "!"}:
                raise _refuse_tag(event.tag, event.start_mark)
            container: Any = {} if isinstance(event, yaml.MappingStartEvent) else []
            add(container, event.anchor)
            stack.append(container)
            # A pending key is popped before its value is added: the stack holds containers.
            if len(stack) > MAX_DEPTH:
                raise UnsafeYamlError(
                    f"containers nested deeper than {MAX_DEPTH} levels", event.start_mark
                )
        elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
            stack.pop()
        elif isinstance(event, yaml.AliasEvent):
            if event.anchor not in anchors:
                raise UnsafeYamlError(f"an unknown alias *{event.anchor}", event.start_mark)
            add(anchors[event.anchor], None)
            aliased = True
        elif isinstance(event, yaml.DocumentStartEvent):
            documents += 1
            if documents > 1:
                raise UnsafeYamlError("a second YAML document", event.start_mark)
    if aliased:  # only aliases can share or loop; a tree without them is as big as its text
        problem = tree_problem(root, max_depth=MAX_DEPTH, read_size=len(text))
        if problem:
            raise UnsafeYamlError(f"{problem}; write the values out instead of aliasing", None)
    return root


class _Key:
    """A mapping key read, its value not yet."""

    __slots__ = ("key",)

    def __init__(self, key: Any) -> None:
        self.key = key
