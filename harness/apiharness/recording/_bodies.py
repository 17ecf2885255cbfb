"""Reading bodies as redaction needs them: codings undone, the kind detected, the fields located.

* :func:`decode_message`: a ``Content-Encoding`` stack (``gzip``, ``deflate``, ``br``, ``zstd``,
  in any order and repeated, ``identity`` ignored) undone, last applied first, with the header
  dropped and ``Content-Length`` set to the decoded body. Cassettes store bodies decoded: raw
  gzip replays in one client and not another (NOTES.md), and a redactor or a leak gate cannot
  read compressed bytes. Decoded output is bounded (:data:`MAX_DECODED_BODY`) against bombs.
* :func:`body_kind`: JSON, form (by ``Content-Type``, or detected when it is missing),
  multipart, or other.
* :func:`json_secret_spans`: where the values of secret keys sit in a JSON text, at any depth.
* :func:`multipart_parts`: where each part's name and data sit in a ``multipart/form-data``
  body, parsed by python-multipart (Starlette's parser).

Hand-written here: the JSON walk. No JSON library reports byte offsets, which redaction needs
to replace a value and keep every other byte as the server sent it (re-serialising changes
spacing and escapes), and :func:`json.loads` recurses: a document 100,000 levels deep raises
``RecursionError``. The walk is one loop over tokens with an explicit stack; strings are
decoded by the standard library's C ``scanstring``.
"""

from __future__ import annotations

import importlib
import json
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from json.decoder import scanstring  # type: ignore[attr-defined]
from typing import Any

from python_multipart import MultipartParser
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import parse_options_header

from apiharness.recording._cassette import Headers, header_values, replace_header

__all__ = [
    "MAX_DECODED_BODY",
    "Part",
    "UndecodableBody",
    "body_kind",
    "charset",
    "content_codings",
    "decode_body",
    "decode_message",
    "is_streamed",
    "json_secret_spans",
    "multipart_parts",
]

MAX_DECODED_BODY = 256 * 1024 * 1024
"""Bodies that decode to more than this many bytes (256 MiB) are left encoded, as undecodable."""


class UndecodableBody(ValueError):
    """A body whose ``Content-Encoding`` cannot be undone (unknown coding, corrupt, too large)."""


def content_codings(headers: Headers) -> list[str]:
    """The ``Content-Encoding`` codings in the order applied, without ``identity``."""
    codings = []
    for value in header_values(headers, "content-encoding"):
        codings += [c.strip().lower() for c in value.split(",")]
    return [c for c in codings if c and c != "identity"]


def _zlib(data: bytes, wbits: int, limit: int) -> bytes:
    out = bytearray()
    while True:
        engine = zlib.decompressobj(wbits)
        pending = data
        while pending:
            out += engine.decompress(pending, limit + 1 - len(out))
            if len(out) > limit:
                raise UndecodableBody(f"decodes to more than {limit} bytes")
            pending = engine.unconsumed_tail
        out += engine.flush()
        if not engine.eof:
            raise UndecodableBody("truncated")
        data = engine.unused_data
        if not data or wbits != 31:  # gzip may hold several members; zlib streams one
            break
    if data.strip(b"\0"):
        raise UndecodableBody("trailing bytes after the compressed stream")
    return bytes(out)


def _optional(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise UndecodableBody(
            f"the {module} package is not installed: pip install 'apiharness[record]'"
        ) from None


def _brotli(data: bytes, limit: int) -> bytes:
    engine = _optional("brotli").Decompressor()
    out = bytearray()
    for start in range(0, len(data), 4096):
        out += engine.process(data[start : start + 4096])
        if len(out) > limit:
            raise UndecodableBody(f"decodes to more than {limit} bytes")
    if not engine.is_finished():
        raise UndecodableBody("truncated")
    return bytes(out)


def _zstd(data: bytes, limit: int) -> bytes:
    zstandard = _optional("zstandard")
    reader = zstandard.ZstdDecompressor().stream_reader(data, read_across_frames=True)
    out = reader.read(limit + 1)
    while len(out) <= limit:
        more = reader.read(limit + 1 - len(out))
        if not more:
            break
        out += more
    if len(out) > limit:
        raise UndecodableBody(f"decodes to more than {limit} bytes")
    return bytes(out)


def _decode_one(coding: str, data: bytes, limit: int) -> bytes:
    if coding in {"gzip", "x-gzip"}:
        return _zlib(data, 31, limit)
    if coding == "deflate":  # zlib-wrapped as the RFC says, or raw deflate as some servers send
        try:
            return _zlib(data, 15, limit)
        except (zlib.error, UndecodableBody):
            return _zlib(data, -15, limit)
    if coding == "br":
        return _brotli(data, limit)
    if coding == "zstd":
        return _zstd(data, limit)
    raise UndecodableBody(f"unknown content coding {coding!r}")


def decode_body(body: bytes, codings: list[str], limit: int = MAX_DECODED_BODY) -> bytes:
    """``body`` with ``codings`` (in the order applied) undone; :class:`UndecodableBody` if not."""
    for coding in reversed(codings):
        try:
            body = _decode_one(coding, body, limit)
        except UndecodableBody as exc:
            raise UndecodableBody(f"{coding}: {exc}") from None
        except Exception as exc:  # each codec has its own error types: zlib, brotli, zstd
            raise UndecodableBody(f"{coding}: {type(exc).__name__}") from None
    return body


def decode_message(headers: Headers, body: bytes | None) -> tuple[Headers, bytes | None]:
    """Headers and body with the body's codings undone; unchanged if it cannot be decoded.

    An empty body is left alone with its headers (a HEAD response describes a body it omits).
    """
    codings = content_codings(headers)
    if not body or not codings:
        return headers, body
    try:
        decoded = decode_body(body, codings)
    except UndecodableBody:
        return headers, body
    headers = replace_header(headers, "Content-Encoding", None)
    if header_values(headers, "content-length"):
        headers = replace_header(headers, "Content-Length", str(len(decoded)))
    return headers, decoded


# -- what a body is -------------------------------------------------------------------------------

# A urlencoded form: name=value pairs joined by "&", no whitespace; the first pair has a name.
_FORM = re.compile(rb"[^=&\s]+=[^&\s]*(?:&[^&\s]*)*\Z")


def charset(content_type: str, default: str = "utf-8") -> str:
    """The ``charset`` parameter of a media type, if Python knows it, else ``default``."""
    _, params = parse_options_header(content_type)
    name = params.get(b"charset", b"").decode("latin-1").strip().lower()
    if not name:
        return default
    try:
        "".encode(name)
    except LookupError:
        return default
    return name


# Bodies that arrive as a stream of JSON values: Server-Sent Events (WHATWG HTML §9.2), whose
# data lines each hold one, and NDJSON/JSON Lines, one per line.
_STREAMED = frozenset({"text/event-stream", "application/x-ndjson", "application/jsonl"})


def is_streamed(content_type: str) -> bool:
    """Whether ``content_type`` names an event stream or newline-delimited JSON."""
    return content_type.split(";", maxsplit=1)[0].strip().lower() in _STREAMED


def body_kind(body: bytes, content_type: str) -> str:
    """``"json"``, ``"form"``, ``"multipart"`` or ``"other"``."""
    kind = content_type.lower()
    if "multipart/" in kind:
        return "multipart"
    if "x-www-form-urlencoded" in kind:
        return "form"
    if "json" in kind:
        return "json"
    start = body.lstrip()[:1]
    if start in {b"{", b"["} and (not kind or "text/" in kind or "javascript" in kind):
        return "json"
    if not kind.strip() and _FORM.match(body):
        return "form"
    return "other"


# -- JSON -----------------------------------------------------------------------------------------

_WS = re.compile(r"[ \t\n\r]*")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
_LITERALS = ("true", "false", "null")
_VALUE, _VALUE_OR_CLOSE, _KEY_NEXT, _KEY_OR_CLOSE, _COLON, _COMMA, _END = range(7)


@dataclass
class _Span:
    start: int
    key: str
    end: int = -1
    values: list[str] | None = None


def json_secret_spans(
    text: str, is_secret: Callable[[str], bool]
) -> list[tuple[int, int, str, list[str]]]:
    """Where the values of secret keys are in the JSON ``text``: (start, end, key, scalars).

    ``scalars`` are the strings and numbers inside the value (the value itself when it is a
    string or a number). A ``null`` value is not secret. Raises :class:`ValueError` if
    ``text`` has a secret key and is not JSON. One pass over the tokens, no recursion.
    """
    keys: set[str] = set()
    try:
        # The C parser, keeping nothing but the keys: the walk below is needed only when one
        # of them is secret, and most bodies have none.
        json.loads(text, object_pairs_hook=lambda pairs: keys.update(k for k, _ in pairs))
    except RecursionError:  # deeper than the C parser goes: the walk has no such limit
        return _walk(text, is_secret)
    if not any(is_secret(key) for key in keys):
        return []
    return _walk(text, is_secret)


def _walk(  # noqa: PLR0912, PLR0915 - one token loop is the point: no recursion
    text: str, is_secret: Callable[[str], bool]
) -> list[tuple[int, int, str, list[str]]]:
    spans: list[tuple[int, int, str, list[str]]] = []
    stack: list[str] = []
    expect = _VALUE
    key: str | None = None  # the key whose value comes next, if it is secret
    secret: _Span | None = None  # the secret container being passed over
    secret_depth = -1
    end = len(text)
    i = 0
    while True:
        i = _WS.match(text, i).end()  # type: ignore[union-attr]
        if i >= end:
            break
        char = text[i]
        if expect == _END:
            raise ValueError(f"extra data at {i}")
        if expect == _COLON:
            if char != ":":
                raise ValueError(f"expected ':' at {i}")
            i, expect = i + 1, _VALUE
            continue
        if char in "}]" and (
            expect == _COMMA
            or (expect == _KEY_OR_CLOSE and char == "}")
            or (expect == _VALUE_OR_CLOSE and char == "]")
        ):
            if not stack or stack.pop() != ("{" if char == "}" else "["):
                raise ValueError(f"unbalanced {char!r} at {i}")
            i += 1
            if secret is not None and len(stack) == secret_depth:
                spans.append((secret.start, i, secret.key, secret.values or []))
                secret = None
            expect = _COMMA if stack else _END
            continue
        if expect == _COMMA:
            if char != ",":
                raise ValueError(f"expected ',' at {i}")
            i += 1
            expect = _KEY_NEXT if stack[-1] == "{" else _VALUE
            continue
        if expect in {_KEY_NEXT, _KEY_OR_CLOSE}:
            if char != '"':
                raise ValueError(f"expected a key at {i}")
            name, i = scanstring(text, i + 1)
            key = name if secret is None and is_secret(name) else None
            expect = _COLON
            continue
        # a value
        start, pending, key = i, key, None
        if char in "{[":
            if pending is not None:
                secret, secret_depth = _Span(start, pending, values=[]), len(stack)
            stack.append(char)
            i += 1
            expect = _KEY_OR_CLOSE if char == "{" else _VALUE_OR_CLOSE
            continue
        scalar: str | None = None
        if char == '"':
            scalar, i = scanstring(text, i + 1)
        elif match := _NUMBER.match(text, i):
            scalar, i = match.group(), match.end()
        else:
            literal = next((word for word in _LITERALS if text.startswith(word, i)), None)
            if literal is None:
                raise ValueError(f"unexpected {char!r} at {i}")
            i += len(literal)
            if pending is not None and literal != "null":
                spans.append((start, i, pending, []))
        if scalar is not None:
            if secret is not None:
                assert secret.values is not None
                secret.values.append(scalar)
            elif pending is not None:
                spans.append((start, i, pending, [scalar]))
        expect = _COMMA if stack else _END
    if stack or expect != _END:
        raise ValueError("unexpected end of JSON")
    return spans


# -- multipart ------------------------------------------------------------------------------------


@dataclass
class Part:
    """One part of a multipart body: its field name, headers and where its data is."""

    name: str
    content_type: str
    filename: str | None
    start: int
    end: int


def multipart_parts(body: bytes, content_type: str) -> list[Part] | None:
    """The parts of a ``multipart/*`` body, or None if it cannot be parsed."""
    _, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary:
        return None
    parts: list[Part] = []
    headers: list[tuple[bytes, bytes]] = []
    field, value = bytearray(), bytearray()
    span: list[int] = []
    broken = False

    def on_part_begin() -> None:
        headers.clear()
        span.clear()

    def on_header_field(data: bytes, start: int, end: int) -> None:
        field.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        value.extend(data[start:end])

    def on_header_end() -> None:
        headers.append((bytes(field).lower(), bytes(value)))
        field.clear()
        value.clear()

    def on_part_data(data: bytes, start: int, end: int) -> None:
        nonlocal broken
        if data is not body or (span and span[1] != start):
            broken = True  # data from the parser's look-behind buffer: offsets unknown
        elif span:
            span[1] = end
        else:
            span.extend((start, end))

    def on_part_end() -> None:
        found = dict(headers)
        disposition_header = found.get(b"content-disposition", b"").decode("latin-1")
        _, disposition = parse_options_header(disposition_header)
        filename = disposition.get(b"filename")
        start, end = span if span else (-1, -1)
        parts.append(
            Part(
                name=disposition.get(b"name", b"").decode("utf-8", "replace"),
                content_type=found.get(b"content-type", b"").decode("latin-1"),
                filename=None if filename is None else filename.decode("utf-8", "replace"),
                start=start,
                end=end,
            )
        )

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        },
    )
    try:
        parser.write(body)
        parser.finalize()
    except FormParserError:
        return None
    return None if broken else parts
