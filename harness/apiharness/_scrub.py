"""Known secret values out of text the harness quotes from elsewhere, before it is shown.

Errors and reports sometimes repeat what a server or a client said: an OAuth server's
``error_description``, a Schemathesis failure with the response body, a client's exception.
That text is not ours, and may echo a secret (a server that repeats the refresh token it was
sent). :func:`scrub` replaces every secret value the caller knows, in every encoding the leak
gate looks for (raw, URL-encoded, JSON-escaped, base64 whole or inside a longer base64 string,
see :func:`apiharness.recording.encoded_forms`), with ``**********``, as pydantic's
``SecretStr`` shows itself. Every place that builds an exception or report from foreign text
goes through here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from pydantic import SecretStr

__all__ = ["REDACTED", "scrub"]

REDACTED = "**********"
# Base64 fragments of a short value are short: below this length they would match by chance.
_MIN_ENCODED = 6


def _needles(value: str) -> set[str]:
    # Imported here: the recording package is heavy, and only failing paths get this far.
    from apiharness.recording._leaks import encoded_forms

    needles = {value}
    try:
        forms = encoded_forms(value)
    except UnicodeEncodeError:  # a lone surrogate: the raw value is all that can appear
        return needles
    for form in forms:
        text = form.decode("utf-8", "replace")
        if len(text) >= _MIN_ENCODED:
            needles.add(text)
    return needles


def scrub(
    text: str, secrets: Iterable[str | SecretStr | None] = (), *, environment: bool = False
) -> str:
    """``text`` with every value in ``secrets`` (and, with ``environment``, every secret of
    :func:`apiharness.recording.secrets_from_env`) replaced by ``**********``, in any encoding.
    """
    values = [s.get_secret_value() if isinstance(s, SecretStr) else s for s in secrets]
    if environment:
        from apiharness.recording._leaks import secrets_from_env

        values.extend(secrets_from_env().values())
    needles: set[str] = set()
    for value in values:
        if value:
            needles |= _needles(value)
    if not needles or not text:
        return text
    # Longest first, so that an encoding containing a shorter one is replaced whole.
    pattern = "|".join(re.escape(n) for n in sorted(needles, key=len, reverse=True))
    return re.sub(pattern, REDACTED, text)
