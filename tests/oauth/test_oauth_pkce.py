"""PKCE (RFC 7636): verifiers, challenges, the Appendix B vector, and the server-side check."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import string
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apiharness.errors import ConfigurationError
from apiharness.oauth import (
    code_challenge,
    is_valid_verifier,
    new_code_verifier,
    s256_challenge,
    verify_code_verifier,
)

VECTOR = json.loads(
    (Path(__file__).parents[2] / "fixtures" / "pkce" / "rfc7636_appendix_b.json").read_text()
)
UNRESERVED = string.ascii_letters + string.digits + "-._~"


def independent_s256(verifier: str) -> str:
    # Computed differently on purpose: pad-stripping by hand from the standard alphabet.
    encoded = base64.b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).decode()
    return encoded.replace("+", "-").replace("/", "_").rstrip("=")


def test_rfc7636_appendix_b_vector() -> None:
    octets = bytes(VECTOR["verifier_octets"])
    assert base64.urlsafe_b64encode(octets).rstrip(b"=").decode() == VECTOR["code_verifier"]
    assert s256_challenge(VECTOR["code_verifier"]) == VECTOR["code_challenge"]
    assert verify_code_verifier(VECTOR["code_verifier"], VECTOR["code_challenge"])


@given(st.integers(min_value=32, max_value=96))
def test_every_generated_verifier_is_valid(entropy: int) -> None:
    verifier = new_code_verifier(entropy)
    assert 43 <= len(verifier) <= 128
    assert set(verifier) <= set(UNRESERVED)
    assert is_valid_verifier(verifier)
    # at least 8 bits per requested octet went in: the encoding is 4 chars per 3 octets
    assert len(base64.urlsafe_b64decode(verifier + "=" * (-len(verifier) % 4))) == entropy


def test_default_verifier_has_256_bits_and_differs_every_time() -> None:
    verifiers = {new_code_verifier() for _ in range(200)}
    assert len(verifiers) == 200
    assert all(len(v) == 43 for v in verifiers)


@pytest.mark.parametrize("entropy", [0, 31, 97, True, 32.0])
def test_too_little_or_too_much_entropy_is_refused(entropy: object) -> None:
    with pytest.raises(ConfigurationError, match="entropy_bytes"):
        new_code_verifier(entropy)  # type: ignore[arg-type]


@given(st.text(alphabet=UNRESERVED, min_size=43, max_size=128))
def test_challenge_matches_an_independent_computation(verifier: str) -> None:
    assert s256_challenge(verifier) == independent_s256(verifier)
    assert verify_code_verifier(verifier, independent_s256(verifier))


@given(st.text(alphabet=UNRESERVED, min_size=43, max_size=128), st.text(max_size=60))
def test_a_wrong_challenge_never_verifies(verifier: str, other: str) -> None:
    if other != independent_s256(verifier):
        assert not verify_code_verifier(verifier, other)


@given(st.one_of(st.text(max_size=200), st.none(), st.integers(), st.binary()))
def test_malformed_verifiers_fail_verification_without_raising(verifier: object) -> None:
    well_formed = isinstance(verifier, str) and re.fullmatch(r"[A-Za-z0-9\-._~]{43,128}", verifier)
    assert verify_code_verifier(verifier, "x" * 43) is False or well_formed


@pytest.mark.parametrize("bad", ["short", "a" * 129, "ä" * 43, "a b" * 20])
def test_challenge_of_a_malformed_verifier_raises_without_echoing_it(bad: str) -> None:
    with pytest.raises(ConfigurationError, match="43-128") as info:
        s256_challenge(bad)
    assert bad not in str(info.value)


def test_plain_is_refused_unless_explicitly_allowed() -> None:
    verifier = new_code_verifier()
    with pytest.raises(ConfigurationError, match="plain"):
        code_challenge(verifier, "plain")
    assert code_challenge(verifier, "plain", allow_plain=True) == verifier
    assert not verify_code_verifier(verifier, verifier, "plain")
    assert verify_code_verifier(verifier, verifier, "plain", allow_plain=True)
    with pytest.raises(ConfigurationError, match="S256"):
        code_challenge(verifier, "S512")  # type: ignore[arg-type]
    assert not verify_code_verifier(verifier, s256_challenge(verifier), "S512")
