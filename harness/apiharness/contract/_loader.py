"""Reading OpenAPI documents: files, URLs and dicts, YAML or JSON, with every ``$ref`` target.

The loader reads the root document and, transitively, every document a relative-file or URL
``$ref`` names, registers each under its absolute URI with :mod:`referencing` (the library
jsonschema resolves references with), and checks the structure of what it read, so that an
invalid description fails here, at load time, with the JSON path of the problem.

Untrusted documents cannot make loading or anything after it super-linear: nesting deeper than
:data:`MAX_DEPTH` levels, a container that contains itself (a recursive YAML alias, or a cyclic
dict) and aliases expanding a document past ten times its size are refused with
:class:`~apiharness.InvalidSpecError` (see :mod:`apiharness._trees`). The depth is checked
for free by the walk that finds ``$ref``s; the alias check runs only on YAML that has anchors.

OpenAPI 3.0 schema objects are a dialect of JSON Schema draft 4 (``nullable``, boolean
``exclusiveMinimum``); they are rewritten in place into JSON Schema 2020-12, the dialect of
OpenAPI 3.1, so that one validator and one generator serve both versions.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urldefrag, urljoin, urlsplit
from urllib.request import url2pathname

import yaml
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from apiharness._trees import tree_problem
from apiharness._urls import shown_url
from apiharness.errors import InvalidSpecError

__all__ = [
    "MAX_DEPTH",
    "LoadedDocuments",
    "SpecSource",
    "join_ref",
    "json_path",
    "load_documents",
    "pointer_parts",
]

SpecSource = str | Path | Mapping[str, Any]

_VERSION = re.compile(r"^3\.(0|1)\.\d+(-.+)?$")
# Keys whose values are data, not schema objects: never rewritten by the 3.0 normaliser.
_DATA_KEYS = frozenset({"example", "examples", "default", "enum", "const", "x-examples"})
_DICT_URI = "urn:apiharness:spec"
#: The deepest nesting a description may have; GitHub's REST description needs 30 levels.
MAX_DEPTH = 100

# A C-accelerated loader when PyYAML was built with libyaml: ten times faster on big files.
_YamlLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def json_path(parts: tuple[str | int, ...] | list[str | int]) -> str:
    """``("paths", "/users/{id}", "get")`` as ``$.paths['/users/{id}'].get``."""
    out = ["$"]
    for part in parts:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", part):
            out.append(f".{part}")
        else:
            out.append(f"[{part!r}]")
    return "".join(out)


def join_ref(base: str, ref: str) -> str:
    """The absolute URI of ``ref`` found in document ``base``.

    ``urljoin`` alone leaves ``#/x`` unresolved against a ``urn:`` base (dict specs).
    """
    if ref.startswith("#"):
        return urldefrag(base)[0] + ref
    return urljoin(base, ref)


def pointer_parts(fragment: str) -> list[str]:
    """The decoded segments of a JSON pointer fragment (RFC 6901), ``/a~1b/c`` → ``[a/b, c]``."""
    fragment = unquote(fragment)
    if not fragment:
        return []
    if not fragment.startswith("/"):
        raise ValueError(f"not a JSON pointer: {fragment!r}")
    return [seg.replace("~1", "/").replace("~0", "~") for seg in fragment[1:].split("/")]


@dataclass
class LoadedDocuments:
    """The root document, its URI, its OpenAPI minor version, and every document it refers to."""

    root: dict[str, Any]
    uri: str
    version: str  # "3.0" or "3.1"
    documents: dict[str, Any]
    registry: Registry[Any]


def _read_text(uri: str) -> str:
    scheme = urlsplit(uri).scheme
    if scheme in ("http", "https"):
        from apiharness._stacks import httpx

        try:
            response = httpx.get(uri, follow_redirects=True, timeout=30)
        except httpx.HTTPError as exc:
            # httpx's message quotes the whole URL, query and userinfo included: not repeated.
            raise InvalidSpecError(
                f"cannot fetch it ({type(exc).__name__}); check the URL", source=_shown(uri)
            ) from None
        if response.is_error:
            raise InvalidSpecError(
                f"cannot fetch it (HTTP {response.status_code}); check the URL",
                source=_shown(uri),
            )
        return response.text
    if scheme != "file":
        raise InvalidSpecError(
            f"cannot load a $ref with scheme {scheme!r}; use a relative file path or http(s) URL",
            source=_shown(uri),
        )
    # The URI is percent-encoded (a folder named @scope is %40scope in it): decode it back.
    path = Path(url2pathname(urlsplit(uri).path))
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidSpecError(
            f"cannot read it ({exc.strerror}); check the path", source=_shown(uri)
        ) from exc


def _parse(text: str, uri: str) -> Any:
    # JSON is a subset of YAML, but json.loads is much faster on big JSON documents.
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            pass  # YAML flow style also starts with a brace; let the YAML parser decide
        except RecursionError:  # the json module's own depth limit, about 1,000 levels
            raise _too_deep(uri) from None
    try:
        document = yaml.load(text, Loader=_YamlLoader)  # noqa: S506 - a safe loader, C or Python
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise InvalidSpecError(f"not valid YAML or JSON{where}", source=_shown(uri)) from None
    if "&" in text:  # without an anchor there is no alias: the tree is as big as the text
        _check_tree(document, uri, len(text))
    return document


def _too_deep(uri: str) -> InvalidSpecError:
    return InvalidSpecError(
        f"the document nests deeper than {MAX_DEPTH} levels; no OpenAPI description needs that",
        source=_shown(uri),
    )


def _check_tree(document: Any, uri: str, read_size: int | None = None) -> None:
    problem = tree_problem(document, max_depth=MAX_DEPTH, read_size=read_size)
    if problem:
        raise InvalidSpecError(
            f"the document holds {problem}; write the shared parts out or use $ref",
            source=_shown(uri),
        )


def _source_uri(source: str | Path) -> str:
    text = str(source)
    if urlsplit(text).scheme in ("http", "https", "file"):
        return text
    return Path(text).resolve().as_uri()


def _refs(
    node: Any, uri: str, parts: tuple[str | int, ...] = ()
) -> Iterator[tuple[str, tuple[str | int, ...]]]:
    """Every ``$ref`` string in a document, with the path where it stands.

    Refuses nesting deeper than :data:`MAX_DEPTH` (the path's length is the depth).
    """
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(node, parts)]
    while stack:
        current, where = stack.pop()
        if len(where) >= MAX_DEPTH:
            raise InvalidSpecError(
                f"nested deeper than {MAX_DEPTH} levels; no OpenAPI description needs that",
                json_path=json_path(where[:8]) + "...",
                source=_shown(uri),
            )
        if isinstance(current, dict):
            ref = current.get("$ref")
            if isinstance(ref, str):
                yield ref, (*where, "$ref")
            for key, value in current.items():
                if key not in _DATA_KEYS and isinstance(value, dict | list):
                    stack.append((value, (*where, key)))
        elif isinstance(current, list):
            stack.extend((value, (*where, i)) for i, value in enumerate(current))


def normalise_30(node: Any) -> None:
    """Rewrite OpenAPI 3.0 schema keywords into JSON Schema 2020-12, in place.

    ``nullable: true`` adds ``"null"`` to ``type`` (and ``None`` to ``enum``), or wraps a
    typeless schema in ``anyOf [null, schema]``; boolean ``exclusiveMinimum``/``Maximum``
    become the numeric form.
    """
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, list):
            stack.extend(current)
            continue
        if not isinstance(current, dict):
            continue
        for bound, exclusive in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
            flag = current.get(exclusive)
            if isinstance(flag, bool):
                del current[exclusive]
                if flag and bound in current:
                    current[exclusive] = current.pop(bound)
        if current.get("nullable") is True:
            del current["nullable"]
            kind = current.get("type")
            if isinstance(kind, str) and not ({"allOf", "anyOf", "oneOf", "$ref"} & current.keys()):
                current["type"] = [kind, "null"]
                if isinstance(current.get("enum"), list) and None not in current["enum"]:
                    current["enum"].append(None)
            else:
                inner = dict(current)
                current.clear()
                current["anyOf"] = [{"type": "null"}, inner]
        elif current.get("nullable") is False:
            del current["nullable"]
        stack.extend(v for k, v in current.items() if k not in _DATA_KEYS)


def load_documents(source: SpecSource, *, base_uri: str | None = None) -> LoadedDocuments:
    """Read ``source`` and every document its ``$ref``s reach; check the version and refs."""
    if isinstance(source, Mapping):
        uri = base_uri or _DICT_URI
        _check_tree(source, uri)  # before deepcopy, which recurses
        root: Any = copy.deepcopy(dict(source))
    elif isinstance(source, str | Path):
        uri = _source_uri(source)
        root = _parse(_read_text(uri), uri)
    else:
        raise InvalidSpecError(
            f"expected a path, URL or dict, got {type(source).__name__}; "
            "e.g. load_spec('fixtures/openapi/payments.yaml')"
        )
    if not isinstance(root, dict):
        raise InvalidSpecError(
            f"the document is a {type(root).__name__}, not a mapping", source=_shown(uri)
        )
    version = _check_version(root, uri)
    documents: dict[str, Any] = {uri: root}
    pending = [uri]
    while pending:
        current = pending.pop()
        for ref, where in _refs(documents[current], current):
            target, _ = urldefrag(join_ref(current, ref))
            if target not in documents:
                documents[target] = _load_referenced(target, ref, current, where)
                pending.append(target)
    if version == "3.0":
        for document in documents.values():
            normalise_30(document)
    registry: Registry[Any] = Registry().with_resources(
        (doc_uri, DRAFT202012.create_resource(doc)) for doc_uri, doc in documents.items()
    )
    return LoadedDocuments(root, uri, version, documents, registry)


def _shown(uri: str) -> str:
    """The source as errors name it: nothing for a dict, a URL without its credentials."""
    return "" if uri == _DICT_URI else shown_url(uri)


def _load_referenced(target: str, ref: str, current: str, where: tuple[str | int, ...]) -> Any:
    if urlsplit(target).scheme not in ("file", "http", "https"):
        raise InvalidSpecError(
            f"$ref {ref!r} is relative to a spec given as a dict; pass base_uri= "
            "(the folder it came from) or load the spec from its file",
            json_path=json_path(where),
            source=_shown(current),
        )
    try:
        text = _read_text(target)
    except InvalidSpecError as exc:
        raise InvalidSpecError(
            f"$ref {ref!r} names a document that cannot be loaded ({exc})",
            json_path=json_path(where),
            source=_shown(current),
        ) from None
    return _parse(text, target)


def _check_version(root: dict[str, Any], uri: str) -> str:
    raw = root.get("openapi")
    if raw is None:
        hint = " (Swagger 2.0 is not supported)" if "swagger" in root else ""
        raise InvalidSpecError(
            f"missing the `openapi` field{hint}; an OpenAPI 3.0 or 3.1 description starts "
            "with e.g. `openapi: 3.1.0`",
            json_path="$.openapi",
            source=_shown(uri),
        )
    if not isinstance(raw, str) or not _VERSION.match(raw):
        raise InvalidSpecError(
            f"unsupported OpenAPI version {raw!r}; use 3.0.x or 3.1.x (quote it in YAML)",
            json_path="$.openapi",
            source=_shown(uri),
        )
    return raw[:3]
