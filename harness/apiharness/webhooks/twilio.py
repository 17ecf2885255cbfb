"""Twilio request signatures: ``X-Twilio-Signature: <base64>``.

HMAC-SHA1 with the account's auth token (UTF-8), base64-encoded, over the full URL Twilio
requested followed by every POST parameter as ``name + value``, names sorted (repeated values
sorted, duplicates dropped, as twilio-python does). Twilio is inconsistent about the port, so a
signature of the URL with the default port added, or with the port removed, matches too.

JSON bodies use a variant: the URL carries ``bodySHA256=<hex SHA-256 of the raw body>``, the
signature covers the URL alone, and the body must hash to that value.

Twilio signs no timestamp and sends no delivery id covered by the signature; there is no
``timestamp``/``tolerance`` argument here because none would mean anything.

Reference: https://www.twilio.com/docs/usage/security#validating-requests

Example, in a Flask receiver (``request.url`` must be the URL Twilio called: behind a proxy,
rebuild it from the forwarded scheme and host)::

    from apiharness.webhooks import twilio

    twilio.verify(request.get_data(), request.headers, AUTH_TOKEN, url=request.url)
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence
from urllib.parse import SplitResult, parse_qs, parse_qsl, urlencode, urlsplit, urlunsplit

from apiharness.errors import MalformedWebhookHeader, WebhookSignatureMismatch
from apiharness.webhooks._common import (
    Secret,
    b64_hmac,
    incoming,
    require_bytes,
    require_match,
    secret_keys,
    sha256_hex,
)

__all__ = ["BODY_HASH_PARAM", "SIGNATURE_HEADER", "Params", "sign", "url_with_body_hash", "verify"]

SIGNATURE_HEADER = "X-Twilio-Signature"
BODY_HASH_PARAM = "bodySHA256"
_SCHEME = "twilio"

#: POST parameters: one value or several per name.
Params = Mapping[str, str | Sequence[str]]


def url_with_body_hash(url: str, payload: bytes) -> str:
    """``url`` with ``bodySHA256=<hash of payload>`` appended, as Twilio calls JSON webhooks."""
    body = require_bytes(payload, _SCHEME)
    separator = "&" if urlsplit(url).query else "?"
    return f"{url}{separator}{urlencode({BODY_HASH_PARAM: sha256_hex(body)})}"


def _form(payload: bytes) -> dict[str, list[str]]:
    params: dict[str, list[str]] = {}
    # Undecodable bytes become U+FFFD: the signature then fails, which is the right outcome.
    for name, value in parse_qsl(payload.decode("utf-8", "replace"), keep_blank_values=True):
        params.setdefault(name, []).append(value)
    return params


def _content(url: str, params: Params) -> bytes:
    parts = [url]
    # Flask's and Starlette's form multidicts return only the first value by key; getlist()
    # gives them all.
    getlist = getattr(params, "getlist", None)
    for name in sorted(set(params)):
        value = getlist(name) if callable(getlist) else params[name]
        values = [value] if isinstance(value, str) else value
        for item in sorted({str(v) for v in values}):
            parts.append(f"{name}{item}")
    return "".join(parts).encode("utf-8", "replace")


def _split(url: object) -> SplitResult:
    if not isinstance(url, str):
        raise MalformedWebhookHeader("twilio: url= must be the request URL as a string")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port; better here than later
    except ValueError:
        raise MalformedWebhookHeader(
            "twilio: the request URL cannot be parsed; pass the full URL Twilio called"
        ) from None
    return parts


def _body_hash(parts: SplitResult) -> str | None:
    hashes = parse_qs(parts.query).get(BODY_HASH_PARAM)
    return hashes[0] if hashes else None


def _params_for(parts: SplitResult, payload: bytes, params: Params | None) -> Params:
    if _body_hash(parts) is not None:
        return {}
    return _form(payload) if params is None else params


def sign(
    payload: bytes, secret: Secret, *, url: str, params: Params | None = None
) -> dict[str, str]:
    """The header Twilio would send, signed with the first (newest) auth token.

    ``params`` default to the form fields of ``payload``. For a JSON body, pass
    ``url=url_with_body_hash(url, body)``. Example::

        body = b"CallSid=CA123&From=%2B14158675309"
        headers = twilio.sign(body, AUTH_TOKEN, url="https://example.com/voice")
    """
    body = require_bytes(payload, _SCHEME)
    key = secret_keys(secret, _SCHEME)[0]
    content = _content(url, _params_for(_split(url), body, params))
    return {SIGNATURE_HEADER: b64_hmac(key, content, "sha1").decode()}


def _url_variants(parts: SplitResult) -> tuple[str, str]:
    """The URL with its port removed and with the scheme's default port added."""
    netloc = parts.netloc
    if parts.port is not None:
        bare = netloc.rsplit(":", 1)[0]
        return urlunsplit(parts._replace(netloc=bare)), parts.geturl()
    default = 443 if parts.scheme == "https" else 80
    return parts.geturl(), urlunsplit(parts._replace(netloc=f"{netloc}:{default}"))


def verify(
    payload: bytes,
    headers: Mapping[str, str],
    secret: Secret,
    *,
    url: str,
    params: Params | None = None,
) -> None:
    """Verify a Twilio request; raise a ``WebhookVerificationError`` subclass if it fails.

    ``url`` is the full URL Twilio requested, query string included. ``params`` default to the
    form fields parsed from the raw ``payload``; with ``bodySHA256`` in the URL the payload is
    checked against that hash instead. Example::

        twilio.verify(request.get_data(), request.headers, AUTH_TOKEN, url=request.url)
    """
    delivery = incoming(payload, headers, secret, _SCHEME)
    body = delivery.body
    parts = _split(url)
    candidate = delivery.header(SIGNATURE_HEADER)
    content_params = _params_for(parts, body, params)
    expected = [
        b64_hmac(key, _content(variant, content_params), "sha1")
        for key in delivery.keys
        for variant in _url_variants(parts)
    ]
    require_match(expected, [candidate.strip()], _SCHEME)
    claimed = _body_hash(parts)
    if claimed is not None and not hmac.compare_digest(
        sha256_hex(body).encode(), claimed.encode("utf-8", "replace")
    ):
        raise WebhookSignatureMismatch(
            f"twilio: the body does not hash to the URL's {BODY_HASH_PARAM}; the body was "
            "altered (or re-serialised) after Twilio signed it"
        )
