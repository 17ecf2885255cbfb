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
from apiharness.errors import CassetteError, ConfigurationError

__all__ = [
    "CHUNKS_KEY",
    "FORMAT_VERSION",
    "Cassette",
    "Headers",
    "Interaction",
    "RecordedRequest",
    "RecordedResponse",
    "SafeDumper",
    "cassette_files",
    "header_values",
    "refit_chunks",
    "replace_header",
    "split_chunks",
]

FORMAT_VERSION = 1

# An extension of the response entry, which plain vcrpy never reads (it takes status, headers
# and body.string): a streamed body's chunks as [seconds since the previous one, bytes].
CHUNKS_KEY = "apiharness_chunks"

Chunks = tuple[tuple[float, int], ...]

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
    """A response as a cassette stores it: decoded body, no ``Content-Encoding``.

    ``chunks`` is how a streamed body arrived: each piece's wait (seconds since the previous
    piece, the first since the head) and size in bytes; empty for a body read whole.
    """

    status: int
    reason: str = ""
    headers: Headers = ()
    body: bytes = b""
    chunks: Chunks = ()


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
        return cls._build(data, source, text)

    @classmethod
    def from_dict(cls, data: object, *, source: Path | None = None) -> Cassette:
        """Build a cassette from the parsed YAML document, validating every field."""
        return cls._build(data, source, None)

    @classmethod
    def _build(cls, data: object, source: Path | None, text: str | bytes | None) -> Cassette:
        where = str(source) if source is not None else "<cassette>"
        if not isinstance(data, Mapping):
            raise CassetteError(
                f"{where}: a cassette is a mapping with 'version' and 'interactions', "
                f"got {type(data).__name__}; was it written by an old VCR.py? Re-record it."
            )
        if "version" not in data:
            raise CassetteError(
                f"{where}: no 'version' key; VCR.py cassettes start with 'version: "
                f"{FORMAT_VERSION}'. Add it if the file is a VCR.py cassette, or re-record it."
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
        interactions = []
        for n, entry in enumerate(raw):
            try:
                interactions.append(_interaction(entry))
            except _EntryError as exc:
                # The field, and the line the entry starts on: the fix is one jump away.
                line = _entry_line(text, n) if text is not None else None
                at = f" (line {line})" if line else ""
                raise CassetteError(f"{where}: interaction #{n}{at}: {exc}") from None
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


CASSETTE_SUFFIXES = frozenset({".yaml", ".yml", ".json"})


def cassette_files(paths: Iterable[str | os.PathLike[str]]) -> Iterator[Path]:
    """The cassette files named by ``paths``: files as given, folders searched recursively.

    A path that does not exist raises :class:`~apiharness.errors.ConfigurationError`.
    """
    for entry in paths:
        path = Path(entry)
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.suffix in CASSETTE_SUFFIXES)
        elif path.exists():
            yield path
        else:
            raise ConfigurationError(f"{path} does not exist; pass cassette files or folders")


def _kind(value: object) -> str:
    return "nothing" if value is None else type(value).__name__


class _EntryError(CassetteError):
    """One interaction is malformed; the message starts with the field."""


def _entry_line(text: str | bytes, index: int) -> int | None:
    """The line (1-based) where interaction ``index`` starts; only on the error path."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    for key, value in getattr(root, "value", ()):
        if getattr(key, "value", None) == "interactions" and index < len(value.value):
            return int(value.value[index].start_mark.line) + 1
    return None


def _interaction(entry: object) -> Interaction:
    if not isinstance(entry, Mapping):
        raise _EntryError("expected a mapping with request and response")
    request, response = entry.get("request"), entry.get("response")
    if not isinstance(request, Mapping) or not isinstance(response, Mapping):
        raise _EntryError("needs both a 'request' and a 'response' mapping")
    method, uri = request.get("method"), request.get("uri")
    if not isinstance(method, str) or not method:
        raise _EntryError("request.method must be a string such as 'GET'")
    if not isinstance(uri, str) or "://" not in uri:
        raise _EntryError(f"request.uri must be an absolute URL, got {_kind(uri)}")
    status = response.get("status")
    code = status.get("code") if isinstance(status, Mapping) else None
    if isinstance(code, bool) or not isinstance(code, int) or not 100 <= code <= 999:
        raise _EntryError(
            f"response.status.code must be an integer HTTP status such as 200, got {code!r:.40}"
        )
    message = status.get("message") if isinstance(status, Mapping) else None
    body = response.get("body")
    if not isinstance(body, Mapping) or "string" not in body:
        raise _EntryError("response.body must be a mapping with a 'string' key")
    response_body = _body(body["string"], "response.body.string", allow_none=False) or b""
    return Interaction(
        RecordedRequest(
            method=method,
            uri=uri,
            headers=_headers(request.get("headers"), "request.headers"),
            body=_body(request.get("body"), "request.body", allow_none=True),
        ),
        RecordedResponse(
            status=code,
            reason=message if isinstance(message, str) else "",
            headers=_headers(response.get("headers"), "response.headers"),
            body=response_body,
            chunks=_chunks(response.get(CHUNKS_KEY), len(response_body)),
        ),
    )


def _chunks(raw: object, length: int) -> Chunks:
    if raw is None:
        return ()
    shape = (
        f"response.{CHUNKS_KEY} must be a list of [seconds, bytes] pairs whose bytes add up to "
        f"the body's {length}; fix it, or delete the key to replay the body in one piece"
    )
    if not isinstance(raw, list):
        raise _EntryError(shape)
    pieces: list[tuple[float, int]] = []
    for item in raw:
        if not (isinstance(item, list) and len(item) == 2):
            raise _EntryError(shape)
        wait, size = item
        if (
            isinstance(wait, bool)
            or not isinstance(wait, int | float)
            or not 0 <= wait < float("inf")
            or isinstance(size, bool)
            or not isinstance(size, int)
            or size < 1
        ):
            raise _EntryError(shape)
        pieces.append((float(wait), size))
    if sum(size for _, size in pieces) != length:
        raise _EntryError(shape)
    return tuple(pieces)


def split_chunks(body: bytes, chunks: Chunks) -> list[tuple[float, bytes]]:
    """The body cut where it arrived in pieces: (wait before, bytes) each."""
    out, at = [], 0
    for wait, size in chunks:
        out.append((wait, body[at : at + size]))
        at += size
    return out


def refit_chunks(old: bytes, new: bytes, chunks: Chunks) -> Chunks:
    """``chunks`` of ``old`` moved onto ``new``, the same body with parts replaced (redacted).

    Each boundary keeps its place in the text around it; a boundary inside a replaced part
    moves to the replacement's end, so no piece holds part of a secret and part of the rest.
    """
    if not chunks or old == new:
        return chunks
    import difflib

    opcodes = difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes()

    def moved(offset: int) -> int:
        for tag, i1, i2, j1, j2 in opcodes:
            if i1 <= offset < i2 or (offset == i2 and tag != "equal"):
                return j1 + (offset - i1) if tag == "equal" else j2
        return len(new)

    bounds, at = [], 0
    for _, size in chunks:
        at += size
        bounds.append(moved(at))
    bounds[-1] = len(new)
    fitted: list[tuple[float, int]] = []
    start, carried = 0, 0.0
    for (wait, _), end in zip(chunks, bounds, strict=True):
        if end <= start:  # the piece vanished into a replacement: its wait moves on
            carried += wait
            continue
        fitted.append((wait + carried, end - start))
        start, carried = end, 0.0
    if carried and fitted:  # the last pieces vanished: the one holding their text comes later
        wait, size = fitted[-1]
        fitted[-1] = (wait + carried, size)
    return tuple(fitted)


def _headers(raw: object, where: str) -> Headers:
    if raw is None:
        return ()
    if not isinstance(raw, Mapping):
        raise _EntryError(f"{where}: must map header names to lists of values")
    fields: list[tuple[str, str]] = []
    for name, values in raw.items():
        items = values if isinstance(values, list) else [values]
        for value in items:
            if not isinstance(name, str) or not isinstance(value, str | int | float):
                raise _EntryError(f"{where}: header {name!r} has a value that is not text")
            fields.append((name, str(value)))
    return tuple(fields)


def _body(raw: object, where: str, *, allow_none: bool) -> bytes | None:
    if raw is None:
        return None if allow_none else b""
    if isinstance(raw, bytes):
        return raw
    if isinstance(raw, str):
        return raw.encode("utf-8")
    raise _EntryError(f"{where}: a body is text or !!binary, got {_kind(raw)}")


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
            **(
                {CHUNKS_KEY: [[wait, size] for wait, size in response.chunks]}
                if response.chunks
                else {}
            ),
        },
    }
