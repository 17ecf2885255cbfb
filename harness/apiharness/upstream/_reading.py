"""Reading requests off a connection: bytes in, parsed requests or refusals out (no I/O).

Parsing is httptools, the binding of llhttp (Node.js's HTTP/1.1 parser, which uvicorn uses):
strict message framing as RFC 9112 section 6 asks — a ``Content-Length`` that is not all
digits, repeated, or beside ``Transfer-Encoding`` is an error, and so are chunk sizes that are
not hex digits and chunk data that overruns its size line. What llhttp leaves to its caller is
done here, in a few lines each: the size limits (llhttp keeps no count, so the bytes of an
unfinished head are counted as they arrive, whether the head comes in one read or in many), the
``Host`` check and the URL a request is routed by (RFC 9112 section 3.2: an origin-form target
is the path; ``Host`` names the authority and never changes the path; an absolute-form target
brings its own authority), and ``Expect: 100-continue`` (section 9.5 of RFC 9110).

A request the reader cannot accept becomes a :class:`Refusal` (400, 408, 413, 417, 431, 501 or
505), queued after the requests before it, so answers keep their order; after a refusal the
reader accepts nothing more and the connection closes once the refusal is written.
"""

from __future__ import annotations

import functools
import re
from collections import deque
from dataclasses import dataclass

import httptools

from apiharness._stacks import httpx
from apiharness._urls import path_segments
from apiharness.errors import ConfigurationError

__all__ = ["Limits", "ParsedRequest", "Refusal", "RequestReader", "WireRequest"]

_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
# The methods of RFC 9110 section 9 (and PATCH), decoded once.
_METHODS = {
    name.encode(): name
    for name in ("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "TRACE", "PATCH")
}
_NOTED_LENGTHS = frozenset(len(name) for name in (b"host", b"content-length", b"expect"))
# RFC 3986 section 3.2: host (IP-literal, IPv4 or reg-name) and an optional port.
_AUTHORITY = re.compile(
    rb"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~%!$&'()*+,;=]+)(?::(?P<port>[0-9]{0,5}))?"
)


@dataclass(frozen=True, slots=True)
class Limits:
    """What the loopback server accepts from a client before refusing the request.

    ``max_head_bytes`` bounds the request line and headers (431 past it), ``max_body_bytes``
    the body (413), and ``header_timeout`` the seconds from a request's first byte to the end of
    its head (408: a client that dribbles its headers, as slowloris does, is let go).
    """

    max_head_bytes: int = 64 * 1024
    max_body_bytes: int = 16 * 1024 * 1024
    header_timeout: float = 10.0

    def __post_init__(self) -> None:
        for name in ("max_head_bytes", "max_body_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigurationError(f"{name} must be a positive int of bytes, got {value!r}")
        timeout = self.header_timeout
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
            raise ConfigurationError(
                f"header_timeout must be a positive number of seconds, got {timeout!r}"
            )


@dataclass(frozen=True, slots=True)
class Refusal:
    """A request the server will not serve: the status it answers and why."""

    status: int
    reason: str
    head: bytes = b""  # the start of what the client sent, for the journal


@dataclass(slots=True)
class ParsedRequest:
    """One complete request, framed and checked; ``url`` is what routes see, ``path`` its
    decoded path."""

    method: str
    url: httpx.URL
    path: str
    segments: tuple[str, ...]  # of the raw path, each decoded (``_urls.path_segments``)
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes
    keep_alive: bool


class WireRequest(httpx.Request):
    """The ``httpx.Request`` of a request read off the wire, its headers built on first use.

    Routing needs only the method and the URL, and most requests are answered without
    anything reading their headers until a test asks the journal: building ``httpx.Headers``
    (which normalises every field) for each request was the loopback server's largest cost
    per request after the socket itself. So ``headers`` is made from the raw fields when first
    read, and is then an ordinary ``httpx.Headers``: the same object on every read, mutable,
    assignable. ``httpx.Request.__init__`` is not called because it would build the headers
    now; the attributes it sets are set here (``test_upstream_wire_request.py`` checks that the
    two agree, attribute by attribute, with the installed httpx).
    """

    def __init__(self, parsed: ParsedRequest) -> None:
        self.method = parsed.method
        self.url = parsed.url
        self.extensions = {}
        self._raw_headers: tuple[tuple[bytes, bytes], ...] | None = parsed.headers
        self._content = parsed.body  # what read() would set, without its checks

    # The journal keeps every request: the fewer objects each holds, the less the garbage
    # collector walks. The body stream is made when something reads it.
    @property
    def stream(self) -> httpx.SyncByteStream | httpx.AsyncByteStream:
        stream: httpx.SyncByteStream | httpx.AsyncByteStream | None = self.__dict__.get("stream")
        if stream is None:
            stream = self.__dict__["stream"] = httpx.ByteStream(self._content)
        return stream

    @stream.setter
    def stream(self, value: httpx.SyncByteStream | httpx.AsyncByteStream) -> None:
        self.__dict__["stream"] = value

    @property
    def headers(self) -> httpx.Headers:
        if self._raw_headers is not None:
            self._headers = httpx.Headers(self._raw_headers)
            self._raw_headers = None
        return self._headers

    @headers.setter
    def headers(self, value: httpx.Headers) -> None:
        self._headers = value
        self._raw_headers = None


class _Refused(Exception):
    """Raised inside a parser callback to stop parsing; carries the refusal."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.reason)
        self.refusal = refusal


@functools.lru_cache(maxsize=4096)
def _routed(scheme: str, authority: bytes, target: bytes) -> tuple[httpx.URL, str, tuple[str, ...]]:
    """The URL a request is routed by, its decoded path and the segments routes match (cached:
    tests send the same few over and over)."""
    url = _url(scheme, authority, target)
    return url, url.path, tuple(path_segments(url.raw_path))


def _url(scheme: str, authority: bytes, target: bytes) -> httpx.URL:
    if target.startswith(b"/"):
        found = _AUTHORITY.fullmatch(authority)
        if found is None:
            raise ValueError(f"malformed Host header {authority[:80]!r}")
        port = found["port"]
        return httpx.URL(
            scheme=scheme,
            host=found["host"].decode("ascii").strip("[]"),
            port=int(port) if port else None,
            raw_path=target,
        )
    # Absolute-form (RFC 9112 section 3.2.2): the target names the authority; Host is ignored.
    try:
        parts = httptools.parse_url(target)
    except httptools.HttpParserInvalidURLError:
        raise ValueError(f"malformed request target {target[:80]!r}") from None
    if parts.schema not in (b"http", b"https") or not parts.host:
        raise ValueError(f"the request target {target[:80]!r} is neither a path nor an http URL")
    raw_path = (parts.path or b"/") + (b"?" + parts.query if parts.query is not None else b"")
    return httpx.URL(
        scheme=parts.schema.decode("ascii"),
        host=parts.host.decode("ascii"),
        port=parts.port,
        raw_path=raw_path,
    )


class RequestReader:
    """Feed it a connection's bytes; it queues :class:`ParsedRequest` and :class:`Refusal`.

    ``to_client`` collects bytes the reader must send on its own (``100 Continue``); the
    connection writes them out. ``in_head`` and ``started`` tell the connection when a head is
    under way (the header timeout runs) and when the client stopped mid-request.
    """

    def __init__(self, limits: Limits, scheme: str, authority: str) -> None:
        self.limits = limits
        self.scheme = scheme
        self.authority = authority.encode("ascii")
        self.ready: deque[ParsedRequest | Refusal] = deque()
        self.to_client = bytearray()
        self.done = False  # a refusal was queued: read nothing more
        self.started = False  # a request has begun and is not complete
        self.in_head = False  # ... and its head is not complete either
        self._parser = httptools.HttpRequestParser(self)
        self._head_bytes = 0
        self._in_head = True  # the bytes that arrive count toward a head
        # Bytes fed so far, before the current feed, and before the feed a message began in:
        # the head of a message is at most `_fed - _begun_at` bytes.
        self._fed = self._fed_before = self._begun_at = 0
        self._headers: list[tuple[bytes, bytes]] = []
        self._reset_message()

    def _reset_message(self) -> None:
        self._target = b""
        self._headers.clear()
        # The fields the reader acts on, noted as they arrive (one pass over the head).
        self._host: bytes | None = None
        self._hosts = 0
        self._length = b""
        self._expect: bytes | None = None
        self._body: list[bytes] | None = None
        self._body_bytes = 0
        self._routed: tuple[httpx.URL, str, tuple[str, ...]] | None = None
        self._method = ""

    # -- input -----------------------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        if self.done:
            return
        size = len(data)
        if self._in_head:
            self._head_bytes += size
        self._fed_before = self._fed
        self._fed += size
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            # An Upgrade request (h2c, websocket) is answered as a plain request (RFC 9110
            # section 7.8 lets a server ignore Upgrade); what follows starts a new message.
            self._parser = httptools.HttpRequestParser(self)
            self.feed(data[int(upgrade.args[0]) :])
            return
        except httptools.HttpParserCallbackError as exc:
            cause = exc.__context__
            if not isinstance(cause, _Refused):
                raise
            self.refuse(cause.refusal)
            return
        except httptools.HttpParserError as exc:
            self.refuse(Refusal(400, f"malformed request: {exc}", bytes(data[:200])))
            return
        if self.in_head and self._head_bytes > self.limits.max_head_bytes:
            self.refuse(self._too_large_head())

    def eof(self) -> None:
        """The client stopped sending; an unfinished request is refused."""
        if self.started and not self.done:
            self.refuse(Refusal(400, "the client stopped sending in the middle of a request"))

    def timed_out(self) -> None:
        """The header timeout ran out before the head was complete."""
        if self.in_head and not self.done:
            timeout = self.limits.header_timeout
            self.refuse(Refusal(408, f"the request head took longer than {timeout:g} s to arrive"))

    def refuse(self, refusal: Refusal) -> None:
        self.done = True
        self.ready.append(refusal)

    def _too_large_head(self) -> Refusal:
        return Refusal(431, f"the request head is larger than {self.limits.max_head_bytes} bytes")

    def _too_large_body(self) -> Refusal:
        return Refusal(413, f"the request body is larger than {self.limits.max_body_bytes} bytes")

    # -- httptools callbacks -----------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self.started = self.in_head = True
        self._begun_at = self._fed_before

    def on_url(self, url: bytes) -> None:
        self._target += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))
        if len(name) in _NOTED_LENGTHS:
            lowered = name.lower()
            if lowered == b"host":
                self._hosts += 1
                self._host = value
            elif lowered == b"content-length":
                self._length = value
            elif lowered == b"expect":
                self._expect = value

    def on_headers_complete(self) -> None:
        self._in_head = self.in_head = False
        self._head_bytes = 0
        limit = self.limits.max_head_bytes
        # Counted exactly only when the bytes it arrived in could hold a larger head.
        too_large = self._fed - self._begun_at > limit and self._head_size() > limit
        refusal = self._too_large_head() if too_large else self._check()
        if refusal is not None:
            raise _Refused(refusal)

    def _head_size(self) -> int:
        """The head's bytes: request line and field lines, with their CRLFs."""
        fields = sum(len(name) + len(value) + 4 for name, value in self._headers)
        return 16 + len(self._target) + fields

    def _check(self) -> Refusal | None:
        """The request line: a version we speak and a target an origin server serves."""
        version = self._parser.get_http_version()
        method = self._parser.get_method()
        if version not in ("1.1", "1.0"):
            shown = self._shown(method)
            return Refusal(505, f"HTTP/{version} is not served here; speak HTTP/1.1", shown)
        if method == b"CONNECT" or self._target == b"*":
            shown = self._shown(method)
            what = shown.decode("latin-1")
            return Refusal(501, f"{what} is a proxy's request; this is an origin server", shown)
        self._method = _METHODS.get(method) or method.decode("ascii")
        return self._check_fields(version, method)

    def _shown(self, method: bytes) -> bytes:
        """The request line as the journal shows a refused request."""
        return method + b" " + self._target[:200]

    def _check_fields(self, version: str, method: bytes) -> Refusal | None:
        """Host (and so the URL), the announced body size, and Expect."""
        hosts = self._hosts
        if hosts > 1 or (version == "1.1" and not hosts):
            # RFC 9112 section 3.2: exactly one Host in HTTP/1.1, or the server answers 400.
            return Refusal(400, f"an HTTP/1.1 request needs exactly one Host, got {hosts}")
        host = self.authority if self._host is None else self._host
        try:
            self._routed = _routed(self.scheme, host, self._target)
        except (ValueError, httpx.InvalidURL) as exc:
            return Refusal(400, str(exc), self._shown(method))
        if self._length and int(self._length) > self.limits.max_body_bytes:
            return self._too_large_body()
        expect = self._expect
        if expect is not None and version == "1.1":
            if expect.lower() != b"100-continue":
                shown = self._shown(method)
                return Refusal(417, f"Expect: {expect[:40]!r} is not supported", shown)
            self.to_client += _CONTINUE
        return None

    def on_body(self, body: bytes) -> None:
        self._body_bytes += len(body)
        if self._body_bytes > self.limits.max_body_bytes:
            raise _Refused(self._too_large_body())
        if self._body is None:
            self._body = [body]
        else:
            self._body.append(body)

    def on_message_complete(self) -> None:
        assert self._routed is not None
        url, path, segments = self._routed
        if self.to_client:  # the body came without waiting for 100 Continue: none is due
            self.to_client.clear()
        self.ready.append(
            ParsedRequest(
                self._method,
                url,
                path,
                segments,
                tuple(self._headers),
                b"".join(self._body) if self._body is not None else b"",
                self._parser.should_keep_alive(),
            )
        )
        self.started = False
        self._in_head = True
        self._reset_message()
