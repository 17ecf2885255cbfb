"""Mechanics every webhook scheme shares, written once.

Secrets (one or a list, for rotation; any unusable one, even a ``str`` holding a lone
surrogate, is an :class:`~apiharness.errors.InvalidWebhookSecret`), the refusal of ``str``
payloads, case-insensitive header lookup, strict timestamp parsing, the tolerance check against
the active clock, and constant-time comparison on bytes.

Hand-written rather than taken from the providers' SDKs: each SDK covers one provider, several
raise bare ``ValueError``/``TypeError`` on malformed headers (standardwebhooks on a token without
a comma; ``hmac.compare_digest`` on non-ASCII ``str``), and none reads time from an injectable
clock. Here every malformed input becomes a :class:`WebhookVerificationError` subclass.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeAlias

from apiharness.clock import get_clock
from apiharness.errors import (
    ConfigurationError,
    InvalidWebhookSecret,
    MalformedWebhookHeader,
    MissingWebhookHeader,
    WebhookPayloadTypeError,
    WebhookSignatureMismatch,
    WebhookTimestampOutOfTolerance,
)

__all__ = [
    "Incoming",
    "Secret",
    "Timestamp",
    "b64_hmac",
    "check_tolerance",
    "decode_whsec",
    "header",
    "hex_hmac",
    "incoming",
    "lower_headers",
    "now_of",
    "parse_timestamp",
    "require_bytes",
    "require_match",
    "secret_keys",
    "sha256_hex",
    "timestamp_of",
    "tolerance_of",
]

#: One secret, or several while rotating: the newest first.
Secret: TypeAlias = str | bytes | Sequence[str | bytes]
#: Epoch seconds or an aware datetime.
Timestamp: TypeAlias = int | float | datetime

# Twelve digits reach the year 33658; longer is garbage, and int() of a huge digit string is
# slow (and raises ValueError past sys.int_info.str_digits_check_threshold).
_MAX_TIMESTAMP_DIGITS = 12


def require_bytes(payload: object, scheme: str) -> bytes:
    """The payload as bytes; a ``str`` or parsed body is refused with the reason."""
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, bytearray | memoryview):
        return bytes(payload)
    if isinstance(payload, str):
        raise WebhookPayloadTypeError(
            f"{scheme}: the payload must be the raw request body as bytes, not str. A signature "
            "covers the exact bytes sent; decoding, or parsing JSON and serialising it again, "
            "changes whitespace, key order, escapes or number formats and breaks the signature. "
            "Pass the body as received, e.g. `await request.body()` (Starlette) or "
            "`request.get_data()` (Flask)"
        )
    raise WebhookPayloadTypeError(
        f"{scheme}: the payload must be the raw request body as bytes, got "
        f"{type(payload).__name__}; pass the body before any parsing"
    )


def _utf8(secret: str | bytes) -> bytes:
    return secret.encode("utf-8") if isinstance(secret, str) else secret


def decode_whsec(secret: str | bytes) -> bytes:
    """A Standard Webhooks secret: ``whsec_`` + base64 as str, or the raw key as bytes."""
    if isinstance(secret, bytes):
        return secret
    encoded = secret.removeprefix("whsec_")
    # Unpadded base64 is accepted, as the reference libraries accept it.
    encoded += "=" * (-len(encoded) % 4)
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidWebhookSecret(
            "standard: a Standard Webhooks secret is 'whsec_' followed by base64 (the form the "
            "sender shows you); this one is not valid base64. Pass raw key bytes as bytes"
        ) from None


def secret_keys(
    secret: object, scheme: str, decode: Callable[[str | bytes], bytes] = _utf8
) -> tuple[bytes, ...]:
    """The HMAC keys for ``secret`` (one or a rotation list), each decoded by ``decode``."""
    if type(secret) is str and secret and decode is _utf8 and secret.isascii():  # common, fast
        return (secret.encode("ascii"),)
    items: Iterable[object]
    if isinstance(secret, str | bytes):
        items = (secret,)
    elif isinstance(secret, Sequence):
        items = secret
    else:
        raise InvalidWebhookSecret(
            f"{scheme}: the secret must be str or bytes, or a list of them while rotating; "
            f"got {type(secret).__name__}"
        )
    keys = []
    for item in items:
        if not isinstance(item, str | bytes):
            raise InvalidWebhookSecret(
                f"{scheme}: every secret in the list must be str or bytes; "
                f"got {type(item).__name__}"
            )
        try:
            key = decode(item)
        except UnicodeEncodeError:
            # A lone surrogate: what os.environ holds for an environment variable whose bytes
            # are not UTF-8 (PEP 383). No provider signs with those bytes.
            raise InvalidWebhookSecret(
                f"{scheme}: the secret holds a character that is not text (a lone surrogate, as "
                "os.environ gives for a variable whose bytes are not UTF-8); set the variable "
                "in UTF-8, or pass the key as bytes"
            ) from None
        # An empty key is almost always a missing environment variable; HMAC would accept it
        # and anyone could forge deliveries.
        if not key:
            raise InvalidWebhookSecret(
                f"{scheme}: the secret is empty; is the environment variable that holds it set?"
            )
        keys.append(key)
    if not keys:
        raise InvalidWebhookSecret(f"{scheme}: the list of secrets is empty; give at least one")
    return tuple(keys)


def hex_hmac(key: bytes, message: bytes, digest: str = "sha256") -> bytes:
    """The HMAC of ``message`` as lowercase hex, in ASCII bytes."""
    # hmac.digest() is the one-shot C path: no HMAC object, measurably faster per call.
    return hmac.digest(key, message, digest).hex().encode("ascii")


def b64_hmac(key: bytes, message: bytes, digest: str = "sha256") -> bytes:
    """The HMAC of ``message`` in standard base64, in ASCII bytes."""
    return base64.b64encode(hmac.digest(key, message, digest))


def sha256_hex(data: bytes) -> str:
    """The SHA-256 of ``data`` as lowercase hex."""
    return hashlib.sha256(data).hexdigest()


def require_match(expected: Iterable[bytes], candidates: Sequence[str], scheme: str) -> None:
    """Pass if any candidate equals any expected signature, compared in constant time.

    Candidates are header text; they are compared as UTF-8 bytes because
    ``hmac.compare_digest`` raises ``TypeError`` on non-ASCII ``str``.
    """
    encoded = [c.encode("utf-8", "replace") for c in candidates]
    for want in expected:
        for got in encoded:
            if hmac.compare_digest(want, got):
                return
    raise WebhookSignatureMismatch(
        f"{scheme}: no signature matches the payload under the configured secret(s); the "
        "delivery is forged, altered, signed with another secret, or the body was changed "
        "(parsed and re-serialised?) before verification"
    )


def lower_headers(headers: object, scheme: str) -> dict[str, object]:
    """The headers keyed by lowercase name. Two differing values under one name are refused.

    Accepts any mapping whose ``items()`` may repeat names (Starlette's ``Headers`` does), so a
    second, conflicting signature header cannot slip past the first.
    """
    if type(headers) is dict:
        # Plain dict: names are unique already, only the case can repeat.
        simple = {name.lower(): value for name, value in headers.items() if type(name) is str}
        if len(simple) == len(headers):
            return simple
    items = getattr(headers, "items", None)
    if items is None or not callable(items):
        raise MalformedWebhookHeader(
            f"{scheme}: headers must be a mapping of names to values, got {type(headers).__name__}"
        )
    lowered: dict[str, object] = {}
    for name, value in items():
        if not isinstance(name, str):
            continue
        key = name.lower()
        if key in lowered and lowered[key] != value:
            raise MalformedWebhookHeader(
                f"{scheme}: the {name} header appears twice with different values"
            )
        lowered[key] = value
    return lowered


def header(headers: Mapping[str, object], name: str, scheme: str) -> str:
    """The value of header ``name`` (given in its canonical spelling) from lowered headers."""
    value = headers.get(name.lower())
    if value is None:
        raise MissingWebhookHeader(f"{scheme}: the {name} header is missing")
    if not isinstance(value, str):
        raise MalformedWebhookHeader(
            f"{scheme}: the {name} header must be text, got {type(value).__name__}"
        )
    if not value.strip():
        raise MissingWebhookHeader(f"{scheme}: the {name} header is empty")
    return value


def parse_timestamp(value: str, name: str, scheme: str) -> int:
    """A header's Unix timestamp: ASCII digits only (``int()`` accepts far more)."""
    text = value.strip()
    if not (text.isascii() and text.isdigit() and len(text) <= _MAX_TIMESTAMP_DIGITS):
        raise MalformedWebhookHeader(
            f"{scheme}: the {name} value must be a Unix timestamp in whole seconds"
        )
    return int(text)


def tolerance_of(tolerance: object, scheme: str) -> float:
    """A usable tolerance in seconds, or a ConfigurationError saying what to pass."""
    if type(tolerance) is float and 0 <= tolerance < math.inf:  # the default: fast
        return tolerance
    if (
        isinstance(tolerance, bool)
        or not isinstance(tolerance, int | float)
        or not math.isfinite(tolerance)
        or tolerance < 0
    ):
        raise ConfigurationError(
            f"{scheme}: tolerance must be a finite number of seconds >= 0, got {tolerance!r}; "
            "the provider's default (300) is what its own libraries use"
        )
    return float(tolerance)


def _epoch(value: Timestamp, what: str) -> float:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ConfigurationError(
                f"{what} got a naive datetime; pass an aware one, e.g. datetime.now(UTC)"
            )
        return value.timestamp()
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigurationError(f"{what} takes epoch seconds or an aware datetime, got {value!r}")
    return float(value)


def now_of(now: Timestamp | None) -> float:
    """``now`` as epoch seconds; None reads the active clock at this moment."""
    return get_clock().time() if now is None else _epoch(now, "now=")


def timestamp_of(timestamp: Timestamp | None) -> int:
    """The whole-second timestamp to sign; None reads the active clock."""
    if timestamp is None:
        return int(get_clock().time())
    return int(_epoch(timestamp, "timestamp="))


def check_tolerance(signed: int, now: float, tolerance: float, scheme: str) -> None:
    """Refuse a signed timestamp more than ``tolerance`` seconds from ``now``, either way."""
    skew = now - signed
    if abs(skew) > tolerance:
        direction = "old" if skew > 0 else "in the future"
        raise WebhookTimestampOutOfTolerance(
            f"{scheme}: the signed timestamp is {abs(skew):.0f} s {direction}, beyond the "
            f"tolerance of {tolerance:g} s; a replayed or delayed delivery, or a clock skew"
        )


# Not frozen: a frozen dataclass's __init__ goes through object.__setattr__, a measurable share
# of a verification that must be no slower than the providers' own libraries.
@dataclass(slots=True)
class Incoming:
    """A delivery being verified: the body as bytes, the HMAC keys, the lowered headers."""

    scheme: str
    body: bytes
    keys: tuple[bytes, ...] = field(repr=False)  # never in a repr, a log or a traceback
    headers: dict[str, object]

    def header(self, name: str) -> str:
        """The value of header ``name``, or MissingWebhookHeader/MalformedWebhookHeader."""
        return header(self.headers, name, self.scheme)

    def timestamp(self, name: str) -> int:
        """Header ``name`` parsed as a Unix timestamp."""
        return parse_timestamp(self.header(name), name, self.scheme)

    def require_match(
        self, mac: Callable[[bytes, bytes], bytes], message: bytes, candidates: Sequence[str]
    ) -> None:
        """Pass if a candidate equals ``mac(key, message)`` for any key."""
        require_match((mac(key, message) for key in self.keys), candidates, self.scheme)


def incoming(
    payload: object,
    headers: object,
    secret: object,
    scheme: str,
    decode: Callable[[str | bytes], bytes] = _utf8,
) -> Incoming:
    """Check and normalise what every ``verify`` receives; raise on unusable input."""
    body = require_bytes(payload, scheme)
    keys = secret_keys(secret, scheme, decode)
    return Incoming(scheme, body, keys, lower_headers(headers, scheme))
