"""Secret values, every encoding they take, and replacing them: one definition for the harness.

:func:`encoded_forms` lists the byte strings that betray a value: raw (UTF-8, and Latin-1 for a
non-ASCII value), URL-encoded (``%XX`` in either case, ``+`` for spaces, in UTF-8 and Latin-1),
JSON-escaped (``\\uXXXX`` in either case or not at all, ``\\/`` for ``/``), base64 and base64url
(padded or not, and as a fragment of a longer base64 string at each of the three byte
alignments, as in a Basic credential ``base64("user:" + password)``).

:class:`Needles` holds every form of every value in one Aho-Corasick automaton (pyahocorasick),
so a haystack is scanned once however many values are in play: a recording of 1,000
interactions that each issue a token is scrubbed in time linear in its size, not 1,000 values x
30 forms passes over every byte. The leak gate finds with it, the redactor replaces with it:
one definition of "a form of the secret" for both. A match inside a base64 string replaces the
whole base64 run, since a fragment cannot be cut out of base64 and leave the rest meaningful.

:func:`scrub` is the same for text the harness quotes from elsewhere before showing it: an
OAuth server's ``error_description``, a Schemathesis failure with the response body, a client's
exception. That text is not ours and may echo a secret (a server that repeats the refresh token
it was sent); every place that builds an exception or report from foreign text goes through
it, and it shows a value as pydantic's ``SecretStr`` does, ``**********``.
:func:`scrub_exception` scrubs an exception already raised, for the one who knows a secret its
raiser did not (the token manager knows the access token a refresh replaces).
:func:`secrets_from_env` names the environment variables that hold secrets by convention.
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from urllib.parse import quote, quote_plus

import ahocorasick
from pydantic import SecretStr

__all__ = [
    "MIN_B64_FRAGMENT",
    "MIN_ENV_SECRET_LENGTH",
    "REDACTED",
    "Needles",
    "encoded_forms",
    "scrub",
    "scrub_exception",
    "secrets_from_env",
]

REDACTED = "**********"

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


# A base64 fragment shorter than this is too likely to occur by chance.
MIN_B64_FRAGMENT = 6
_B64_ALPHABET = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_")
_HEX_ESCAPE = re.compile("%[0-9A-F]{2}")
_JSON_ESCAPE = re.compile(r"\\u[0-9a-f]{4}")


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
            if len(fragment) >= MIN_B64_FRAGMENT:
                yield name, fragment


def _forms(value: str) -> Iterator[tuple[bytes, str, bool]]:
    """(needle, encoding name, whether it is a base64 fragment) for every form of ``value``."""
    raw = value.encode("utf-8", "surrogatepass")
    yield raw, "raw", False
    charsets = ["utf-8"]
    if not value.isascii():
        try:
            yield value.encode("latin-1"), "raw (latin-1)", False
            charsets.append("latin-1")
        except UnicodeEncodeError:
            pass
    for charset in charsets:
        for needle in (
            quote(value, safe="", encoding=charset, errors="surrogatepass"),
            quote_plus(value, safe="", encoding=charset, errors="surrogatepass"),
            quote(value, encoding=charset, errors="surrogatepass"),
        ):
            for form in (needle, _HEX_ESCAPE.sub(lambda m: m.group(0).lower(), needle)):
                yield form.encode("ascii"), "url-encoded", False
    for escaped in (json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]):
        for form in (escaped, _JSON_ESCAPE.sub(lambda m: m.group(0).upper(), escaped)):
            data = form.encode("utf-8", "surrogatepass")
            yield data, "json-escaped", False
            yield data.replace(b"/", b"\\/"), "json-escaped", False  # PHP and others
            if form != value:
                # A JSON body echoed inside a JSON string (httpbin's "data"), or sent in a query
                # parameter: the escapes escaped once more.
                twice = json.dumps(form)[1:-1].encode("utf-8", "surrogatepass")
                yield twice, "json-escaped twice", False
                yield quote(form, safe="").encode("ascii"), "url-encoded json", False
    for encoding, encoder in (
        ("base64", base64.b64encode),
        ("base64url", base64.urlsafe_b64encode),
    ):
        full = encoder(raw)
        yield full, encoding, False
        yield full.rstrip(b"="), encoding, False
    for encoding, fragment in _b64_fragments(raw):
        yield fragment, encoding, True


def encoded_forms(value: str) -> dict[bytes, str]:
    """Every byte string that betrays ``value``, mapped to the encoding's name."""
    forms: dict[bytes, str] = {}
    for needle, encoding, _ in _forms(value):
        if needle:
            forms.setdefault(needle, encoding)
    return forms


class Needles:
    """Every encoded form of a set of named values, searched for in one pass.

    ::

        needles = Needles({"api key": "key-3a4b5c6d7e8f"})
        needles.replace(b'{"echo": "key-3a4b5c6d7e8f"}', b"REDACTED")  # b'{"echo": "REDACTED"}'
    """

    def __init__(self, values: Mapping[str, str]) -> None:
        self._automaton = ahocorasick.Automaton()
        for name, value in values.items():
            for needle, encoding, fragment in _forms(value):
                key = needle.decode("latin-1")  # one char per byte: offsets stay byte offsets
                if needle and key not in self._automaton:
                    self._automaton.add_word(key, (len(needle), name, encoding, fragment))
        self._empty = len(self._automaton) == 0
        if not self._empty:
            self._automaton.make_automaton()

    def __bool__(self) -> bool:
        return not self._empty

    def __repr__(self) -> str:
        return f"<Needles: {len(self._automaton)} forms>"  # never the values

    def _matches(self, haystack: bytes) -> Iterator[tuple[int, int, str, str, bool]]:
        if self._empty or not haystack:
            return
        for end, (length, name, encoding, fragment) in self._automaton.iter(
            haystack.decode("latin-1")
        ):
            yield end + 1 - length, end + 1, name, encoding, fragment

    def find(self, haystack: bytes) -> set[tuple[str, str]]:
        """The (name, encoding) of every value that occurs in ``haystack``."""
        return {(name, encoding) for _, _, name, encoding, _ in self._matches(haystack)}

    def replace(self, haystack: bytes, placeholder: bytes) -> bytes:
        """``haystack`` with every occurrence of every form replaced by ``placeholder``."""
        spans = []
        run_end = -1  # end of the last base64 run replaced: later fragments in it are covered
        for begin, end, _, _, fragment in self._matches(haystack):
            if not fragment:
                spans.append((begin, end))
            elif end > run_end:
                spans.append(_base64_run(haystack, begin, end))
                run_end = spans[-1][1]
        if not spans:
            return haystack
        spans.sort()
        out, kept = bytearray(), 0
        for start, stop in spans:
            if stop <= kept:
                continue  # inside a span already replaced
            if start >= kept:
                out += haystack[kept:start]
                out += placeholder
            kept = stop
        out += haystack[kept:]
        return bytes(out)

    def replace_text(self, text: str, placeholder: str) -> str:
        """:meth:`replace` for text (URLs, header values)."""
        data = text.encode("utf-8", "surrogateescape")
        replaced = self.replace(data, placeholder.encode("utf-8"))
        return text if replaced is data else replaced.decode("utf-8", "surrogateescape")


def _base64_run(data: bytes, start: int, stop: int) -> tuple[int, int]:
    while start > 0 and data[start - 1] in _B64_ALPHABET:
        start -= 1
    while stop < len(data) and data[stop] in _B64_ALPHABET:
        stop += 1
    while stop < len(data) and data[stop] == ord("="):
        stop += 1
    return start, stop


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


def scrub(
    text: str, secrets: Iterable[str | SecretStr | None] = (), *, environment: bool = False
) -> str:
    """``text`` with every value in ``secrets`` (and, with ``environment``, every secret of
    :func:`secrets_from_env`) replaced by ``**********``, in any of its encodings.
    """
    values = [s.get_secret_value() if isinstance(s, SecretStr) else s for s in secrets]
    if environment:
        values.extend(secrets_from_env().values())
    if not text:
        return text
    needles = Needles({str(i): value for i, value in enumerate(values) if value})
    if not needles:
        return text
    # surrogatepass, as the needles are made: any str round-trips, lone surrogates included.
    data = text.encode("utf-8", "surrogatepass")
    return needles.replace(data, REDACTED.encode()).decode("utf-8", "surrogatepass")


def scrub_exception(exc: BaseException, secrets: Iterable[str | SecretStr | None]) -> BaseException:
    """Scrub ``exc`` in place, and the exceptions it was raised from: its ``args``, its notes
    and its string attributes (an ``AuthorizationServerError``'s ``description``) lose every
    value in ``secrets``, in any of its encodings. Returns ``exc``, to re-raise."""
    values = [s.get_secret_value() if isinstance(s, SecretStr) else s for s in secrets]
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        current.args = tuple(scrub(a, values) if isinstance(a, str) else a for a in current.args)
        for name, value in vars(current).items():
            if isinstance(value, str):
                setattr(current, name, scrub(value, values))
            elif name == "__notes__" and isinstance(value, list):
                value[:] = [scrub(n, values) if isinstance(n, str) else n for n in value]
        current = current.__cause__ or current.__context__
    return exc
