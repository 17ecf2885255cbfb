"""The secret-leak gate: no secret value may occur anywhere in a cassette, in any encoding.

Redaction removes what it knows to be secret; the gate catches what it missed: a token echoed
in an HTML page, a password inside a base64 ``Basic`` credential, a key URL-encoded into a
redirect. Given the secret values in play (declared ones, and those of environment variables
whose *names* look secret), it looks for each value raw, URL-encoded, base64-encoded (also as a
part of a longer base64 string, at each of the three byte alignments) and JSON-escaped, in the
cassette's bytes and in every string of the parsed document (so YAML escapes and ``!!binary``
bodies hide nothing).

Findings name the secret (by its *name*), the encoding, the file and the interaction; never the
value. Hand-written: no library searches encodings of known values (detect-secrets and
trufflehog guess secrets by entropy, a different job).
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, quote_plus

import yaml

from apiharness.errors import ConfigurationError, SecretLeakError
from apiharness.recording._cassette import cassette_files
from apiharness.recording._yaml import load_yaml

__all__ = [
    "Leak",
    "check_cassettes",
    "encoded_forms",
    "find_leaks",
    "secrets_from_env",
]

# Environment variable names that hold secrets by convention: GITHUB_TOKEN, STRIPE_SECRET_KEY,
# DB_PASSWORD, AWS_SECRET_ACCESS_KEY, OPENAI_API_KEY, SESSION_COOKIE ...
_SECRET_ENV_NAME = re.compile(
    r"TOKEN|SECRET|PASSW|PASSWD|PWD|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|CREDENTIAL|COOKIE|SESSION",
    re.I,
)
# Shell bookkeeping whose names merely contain "PWD".
_NOT_SECRET_ENV = frozenset({"PWD", "OLDPWD"})
# Short values (ports, flags, "true") under such names would match everywhere by accident.
MIN_ENV_SECRET_LENGTH = 8
MIN_DECLARED_SECRET_LENGTH = 4
# A base64 fragment shorter than this is too likely to occur by chance.
_MIN_B64_FRAGMENT = 6


@dataclass(frozen=True)
class Leak:
    """One occurrence of a secret in a cassette: which secret, how encoded, where."""

    secret: str
    encoding: str
    path: str
    location: str

    def __str__(self) -> str:
        return f"{self.path}: {self.location}: secret {self.secret} ({self.encoding})"


def secrets_from_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Secrets taken from environment variables whose names look secret.

    ``GITHUB_TOKEN``, ``DB_PASSWORD``, ``OPENAI_API_KEY`` … qualify; values shorter than eight
    characters are left out, as they would match by accident.
    """
    env = os.environ if environ is None else environ
    return {
        name: value
        for name, value in env.items()
        if _SECRET_ENV_NAME.search(name)
        and name.upper() not in _NOT_SECRET_ENV
        and len(value.strip()) >= MIN_ENV_SECRET_LENGTH
    }


def _b64_fragments(raw: bytes) -> Iterator[tuple[str, bytes]]:
    # Inside a longer base64 string the secret starts at byte offset 0, 1 or 2 of a 3-byte
    # group. Output char j covers bits [6j, 6j+6); keep only chars made of the secret's bits.
    for offset in range(3):
        padded = b"\0" * offset + raw + b"\0\0\0"
        first = -(-8 * offset // 6)
        last = 8 * (offset + len(raw)) // 6
        for name, encoder in (
            ("base64", base64.b64encode),
            ("base64url", base64.urlsafe_b64encode),
        ):
            fragment = encoder(padded)[first:last]
            if len(fragment) >= _MIN_B64_FRAGMENT:
                yield name, fragment


def encoded_forms(value: str) -> dict[bytes, str]:
    """Every byte string that betrays ``value``, mapped to the encoding's name."""
    raw = value.encode("utf-8")
    forms: dict[bytes, str] = {}

    def add(needle: str | bytes, encoding: str) -> None:
        data = needle.encode("utf-8") if isinstance(needle, str) else needle
        if data and data not in forms:
            forms[data] = encoding

    add(raw, "raw")
    for needle in (quote(value, safe=""), quote_plus(value), quote(value)):
        add(needle, "url-encoded")
        add(re.sub("%[0-9A-F]{2}", lambda m: m.group(0).lower(), needle), "url-encoded")
    for escaped in (json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]):
        add(escaped, "json-escaped")
        add(escaped.replace("/", "\\/"), "json-escaped")  # PHP and others escape "/" too
    for encoding, fragment in _b64_fragments(raw):
        add(fragment, encoding)
    for encoding, encoder in (
        ("base64", base64.b64encode),
        ("base64url", base64.urlsafe_b64encode),
    ):
        add(encoder(raw), encoding)
        add(encoder(raw).rstrip(b"="), encoding)
    return forms


def _check_declared(secrets: Mapping[str, str]) -> None:
    for name, value in secrets.items():
        if not isinstance(value, str) or len(value) < MIN_DECLARED_SECRET_LENGTH:
            raise ConfigurationError(
                f"secret {name!r} must be a string of at least {MIN_DECLARED_SECRET_LENGTH} "
                "characters; shorter values would match cassettes by accident"
            )


def _strings(node: object, where: str) -> Iterator[tuple[str, bytes]]:
    if isinstance(node, Mapping):
        for key, value in node.items():
            yield from _strings(key, where)
            yield from _strings(value, f"{where}.{key}" if where else str(key))
    elif isinstance(node, list):
        for index, item in enumerate(node):
            label = f"interaction #{index}" if where == "interactions" else f"{where}[{index}]"
            yield from _strings(item, label)
    elif isinstance(node, str):
        yield where, node.encode("utf-8")
    elif isinstance(node, bytes):
        yield where, node


def find_leaks(data: bytes, secrets: Mapping[str, str], *, path: str = "<cassette>") -> list[Leak]:
    """Every leak of ``secrets`` (name -> value) in the cassette bytes ``data``."""
    _check_declared(secrets)
    needles = [
        (name, needle, enc)
        for name, v in secrets.items()
        for needle, enc in encoded_forms(v).items()
    ]
    leaks: dict[tuple[str, str, str], Leak] = {}

    def scan(location: str, haystack: bytes, skip: frozenset[str] = frozenset()) -> None:
        for name, needle, encoding in needles:
            if name not in skip and needle in haystack:
                leaks.setdefault((name, encoding, location), Leak(name, encoding, path, location))

    try:
        document = load_yaml(data)
    except yaml.YAMLError:
        document = None
    for location, text in _strings(document, ""):
        scan(location, text)
    # Whatever the parsed view did not show (comments, a file that is not YAML at all), for
    # the secrets it did not already place in an interaction.
    scan("file", data, skip=frozenset(name for name, _, _ in leaks))
    return list(leaks.values())


def check_cassettes(
    paths: Iterable[str | os.PathLike[str]],
    secrets: Mapping[str, str] | None = None,
    *,
    use_env: bool = True,
) -> list[Path]:
    """Fail with :class:`SecretLeakError` if any secret occurs in any cassette under ``paths``.

    ``secrets`` maps a name to a value; with ``use_env`` the secrets of
    :func:`secrets_from_env` are added. Returns the files checked::

        check_cassettes(["cassettes"], {"stripe": os.environ["STRIPE_KEY"]})
    """
    in_play = {**(secrets_from_env() if use_env else {}), **(secrets or {})}
    files = list(cassette_files(paths))
    leaks = [
        leak for file in files for leak in find_leaks(file.read_bytes(), in_play, path=str(file))
    ]
    if leaks:
        lines = "\n".join(f"  - {leak}" for leak in leaks)
        raise SecretLeakError(
            f"{len(leaks)} secret leak(s) in cassettes:\n{lines}\n"
            "Redact them (apiharness.recording.Redactor.with_extra) and re-record, "
            "or delete the cassette.",
            leaks,
        )
    return files
