"""The request reader's head limit, sans I/O: exact however the bytes are cut and whatever
came before the request on the connection (the reader counts a head's bytes exactly only when
the bytes it arrived in could hold one past the limit)."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from apiharness.upstream import Limits
from apiharness.upstream._reading import ParsedRequest, Refusal, RequestReader

LIMIT = 1024


def request_with_head_of(size: int) -> bytes:
    """A GET whose head (request line and fields with their CRLFs, not the blank line) is
    ``size`` bytes."""
    start = b"GET /x HTTP/1.1\r\nHost: a\r\nX-Pad: "
    pad = size - len(start) - 2
    assert pad >= 0
    return start + b"p" * pad + b"\r\n\r\n"


@given(
    before=st.lists(st.integers(0, 3 * LIMIT), max_size=3),
    margin=st.integers(2, 600),
    over=st.booleans(),
    cuts=st.lists(st.integers(0, 8 * LIMIT), max_size=6),
)
def test_a_head_is_refused_exactly_when_it_is_past_the_limit(
    before: list[int], margin: int, over: bool, cuts: list[int]
) -> None:
    # Requests with bodies of any size come first, on the same connection and in the same
    # reads, so the last request's head can begin anywhere inside a read.
    stream = b"".join(
        b"POST /b HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % n + b"b" * n for n in before
    )
    size = LIMIT + margin if over else LIMIT - margin
    stream += request_with_head_of(size)
    reader = RequestReader(Limits(max_head_bytes=LIMIT), "http", "127.0.0.1:1")
    points = sorted({0, len(stream), *(c for c in cuts if c < len(stream))})
    for start, end in itertools.pairwise(points):
        reader.feed(stream[start:end])
    answers = list(reader.ready)
    assert all(isinstance(a, ParsedRequest) for a in answers[: len(before)])
    last = answers[len(before)]
    if over:
        assert isinstance(last, Refusal)
        assert last.status == 431
    else:
        assert isinstance(last, ParsedRequest)
        assert last.path == "/x"
