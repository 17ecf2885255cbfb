"""Behaviours and scripts, delivered in-process: what each one answers, and bad declarations."""

from __future__ import annotations

import concurrent.futures
import json
import threading
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from apiharness import DeclarationError, UpstreamError, VirtualClock
from apiharness.upstream import (
    Upstream,
    chance,
    cycle,
    delay,
    dribble,
    drop_after_processing,
    every,
    garbage,
    hang,
    malformed_json,
    rate_limit,
    respond,
    sequence,
    status,
    truncate,
    wrong_content_type,
)


def client(up: Upstream, **kw: object) -> httpx.Client:
    return httpx.Client(transport=up, base_url=up.base_url, **kw)  # type: ignore[arg-type]


def test_respond_bodies_and_headers(upstream: Upstream) -> None:
    upstream.get("/j").respond(respond(201, json={"a": [1, 2]}, headers={"X-Id": "7"}))
    upstream.get("/t").respond(respond(200, text="héllo"))
    upstream.get("/c").respond(respond(202, content=b"\x00\x01"))
    http = client(upstream)
    got = http.get("/j")
    assert (got.status_code, got.json(), got.headers["x-id"]) == (201, {"a": [1, 2]}, "7")
    assert got.headers["content-type"] == "application/json"
    assert got.headers["content-length"] == str(len(got.content))
    assert http.get("/t").text == "héllo"
    assert http.get("/t").headers["content-type"].startswith("text/plain")
    assert http.get("/c").content == b"\x00\x01"


def test_repeated_header_fields_are_sent_as_declared(upstream: Upstream) -> None:
    cookies = [("Set-Cookie", "a=1"), ("X-Other", "x"), ("Set-Cookie", "b=2")]
    upstream.get("/cookies").respond(respond(200, headers=cookies))
    in_process = client(upstream).get("/cookies")
    assert in_process.headers.get_list("set-cookie") == ["a=1", "b=2"]
    with upstream.serve() as server:
        served = httpx.get(server.base_url + "/cookies")
    assert served.headers.multi_items()[:3] == [(k.lower(), v) for k, v in cookies]


def test_retry_after_in_both_forms(upstream: Upstream) -> None:
    when = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    upstream.get("/s").respond(status(429, retry_after=2))
    upstream.get("/d").respond(status(503, retry_after=when))
    upstream.get("/td").respond(status(503, retry_after=timedelta(minutes=1)))
    http = client(upstream)
    assert http.get("/s").headers["retry-after"] == "2"
    assert parsedate_to_datetime(http.get("/d").headers["retry-after"]) == when
    assert http.get("/d").headers["retry-after"].endswith("GMT")
    assert http.get("/td").headers["retry-after"] == "60"


def test_malformed_json_and_wrong_content_type(upstream: Upstream) -> None:
    upstream.get("/m").respond(malformed_json())
    upstream.get("/w").respond(wrong_content_type())
    upstream.get("/w2").respond(wrong_content_type(respond(200, json={"ok": True})))
    http = client(upstream)
    bad = http.get("/m")
    assert bad.headers["content-type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        bad.json()
    assert http.get("/w").headers["content-type"].startswith("text/html")
    relabelled = http.get("/w2")
    assert relabelled.headers["content-type"].startswith("text/html")
    assert relabelled.json() == {"ok": True}


def test_scripts_sequence_times_and_last_repeats(upstream: Upstream) -> None:
    upstream.get("/x").respond(status(503).times(3), status(502), respond(200))
    http = client(upstream)
    assert [http.get("/x").status_code for _ in range(7)] == [503, 503, 503, 502, 200, 200, 200]


def test_cycle_and_every(upstream: Upstream) -> None:
    upstream.get("/c").respond(cycle(status(500), status(201).times(2)))
    upstream.get("/e").respond(every(3, status(503), otherwise=status(200)))
    http = client(upstream)
    assert [http.get("/c").status_code for _ in range(6)] == [500, 201, 201, 500, 201, 201]
    assert [http.get("/e").status_code for _ in range(6)] == [200, 200, 503, 200, 200, 503]


def test_nested_sequence_inside_cycle_counts_as_one_step(upstream: Upstream) -> None:
    upstream.get("/n").respond(cycle(sequence(status(500), status(501)), status(200)))
    http = client(upstream)
    assert [http.get("/n").status_code for _ in range(4)] == [500, 200, 501, 200]


def chaos(seed: int) -> list[int]:
    up = Upstream(seed=seed)
    up.get("/x").respond(chance(0.5, status(503), otherwise=status(200)))
    http = client(up)
    return [http.get("/x").status_code for _ in range(40)]


def test_chance_is_reproducible_with_a_seed_and_varies_across_seeds() -> None:
    first = chaos(1)
    assert first == chaos(1)
    assert {503, 200} <= set(first)
    assert first != chaos(2)


@given(st.lists(st.tuples(st.sampled_from([200, 201, 500, 503]), st.integers(1, 4)), min_size=1))
def test_sequence_serves_each_step_its_count_then_repeats_the_last(
    steps: list[tuple[int, int]],
) -> None:
    up = Upstream()
    up.get("/x").respond(*(status(code).times(n) for code, n in steps))
    http = client(up)
    expected = [code for code, n in steps for _ in range(n)] + [steps[-1][0]] * 3
    assert [http.get("/x").status_code for _ in expected] == expected


def test_callable_behaviour_sees_the_request_body(upstream: Upstream) -> None:
    def echo(request: httpx.Request) -> object:
        return respond(200, json={"got": json.loads(request.content)})

    upstream.post("/echo").respond(echo)
    upstream.get("/raw").respond(lambda request: httpx.Response(418, text="teapot"))
    http = client(upstream)
    assert http.post("/echo", json={"n": 1}).json() == {"got": {"n": 1}}
    raw = http.get("/raw")
    assert raw.status_code == 418
    assert raw.text == "teapot"
    # One Content-Length, the upstream's: the response's own framing header is not copied.
    assert raw.headers.get_list("content-length") == ["6"]
    assert raw.headers["content-type"] == "text/plain; charset=utf-8"


def test_callables_compose_inside_delay_rate_limit_and_scripts(clock: VirtualClock) -> None:
    up = Upstream()
    chosen = lambda request: respond(201, json={"q": request.url.params["q"]})  # noqa: E731
    up.get("/slow").respond(delay(2, then=chosen))
    up.get("/limited").respond(rate_limit(1, per=60, then=chosen))
    up.get("/script").respond(status(503), chosen)
    http = client(up)
    slow = http.get("/slow?q=a")
    assert (slow.status_code, slow.json(), clock.monotonic()) == (201, {"q": "a"}, 2)
    limited = [http.get("/limited?q=b") for _ in range(2)]
    assert [r.status_code for r in limited] == [201, 429]
    assert limited[0].json() == {"q": "b"}
    assert limited[0].headers["ratelimit-remaining"] == "0"  # the wrapper's headers still apply
    assert [http.get("/script?q=c").status_code for _ in range(2)] == [503, 201]
    journaled = [(e.path, e.status, repr(e.behaviour)) for e in up.journal]
    assert journaled[0] == ("/slow", 201, "respond(201, json={'q': 'a'})")
    assert [status for _, status, _ in journaled] == [201, 201, 429, 503, 201]
    assert [r.call_count for r in up.routes] == [1, 2, 2]


def test_a_callable_that_waits_does_not_hold_its_route(upstream: Upstream) -> None:
    # Two requests meet inside the callable: it must run outside the route's lock.
    gate = threading.Barrier(2, timeout=5)

    def meet(request: httpx.Request) -> object:
        gate.wait()
        return respond(200, text=request.url.params["n"])

    upstream.get("/meet").respond(meet)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        texts = sorted(pool.map(lambda n: client(upstream).get(f"/meet?n={n}").text, "12"))
    assert texts == ["1", "2"]
    assert upstream.routes[0].call_count == 2
    assert sorted(entry.url[-1] for entry in upstream.journal) == ["1", "2"]


def test_callable_returning_junk_is_reported(upstream: Upstream) -> None:
    upstream.get("/bad").respond(lambda request: 42)
    with pytest.raises(DeclarationError, match="must return a behaviour"):
        client(upstream).get("/bad")


def test_rate_limit_spends_its_budget_then_429_with_headers(clock: VirtualClock) -> None:
    up = Upstream()
    up.get("/r").respond(rate_limit(2, per=10, then=respond(200, json={"ok": True})))
    http = client(up)
    first, second, third = (http.get("/r") for _ in range(3))
    assert (first.status_code, second.status_code, third.status_code) == (200, 200, 429)
    assert first.headers["ratelimit-limit"] == "2"
    assert first.headers["ratelimit-remaining"] == "1"
    assert second.headers["ratelimit-remaining"] == "0"
    assert third.headers["retry-after"] == "10"
    clock.advance(4)
    assert http.get("/r").headers["retry-after"] == "6"
    clock.advance(6)
    assert http.get("/r").status_code == 200


def test_delay_costs_virtual_time_only(clock: VirtualClock) -> None:
    up = Upstream()
    up.get("/slow").respond(delay(3, then=respond(200, json=1)))
    http = client(up, timeout=5)
    assert http.get("/slow").json() == 1
    assert clock.monotonic() == pytest.approx(3)
    assert clock.sleeps == []  # the upstream's waits are not the client's sleeps


def test_delay_beyond_the_read_timeout_is_a_read_timeout(clock: VirtualClock) -> None:
    up = Upstream()
    up.get("/slow").respond(delay(30))
    with pytest.raises(httpx.ReadTimeout):
        client(up, timeout=2).get("/slow")
    assert clock.monotonic() == pytest.approx(2)


def test_random_delay_is_seeded_and_within_bounds(clock: VirtualClock) -> None:
    def waits(seed: int) -> list[float]:
        up = Upstream(seed=seed)
        up.get("/x").respond(delay(between=(0.5, 1.5)))
        http, seen = client(up), []
        for _ in range(10):
            before = clock.monotonic()
            http.get("/x")
            seen.append(clock.monotonic() - before)
        return seen

    first = waits(3)
    assert all(0.5 <= w <= 1.5 for w in first)
    assert len(set(first)) > 1
    assert first == pytest.approx(waits(3))


def test_hang_ends_at_the_clients_timeout_in_virtual_time(clock: VirtualClock) -> None:
    up = Upstream()
    up.get("/h").respond(hang())
    with pytest.raises(httpx.ReadTimeout):
        client(up, timeout=7).get("/h")
    assert clock.monotonic() == pytest.approx(7)


def test_hang_without_a_client_timeout_is_explained() -> None:
    up = Upstream()
    up.get("/h").respond(hang())
    with pytest.raises(UpstreamError, match="no read timeout"):
        client(up, timeout=None).get("/h")


def test_dribble_spreads_the_body_over_virtual_time(clock: VirtualClock) -> None:
    up = Upstream()
    up.get("/d").respond(dribble(4, over=8, response=respond(200, content=b"abcdefgh")))
    got = client(up, timeout=5).get("/d")
    assert got.content == b"abcdefgh"
    assert clock.monotonic() == pytest.approx(8)


def test_truncated_body_fails_while_reading_after_the_head() -> None:
    up = Upstream()
    up.get("/t").respond(truncate(after=4, response=respond(200, content=b"0123456789")))
    with client(up).stream("GET", "/t") as response:
        assert response.status_code == 200
        assert response.headers["content-length"] == "10"
        with pytest.raises(httpx.RemoteProtocolError, match="received 4 bytes, expected 10"):
            response.read()


def test_drop_after_processing_is_processed_but_not_delivered() -> None:
    up = Upstream()
    up.post("/charges").respond(drop_after_processing(respond(201)), respond(201))
    http = client(up)
    with pytest.raises(httpx.RemoteProtocolError):
        http.post("/charges")
    assert http.post("/charges").status_code == 201
    first, second = up.journal
    assert (first.processed, first.delivered, first.status) == (True, False, None)
    assert (second.processed, second.delivered, second.status) == (True, True, 201)


@pytest.mark.parametrize(
    ("declare", "message"),
    [
        (lambda: respond(200, jsn={}), "unknown argument 'jsn'; did you mean 'json'"),
        (lambda: status(99), "between 100 and 599"),
        (lambda: status(True), "between 100 and 599"),
        (lambda: respond("200"), "between 100 and 599"),
        (lambda: status(429, retry_after="2"), "retry_after= takes whole seconds"),
        (lambda: status(429, retry_after=1.5), "whole, non-negative"),
        (lambda: status(429, retry_after=datetime(2030, 1, 1)), "naive datetime"),
        (lambda: respond(200, json={1, 2}), "JSON-serialisable"),
        (lambda: respond(200, json=1, text="x"), "one of json=, text= or content="),
        (lambda: respond(200, content="str"), "takes bytes"),
        (lambda: respond(200, headers={"Content-Length": "3"}), "must not set Content-Length"),
        (lambda: respond(200, headers=[("Transfer-Encoding", "x")]), "must not set Content-Length"),
        (lambda: respond(200, headers="X-A: 1"), "a list of \\(name, value\\) str pairs"),
        (lambda: status(200, headers=[("X-A",)]), "a list of \\(name, value\\) str pairs"),
        (lambda: respond(200, headers={"X-A": 1}), "a mapping of str to str"),
        (lambda: delay(-1), "at least 0"),
        (lambda: delay("1"), "delay\\(seconds\\) must be a number"),
        (lambda: chance("often", status(500)), "chance\\(p\\) must be a number"),
        (delay, "exactly one"),
        (lambda: delay(between=(2, 1)), "high is below low"),
        (lambda: garbage(0), "garbage\\(n\\) must be an integer of at least 1"),
        (lambda: truncate(after=5, response=respond(content=b"abc")), "cuts nothing"),
        (
            truncate,
            "truncate\\(\\) is missing the argument 'after'; it is called as truncate\\(\\*,",
        ),
        (status, "status\\(\\) is missing the argument 'code'"),
        (lambda: dribble(0), "dribble\\(chunks\\)"),
        (lambda: rate_limit(0), "rate_limit\\(limit\\)"),
        (lambda: rate_limit(1, per=0), "greater than 0"),
        (lambda: chance(1.5, status(500)), "probability"),
        (lambda: every(0, status(500)), "every\\(n\\)"),
        (lambda: status(500).times(0), "times\\(n\\)"),
        (sequence, "at least one behaviour"),
        (lambda: sequence(200), "takes behaviours"),
        (lambda: drop_after_processing(hang()), "respond\\(...\\) or status"),
    ],
)
def test_bad_declarations_fail_at_declaration_time(declare: object, message: str) -> None:
    with pytest.raises(DeclarationError, match=message):
        declare()  # type: ignore[operator]


def test_behaviour_reprs_read_like_their_declaration() -> None:
    assert repr(status(503, retry_after=2)) == "status(503, retry_after=2)"
    assert repr(status(503).times(3)) == "status(503).times(3)"
    assert repr(hang()) == "hang()"
    assert repr(respond(200, json={"a": 1})) == "respond(200, json={'a': 1})"


def test_async_client_gets_the_same_dribble_and_truncation(clock: VirtualClock) -> None:
    import asyncio

    up = Upstream()
    up.get("/d").respond(dribble(2, over=4, response=respond(200, content=b"abcd")))
    up.get("/t").respond(truncate(after=2, response=respond(200, content=b"abcd")))

    async def run() -> bytes:
        async with httpx.AsyncClient(transport=up, base_url=up.base_url, timeout=5) as http:
            body = (await http.get("/d")).content
            with pytest.raises(httpx.RemoteProtocolError):
                await http.get("/t")
            return body

    assert asyncio.run(run()) == b"abcd"
    assert clock.monotonic() == pytest.approx(4)
