"""The mocked upstream: one fault vocabulary, delivered in-process and on a real socket.

Declare how an upstream API behaves, including how it fails, then point a client at it::

    import httpx
    from apiharness.upstream import Upstream, respond, status, reset

    up = Upstream(base_url="https://api.test", seed=0)
    up.get("/users/{id}").respond(status(503).times(2), respond(200, json={"id": 1}))
    up.post("/charges", expect=1).respond(reset(), respond(201))

    http = httpx.Client(transport=up, base_url=up.base_url)   # or httpx.AsyncClient
    with up.serve() as server:                                 # any client, on 127.0.0.1
        requests.get(server.base_url + "/users/1")

    up.journal.count("GET", "/users/1"); up.journal.intervals(); up.journal.attempt(2)

**Behaviours** are values, validated when declared: ``respond``, ``status``, ``delay``,
``hang``, ``reset``, ``close``, ``garbage``, ``truncate``, ``dribble``, ``malformed_json``,
``wrong_content_type``, ``rate_limit``, ``drop_after_processing``; over HTTP/2
(``up.serve(http2=True)``) also ``reset_stream`` and ``goaway``; streamed answers ``sse``
(with :class:`SSEEvent`) and ``ndjson``, whose options are the mid-stream faults
(``disconnect_after``, ``reset_after``, ``stall``, ``malformed_after``, ``error_after``,
``delays``) and which resume after ``Last-Event-ID``; ``chunked`` sends any response in timed
pieces (:class:`TimedBody` is the byte stream such bodies are made of in-process).
**Scripts** combine them:
``route.respond(a, b, c)`` (in order, the last repeats), ``b.times(n)``, ``sequence``,
``cycle``, ``chance(p, ...)`` (seeded), ``every(n, ...)``, and any callable
``(httpx.Request) -> behaviour``.

In-process, wire faults raise exactly the httpx exceptions httpx's real transport raises for
the same fault on a socket; waits (``delay``, ``hang`` until the client's read timeout,
``dribble``) go through the active clock, so under the ``clock`` fixture they take no real
time and the journal records virtual time. Over loopback the faults happen on the socket.

Extension points
----------------

*Route policies* (:class:`RoutePolicy`): ``route.add_policy(obj)`` attaches an object whose
``before(request, route)`` sees each matched request before the route's script runs and may
answer instead by returning a behaviour (e.g. ``respond(409, json=...)``, or a replayed
``respond(...)``), and whose ``after(request, route, outcome)`` learns what happened:
``outcome.response`` (:class:`ResponseData`: status, headers, body; None if nothing was
produced) and ``outcome.delivered`` (False when the response was dropped, truncated or timed
out). Both run under the route's lock, one request at a time, from whichever thread delivers
(the loopback server is concurrent). Idempotency-key enforcement is built on this.

*Behaviours from data*: ``respond(status, json=|text=|content=, headers=)`` takes any data,
and a callable ``(httpx.Request) -> behaviour`` computes one per request (it may also return an
``httpx.Response``). Routes can be declared in bulk with ``up.route(method, path)`` in a loop:
they are indexed by method and literal path segments, so matching stays flat in the number of
routes. :meth:`Route.params` extracts a template's parameters from a path.
"""

from apiharness.upstream._authorization_server import AuthorizationServer, RegisteredClient
from apiharness.upstream._behaviours import (
    Behaviour,
    Fault,
    Plan,
    Respond,
    ResponseData,
    close,
    delay,
    dribble,
    drop_after_processing,
    garbage,
    hang,
    malformed_json,
    reset,
    respond,
    status,
    truncate,
    wrong_content_type,
)
from apiharness.upstream._http2 import Http2Server, Http2Settings
from apiharness.upstream._idempotency import IdempotencyPolicy
from apiharness.upstream._journal import Journal, JournalEntry, RejectedRequest
from apiharness.upstream._reading import Limits
from apiharness.upstream._routes import Outcome, Route, RoutePolicy
from apiharness.upstream._scripts import chance, cycle, every, rate_limit, sequence
from apiharness.upstream._server import LoopbackServer
from apiharness.upstream._stream_faults import goaway, reset_stream
from apiharness.upstream._streaming import SSEEvent, chunked, ndjson, sse
from apiharness.upstream._tls import TLSCertificates, TLSFault
from apiharness.upstream._upstream import TimedBody, Upstream

__all__ = [
    "AuthorizationServer",
    "Behaviour",
    "Fault",
    "Http2Server",
    "Http2Settings",
    "IdempotencyPolicy",
    "Journal",
    "JournalEntry",
    "Limits",
    "LoopbackServer",
    "Outcome",
    "Plan",
    "RegisteredClient",
    "RejectedRequest",
    "Respond",
    "ResponseData",
    "Route",
    "RoutePolicy",
    "SSEEvent",
    "TLSCertificates",
    "TLSFault",
    "TimedBody",
    "Upstream",
    "chance",
    "chunked",
    "close",
    "cycle",
    "delay",
    "dribble",
    "drop_after_processing",
    "every",
    "garbage",
    "goaway",
    "hang",
    "malformed_json",
    "ndjson",
    "rate_limit",
    "reset",
    "reset_stream",
    "respond",
    "sequence",
    "sse",
    "status",
    "truncate",
    "wrong_content_type",
]
