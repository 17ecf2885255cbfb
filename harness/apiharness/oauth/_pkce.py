"""PKCE (RFC 7636): code verifiers and their challenges.

The verifier is 43-128 characters from the unreserved set ``[A-Za-z0-9-._~]`` (section 4.1);
the S256 challenge is ``BASE64URL(SHA256(ASCII(verifier)))`` without padding (section 4.2).
``plain`` sends the verifier itself as the challenge, which protects nothing against an attacker
who can read the authorization request; it is refused unless the caller opts in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from typing import Literal

from apiharness.errors import ConfigurationError

__all__ = [
    "ChallengeMethod",
    "code_challenge",
    "is_valid_verifier",
    "new_code_verifier",
    "s256_challenge",
    "verify_code_verifier",
]

ChallengeMethod = Literal["S256", "plain"]

_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
_MIN_BYTES = 32  # 32 random octets = 256 bits, base64url-encoded to 43 characters
_MAX_BYTES = 96  # 96 octets encode to exactly 128 characters, the maximum length


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def new_code_verifier(entropy_bytes: int = _MIN_BYTES) -> str:
    """A fresh PKCE code verifier: ``entropy_bytes`` random octets, base64url-encoded.

    The default of 32 octets gives 256 bits of entropy in 43 characters, as RFC 7636 section
    4.1 recommends; up to 96 octets (128 characters) are allowed::

        verifier = new_code_verifier()
        challenge = s256_challenge(verifier)
    """
    if isinstance(entropy_bytes, bool) or not isinstance(entropy_bytes, int):
        raise ConfigurationError("new_code_verifier(entropy_bytes=...) takes an int")
    if not _MIN_BYTES <= entropy_bytes <= _MAX_BYTES:
        raise ConfigurationError(
            f"new_code_verifier(entropy_bytes={entropy_bytes}): use {_MIN_BYTES}..{_MAX_BYTES} "
            f"octets; fewer than {_MIN_BYTES} is below 256 bits of entropy, more than "
            f"{_MAX_BYTES} exceeds the 128-character limit of RFC 7636 section 4.1"
        )
    return _b64url(secrets.token_bytes(entropy_bytes))


def is_valid_verifier(verifier: object) -> bool:
    """True if ``verifier`` has the form RFC 7636 section 4.1 requires."""
    return isinstance(verifier, str) and _VERIFIER.fullmatch(verifier) is not None


def _checked(verifier: str) -> str:
    if not is_valid_verifier(verifier):
        # Never echo the verifier: it is a secret until the code is exchanged.
        raise ConfigurationError(
            "a PKCE code verifier must be 43-128 characters from [A-Za-z0-9-._~] "
            "(RFC 7636 section 4.1); make one with new_code_verifier()"
        )
    return verifier


def s256_challenge(verifier: str) -> str:
    """The S256 code challenge of ``verifier`` (RFC 7636 section 4.2).

    >>> s256_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
    'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM'
    """
    return _b64url(hashlib.sha256(_checked(verifier).encode("ascii")).digest())


def code_challenge(
    verifier: str, method: ChallengeMethod = "S256", *, allow_plain: bool = False
) -> str:
    """The challenge for ``verifier`` with ``method``; ``plain`` only with ``allow_plain=True``."""
    if method == "S256":
        return s256_challenge(verifier)
    if method == "plain":
        if not allow_plain:
            raise ConfigurationError(
                "the PKCE 'plain' method sends the verifier in the clear; use S256, or pass "
                "allow_plain=True for a server that supports nothing else (RFC 7636 section 4.2)"
            )
        return _checked(verifier)
    raise ConfigurationError(f"unknown PKCE code_challenge_method {method!r}; use 'S256'")


def verify_code_verifier(
    verifier: object, challenge: str, method: str = "S256", *, allow_plain: bool = False
) -> bool:
    """True if ``verifier`` answers ``challenge`` (the server's check, RFC 7636 section 4.6).

    Malformed input of any kind is a failed verification, never an exception; the final
    comparison is constant-time.
    """
    if not is_valid_verifier(verifier) or not isinstance(challenge, str):
        return False
    assert isinstance(verifier, str)  # narrowed by is_valid_verifier
    if method == "S256":
        expected = s256_challenge(verifier)
    elif method == "plain" and allow_plain:
        expected = verifier
    else:
        return False
    return hmac.compare_digest(expected.encode("ascii"), challenge.encode("utf-8", "replace"))
