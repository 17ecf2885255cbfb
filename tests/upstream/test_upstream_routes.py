"""Routes: matching, precedence, the unmatched diagnostic, expectations, policies, the index."""

from __future__ import annotations

import threading
from urllib.parse import quote

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from apiharness import DeclarationError, ExpectationError, UnmatchedRequestError
from apiharness._urls import path_segments
from apiharness.upstream import (
    Behaviour,
    Outcome,
    Route,
    Upstream,
    drop_after_processing,
    respond,
    status,
)


def client(up: Upstream) -> httpx.Client:
    return httpx.Client(transport=up, base_url=up.base_url)


def test_templates_match_their_paths_only() -> None:
    up = Upstream()
    up.get("/users/{id}").respond(status(200))
    up.get("/users/{id}/orders").respond(status(201))
    up.get("/files/{name}.json").respond(status(202))
    up.get("/users/me").respond(status(203))
    http = client(up)
    assert http.get("/users/7").status_code == 200
    assert http.get("/users/7/orders").status_code == 201
    assert http.get("/files/report.json").status_code == 202
    assert http.get("/files/report.xml").status_code == 404
    assert http.get("/users/").status_code == 404  # an empty segment is no parameter
    assert up.routes[0].params("/users/42") == {"id": "42"}


def test_first_declared_route_wins_over_a_more_specific_later_one() -> None:
    up = Upstream()
    up.get("/users/{id}").respond(status(200))
    up.get("/users/me").respond(status(203))
    assert client(up).get("/users/me").status_code == 200


def test_host_query_and_header_matchers() -> None:
    up = Upstream(allow_unmatched=True)
    up.get("/s", host="api.test", query={"q": "cats", "page": None}).respond(status(200))
    up.get("/s", headers={"Authorization": None, "X-Tenant": "a"}).respond(status(201))
    http = client(up)
    assert http.get("/s", params={"q": "cats", "page": "2"}).status_code == 200
    assert http.get("/s", params={"q": "dogs", "page": "2"}).status_code == 404
    assert http.get("/s", params={"q": "cats"}).status_code == 404
    assert http.get("https://other.test/s", params={"q": "cats", "page": "1"}).status_code == 404
    headers = {"authorization": "Bearer x", "x-tenant": "a"}
    assert http.get("/s", headers=headers).status_code == 201
    assert http.get("/s", headers={"X-Tenant": "a"}).status_code == 404


def test_base_url_path_prefixes_every_route() -> None:
    up = Upstream(base_url="https://api.test/v2")
    up.get("/items").respond(status(204))
    assert client(up).get("/items").status_code == 204
    assert up.journal[0].path == "/v2/items"


def test_unmatched_request_gets_a_diagnostic_naming_the_closest_routes() -> None:
    up = Upstream()
    up.post("/users/{id}").respond(status(200))
    up.get("/users/{id}", query={"expand": "orders"}).respond(status(200))
    up.get("/health", headers={"Authorization": "Bearer s3cret"}).respond(status(200))
    got = client(up).get("/users/7", params={"expand": "nope"}, headers={"Authorization": "no"})
    assert got.status_code == 404
    assert got.headers["x-apiharness"] == "unmatched"
    text = got.text
    assert "no route matched GET /users/7" in text
    assert "<Route GET /users/{id} query={'expand': 'orders'}>: query parameter 'expand'" in text
    assert "method is POST, not GET" in text
    assert "header 'authorization' has a different value" in text
    assert "s3cret" not in text
    assert "nope" not in text
    with pytest.raises(UnmatchedRequestError, match="1 request\\(s\\) matched no route") as info:
        up.verify()
    assert "allow_unmatched=True" in str(info.value)


def test_allow_unmatched_opts_out_of_the_check() -> None:
    up = Upstream(allow_unmatched=True)
    assert client(up).get("/x").status_code == 404
    up.verify()


def test_expected_counts_are_checked_and_can_be_opted_out() -> None:
    up = Upstream()
    up.post("/charges", expect=1).respond(status(201))
    up.get("/never", expect=0)
    with pytest.raises(ExpectationError, match="expected 1 call\\(s\\), got 0") as info:
        up.verify()
    assert "drop expect=" in str(info.value)
    assert isinstance(info.value, AssertionError)
    client(up).post("/charges")
    up.verify()
    client(up).post("/charges")
    with pytest.raises(ExpectationError, match="got 2"):
        up.verify()
    up.check_expectations = False
    up.verify()


def test_declaring_the_same_route_again_returns_it() -> None:
    up = Upstream()
    first = up.get("/x")
    assert up.get("/x") is first
    assert up.get("/x", query={"a": "1"}) is not first
    assert len(up.routes) == 2


@pytest.mark.parametrize(
    ("declare", "message"),
    [
        (lambda up: up.get("users"), "starting with '/'"),
        (lambda up: up.get("/users/{id"), "malformed parameter"),
        (lambda up: up.get("/users/{a{b}"), "malformed parameter"),
        (lambda up: up.get("/users/{}"), "malformed parameter"),
        (lambda up: up.get("/a/{x}{y}"), "at most one per segment"),
        (lambda up: up.get("/a/{x}/b/{x}"), "repeats a parameter"),
        (lambda up: up.get("/a?b=1"), "query="),
        (lambda up: up.route("FETCH", "/a"), "route method must be one of"),
        (lambda up: up.get("/a", expect=-1), "expect="),
        (lambda up: up.get("/a", expect="1"), "expect="),
        (lambda up: up.get("/a", query={"a": 1}), "query="),
        (lambda up: up.get("/a", host="http://x/"), "host="),
        (lambda up: up.get("/a", method="GET"), "multiple values for argument 'method'"),
        (lambda up: up.get("/a", expects=1), "did you mean 'expect'"),
        (lambda up: up.get("/a").respond(), "at least one behaviour"),
        (lambda up: up.get("/a").respond(200), "takes behaviours"),
        (lambda up: up.get("/a").add_policy(object()), "add_policy"),
    ],
)
def test_bad_routes_fail_at_declaration(declare: object, message: str) -> None:
    with pytest.raises(DeclarationError, match=message):
        declare(Upstream())  # type: ignore[operator]


segment = st.text(alphabet="abcxyz019-", min_size=1, max_size=6)


many_paths = st.lists(
    st.lists(segment, min_size=1, max_size=4), min_size=1, max_size=30, unique_by=tuple
)


@given(many_paths)
def test_literal_routes_are_found_whatever_else_is_declared(paths: list[list[str]]) -> None:
    up = Upstream()
    for index, parts in enumerate(paths):
        up.get("/" + "/".join(parts)).respond(respond(200, json=index))
    http = client(up)
    for index, parts in enumerate(paths):
        assert http.get("/" + "/".join(parts)).json() == index


def test_matching_examines_only_candidate_routes(monkeypatch: pytest.MonkeyPatch) -> None:
    # Flat in the number of routes, checked by counting rather than timing (the machine is
    # shared): the index hands only routes whose method and literal segments fit to accepts().
    examined: list[Route] = []
    accepts = Route.accepts

    def counting(self: Route, request: httpx.Request, path: str) -> bool:
        examined.append(self)
        return accepts(self, request, path)

    monkeypatch.setattr(Route, "accepts", counting)
    up = Upstream()
    for i in range(500):
        up.get(f"/r{i}/items/{{id}}").respond(respond(200, json=i))
        up.post(f"/r{i}/items/{{id}}")
    up.get("/r7/items/{id}", query={"v": "2"})
    http = client(up)
    assert http.get("/r499/items/5").json() == 499
    assert [r.path for r in examined] == ["/r499/items/{id}"]
    examined.clear()
    assert http.get("/r7/items/5").json() == 7
    # Two GET routes share /r7/items/{id}; the first declared matched, the other is skipped.
    assert [r.query for r in examined] == [{}]


class Recorder:
    """A policy that answers 409 while a key is in flight and records outcomes."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.outcomes: list[Outcome] = []

    def before(self, request: httpx.Request, route: Route) -> Behaviour | None:
        key = request.headers.get("Idempotency-Key", "")
        self.seen.append(key)
        if key == "conflict":
            return respond(409, json={"error": "in flight"})
        return None

    def after(self, request: httpx.Request, route: Route, outcome: Outcome) -> None:
        self.outcomes.append(outcome)


def test_policy_answers_instead_and_learns_outcomes() -> None:
    up = Upstream()
    policy = Recorder()
    up.post("/charges").respond(drop_after_processing(respond(201, json={"id": 1})), status(201))
    up.routes[0].add_policy(policy)
    http = client(up)
    assert http.post("/charges", headers={"Idempotency-Key": "conflict"}).status_code == 409
    with pytest.raises(httpx.RemoteProtocolError):
        http.post("/charges", headers={"Idempotency-Key": "k1"})
    assert http.post("/charges", headers={"Idempotency-Key": "k1"}).status_code == 201
    assert policy.seen == ["conflict", "k1", "k1"]
    conflict, dropped, delivered = policy.outcomes
    assert conflict.response is not None
    assert (conflict.response.status, conflict.delivered) == (409, True)
    assert dropped.response is not None
    assert dropped.response.body == b'{"id":1}'
    assert (dropped.response.status, dropped.delivered, dropped.entry.processed) == (
        201,
        False,
        True,
    )
    assert (delivered.response is not None, delivered.delivered) == (True, True)


def test_policy_hooks_run_one_request_at_a_time_on_a_route() -> None:
    inside, overlaps = [0], []
    lock = threading.Lock()
    crowded = threading.Event()

    class Slow:
        def before(self, request: httpx.Request, route: Route) -> Behaviour | None:
            with lock:
                inside[0] += 1
                overlaps.append(inside[0])
                if inside[0] > 1:
                    crowded.set()
            # Hold the hook open until a second request joins (it never should), or briefly:
            # without the route's lock, the other seven threads walk in during this wait.
            crowded.wait(timeout=0.02)
            with lock:
                inside[0] -= 1
            return None

        def after(self, request: httpx.Request, route: Route, outcome: Outcome) -> None:
            return None

    up = Upstream()
    up.get("/x").add_policy(Slow())
    threads = [threading.Thread(target=lambda: client(up).get("/x")) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert max(overlaps) == 1
    assert len(up.journal) == 8


@given(
    names=st.lists(
        st.text(st.characters(codec="utf-8", exclude_characters="{}/"), min_size=1, max_size=12),
        min_size=1,
        max_size=3,
        unique=True,
    ),
    # Not "." or "..": clients remove dot segments from paths (RFC 3986 section 5.2.4).
    values=st.lists(
        st.from_regex(r"[A-Za-z0-9_~-][A-Za-z0-9._~-]{0,7}", fullmatch=True), min_size=3
    ),
)
def test_any_parameter_name_openapi_allows_works(names: list[str], values: list[str]) -> None:
    # OpenAPI path templates name parameters with anything but braces: {enterprise-team},
    # {user.id}, {1d}, {ünïcode}. Each must route and come back under its own name.
    template = "".join(f"/s{i}/{{{name}}}" for i, name in enumerate(names))
    path = "".join(f"/s{i}/{values[i]}" for i in range(len(names)))
    up = Upstream()
    route = up.get(template).respond(status(204))
    assert client(up).get(path).status_code == 204
    assert route.params(path) == {name: values[i] for i, name in enumerate(names)}


# -- percent-encoded path segments (RFC 3986 section 2.2: "%2F" is data, not a separator) ------

# Not "." or "..": clients remove dot segments from paths (RFC 3986 section 5.2.4).
SEGMENTS = st.lists(
    st.text(st.characters(exclude_categories=("Cs",)), min_size=1).filter(
        lambda s: s not in {".", ".."}
    ),
    min_size=1,
    max_size=4,
)


@given(segments=SEGMENTS)
def test_quoted_segments_route_and_come_back_as_sent(segments: list[str]) -> None:
    # The client quotes each segment whole, so a "/" or "%" in one is data: the request must
    # reach the route with as many parameters, and each must come back exactly.
    names = [f"p{i}" for i in range(len(segments))]
    up = Upstream()
    route = up.get("".join(f"/{{{name}}}" for name in names))
    route.respond(lambda request: respond(200, json=route.params(request.url.raw_path)))
    raw = "/" + "/".join(quote(s, safe="") for s in segments)
    assert path_segments(raw) == segments
    answer = client(up).get(raw)
    assert answer.status_code == 200, answer.text
    assert answer.json() == dict(zip(names, segments, strict=True))


def test_an_encoded_slash_stays_inside_its_segment() -> None:
    up = Upstream()
    one = up.get("/files/{name}").respond(respond(200, text="one"))
    two = up.get("/files/{name}/{part}").respond(respond(200, text="two"))
    mixed = up.get("/docs/{name}.json").respond(respond(200, text="mixed"))
    http = client(up)
    assert http.get("/files/a%2Fb").text == "one"
    assert one.params("/files/a%2Fb") == {"name": "a/b"}
    assert http.get("/files/a/b").text == "two"
    assert two.params("/files/a/b") == {"name": "a", "part": "b"}
    assert http.get("/docs/x%2Fy.json").text == "mixed"
    assert mixed.params(b"/docs/x%2Fy.json?q=1") == {"name": "x/y"}
    # A literal segment matches whether the template or the request encodes it.
    up.get("/a%20b/c d").respond(respond(200, text="literal"))
    assert http.get("/a b/c%20d").text == "literal"
    assert http.get("/a%2Fb/c d").status_code == 404  # "a/b" is not "a b"


def test_head_is_served_by_the_get_route_unless_a_head_route_matches() -> None:
    # RFC 9110 section 9.3.2: HEAD is GET without content; section 8.6: a Content-Length sent
    # with it is the one GET would have sent.
    up = Upstream()
    get = up.get("/items/{id}").respond(respond(200, json={"id": 1}, headers={"ETag": '"v1"'}))
    up.head("/items/special").respond(respond(204))
    up.post("/orders").respond(respond(201))
    http = client(up)
    body = http.get("/items/1")
    head = http.head("/items/1")
    assert (head.status_code, head.content) == (200, b"")
    assert head.headers == body.headers
    assert head.headers["content-length"] == str(len(body.content))
    assert len(get.calls) == 2  # the HEAD counts as one of the GET route's calls
    assert http.head("/items/special").status_code == 204
    assert http.head("/orders").status_code == 404
    with up.serve() as server:  # the same on the wire
        on_wire = httpx.head(server.base_url + "/items/1", timeout=5)
        assert (on_wire.status_code, on_wire.content) == (200, b"")
        assert on_wire.headers["content-length"] == str(len(body.content))
        assert on_wire.headers["etag"] == '"v1"'
    up.allow_unmatched = True
