"""Serve a cassette as the routes of a mocked upstream, so faults can be injected into it.

``up.from_cassette(path)`` (a thin method on :class:`apiharness.upstream.Upstream` that calls
:func:`serve_cassette`) declares one route per recorded method and path, each answering with
the recorded responses in order. Any behaviour of the upstream then composes with a real
recording, in-process or on a loopback socket::

    up = Upstream(base_url="https://api.test")
    recorded = up.from_cassette("cassettes/test_api/test_items.yaml")
    up.get("/v1/items").respond(
        status(429, retry_after=2),                       # a fault first ...
        truncate(after=10, response=recorded.response("GET", "/v1/items")),
        recorded.responder("GET", "/v1/items"),           # ... then the recorded exchange
    )

Requests match recordings by method, path and query (scheme, host and port are the mock's):
the live URL is redacted first, as when recording, so secret parameters still match.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from apiharness._stacks import httpx
from apiharness.errors import ConfigurationError
from apiharness.recording._cassette import Cassette, Interaction, split_chunks
from apiharness.recording._player import CassetteIndex
from apiharness.recording._redact import Redactor

if TYPE_CHECKING:
    from apiharness.upstream import Behaviour, Respond, Route, Upstream

__all__ = ["CassetteRoutes", "serve_cassette"]

# The upstream frames bodies itself and refuses these in respond(headers=...); the stored
# bodies are decoded, so an encoding header would lie too.
_FRAMING = frozenset({"content-length", "transfer-encoding", "content-encoding"})


def as_respond(interaction: Interaction) -> Respond:
    """A recorded response as the upstream's ``respond(...)`` value."""
    from apiharness.upstream import respond

    recorded = interaction.response
    # Pairs, in order: a field recorded twice (Set-Cookie) is served twice.
    headers = [(name, value) for name, value in recorded.headers if name.lower() not in _FRAMING]
    return respond(recorded.status, content=recorded.body, headers=headers)


def as_replay(interaction: Interaction) -> Behaviour:
    """A recorded response as a behaviour: streamed in its recorded chunks and timing, if it
    was recorded in pieces; else :func:`as_respond`."""
    whole = as_respond(interaction)
    chunks = interaction.response.chunks
    if not chunks:
        return whole
    from apiharness.upstream import chunked

    return chunked(whole, split_chunks(interaction.response.body, chunks))


class CassetteRoutes:
    """The routes :func:`serve_cassette` declared, and the recorded answers behind them."""

    def __init__(self, upstream: Upstream, cassette: Cassette, index: CassetteIndex) -> None:
        self.upstream = upstream
        self.cassette = cassette
        self._index = index
        self._prefix = urlsplit(upstream.base_url).path.rstrip("/")
        self.routes: list[Route] = []

    def __iter__(self) -> Iterator[Interaction]:
        return iter(self.cassette)

    def _local(self, uri: str) -> str:
        path = urlsplit(uri).path or "/"
        return path[len(self._prefix) :] or "/" if path.startswith(self._prefix) else path

    def responder(self, method: str, path: str) -> Callable[[httpx.Request], Behaviour]:
        """The behaviour replaying ``method path`` (any query): put it in a route's script."""
        label = f"{method.upper()} {path}"

        def replay(request: httpx.Request) -> Behaviour:
            from apiharness.upstream import respond

            headers = tuple(request.headers.multi_items())
            interaction = self._index.play(request.method, str(request.url), headers)
            if interaction is None:
                shown = self._index.redacted_uri(request.method, str(request.url), headers)
                return respond(
                    404,
                    text=f"apiharness: {request.method} {shown} is not in the cassette "
                    f"{self.cassette.path or ''} ({label})",
                    headers={"X-Apiharness": "not-recorded"},
                )
            return as_replay(interaction)

        replay.__name__ = replay.__qualname__ = f"recorded({label!r})"
        return replay

    def response(self, method: str, path_and_query: str) -> Respond:
        """The first recorded answer to ``method path?query``, e.g. to wrap in ``truncate``."""
        url = self.upstream.base_url + path_and_query
        found = self._index.peek(method, url)
        if found is None:
            raise ConfigurationError(
                f"{method.upper()} {path_and_query} is not in the cassette "
                f"{self.cassette.path or ''}; recorded: "
                + ", ".join(
                    sorted(
                        {f"{i.request.method} {self._local(i.request.uri)}" for i in self.cassette}
                    )
                )
            )
        return as_respond(found)


def serve_cassette(
    upstream: Upstream,
    cassette: Cassette | str | os.PathLike[str],
    *,
    redactor: Redactor | None = None,
    allow_repeats: bool = True,
) -> CassetteRoutes:
    """Declare routes on ``upstream`` that answer with the cassette's recorded responses.

    Each route serves its recordings in order; with ``allow_repeats`` (the default, like a
    route's script) the last one keeps answering. Returns the routes and helpers to mix
    recorded answers with faults (see the module docstring).
    """
    loaded = cassette if isinstance(cassette, Cassette) else Cassette.load(cassette)
    index = CassetteIndex(
        loaded, redactor=redactor, allow_repeats=allow_repeats, match_origin=False
    )
    served = CassetteRoutes(upstream, loaded, index)
    seen: dict[tuple[str, str], None] = {}
    for interaction in loaded:
        key = (interaction.request.method.upper(), served._local(interaction.request.uri))
        seen.setdefault(key, None)
    for method, path in seen:
        route = upstream.route(method, path).respond(served.responder(method, path))
        served.routes.append(route)
    return served
