"""Redaction: secrets are replaced before an interaction is written, on by default.

Covered: credential headers (``Authorization``, ``Proxy-Authorization``, ``Cookie``,
``Set-Cookie`` and API-key style names such as ``X-Api-Key``), secret query parameters, a password
in the URL's user info, and secret fields of JSON and form bodies, at any depth.

Every redacted value becomes the same placeholder (``REDACTED``), keeping what is not secret:
the auth scheme (``Bearer REDACTED``), cookie names and attributes, parameter and field names.
Because the placeholder depends only on *where* a value was, never on the value, redacting a
live request yields exactly what the cassette holds, so replay still matches — with apiharness's
player, and with plain vcrpy through :meth:`Redactor.vcr_before_record_request`. (A placeholder
derived from the value, such as a hash, would fingerprint weak secrets and break replay in CI,
where the real secret is absent.)
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import SplitResult, quote, unquote_plus, urlsplit, urlunsplit

from apiharness.errors import ConfigurationError
from apiharness.recording._cassette import (
    Headers,
    Interaction,
    RecordedRequest,
    RecordedResponse,
    header_values,
    replace_header,
)

__all__ = [
    "DEFAULT_BODY_FIELDS",
    "DEFAULT_HEADERS",
    "DEFAULT_QUERY_PARAMS",
    "PLACEHOLDER",
    "Redactor",
]

PLACEHOLDER = "REDACTED"

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
        "secret",
        "signature",
        "sig",
        "auth",
        "session",
        "sessionid",
    ]
)
DEFAULT_BODY_FIELDS = frozenset(
    [
        "password",
        "passwd",
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
        "session",
    ]
)

# Header names that carry credentials by convention: X-Api-Key, X-Auth-Token, X-Goog-Api-Key,
# X-Amz-Security-Token, X-Session-Id ... ("Idempotency-Key" is deliberately not matched).
_SECRET_HEADER_NAME = re.compile(r"api-?key|token|secret|passw|session|credential", re.I)
_AUTH_HEADERS = frozenset({"authorization", "proxy-authorization"})


def _normal(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def _names(values: Iterable[str], what: str) -> frozenset[str]:
    if isinstance(values, str):
        raise ConfigurationError(f"{what} must be a collection of names, not one string")
    names = frozenset(values)
    bad = [name for name in names if not isinstance(name, str) or not name.strip()]
    if bad:
        raise ConfigurationError(f"{what} must be non-empty strings, got {bad!r:.80}")
    return names


@dataclass(frozen=True)
class Redactor:
    """Which parts of an interaction are secret, and how they are replaced.

    ::

        redactor = Redactor().with_extra(headers={"X-Tenant-Key"}, body_fields={"pin"})
        safe = redactor.redact(interaction)

        # plain vcrpy replays redacted cassettes when it redacts live requests the same way:
        vcr.VCR(before_record_request=redactor.vcr_before_record_request)

    ``Redactor.disabled()`` redacts nothing.
    """

    headers: frozenset[str] = DEFAULT_HEADERS
    query_params: frozenset[str] = DEFAULT_QUERY_PARAMS
    body_fields: frozenset[str] = DEFAULT_BODY_FIELDS
    header_name_pattern: bool = True
    placeholder: str = PLACEHOLDER
    _header_set: frozenset[str] = field(init=False, repr=False, compare=False)
    _query_set: frozenset[str] = field(init=False, repr=False, compare=False)
    _field_set: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.placeholder, str) or not self.placeholder:
            raise ConfigurationError("placeholder must be a non-empty string, e.g. 'REDACTED'")
        if re.search(r"[\s;&=,\"]", self.placeholder):
            raise ConfigurationError(
                'placeholder must not contain whitespace or any of ; & = , " '
                "(it is placed inside headers, query strings and cookies)"
            )
        headers = _names(self.headers, "headers")
        query = _names(self.query_params, "query_params")
        fields = _names(self.body_fields, "body_fields")
        object.__setattr__(self, "_header_set", frozenset(h.lower() for h in headers))
        object.__setattr__(self, "_query_set", frozenset(_normal(q) for q in query))
        object.__setattr__(self, "_field_set", frozenset(_normal(f) for f in fields))

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
    ) -> Redactor:
        """This redactor, also redacting the given header, parameter and field names."""
        return replace(
            self,
            headers=self.headers | _names(headers, "headers"),
            query_params=self.query_params | _names(query_params, "query_params"),
            body_fields=self.body_fields | _names(body_fields, "body_fields"),
        )

    # -- deciding -------------------------------------------------------------------------------

    def is_secret_header(self, name: str) -> bool:
        lowered = name.lower()
        return lowered in self._header_set or (
            self.header_name_pattern and _SECRET_HEADER_NAME.search(lowered) is not None
        )

    def is_secret_param(self, name: str) -> bool:
        """Query parameters and form fields: both name sets apply (OAuth forms carry both)."""
        normal = _normal(name)
        return normal in self._query_set or normal in self._field_set

    def is_secret_field(self, name: str) -> bool:
        return _normal(name) in self._field_set

    # -- redacting ------------------------------------------------------------------------------

    def redact(self, interaction: Interaction) -> Interaction:
        """The interaction with every secret replaced by the placeholder."""
        return Interaction(
            self.redact_request(interaction.request), self.redact_response(interaction.response)
        )

    def redact_request(self, request: RecordedRequest) -> RecordedRequest:
        headers = self.redact_headers(request.headers)
        body = request.body
        if body is not None:
            new_body = self.redact_body(body, _content_type(headers))
            if new_body != body:
                body, headers = new_body, _fix_length(headers, new_body)
        return replace(request, uri=self.redact_url(request.uri), headers=headers, body=body)

    def redact_response(self, response: RecordedResponse) -> RecordedResponse:
        headers = self.redact_headers(response.headers)
        body = self.redact_body(response.body, _content_type(headers))
        if body != response.body:
            headers = _fix_length(headers, body)
        return replace(response, headers=headers, body=body)

    def redact_headers(self, headers: Headers) -> Headers:
        return tuple(
            (name, self._header_value(name, value))
            if self.is_secret_header(name)
            else (name, value)
            for name, value in headers
        )

    def _header_value(self, name: str, value: str) -> str:
        lowered = name.lower()
        if lowered in _AUTH_HEADERS:
            scheme, _, credentials = value.strip().partition(" ")
            return f"{scheme} {self.placeholder}" if credentials else self.placeholder
        if lowered == "cookie":
            return "; ".join(self._cookie_pair(pair) for pair in value.split(";"))
        if lowered == "set-cookie":
            first, sep, attributes = value.partition(";")
            return self._cookie_pair(first) + sep + attributes
        return self.placeholder

    def _cookie_pair(self, pair: str) -> str:
        name, sep, _ = pair.strip().partition("=")
        return f"{name}={self.placeholder}" if sep else self.placeholder

    def redact_url(self, uri: str) -> str:
        """The URL with secret query parameters and a user-info password replaced."""
        try:
            parts = urlsplit(uri)
        except ValueError:
            return uri
        netloc = parts.netloc
        if parts.password is not None:
            userinfo, _, hostport = netloc.rpartition("@")
            user = userinfo.partition(":")[0]
            netloc = f"{user}:{self.placeholder}@{hostport}"
        query = self.redact_form(parts.query) if parts.query else parts.query
        if netloc == parts.netloc and query == parts.query:
            return uri
        return urlunsplit(SplitResult(parts.scheme, netloc, parts.path, query, parts.fragment))

    def redact_form(self, encoded: str) -> str:
        """A query string or form body with the values of secret names replaced.

        Works on the raw text pair by pair, so every other byte stays as the client sent it.
        """
        pieces = []
        for piece in encoded.split("&"):
            name = piece.partition("=")[0]
            if self.is_secret_param(unquote_plus(name)):
                pieces.append(f"{name}={quote(self.placeholder)}")
            else:
                pieces.append(piece)
        return "&".join(pieces)

    def redact_body(self, body: bytes, content_type: str) -> bytes:
        """A JSON or form body with secret fields replaced; any other body as it is."""
        if not body or not (self._field_set or self._query_set):
            return body
        kind = content_type.lower()
        if "x-www-form-urlencoded" in kind:
            try:
                text = body.decode("ascii")
            except UnicodeDecodeError:
                return body
            return self.redact_form(text).encode("ascii")
        if "json" in kind or body.lstrip()[:1] in (b"{", b"["):
            try:
                document = json.loads(body)
            except ValueError:
                return body
            redacted, changed = self._redact_json(document)
            return json.dumps(redacted).encode("utf-8") if changed else body
        return body

    def _redact_json(self, value: Any) -> tuple[Any, bool]:
        if isinstance(value, dict):
            changed = False
            out: dict[str, Any] = {}
            for key, item in value.items():
                if self.is_secret_field(key) and item is not None:
                    out[key], changed = self.placeholder, True
                else:
                    out[key], sub = self._redact_json(item)
                    changed = changed or sub
            return out, changed
        if isinstance(value, list):
            results = [self._redact_json(item) for item in value]
            return [item for item, _ in results], any(sub for _, sub in results)
        return value, False

    # -- plain vcrpy ----------------------------------------------------------------------------

    def vcr_before_record_request(self, request: Any) -> Any:
        """A vcrpy ``before_record_request`` hook redacting like this redactor.

        vcrpy applies the hook to live requests before matching them, so a cassette recorded by
        apiharness replays with secrets in the live request. Returns a redacted copy.
        """
        clone = copy.deepcopy(request)
        clone.uri = self.redact_url(request.uri)
        for name in list(clone.headers):
            if self.is_secret_header(name):
                clone.headers[name] = self._header_value(name, clone.headers[name])
        body = request.body
        if isinstance(body, bytes):
            clone.body = self.redact_body(body, str(clone.headers.get("Content-Type", "")))
        return clone


def _content_type(headers: Headers) -> str:
    values = header_values(headers, "content-type")
    return values[0] if values else ""


def _fix_length(headers: Headers, body: bytes) -> Headers:
    # A stale Content-Length makes urllib3 (requests) raise IncompleteRead on replay.
    if not header_values(headers, "content-length"):
        return headers
    return replace_header(headers, "Content-Length", str(len(body)))
