"""The HTTP/2 scenarios of the ``transport`` catalogue: refused streams and GOAWAY.

Each is served over TLS with ALPN ``h2`` (:class:`~apiharness.upstream.Http2Server`), the way a
client meets HTTP/2 in production, trusting the session's CA as the TLS scenarios do. They
grade clients that speak HTTP/2: an adapter says so with ``http2 = True`` (httpx, for one,
speaks it only with ``http2=True``); a client whose adapter does not fails them at once, with
that reason, rather than against a server it cannot talk to.

What HTTP/2 adds to retry safety is a promise about processing (RFC 9113 §8.7): a stream reset
with ``REFUSED_STREAM``, or above the last stream id of a GOAWAY, was not processed, so any
request on it, even a POST, may be sent again on a new stream or connection; a stream at or
below that id may have been processed, so a non-idempotent request on it must not be repeated
blindly. The last scenario lets a client repeat such a POST with the same Idempotency-Key (the
upstream replays the stored response): what it forbids is a second effect.
"""

from __future__ import annotations

from apiharness.conformance._catalogue import _must_succeed, ok, scenario
from apiharness.conformance._resource import COLLECTION_PATH, RESOURCE, RESOURCE_PATH
from apiharness.conformance._trial import Trial, Verdict
from apiharness.upstream import IdempotencyPolicy, goaway, reset_stream, respond

__all__: list[str] = []

CATALOGUE = "transport"
#: How every HTTP/2 scenario is served: TLS with ALPN h2.
HTTP2_OVER_TLS = {"https": True, "http2": True}

RFC9113_REFUSED = "RFC 9113 §8.7 (REFUSED_STREAM: not processed, safe to retry)"
RFC9113_GOAWAY = "RFC 9113 §6.8 (GOAWAY: streams above the last stream id were not processed)"


def _not_http2(t: Trial) -> Verdict | None:
    if t.client.http2:
        return None
    return t.fail(
        "not graded: the adapter does not declare http2 = True (this scenario grades clients "
        "that speak HTTP/2; httpx does with http2=True)"
    )


def _unprocessed(t: Trial) -> int:
    return sum(1 for entry in t.up.journal if not entry.processed)


@scenario(
    "h2-retries-refused-stream",
    "a GET whose HTTP/2 stream the server resets with REFUSED_STREAM is sent again and "
    "returns the resource",
    RFC9113_REFUSED,
    catalogue=CATALOGUE,
    serve=HTTP2_OVER_TLS,
)
def _retries_refused_stream(t: Trial) -> Verdict:
    t.up.get(RESOURCE_PATH).respond(reset_stream("REFUSED_STREAM").times(1), ok())
    not_graded = _not_http2(t)
    if not_graded:
        return not_graded
    return _must_succeed(t, t.get(), RESOURCE_PATH)


@scenario(
    "h2-retries-goaway-unprocessed",
    "a GET on a stream above the last stream id of the server's GOAWAY (after one GET that "
    "succeeded on the same client) is sent again and returns the resource",
    RFC9113_GOAWAY + "; " + RFC9113_REFUSED,
    catalogue=CATALOGUE,
    serve=HTTP2_OVER_TLS,
)
def _retries_goaway_unprocessed(t: Trial) -> Verdict:
    t.up.get(RESOURCE_PATH).respond(ok().times(1), goaway().times(1), ok())
    not_graded = _not_http2(t)
    if not_graded:
        return not_graded
    first = t.get()
    if first.error is not None or first.timed_out:
        return t.fail(f"the first GET, before any GOAWAY, {first.describe()}")
    out = t.get()
    n = t.count(path=RESOURCE_PATH)
    if out.error is not None or out.timed_out:
        return t.fail(
            f"{out.describe()} after {n} request(s): the stream the GOAWAY left unprocessed "
            "was not retried"
        )
    return t.ok(f"returned; {n} request(s), {_unprocessed(t)} left unprocessed by the GOAWAY")


@scenario(
    "h2-processed-post-not-repeated",
    "a POST on the stream a GOAWAY names as the last one processed, whose response never "
    "arrives, is not performed twice (giving up with the client's own error, or repeating it "
    "with the same Idempotency-Key, is fine)",
    RFC9113_GOAWAY + "; RFC 9110 §9.2.2 (idempotent methods)",
    catalogue=CATALOGUE,
    serve=HTTP2_OVER_TLS,
)
def _processed_post_not_repeated(t: Trial) -> Verdict:
    charges = IdempotencyPolicy(required=False)
    created = respond(201, json=RESOURCE)
    t.up.post(COLLECTION_PATH).respond(
        goaway(processed=True, response=created).times(1), created
    ).add_policy(charges)
    not_graded = _not_http2(t)
    if not_graded:
        return not_graded
    out = t.create()
    n = t.count(path=COLLECTION_PATH)
    effects = charges.side_effects
    how = "returned" if out.error is None else out.describe()
    did = f"{how} after {n} request(s); the upstream performed {effects} effect(s)"
    return t.ok(did) if effects == 1 else t.fail(did)
