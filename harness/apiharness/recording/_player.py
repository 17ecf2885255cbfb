"""Replay a cassette fast: a hash index instead of vcrpy's scan over every interaction.

vcrpy compares each live request with every recorded one, re-parsing URLs each time, so a
request costs O(n) (NOTES.md: about 6.6 ms at 1,000 interactions). Here the cassette is indexed
once by the parts vcrpy matches on by default (method, scheme, host, port, path, query as a
sorted multiset) and every lookup is one dictionary access. Interactions with the same key
replay in recorded order, each once, as in vcrpy; ``allow_repeats`` keeps serving the last.

:class:`CassettePlayer` is a transport (sync and async in one class, like httpx's own
``MockTransport``) of httpx and of httpx2 alike (:mod:`apiharness._stacks`), so a cassette can
stand in for an API without patching anything.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlsplit

from apiharness._stacks import TransportBase, httpx, stack_of
from apiharness.errors import UnmatchedRequestError
from apiharness.recording._cassette import (
    Cassette,
    Headers,
    Interaction,
    RecordedRequest,
    split_chunks,
)
from apiharness.recording._redact import Redactor

__all__ = ["CassetteIndex", "CassettePlayer", "match_key", "to_httpx_response"]

_DEFAULT_PORTS = {"http": 80, "https": 443}

MatchKey = tuple[str, str, str, int | None, str, tuple[tuple[str, str], ...]]


def match_key(method: str, uri: str, *, origin: bool = True) -> MatchKey:
    """What two requests must share to match: vcrpy's default ``match_on``, normalised.

    With ``origin=False`` scheme, host and port are left out (a mock serving the recording
    under its own base URL).
    """
    parts = urlsplit(uri)
    query = tuple(sorted(parse_qsl(parts.query, keep_blank_values=True)))
    if not origin:
        return (method.upper(), "", "", None, parts.path, query)
    scheme = parts.scheme.lower()
    port = parts.port if parts.port is not None else _DEFAULT_PORTS.get(scheme)
    return (method.upper(), scheme, (parts.hostname or "").lower(), port, parts.path, query)


class CassetteIndex:
    """Interactions of a cassette, found by request in constant time.

    ::

        index = CassetteIndex(Cassette.load("api.yaml"))
        interaction = index.play("GET", "https://api.example.com/v1/items?page=2")
    """

    def __init__(
        self,
        interactions: Iterable[Interaction],
        *,
        redactor: Redactor | None = None,
        allow_repeats: bool = False,
        match_origin: bool = True,
    ) -> None:
        self.redactor = redactor if redactor is not None else Redactor()
        self._allow_repeats = allow_repeats
        self._origin = match_origin
        self._all: dict[MatchKey, list[Interaction]] = {}
        for interaction in interactions:
            request = interaction.request
            key = match_key(request.method, request.uri, origin=match_origin)
            self._all.setdefault(key, []).append(interaction)
        self._queues: dict[MatchKey, deque[Interaction]] = {}
        # Requests are replayed from several threads at once (loopback, threaded clients).
        self._lock = threading.Lock()
        self.rewind()

    def rewind(self) -> None:
        """Make every interaction playable again."""
        self._queues = {key: deque(items) for key, items in self._all.items()}

    def redacted_uri(self, method: str, uri: str, headers: Headers = ()) -> str:
        """The live request's URL redacted as the recorded ones were.

        With ``headers``, values the request carries in secret headers are scrubbed from the
        URL too (an API key sent both as ``X-Api-Key`` and in the path), as when recording.
        """
        if not any(self.redactor.is_secret_header(name) for name, _ in headers):
            return self.redactor.redact_url(uri)
        return self.redactor.redact_request(RecordedRequest(method, uri, headers)).uri

    def key_for(self, method: str, uri: str, headers: Headers = ()) -> MatchKey:
        """The key of a live request, redacted first as the recorded ones were."""
        return match_key(method, self.redacted_uri(method, uri, headers), origin=self._origin)

    def play(self, method: str, uri: str, headers: Headers = ()) -> Interaction | None:
        """The next unplayed interaction recorded for this request, or None."""
        key = self.key_for(method, uri, headers)
        with self._lock:
            queue = self._queues.get(key)
            if queue:
                if len(queue) > 1 or not self._allow_repeats:
                    return queue.popleft()
                return queue[0]
            return None

    def peek(self, method: str, uri: str) -> Interaction | None:
        """The interaction :meth:`play` would return next, without playing it."""
        queue = self._queues.get(self.key_for(method, uri))
        return queue[0] if queue else None

    @property
    def all_played(self) -> bool:
        return not any(self._queues.values())


def to_httpx_response(interaction: Interaction, request: httpx.Request) -> httpx.Response:
    """The recorded response as a response to ``request``, of the request's stack (httpx or
    httpx2).

    A streamed recording (``chunks``) arrives in its recorded pieces, each after its recorded
    wait on the active clock: under the ``clock`` fixture, in virtual time.
    """
    recorded = interaction.response
    extensions = {"reason_phrase": recorded.reason.encode("ascii", "replace")}
    stack = stack_of(request)
    if recorded.chunks:
        from apiharness.upstream import TimedBody  # the upstream's, loaded when used

        streamed: httpx.Response = stack.Response(
            recorded.status,
            headers=list(recorded.headers),
            stream=TimedBody.of(stack, split_chunks(recorded.body, recorded.chunks), None),
            request=request,
            extensions=extensions if recorded.reason else None,
        )
        return streamed
    response: httpx.Response = stack.Response(
        recorded.status,
        headers=list(recorded.headers),
        content=recorded.body,
        request=request,
        extensions=extensions if recorded.reason else None,
    )
    return response


class CassettePlayer(TransportBase):
    """A transport that answers from a cassette, sync and async, for httpx and httpx2 clients.

    ::

        player = CassettePlayer("cassettes/test_api/test_items.yaml")
        with httpx.Client(transport=player) as client:
            assert client.get("https://api.example.com/v1/items").status_code == 200

    A request with no recorded interaction left raises :class:`UnmatchedRequestError`.
    """

    def __init__(
        self,
        cassette: Cassette | str | os.PathLike[str],
        *,
        redactor: Redactor | None = None,
        allow_repeats: bool = False,
    ) -> None:
        self.cassette = cassette if isinstance(cassette, Cassette) else Cassette.load(cassette)
        self.index = CassetteIndex(self.cassette, redactor=redactor, allow_repeats=allow_repeats)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        return self._answer(request)

    def _answer(self, request: httpx.Request) -> httpx.Response:
        headers = tuple(request.headers.multi_items())
        interaction = self.index.play(request.method, str(request.url), headers)
        if interaction is None:
            # The URL is redacted first: the message must not carry a live secret.
            shown = self.index.redacted_uri(request.method, str(request.url), headers)
            where = self.cassette.path or "the cassette"
            raise UnmatchedRequestError(
                f"{request.method} {shown} is not in {where} (or every recording of it was "
                "played already); re-record the cassette or pass allow_repeats=True"
            )
        return to_httpx_response(interaction, request)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        return self._answer(request)
