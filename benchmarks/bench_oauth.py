"""OAuth token handling and idempotency keys: what they cost per request, and refresh storms.

* Per-request cost of ``TokenAuth`` against a static ``Authorization`` header, in-process.
* A refresh storm: N threads find the same token expired at once, against the mock
  authorization server with rotating refresh tokens. ``TokenManager`` (single flight) against
  an ``httpx.Auth`` that refreshes on expiry in each request without coordination (what a
  hand-written auth class does): refreshes performed and requests that failed.
* Per-request cost of ``IdempotencyTransport`` without a store, with the in-memory store and
  with the SQLite store (WAL), against a bare transport; and of an upstream route enforcing
  keys with ``IdempotencyPolicy`` against a plain route.
"""

from __future__ import annotations

import functools
import tempfile
import threading
import time
from collections.abc import Generator
from pathlib import Path

import httpx
from pydantic import SecretStr

from apiharness.clients import IdempotencyTransport, MemoryResultStore, SQLiteResultStore
from apiharness.oauth import AuthorizationCodeFlow, Token, TokenManager
from apiharness.upstream import AuthorizationServer, IdempotencyPolicy, Upstream, respond
from benchmarks._common import Table, median_time

BASE = "https://auth.test"
REDIRECT = "http://127.0.0.1:8765/callback"


def _setup() -> tuple[AuthorizationServer, AuthorizationCodeFlow]:
    server = AuthorizationServer()
    server.register_client("app", redirect_uris=[REDIRECT])
    flow = AuthorizationCodeFlow(
        client_id="app",
        authorization_endpoint=f"{BASE}/authorize",
        token_endpoint=f"{BASE}/token",
        redirect_uri=REDIRECT,
    )
    return server, flow


def _per_request(smoke: bool) -> Table:
    server, flow = _setup()
    transport = httpx.MockTransport(server.handle)
    with httpx.Client(transport=transport) as client:
        token = flow.login(client)
    manager = TokenManager(flow)
    manager.set_token(token)
    number = 50 if smoke else 2000
    table = Table("Authenticated GET, in-process", "µs per request", "static header")
    with httpx.Client(
        transport=transport, headers={"Authorization": token.authorization}
    ) as static:
        table.add(
            "static header",
            1e6 * median_time(lambda: static.get(f"{BASE}/resource"), number=number),
        )
    with httpx.Client(transport=transport, auth=manager.auth()) as managed:
        table.add(
            "TokenAuth (valid token)",
            1e6 * median_time(lambda: managed.get(f"{BASE}/resource"), number=number),
        )
    return table


class _Uncoordinated(httpx.Auth):
    """Refreshes when the token looks expired, in whichever request notices: no single flight."""

    requires_response_body = True

    def __init__(self, flow: AuthorizationCodeFlow, token: Token) -> None:
        self.flow, self.token = flow, token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self.token.expires_within(60, now=time.time()):
            assert self.token.refresh_token is not None
            self.token = yield from self.flow.refresh_flow(self.token.refresh_token)
        request.headers["Authorization"] = self.token.authorization
        yield request


def _storm_once(coordinated: bool, threads: int) -> tuple[AuthorizationServer, list[str]]:
    server, flow = _setup()

    def slow(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            time.sleep(0.02)  # a realistic token endpoint takes a while
        return server.handle(request)

    transport = httpx.MockTransport(slow)
    with httpx.Client(transport=transport) as client:
        fresh = flow.login(client)
    stale = Token(
        fresh.access_token,
        expires_at=time.time() - 1,
        refresh_token=fresh.refresh_token or SecretStr("none"),
    )
    auth: httpx.Auth
    if coordinated:
        manager = TokenManager(flow)
        manager.set_token(stale)
        auth = manager.auth()
    else:
        auth = _Uncoordinated(flow, stale)
    failures: list[str] = []
    barrier = threading.Barrier(threads)

    def call() -> None:
        with httpx.Client(transport=transport, auth=auth) as api:
            barrier.wait()
            try:
                if api.get(f"{BASE}/resource").status_code != 200:
                    failures.append("401")
            except Exception as exc:  # counted, not raised: this is what users would see
                failures.append(type(exc).__name__)

    workers = [threading.Thread(target=call) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return server, failures


def _storm(smoke: bool) -> Table:
    threads = 5 if smoke else 20
    table = Table(
        f"Refresh storm: {threads} threads, one expired token, rotating refresh tokens",
        "refresh attempts reaching the server",
        "TokenManager (single flight)",
    )
    for name, coordinated in (
        ("TokenManager (single flight)", True),
        ("uncoordinated httpx.Auth", False),
    ):
        server, failures = _storm_once(coordinated, threads)
        note = (
            f"{len(failures)} of {threads} requests failed; "
            f"refresh-token reuse detected {server.reuse_detected}x"
        )
        table.add(name, float(server.token_requests - 1), note)  # minus the login
    return table


def _idempotency(smoke: bool) -> Table:
    number = 50 if smoke else 2000
    inner = httpx.MockTransport(lambda request: httpx.Response(201, json={"id": 1}))
    table = Table("POST with Idempotency-Key, in-process", "µs per request", "bare transport")
    with tempfile.TemporaryDirectory() as tmp:
        contenders: list[tuple[str, httpx.BaseTransport]] = [
            ("bare transport", inner),
            ("IdempotencyTransport", IdempotencyTransport(inner)),
            ("+ MemoryResultStore", IdempotencyTransport(inner, store=MemoryResultStore())),
            (
                "+ SQLiteResultStore (WAL)",
                IdempotencyTransport(inner, store=SQLiteResultStore(Path(tmp) / "r.db")),
            ),
        ]
        for name, transport in contenders:
            with httpx.Client(transport=transport) as client:
                seconds = median_time(
                    functools.partial(client.post, f"{BASE}/charges", json={"a": 1}),
                    number=number,
                )
            table.add(name, 1e6 * seconds)
    return table


def _enforcement(smoke: bool) -> Table:
    number = 50 if smoke else 2000
    table = Table(
        "Upstream enforcing idempotency keys, in-process", "µs per request", "plain route"
    )
    for name, policy in (("plain route", None), ("IdempotencyPolicy", IdempotencyPolicy())):
        up = Upstream()
        route = up.post("/charges").respond(respond(201, json={"id": 1}))
        if policy is not None:
            route.add_policy(policy)
        # a fresh key per request: the policy records every operation, the costly path
        with httpx.Client(transport=IdempotencyTransport(up)) as client:
            seconds = median_time(
                functools.partial(client.post, "https://api.test/charges", json={"a": 1}),
                number=number,
            )
        table.add(name, 1e6 * seconds)
    return table


def run(smoke: bool) -> list[Table]:
    return [_per_request(smoke), _storm(smoke), _idempotency(smoke), _enforcement(smoke)]
