"""One fault vocabulary, two deliveries: every wire fault raises the same exception class
in-process as the stack's real transport raises for it on a loopback socket, sync and async,
for httpx and for httpx2 (each test runs once per installed stack)."""

from __future__ import annotations

import asyncio
from types import ModuleType
from typing import TYPE_CHECKING

import pytest

from apiharness import VirtualClock, use_clock
from apiharness.upstream import (
    Behaviour,
    Upstream,
    close,
    delay,
    dribble,
    drop_after_processing,
    garbage,
    hang,
    reset,
    respond,
    truncate,
)

TIMEOUT = 0.5  # real seconds on the socket (generous: the machine is shared); virtual in-process

FAULTS: dict[str, Behaviour] = {
    "hang": hang(),
    "reset": reset(),
    "close": close(),
    "garbage": garbage(48),
    "truncate": truncate(after=5),
    "drop": drop_after_processing(respond(201)),
    "delay-past-timeout": delay(TIMEOUT * 4),
    "dribble-past-timeout": dribble(2, over=TIMEOUT * 4),
}

# What each stack's real transport raises, checked below; kept here to catch a silent change in
# both deliveries (the same names in httpx and httpx2, each stack's own classes).
EXPECTED = {
    "hang": "ReadTimeout",
    "reset": "ReadError",
    "close": "RemoteProtocolError",
    "garbage": "RemoteProtocolError",
    "truncate": "RemoteProtocolError",
    "drop": "RemoteProtocolError",
    "delay-past-timeout": "ReadTimeout",
    "dribble-past-timeout": "ReadTimeout",
}

if TYPE_CHECKING:  # annotations only: these tests also run where only httpx2 is installed
    import httpx


def faulty_upstream() -> Upstream:
    up = Upstream()
    for name, behaviour in FAULTS.items():
        up.get(f"/{name}").respond(behaviour)
    return up


def outcome_sync(http: httpx.Client, name: str) -> type[BaseException] | None:
    try:
        http.get(f"/{name}")
    except Exception as exc:
        return type(exc)
    return None


async def outcome_async(http: httpx.AsyncClient, name: str) -> type[BaseException] | None:
    try:
        await http.get(f"/{name}")
    except Exception as exc:
        return type(exc)
    return None


def test_every_wire_fault_raises_the_same_class_in_process_and_on_the_socket(
    stack: ModuleType,
) -> None:
    up = faulty_upstream()
    # In-process under a virtual clock: the waits cost nothing.
    with use_clock(VirtualClock()):
        http = stack.Client(transport=up, base_url=up.base_url, timeout=TIMEOUT)
        in_process = {name: outcome_sync(http, name) for name in FAULTS}

        async def run_async() -> dict[str, type[BaseException] | None]:
            async with stack.AsyncClient(
                transport=up, base_url=up.base_url, timeout=TIMEOUT
            ) as client:
                return {name: await outcome_async(client, name) for name in FAULTS}

        in_process_async = asyncio.run(run_async())
    # On a real socket, with httpx's real transport, in real time.
    with up.serve() as server:
        with stack.Client(base_url=server.base_url, timeout=TIMEOUT) as http:
            on_socket = {name: outcome_sync(http, name) for name in FAULTS}

        async def run_socket() -> dict[str, type[BaseException] | None]:
            async with stack.AsyncClient(base_url=server.base_url, timeout=TIMEOUT) as client:
                return {name: await outcome_async(client, name) for name in FAULTS}

        on_socket_async = asyncio.run(run_socket())
    assert in_process == on_socket
    assert in_process_async == on_socket_async
    expected = {name: getattr(stack, cls) for name, cls in EXPECTED.items()}
    assert on_socket == expected
    assert on_socket_async == expected


@pytest.mark.parametrize("name", ["drop", "truncate", "reset"])
def test_journal_agrees_across_deliveries(name: str, stack: ModuleType) -> None:
    up = faulty_upstream()
    http = stack.Client(transport=up, base_url=up.base_url, timeout=TIMEOUT)
    outcome_sync(http, name)
    with up.serve() as server, stack.Client(base_url=server.base_url, timeout=TIMEOUT) as c:
        outcome_sync(c, name)
    first, second = up.journal
    assert (first.status, first.processed, first.delivered) == (
        second.status,
        second.processed,
        second.delivered,
    )
    assert first.delivered is False


# Framing: what a client receives when nothing goes wrong, request and response side.
FRAMED: dict[str, tuple[str, str, bytes | list[bytes] | None]] = {
    "json": ("GET", "/json", None),
    "head": ("HEAD", "/json", None),
    "empty-204": ("GET", "/empty", None),
    "delay-within-timeout": ("GET", "/delayed", None),
    "dribble-within-timeout": ("GET", "/dribbled", None),
    "content-length-body": ("POST", "/echo", b"sized body"),
    "chunked-body": ("POST", "/echo", [b"chunked ", b"body"]),
    "unmatched": ("GET", "/nowhere", None),
}


def framed_upstream() -> Upstream:
    up = Upstream(allow_unmatched=True)
    up.get("/json").respond(respond(200, json={"id": 1}, headers={"X-Trace": "t"}))
    up.head("/json").respond(respond(200, json={"id": 1}, headers={"X-Trace": "t"}))
    up.get("/empty").respond(respond(204))
    up.get("/delayed").respond(delay(TIMEOUT / 10, then=respond(202, text="late")))
    up.get("/dribbled").respond(dribble(3, over=TIMEOUT / 5, response=respond(text="a" * 30)))
    up.post("/echo").respond(
        lambda r: respond(200, content=r.content, headers={"X-Framing": framing(r)})
    )
    return up


def framing(request: httpx.Request) -> str:
    return "chunked" if "transfer-encoding" in request.headers else "length"


def received(http: httpx.Client, case: str) -> tuple[int, list[tuple[str, str]], bytes]:
    method, path, body = FRAMED[case]
    content = iter(body) if isinstance(body, list) else body
    response = http.request(method, path, content=content)
    # Connection is the socket's own business; the rest must agree byte for byte.
    headers = [(k, v) for k, v in response.headers.items() if k != "connection"]
    return response.status_code, headers, response.content


def test_well_framed_exchanges_are_the_same_in_process_and_on_the_socket(
    stack: ModuleType,
) -> None:
    up = framed_upstream()
    with stack.Client(transport=up, base_url=up.base_url, timeout=TIMEOUT) as http:
        in_process = {case: received(http, case) for case in FRAMED}
    with up.serve() as server, stack.Client(base_url=server.base_url, timeout=TIMEOUT) as http:
        on_socket = {case: received(http, case) for case in FRAMED}
    for case in FRAMED:
        if case == "unmatched":  # the diagnostic names the URL, which differs: compare the rest
            assert in_process[case][:2] == on_socket[case][:2]
            continue
        assert in_process[case] == on_socket[case], case
    assert on_socket["head"][2] == b""
    assert dict(on_socket["chunked-body"][1])["x-framing"] == "chunked"
    assert on_socket["chunked-body"][2] == b"chunked body"
    entries = up.journal.entries
    assert [e.delivered for e in entries] == [True] * len(entries)
