"""Record live APIs through mitmproxy into redacted VCR.py cassettes; replay them fast.

* :class:`Cassette` reads and writes VCR.py format version 1, which plain vcrpy replays.
* :class:`Redactor` replaces secrets (on by default): by place, then by value everywhere;
  :func:`check_cassettes` is the leak gate.
* :class:`Recorder` drives a real ``mitmdump``; ``apiharness record`` is its command line.
* :class:`CassettePlayer` replays a cassette as an httpx transport, with an indexed lookup.
* :func:`serve_cassette` (``Upstream.from_cassette``) serves a cassette as a mocked upstream's
  routes, so any fault of :mod:`apiharness.upstream` can be injected into a real recording.

The mitmproxy addon lives in :mod:`apiharness.recording.addon`, so that importing this package
never imports mitmproxy or vcrpy.
"""

from apiharness.recording._cassette import (
    FORMAT_VERSION,
    Cassette,
    Headers,
    Interaction,
    RecordedRequest,
    RecordedResponse,
)
from apiharness.recording._leaks import (
    Leak,
    check_cassettes,
    encoded_forms,
    find_leaks,
    secrets_from_env,
)
from apiharness.recording._player import CassetteIndex, CassettePlayer, match_key
from apiharness.recording._recorder import Recorder
from apiharness.recording._redact import (
    DEFAULT_BODY_FIELDS,
    DEFAULT_HEADERS,
    DEFAULT_QUERY_PARAMS,
    MIN_SCRUB_LENGTH,
    PLACEHOLDER,
    Redactor,
)
from apiharness.recording._upstream import CassetteRoutes, serve_cassette

__all__ = [
    "DEFAULT_BODY_FIELDS",
    "DEFAULT_HEADERS",
    "DEFAULT_QUERY_PARAMS",
    "FORMAT_VERSION",
    "MIN_SCRUB_LENGTH",
    "PLACEHOLDER",
    "Cassette",
    "CassetteIndex",
    "CassettePlayer",
    "CassetteRoutes",
    "Headers",
    "Interaction",
    "Leak",
    "RecordedRequest",
    "RecordedResponse",
    "Recorder",
    "Redactor",
    "check_cassettes",
    "encoded_forms",
    "find_leaks",
    "match_key",
    "secrets_from_env",
    "serve_cassette",
]
