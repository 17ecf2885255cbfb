"""The cassette model: VCR.py format version 1, read and written exactly as plain vcrpy does.

A cassette is a YAML mapping ``{"version": 1, "interactions": [...]}``; each interaction holds a
``request`` (``method``, ``uri``, ``body``, ``headers`` as name -> list of values) and a
``response`` (``status: {code, message}``, ``headers``, ``body: {string}``). Bodies are text when
they are valid UTF-8 and ``!!binary`` otherwise, which is what vcrpy's own serializer produces
and reads back (format taken from vcrpy's ``serialize.py`` and ``request.py``).

Loading uses a *safe* reader only (:mod:`apiharness._yaml`: plain data, no tags
naming Python objects), checks every field and names the file and the entry
on any problem, so a hand-edited cassette fails with advice instead of a ``KeyError`` deep in a
replay. Writes go through :func:`apiharness._io.atomic_write`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from apiharness._io import atomic_write
from apiharness._yaml import load_yaml
from apiharness.errors import CassetteError

__all__ = [
    "FORMAT_VERSION",
    "Cassette",
    "Headers",
    "Interaction",
    "RecordedRequest",
    "RecordedResponse",
    "SafeDumper",
    "header_values",
    "replace_header",
]

FORMAT_VERSION = 1

# libyaml's emitter where PyYAML was built with it; the pure-Python one otherwise.
SafeDumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

Headers = tuple[tuple[str, str], ...]
"""Header fields in order, repeated names kept (``Set-Cookie`` may occur several times)."""


def header_values(headers: Headers, name: str) -> list[str]:
    """Every value of the header ``name`` (case-insensitive), in order."""
    lowered = name.lower()
    return [value for key, value in headers if key.lower() == lowered]


def replace_header(headers: Headers, name: str, value: str | None) -> Headers:
    """``headers`` with every ``name`` field removed and, unless ``value`` is None, one added."""
    lowered = name.lower()
    kept = tuple((key, val) for key, val in headers if key.lower() != lowered)
    return kept if value is None else (*kept, (name, value))


@dataclass(frozen=True)
class RecordedRequest:
    """A request as a cassette stores it."""

    method: str
    uri: str
    headers: Headers = ()
    body: bytes | None = None


@dataclass(frozen=True)
class RecordedResponse:
    """A response as a cassette stores it: decoded body, no ``Content-Encoding``."""

    status: int
    reason: str = ""
    headers: Headers = ()
    body: bytes = b""


@dataclass(frozen=True)
class Interaction:
    """One request and the response the API gave to it."""

    request: RecordedRequest
    response: RecordedResponse


@dataclass
class Cassette:
    """An ordered list of interactions, loaded from or saved to a VCR.py cassette file.

    ::

        cassette = Cassette.load("cassettes/test_api/test_list.yaml")
        for interaction in cassette:
            print(interaction.request.method, interaction.request.uri)
        cassette.save("copy.yaml")
    """

    interactions: list[Interaction] = field(default_factory=list)
    path: Path | None = None

    def __iter__(self) -> Iterator[Interaction]:
        return iter(self.interactions)

    def __len__(self) -> int:
        return len(self.interactions)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Cassette:
        """Read a cassette file; :class:`CassetteError` names the file and entry on bad input."""
        source = Path(path)
        try:
            text = source.read_bytes()
        except OSError as exc:
            raise CassetteError(f"cannot read cassette {source}: {exc.strerror}") from None
        return cls.from_yaml(text, source=source)

    @classmethod
    def from_yaml(cls, text: str | bytes, *, source: Path | None = None) -> Cassette:
        """Parse cassette YAML (``source`` only names the file in error messages)."""
        where = str(source) if source is not None else "<cassette>"
        try:
            data = load_yaml(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(exc, "problem", None) or type(exc).__name__
            raise CassetteError(
                f"{where}: not a loadable cassette{at}: {problem}. Cassettes are read with a "
                "safe loader (plain data only). Fix the file or re-record it."
            ) from None
        return cls.from_dict(data, source=source)

    @classmethod
    def from_dict(cls, data: object, *, source: Path | None = None) -> Cassette:
        """Build a cassette from the parsed YAML document, validating every field."""
        where = str(source) if source is not None else "<cassette>"
        if not isinstance(data, Mapping):
            raise CassetteError(
                f"{where}: a cassette is a mapping with 'version' and 'interactions', "
                f"got {type(data).__name__}; was it written by an old VCR.py? Re-record it."
            )
        version = data.get("version")
        if version != FORMAT_VERSION:
            raise CassetteError(
                f"{where}: cassette format version {version!r} is not supported; apiharness "
                f"reads and writes VCR.py format version {FORMAT_VERSION}. Re-record it."
            )
        raw = data.get("interactions")
        if not isinstance(raw, list):
            raise CassetteError(f"{where}: 'interactions' must be a list, got {_kind(raw)}")
        interactions = [
            _interaction(entry, f"{where}: interaction #{n}") for n, entry in enumerate(raw)
        ]
        return cls(interactions, source)

    def to_dict(self) -> dict[str, Any]:
        """The cassette as the plain data vcrpy's serializer writes."""
        return {
            "interactions": [_interaction_dict(i) for i in self.interactions],
            "version": FORMAT_VERSION,
        }

    def to_yaml(self) -> str:
        """The cassette as YAML text that plain vcrpy loads."""
        return yaml.dump(self.to_dict(), Dumper=SafeDumper, allow_unicode=True, sort_keys=False)

    def save(self, path: str | os.PathLike[str] | None = None) -> Path:
        """Write the cassette atomically to ``path`` (default: where it was loaded from)."""
        target = Path(path) if path is not None else self.path
        if target is None:
            raise CassetteError("this cassette has no path; pass one to save(path)")
        atomic_write(target, self.to_yaml())
        self.path = target
        return target

    def extend(self, interactions: Iterable[Interaction]) -> None:
        """Append interactions, in order."""
        self.interactions.extend(interactions)


def _kind(value: object) -> str:
    return "nothing" if value is None else type(value).__name__


def _interaction(entry: object, where: str) -> Interaction:
    if not isinstance(entry, Mapping):
        raise CassetteError(f"{where}: expected a mapping with request and response")
    request, response = entry.get("request"), entry.get("response")
    if not isinstance(request, Mapping) or not isinstance(response, Mapping):
        raise CassetteError(f"{where}: needs both a 'request' and a 'response' mapping")
    method, uri = request.get("method"), request.get("uri")
    if not isinstance(method, str) or not method:
        raise CassetteError(f"{where}: request.method must be a string such as 'GET'")
    if not isinstance(uri, str) or "://" not in uri:
        raise CassetteError(f"{where}: request.uri must be an absolute URL, got {_kind(uri)}")
    status = response.get("status")
    code = status.get("code") if isinstance(status, Mapping) else None
    if isinstance(code, bool) or not isinstance(code, int) or not 100 <= code <= 999:
        raise CassetteError(
            f"{where}: response.status.code must be an integer HTTP status such as 200, "
            f"got {code!r:.40}"
        )
    message = status.get("message") if isinstance(status, Mapping) else None
    body = response.get("body")
    if not isinstance(body, Mapping) or "string" not in body:
        raise CassetteError(f"{where}: response.body must be a mapping with a 'string' key")
    return Interaction(
        RecordedRequest(
            method=method,
            uri=uri,
            headers=_headers(request.get("headers"), f"{where}: request.headers"),
            body=_body(request.get("body"), f"{where}: request.body", allow_none=True),
        ),
        RecordedResponse(
            status=code,
            reason=message if isinstance(message, str) else "",
            headers=_headers(response.get("headers"), f"{where}: response.headers"),
            body=_body(body["string"], f"{where}: response.body.string", allow_none=False) or b"",
        ),
    )


def _headers(raw: object, where: str) -> Headers:
    if raw is None:
        return ()
    if not isinstance(raw, Mapping):
        raise CassetteError(f"{where}: must map header names to lists of values")
    fields: list[tuple[str, str]] = []
    for name, values in raw.items():
        items = values if isinstance(values, list) else [values]
        for value in items:
            if not isinstance(name, str) or not isinstance(value, str | int | float):
                raise CassetteError(f"{where}: header {name!r} has a value that is not text")
            fields.append((name, str(value)))
    return tuple(fields)


def _body(raw: object, where: str, *, allow_none: bool) -> bytes | None:
    if raw is None:
        return None if allow_none else b""
    if isinstance(raw, bytes):
        return raw
    if isinstance(raw, str):
        return raw.encode("utf-8")
    raise CassetteError(f"{where}: a body is text or !!binary, got {_kind(raw)}")


def _text_or_bytes(body: bytes) -> str | bytes:
    # vcrpy's convention: text when the bytes are UTF-8, else !!binary (base64 in the YAML).
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return body


def _headers_dict(headers: Headers) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for name, value in headers:
        grouped.setdefault(name, []).append(value)
    return grouped


def _interaction_dict(interaction: Interaction) -> dict[str, Any]:
    request, response = interaction.request, interaction.response
    return {
        "request": {
            "body": None if request.body is None else _text_or_bytes(request.body),
            "headers": _headers_dict(request.headers),
            "method": request.method,
            "uri": request.uri,
        },
        "response": {
            "body": {"string": _text_or_bytes(response.body)},
            "headers": _headers_dict(response.headers),
            "status": {"code": response.status, "message": response.reason},
        },
    }
