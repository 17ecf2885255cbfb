"""The secret-leak gate: no secret value may occur anywhere in a cassette, in any encoding.

Redaction removes what it knows to be secret; the gate catches what it missed: a token echoed
in an HTML page, a password inside a base64 ``Basic`` credential, a key URL-encoded into a
redirect. Given the secret values in play (declared ones, and those of environment variables
whose *names* look secret), it looks for each value raw, URL-encoded, base64-encoded (also as a
part of a longer base64 string, at each of the three byte alignments) and JSON-escaped, in the
cassette's bytes, in every string of the parsed document (so YAML escapes and ``!!binary``
bodies hide nothing) and in every body stored with a ``Content-Encoding``, decoded; a body that
cannot be decoded is a finding, never a pass. The encodings and the one-pass search over all of
them are :mod:`._scrub`'s, shared with the redactor. The walk over the document is iterative,
so a document of any depth is checked in time linear in its size.

The recorder runs the gate on each cassette it writes with every value its redactor found as
well as the declared secrets (:meth:`Redactor.redact_recording`).

Findings name the secret (by its *name*), the encoding, the file and the interaction; never the
value. Hand-written: no library searches encodings of known values (detect-secrets and
trufflehog guess secrets by entropy, a different job).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from apiharness.errors import ConfigurationError, SecretLeakError
from apiharness.recording._bodies import UndecodableBody, content_codings, decode_body
from apiharness.recording._scrub import Needles, encoded_forms
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


@dataclass(frozen=True)
class Leak:
    """One occurrence of a secret in a cassette: which secret, how encoded, where.

    A body the gate cannot decode is a finding too: ``secret`` is empty and ``encoding`` says
    why the body could not be read.
    """

    secret: str
    encoding: str
    path: str
    location: str

    def __str__(self) -> str:
        if not self.secret:
            return (
                f"{self.path}: {self.location}: cannot be decoded ({self.encoding}), so it "
                "cannot be checked for secrets"
            )
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


def _check_declared(secrets: Mapping[str, str]) -> None:
    for name, value in secrets.items():
        if not isinstance(value, str) or len(value) < MIN_DECLARED_SECRET_LENGTH:
            raise ConfigurationError(
                f"secret {name!r} must be a string of at least {MIN_DECLARED_SECRET_LENGTH} "
                "characters; shorter values would match cassettes by accident"
            )


_MAX_LABEL_DEPTH = 6


def _strings(root: object) -> Iterator[tuple[str, bytes]]:
    """Every string of the parsed document with where it is; iterative, so any depth is fine.

    Locations name at most six levels ("interaction #0.response.body.string"): deeper ones end
    in "…", which keeps the walk linear in the document's size.
    """
    stack: list[tuple[object, str, int]] = [(root, "", 0)]
    while stack:
        node, where, depth = stack.pop()
        if isinstance(node, str):
            yield where, node.encode("utf-8", "surrogateescape")
        elif isinstance(node, bytes):
            yield where, node
        elif isinstance(node, Mapping):
            children: list[tuple[object, str, int]] = []
            for key, value in node.items():
                children.append((key, where, depth))
                children.append((value, _child(where, depth, f".{key}", str(key)), depth + 1))
            stack.extend(reversed(children))
        elif isinstance(node, list):
            stack.extend(
                (item, _item_label(where, depth, index), depth + 1)
                for index, item in reversed(list(enumerate(node)))
            )


def _child(where: str, depth: int, suffix: str, first: str) -> str:
    if not where:
        return first
    if depth >= _MAX_LABEL_DEPTH:
        return where if where.endswith("…") else f"{where}…"
    return where + suffix


def _item_label(where: str, depth: int, index: int) -> str:
    if where == "interactions":
        return f"interaction #{index}"
    return _child(where, depth, f"[{index}]", f"[{index}]")


def _decoded_bodies(document: object) -> Iterator[tuple[str, bytes | None, str]]:
    """(location, decoded body or None, why not) for each body stored with a Content-Encoding."""
    interactions = document.get("interactions") if isinstance(document, Mapping) else None
    if not isinstance(interactions, list):
        return
    for number, entry in enumerate(interactions):
        if not isinstance(entry, Mapping):
            continue
        for side in ("request", "response"):
            message = entry.get(side)
            if not isinstance(message, Mapping):
                continue
            body = message.get("body")
            if isinstance(body, Mapping):
                body = body.get("string")
            if isinstance(body, str):
                body = body.encode("utf-8", "surrogateescape")
            raw_headers = message.get("headers")
            if not isinstance(body, bytes) or not body or not isinstance(raw_headers, Mapping):
                continue
            headers = tuple(
                (str(name), str(value))
                for name, values in raw_headers.items()
                for value in (values if isinstance(values, list) else [values])
            )
            codings = content_codings(headers)
            if not codings:
                continue
            where = f"interaction #{number}.{side}.body"
            try:
                yield where, decode_body(body, codings), ""
            except UndecodableBody as exc:
                yield where, None, f"Content-Encoding: {', '.join(codings)}: {exc}"


def find_leaks(data: bytes, secrets: Mapping[str, str], *, path: str = "<cassette>") -> list[Leak]:
    """Every leak of ``secrets`` (name -> value) in the cassette bytes ``data``.

    Bodies stored with a ``Content-Encoding`` are decoded and searched too; one that cannot be
    decoded is a finding of its own (:attr:`Leak.secret` empty): the gate cannot vouch for it.
    """
    _check_declared(secrets)
    needles = Needles(secrets)
    leaks: dict[tuple[str, str, str], Leak] = {}

    def scan(location: str, haystack: bytes, skip: frozenset[str] = frozenset()) -> None:
        for name, encoding in sorted(needles.find(haystack)):
            if name not in skip:
                leaks.setdefault((name, encoding, location), Leak(name, encoding, path, location))

    try:
        document = load_yaml(data)
    except yaml.YAMLError:
        document = None
    for location, text in _strings(document):
        scan(location, text)
    for location, body, problem in _decoded_bodies(document):
        if body is None:
            leaks.setdefault(("", problem, location), Leak("", problem, path, location))
        else:
            scan(f"{location} (decoded)", body)
    # Whatever the parsed view did not show (comments, a file that is not YAML at all), for
    # the secrets it did not already place in an interaction.
    scan("file", data, skip=frozenset(name for name, _, _ in leaks))
    return list(leaks.values())


def _cassette_files(paths: Iterable[str | os.PathLike[str]]) -> Iterator[Path]:
    for entry in paths:
        path = Path(entry)
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.suffix in {".yaml", ".yml"})
        elif path.exists():
            yield path
        else:
            raise ConfigurationError(f"{path} does not exist; pass cassette files or folders")


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
    files = list(_cassette_files(paths))
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
