"""The loopback server's requests: an ``httpx.Request`` whose headers are built on first read.

The server skips ``httpx.Request.__init__`` (it would normalise every header of every request);
these tests hold the result to what ``httpx.Request`` itself makes of the same bytes, with the
installed httpx, and check that a journal reader sees the request as the client sent it.
"""

from __future__ import annotations

import copy
import pickle

import httpx
import pytest

from apiharness.upstream import Limits, Upstream, respond
from apiharness.upstream._reading import ParsedRequest, RequestReader, WireRequest

HEAD = (
    b"POST /orders/9?x=1&x=2 HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nX-Trace: t\r\n"
    b"x-trace: u\r\nContent-Type: application/json\r\nContent-Length: 9\r\n\r\n"
    b'{"qty":2}'
)


def wire_request(data: bytes = HEAD) -> WireRequest:
    reader = RequestReader(Limits(), "http", "127.0.0.1:8000")
    reader.feed(data)
    (parsed,) = reader.ready
    assert isinstance(parsed, ParsedRequest)
    return WireRequest(parsed)


def ordinary(request: WireRequest) -> httpx.Request:
    """What httpx.Request makes of the same method, URL, raw headers and body."""
    made = httpx.Request(
        request.method,
        request.url,
        headers=request.headers.raw,
        stream=httpx.ByteStream(request.content),
    )
    made.read()
    return made


def test_it_is_the_request_httpx_would_build() -> None:
    request = wire_request()
    expected = ordinary(wire_request())
    assert isinstance(request, httpx.Request)
    assert request.method == expected.method == "POST"
    assert request.url == expected.url == "http://127.0.0.1:8000/orders/9?x=1&x=2"
    assert request.headers == expected.headers
    assert request.headers.raw == expected.headers.raw
    assert request.headers.get_list("x-trace") == ["t", "u"]
    assert request.content == expected.content == b'{"qty":2}'
    assert request.read() == b'{"qty":2}'
    assert b"".join(request.stream) == b'{"qty":2}'  # type: ignore[arg-type]
    assert request.extensions == expected.extensions == {}
    assert repr(request).endswith("('POST', 'http://127.0.0.1:8000/orders/9?x=1&x=2')>")


def test_it_sets_every_attribute_httpx_request_init_sets() -> None:
    # A new httpx that sets another attribute in Request.__init__ fails here, not in a user's
    # test: WireRequest must then set it too.
    request = wire_request()
    request.headers  # noqa: B018 - built on first read
    request.stream  # noqa: B018 - made on first read
    ours = set(vars(request)) - {"_headers", "_raw_headers"}
    theirs = set(vars(ordinary(wire_request()))) - {"headers"}
    assert ours == theirs


def test_the_stream_is_one_object_and_assignable() -> None:
    request = wire_request()
    stream = request.stream
    assert request.stream is stream
    assert b"".join(stream) == b'{"qty":2}'  # type: ignore[arg-type]
    request.stream = httpx.ByteStream(b"other")
    assert b"".join(request.stream) == b"other"  # type: ignore[arg-type]


def test_headers_are_one_object_mutable_and_assignable() -> None:
    request = wire_request()
    headers = request.headers
    assert request.headers is headers
    headers["X-Added"] = "1"
    assert request.headers["x-added"] == "1"
    request.headers = httpx.Headers({"A": "b"})
    assert list(request.headers.items()) == [("a", "b")]


@pytest.mark.parametrize("read_first", [False, True])
def test_it_pickles_and_copies_whether_or_not_headers_were_read(read_first: bool) -> None:
    request = wire_request()
    if read_first:
        request.headers["X-Added"] = "1"
    for clone in (pickle.loads(pickle.dumps(request)), copy.deepcopy(request)):
        assert clone.method == request.method
        assert clone.url == request.url
        assert clone.headers.raw == request.headers.raw
        assert clone.content == request.content


def test_the_server_journals_what_the_client_sent_and_builds_headers_only_when_read() -> None:
    up = Upstream()
    up.post("/orders/{id}").respond(respond(201, json={}))
    with up.serve() as server, httpx.Client() as http:
        sent = http.post(
            server.base_url + "/orders/9?x=1",
            json={"qty": 2},
            headers={"X-Trace": "t", "Authorization": "Bearer s3cret"},
        ).request
    (entry,) = up.journal
    assert isinstance(entry.request, WireRequest)
    assert "_headers" not in vars(entry.request)  # routing and journaling never read them
    assert "stream" not in vars(entry.request)  # nor the body stream: fewer objects to keep
    assert entry.headers is entry.request.headers
    assert entry.headers.raw == sent.headers.raw
    assert entry.method == "POST"
    assert entry.url == server.url + "/orders/9?x=1"
    assert entry.path == "/orders/9"
    assert entry.body == sent.content == b'{"qty":2}'
    assert entry.json() == {"qty": 2}
    assert "s3cret" not in repr(entry.headers)


def test_header_matchers_still_see_the_headers() -> None:
    up = Upstream()
    up.get("/x", headers={"x-tenant": "a"}).respond(respond(200, text="a"))
    up.get("/x").respond(respond(200, text="other"))
    with up.serve() as server, httpx.Client() as http:
        assert http.get(server.base_url + "/x", headers={"X-Tenant": "a"}).text == "a"
        assert http.get(server.base_url + "/x", headers={"X-Tenant": "b"}).text == "other"
