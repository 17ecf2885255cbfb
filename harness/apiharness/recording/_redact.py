"""Redaction: no secret reaches a cassette, in any place or encoding; on by default.

Two passes.

**By place.** Credential headers (``Authorization``, ``Proxy-Authorization``, any
``*-Authorization``, ``Cookie``, ``Set-Cookie``, API-key style names such as ``X-Api-Key``),
secret query parameters, a password (or a lone user: a token) in the URL's user info, and
secret fields of JSON bodies (at any depth), of urlencoded forms (any charset; detected when
``Content-Type`` is missing) and of multipart bodies (parsed by python-multipart). Bodies are
decoded first (a ``Content-Encoding`` stack of gzip, deflate, br, zstd, see
:mod:`._bodies`). Every value replaced here is remembered, including the credentials an
upstream issues (``access_token``, ``refresh_token``, ``id_token``, ``client_secret``, cookie
values, in JSON and form responses).

**By value.** Every remembered value, and every declared secret (``Redactor(secrets=...)``),
is then replaced wherever else it occurs: in every interaction of the recording (a token issued
in one and sent in the path of the next), request and response, URL, headers and bodies, in
every encoding it can take there: raw, JSON-escaped, URL-encoded (``%XX`` and ``+``), base64
and base64url (a Basic credential, a fragment of a longer base64 string), inside multipart
parts (:mod:`._scrub`). An upstream that echoes the request, as httpbin and many sandboxes do,
echoes only placeholders.

Values the first pass finds that are shorter than :data:`MIN_SCRUB_LENGTH` (8 characters) are
replaced where they were found but not searched for elsewhere: a value that short (``dark``
from ``theme=dark``, a 4-digit PIN, ``true``) occurs by chance in ordinary text, ids and
timestamps, and replacing it there would corrupt the recording; credentials that APIs issue are
far longer, 8 is the minimum password length of NIST SP 800-63B, and the leak gate uses the
same floor for secrets taken from the environment. Declared secrets are searched for from 4
characters (the leak gate's floor), since their owner vouches for them.

**Names** are matched across conventions: a name is split into words (``camelCase``,
``kebab-case``, ``snake_case``, dots) and matches a listed name when it ends with its words, so
``access_token`` covers ``accessToken``, ``X-Access-Token``, ``oauth_access_token`` and
``ACCESSTOKEN``. Generic single words (``key``, ``code``, ``auth``, ``sig``, ``session``,
``pin``) match only a whole name (``X-`` prefix ignored): ``sort_key`` and ``error_code`` are not
secrets. The lists are :data:`DEFAULT_HEADERS`, :data:`DEFAULT_QUERY_PARAMS` (query parameters
and form fields) and :data:`DEFAULT_BODY_FIELDS` (JSON fields); extend them with
:meth:`Redactor.with_extra` or ``apiharness record --redact-header/--redact-param/--redact-field``.

Every redacted value becomes the same placeholder (``REDACTED``), keeping what is not secret:
the auth scheme (``Bearer REDACTED``), cookie names and attributes, parameter and field names.
Because the placeholder depends only on *where* a value was, never on the value, redacting a
live request yields what the cassette holds, so replay still matches — with apiharness's player,
and with plain vcrpy through :meth:`Redactor.vcr_before_record_request`. Tokens the upstream
issued replay as placeholders, so a client sends the placeholder back and still matches. (A
placeholder derived from the value, such as a hash, would fingerprint weak secrets and break
replay in CI, where the real secret is absent.) A live request is redacted with what it shows
itself: the values in its own secret places and the declared secrets. A value that a recording
saw in a secret place of one request and sent bare in another (an API key in a header, then in a
path) replays only when declared.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import SplitResult, quote, unquote, unquote_to_bytes, urlsplit, urlunsplit

from apiharness._scrub import Needles
from apiharness.errors import ConfigurationError
from apiharness.recording._bodies import (
    body_kind,
    charset,
    decode_message,
    is_streamed,
    json_secret_spans,
    multipart_parts,
)
from apiharness.recording._cassette import (
    Headers,
    Interaction,
    RecordedRequest,
    RecordedResponse,
    header_values,
    refit_chunks,
    replace_header,
)
from apiharness.recording._leaks import MIN_DECLARED_SECRET_LENGTH

__all__ = [
    "DEFAULT_BODY_FIELDS",
    "DEFAULT_HEADERS",
    "DEFAULT_QUERY_PARAMS",
    "MIN_SCRUB_LENGTH",
    "PLACEHOLDER",
    "Redactor",
]

PLACEHOLDER = "REDACTED"
MIN_SCRUB_LENGTH = 8
"""Values found by place shorter than this are not searched for elsewhere (see the module doc)."""

DEFAULT_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "api-key"}
)
DEFAULT_QUERY_PARAMS = frozenset(
    [
        "api_key",
        "apikey",
        "key",
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "client_secret",
        "code",
        "code_verifier",
        "password",
        "passwd",
        "secret",
        "signature",
        "sig",
        "auth",
        "session",
        "sessionid",
        "credential",
        "private_key",
        "secret_key",
        "jwt",
    ]
)
DEFAULT_BODY_FIELDS = frozenset(
    [
        "password",
        "passwd",
        "passphrase",
        "secret",
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "client_secret",
        "api_key",
        "apikey",
        "code_verifier",
        "private_key",
        "secret_key",
        "session",
        "authorization",
        "cookie",
        "credential",
        "credentials",
        "pin",
        "jwt",
    ]
)

# Generic words: secret as a whole name, not as the last word of a longer one.
_WHOLE_NAME_ONLY = frozenset({"key", "code", "auth", "sig", "session", "pin"})
# Header names that carry credentials by convention: X-Api-Key, X-Auth-Token, X-Goog-Api-Key,
# X-Amz-Security-Token, X-Session-Id ... ("Idempotency-Key" is deliberately not matched).
_SECRET_HEADER_NAME = re.compile(r"api-?key|token|secret|passw|session|credential", re.I)
# Headers holding a URL: an OAuth redirect carries ?code=... or #access_token=... in Location.
_URL_HEADERS = frozenset({"location", "content-location", "referer"})
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NOT_WORD = re.compile(r"[^0-9a-z]+")


def name_words(name: str) -> tuple[str, ...]:
    """A name's words: ``X-Amz-Signature`` -> amz, signature; ``accessToken`` -> access, token."""
    words = tuple(w for w in _NOT_WORD.split(_CAMEL.sub("_", name.strip()).lower()) if w)
    return words[1:] if len(words) > 1 and words[0] == "x" else words


class _Vocabulary:
    """Listed names, matched across conventions (see the module docstring)."""

    def __init__(self, names: Iterable[str]) -> None:
        self._compact = frozenset("".join(name_words(name)) for name in names)
        self._cache: dict[str, bool] = {}

    def __contains__(self, name: str) -> bool:
        known = self._cache.get(name)
        if known is None:
            words = name_words(name)
            known = any(
                suffix in self._compact and (k == len(words) or suffix not in _WHOLE_NAME_ONLY)
                for k in range(1, len(words) + 1)
                if (suffix := "".join(words[-k:]))
            )
            if len(self._cache) < 10_000:
                self._cache[name] = known
        return known


def _names(values: Iterable[str], what: str) -> frozenset[str]:
    if isinstance(values, str):
        raise ConfigurationError(f"{what} must be a collection of names, not one string")
    names = frozenset(values)
    bad = [name for name in names if not isinstance(name, str) or not name.strip()]
    if bad:
        raise ConfigurationError(f"{what} must be non-empty strings, got {bad!r:.80}")
    return names


def _decode(raw: bytes, encoding: str) -> str:
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _form_text(raw: bytes, encoding: str) -> str:
    return _decode(unquote_to_bytes(raw.replace(b"+", b" ")), encoding)


@dataclass(frozen=True)
class Redactor:
    """Which parts of an interaction are secret, and how they are replaced.

    ::

        redactor = Redactor(secrets={"stripe": os.environ["STRIPE_KEY"]}).with_extra(
            headers={"X-Tenant-Key"}, body_fields={"pin"}
        )
        safe = redactor.redact_all(interactions)   # both passes across the whole recording

        # plain vcrpy replays redacted cassettes when it redacts live requests the same way:
        vcr.VCR(before_record_request=redactor.vcr_before_record_request)

    ``Redactor.disabled()`` redacts nothing. ``secrets`` maps names to declared secret values;
    they are never shown (not in the repr, not in errors).
    """

    headers: frozenset[str] = DEFAULT_HEADERS
    query_params: frozenset[str] = DEFAULT_QUERY_PARAMS
    body_fields: frozenset[str] = DEFAULT_BODY_FIELDS
    header_name_pattern: bool = True
    placeholder: str = PLACEHOLDER
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False, hash=False)
    _header_set: _Vocabulary = field(init=False, repr=False, compare=False)
    _param_set: _Vocabulary = field(init=False, repr=False, compare=False)
    _field_set: _Vocabulary = field(init=False, repr=False, compare=False)
    _declared: Needles = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.placeholder, str) or not self.placeholder:
            raise ConfigurationError("placeholder must be a non-empty string, e.g. 'REDACTED'")
        if re.search(r"[\s;&=,\"\\%+/]", self.placeholder):
            raise ConfigurationError(
                'placeholder must not contain whitespace or any of ; & = , " \\ % + / '
                "(it is placed inside headers, query strings, cookies and JSON strings)"
            )
        headers = _names(self.headers, "headers")
        query = _names(self.query_params, "query_params")
        fields = _names(self.body_fields, "body_fields")
        object.__setattr__(self, "_header_set", _Vocabulary(headers))
        object.__setattr__(self, "_param_set", _Vocabulary(query | fields))
        object.__setattr__(self, "_field_set", _Vocabulary(fields))
        object.__setattr__(self, "_declared", Needles(self._declared_values()))

    def _declared_values(self) -> dict[str, str]:
        if not isinstance(self.secrets, Mapping):
            raise ConfigurationError("secrets must map names to secret values")
        values = {}
        for name, value in self.secrets.items():
            if not isinstance(value, str) or len(value) < MIN_DECLARED_SECRET_LENGTH:
                raise ConfigurationError(
                    f"secret {name!r} must be a string of at least {MIN_DECLARED_SECRET_LENGTH} "
                    "characters; shorter values would match cassettes by accident"
                )
            if value in self.placeholder:
                raise ConfigurationError(
                    f"secret {name!r} occurs inside the placeholder {self.placeholder!r}; "
                    "choose another placeholder"
                )
            values[f"declared secret {name}"] = value
        return values

    @classmethod
    def disabled(cls) -> Redactor:
        """A redactor that leaves everything as recorded."""
        return cls(frozenset(), frozenset(), frozenset(), header_name_pattern=False)

    def with_extra(
        self,
        *,
        headers: Iterable[str] = (),
        query_params: Iterable[str] = (),
        body_fields: Iterable[str] = (),
        secrets: Mapping[str, str] | None = None,
    ) -> Redactor:
        """This redactor, also redacting the given names and declared secret values."""
        return replace(
            self,
            headers=self.headers | _names(headers, "headers"),
            query_params=self.query_params | _names(query_params, "query_params"),
            body_fields=self.body_fields | _names(body_fields, "body_fields"),
            secrets={**self.secrets, **(secrets or {})},
        )

    # -- deciding -------------------------------------------------------------------------------

    def is_secret_header(self, name: str) -> bool:
        return name in self._header_set or (
            self.header_name_pattern and _SECRET_HEADER_NAME.search(name) is not None
        )

    def is_secret_param(self, name: str) -> bool:
        """Query parameters and form fields: both name lists apply (OAuth forms carry both)."""
        return name in self._param_set

    def is_secret_field(self, name: str) -> bool:
        return name in self._field_set

    # -- both passes ----------------------------------------------------------------------------

    def redact(self, interaction: Interaction) -> Interaction:
        """The interaction with every secret replaced by the placeholder (both passes)."""
        [redacted], _ = self.redact_recording([interaction])
        return redacted

    def redact_all(self, interactions: Iterable[Interaction]) -> list[Interaction]:
        """A whole recording redacted: values found anywhere are replaced everywhere."""
        return self.redact_recording(interactions)[0]

    def redact_recording(
        self, interactions: Iterable[Interaction], *, earlier: Iterable[Interaction] = ()
    ) -> tuple[list[Interaction], dict[str, str]]:
        """:meth:`redact_all`, and the secret values in play (where found -> value).

        ``earlier`` interactions (a cassette being appended to, redacted when it was written)
        come first and only have the values found in ``interactions`` replaced. The values are
        what the leak gate must then not find in the written cassette.
        """
        found: dict[str, str] = {}
        firsts = list(earlier)
        for number, interaction in enumerate(interactions, start=len(firsts)):
            where = f" (interaction #{number})"
            request = self._first_request(interaction.request, found, where)
            response = self._first_response(interaction.response, found, where)
            firsts.append(Interaction(request, response))
        needles = self._needles(found)
        redacted = [
            Interaction(
                self._scrub_request(i.request, needles), self._scrub_response(i.response, needles)
            )
            for i in firsts
        ]
        return redacted, {**self._declared_values(), **_labelled(found)}

    def redact_request(self, request: RecordedRequest) -> RecordedRequest:
        """The request redacted with what it shows itself (and the declared secrets)."""
        found: dict[str, str] = {}
        first = self._first_request(request, found, "")
        return self._scrub_request(first, self._needles(found))

    def redact_response(self, response: RecordedResponse) -> RecordedResponse:
        found: dict[str, str] = {}
        first = self._first_response(response, found, "")
        return self._scrub_response(first, self._needles(found))

    def redact_headers(self, headers: Headers) -> Headers:
        found: dict[str, str] = {}
        first = self._first_headers(headers, found, "")
        return self._scrub_headers(first, self._needles(found))

    def redact_url(self, uri: str) -> str:
        """The URL with secret query parameters and a user-info password replaced."""
        found: dict[str, str] = {}
        first = self._first_url(uri, found, "")
        return self._scrub_url(first, self._needles(found))

    def redact_form(self, encoded: str) -> str:
        """A query string or form body with the values of secret names replaced.

        Works on the raw text pair by pair, so every other byte stays as the client sent it.
        """
        found: dict[str, str] = {}
        first = self._first_form(encoded.encode("utf-8", "surrogateescape"), "utf-8", found, "")
        return self._needles(found).replace_text(
            first.decode("utf-8", "surrogateescape"), self.placeholder
        )

    def redact_body(self, body: bytes, content_type: str) -> bytes:
        """A JSON, form or multipart body with secret fields replaced; any other body as it is."""
        found: dict[str, str] = {}
        first = self._first_body(body, content_type, found, "")
        return self._needles(found).replace(first, self.placeholder.encode())

    # -- the first pass: by place ---------------------------------------------------------------

    def _keep(self, found: dict[str, str], value: str, label: str) -> None:
        value = value.strip()
        if len(value) >= MIN_SCRUB_LENGTH and self.placeholder not in value:
            found.setdefault(value, label)

    def _first_request(
        self, request: RecordedRequest, found: dict[str, str], where: str
    ) -> RecordedRequest:
        headers, body = decode_message(request.headers, request.body)
        headers = self._first_headers(headers, found, where)
        if body is not None:
            new_body = self._first_body(body, _content_type(headers), found, where)
            if new_body != body:
                body, headers = new_body, _fix_length(headers, new_body)
        uri = self._first_url(request.uri, found, where)
        return replace(request, uri=uri, headers=headers, body=body)

    def _first_response(
        self, response: RecordedResponse, found: dict[str, str], where: str
    ) -> RecordedResponse:
        headers, body = decode_message(response.headers, response.body)
        headers = self._first_headers(headers, found, where)
        new_body = self._first_body(body or b"", _content_type(headers), found, where)
        if new_body != body:
            headers = _fix_length(headers, new_body)
        chunks = refit_chunks(response.body, new_body, response.chunks)
        return replace(response, headers=headers, body=new_body, chunks=chunks)

    def _first_headers(self, headers: Headers, found: dict[str, str], where: str) -> Headers:
        return tuple(
            (name, self._header_value(name, value, found, where))
            if self.is_secret_header(name)
            else (name, self._first_url(value, found, where))
            if name.lower() in _URL_HEADERS
            else (name, value)
            for name, value in headers
        )

    def _header_value(self, name: str, value: str, found: dict[str, str], where: str) -> str:
        label = f"header {name}{where}"
        words = name_words(name)
        if words[-1:] == ("authorization",):
            scheme, _, credentials = value.strip().partition(" ")
            if not credentials:
                self._keep(found, value, label)
                return self.placeholder
            self._keep(found, credentials, label)
            if scheme.lower() == "basic":
                self._basic(credentials, found, label)
            return f"{scheme} {self.placeholder}"
        if words == ("cookie",):
            return "; ".join(self._cookie_pair(pair, found, label) for pair in value.split(";"))
        if words == ("set", "cookie"):
            first, sep, attributes = value.partition(";")
            return self._cookie_pair(first, found, label) + sep + attributes
        self._keep(found, value, label)
        return self.placeholder

    def _basic(self, credentials: str, found: dict[str, str], label: str) -> None:
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            return
        self._keep(found, decoded, f"{label}, decoded")
        self._keep(found, decoded.partition(":")[2], f"{label}, password")

    def _cookie_pair(self, pair: str, found: dict[str, str], label: str) -> str:
        name, sep, value = pair.strip().partition("=")
        if not sep:
            return self.placeholder
        self._keep(found, value.strip('"'), f"{label} {name}")
        return f"{name}={self.placeholder}"

    def _first_url(self, uri: str, found: dict[str, str], where: str) -> str:
        try:
            parts = urlsplit(uri)
            password = parts.password
        except ValueError:
            return uri
        netloc = parts.netloc
        if password is not None:
            self._keep(found, unquote(password), f"URL password{where}")
            userinfo, _, hostport = netloc.rpartition("@")
            user = userinfo.partition(":")[0]
            netloc = f"{user}:{self.placeholder}@{hostport}"
        elif "@" in netloc:  # https://TOKEN@host: a user without a password is a token
            userinfo, _, hostport = netloc.rpartition("@")
            self._keep(found, unquote(userinfo), f"URL user{where}")
            netloc = f"{self.placeholder}@{hostport}"
        query = self._first_text_form(parts.query, found, where, "query parameter")
        # The implicit grant returns tokens in the fragment: #access_token=...&state=...
        fragment = self._first_text_form(parts.fragment, found, where, "fragment parameter")
        if netloc == parts.netloc and query == parts.query and fragment == parts.fragment:
            return uri
        return urlunsplit(SplitResult(parts.scheme, netloc, parts.path, query, fragment))

    def _first_text_form(self, text: str, found: dict[str, str], where: str, what: str) -> str:
        if "=" not in text:
            return text
        raw = text.encode("utf-8", "surrogateescape")
        return self._first_form(raw, "utf-8", found, where, what).decode("utf-8", "surrogateescape")

    def _first_form(
        self,
        data: bytes,
        encoding: str,
        found: dict[str, str],
        where: str,
        what: str = "form field",
    ) -> bytes:
        pieces = data.split(b"&")
        changed = False
        placeholder = quote(self.placeholder).encode("ascii")
        for index, piece in enumerate(pieces):
            raw_name, _, raw_value = piece.partition(b"=")
            name = _form_text(raw_name, encoding)
            if self.is_secret_param(name):
                self._keep(found, _form_text(raw_value, encoding), f"{what} {name}{where}")
                pieces[index] = raw_name + b"=" + placeholder
                changed = True
        return b"&".join(pieces) if changed else data

    def _first_body(
        self,
        body: bytes,
        content_type: str,
        found: dict[str, str],
        where: str,
        *,
        nested: bool = False,
    ) -> bytes:
        if not body or not (self.query_params or self.body_fields):
            return body
        if is_streamed(content_type) and not nested:
            events = content_type.lower().startswith("text/event-stream")
            return self._first_stream(body, events, found, where)
        kind = body_kind(body, content_type)
        if kind == "json":
            return self._first_json(body, found, where)
        if kind == "form":
            return self._first_form(body, charset(content_type), found, where)
        if kind == "multipart" and not nested:
            return self._first_multipart(body, content_type, found, where)
        return body

    def _first_stream(self, body: bytes, events: bool, found: dict[str, str], where: str) -> bytes:
        """An event stream's ``data:`` lines, or NDJSON's lines, redacted as JSON bodies."""
        lines = body.split(b"\n")
        for n, line in enumerate(lines):
            if events:
                if not line.startswith(b"data:"):
                    continue
                value = line[5:]
                prefix = b"data:" + (b" " if value.startswith(b" ") else b"")
                lines[n] = prefix + self._first_json(value[len(prefix) - 5 :], found, where)
            elif line.strip():
                lines[n] = self._first_json(line, found, where)
        return b"\n".join(lines)

    def _first_json(self, body: bytes, found: dict[str, str], where: str) -> bytes:
        try:
            text = body.decode("utf-8-sig")
            spans = json_secret_spans(text, self.is_secret_field)
        except ValueError:  # not UTF-8 or not JSON: left to the second pass
            return body
        if not spans:
            return body
        quoted = json.dumps(self.placeholder)
        out, kept = [], 0
        for start, end, key, values in spans:
            for value in values:
                self._keep(found, value, f"JSON field {key}{where}")
            out += [text[kept:start], quoted]
            kept = end
        out.append(text[kept:])
        return "".join(out).encode("utf-8")

    def _first_multipart(
        self, body: bytes, content_type: str, found: dict[str, str], where: str
    ) -> bytes:
        parts = multipart_parts(body, content_type)
        if not parts:
            return body
        out, kept = bytearray(), 0
        for part in parts:
            if part.start < 0:
                continue
            data = body[part.start : part.end]
            if self.is_secret_param(part.name):
                encoding = charset(part.content_type)
                self._keep(found, _decode(data, encoding), f"multipart field {part.name}{where}")
                new = self.placeholder.encode()
            else:
                new = self._first_body(data, part.content_type, found, where, nested=True)
            if new != data:
                out += body[kept : part.start] + new
                kept = part.end
        if not kept:
            return body
        out += body[kept:]
        return bytes(out)

    # -- the second pass: by value --------------------------------------------------------------

    def _needles(self, found: Mapping[str, str]) -> Needles:
        if not found:
            return self._declared
        return Needles({**self._declared_values(), **_labelled(found)})

    def _scrub_headers(self, headers: Headers, needles: Needles) -> Headers:
        if not needles:
            return headers
        scrub = needles.replace_text
        return tuple(
            (scrub(name, self.placeholder), scrub(value, self.placeholder))
            for name, value in headers
        )

    def _scrub_url(self, uri: str, needles: Needles) -> str:
        # Scheme, host and port stay: a cassette's URL must stay absolute, and they are where
        # the request went, not something it sent.
        if not needles:
            return uri
        try:
            parts = urlsplit(uri)
        except ValueError:
            return needles.replace_text(uri, self.placeholder)
        userinfo, at, hostport = parts.netloc.rpartition("@")
        scrub = needles.replace_text
        return urlunsplit(
            SplitResult(
                parts.scheme,
                f"{scrub(userinfo, self.placeholder)}{at}{hostport}",
                scrub(parts.path, self.placeholder),
                scrub(parts.query, self.placeholder),
                scrub(parts.fragment, self.placeholder),
            )
        )

    def _scrub_request(self, request: RecordedRequest, needles: Needles) -> RecordedRequest:
        if not needles:
            return request
        headers = self._scrub_headers(request.headers, needles)
        body = request.body
        if body is not None:
            new_body = needles.replace(body, self.placeholder.encode())
            if new_body != body:
                body, headers = new_body, _fix_length(headers, new_body)
        return replace(
            request, uri=self._scrub_url(request.uri, needles), headers=headers, body=body
        )

    def _scrub_response(self, response: RecordedResponse, needles: Needles) -> RecordedResponse:
        if not needles:
            return response
        headers = self._scrub_headers(response.headers, needles)
        body = needles.replace(response.body, self.placeholder.encode())
        if body != response.body:
            headers = _fix_length(headers, body)
        reason = needles.replace_text(response.reason, self.placeholder)
        chunks = refit_chunks(response.body, body, response.chunks)
        return replace(response, reason=reason, headers=headers, body=body, chunks=chunks)

    # -- plain vcrpy ----------------------------------------------------------------------------

    def vcr_before_record_request(self, request: Any) -> Any:
        """A vcrpy ``before_record_request`` hook redacting like this redactor.

        vcrpy applies the hook to live requests before matching them, so a cassette recorded by
        apiharness replays with secrets in the live request. Returns a redacted copy.
        """
        clone = copy.deepcopy(request)
        body = getattr(request, "body_bytes", request.body)
        recorded = RecordedRequest(
            request.method,
            request.uri,
            tuple((str(name), str(value)) for name, value in request.headers.items()),
            body if isinstance(body, bytes) else None,
        )
        redacted = self.redact_request(recorded)
        clone.uri = redacted.uri
        clone.headers = dict(redacted.headers)
        if isinstance(body, bytes):
            clone.body = redacted.body
        return clone


def _labelled(found: Mapping[str, str]) -> dict[str, str]:
    """Found values (value -> where) keyed by where, numbered where two were found alike."""
    labelled: dict[str, str] = {}
    for value, label in found.items():
        unique, count = label, 1
        while unique in labelled:
            count += 1
            unique = f"{label} [{count}]"
        labelled[unique] = value
    return labelled


def _content_type(headers: Headers) -> str:
    values = header_values(headers, "content-type")
    return values[0] if values else ""


def _fix_length(headers: Headers, body: bytes) -> Headers:
    # A stale Content-Length makes urllib3 (requests) raise IncompleteRead on replay.
    if not header_values(headers, "content-length"):
        return headers
    return replace_header(headers, "Content-Length", str(len(body)))
