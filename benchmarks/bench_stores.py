"""Shared state: each Redis store against its embedded sibling, operations per second.

Idempotency results and webhook dedup against their SQLite stores (the embedded default, a file
in a temporary folder, WAL journal); the token bucket against the in-process one (there is no
SQLite bucket); the token store against the encrypted file store. Redis is a real redis-server
started here on a loopback port (no persistence, as a cache would run), reached over TCP with
one connection, as one worker process would reach it. Higher is better. The sibling is the
baseline: the ratio says what sharing the state between hosts costs a single process.

Contenders are timed in interleaved rounds (A, B, A, B, ...) so a slow spell on a shared machine
hits them alike; the median round is reported.
"""

from __future__ import annotations

import itertools
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import redis
from pydantic import SecretStr

from apiharness.stores import (
    EncryptedFileTokenStore,
    RedisDedupStore,
    RedisResultStore,
    RedisTokenBucket,
    RedisTokenStore,
    SQLiteDedupStore,
    SQLiteResultStore,
    StoredResult,
    Token,
    TokenBucket,
)
from benchmarks._common import Table, median_time

Contender = tuple[str, Callable[[], object]]


@contextmanager
def _redis(folder: Path) -> Iterator[str]:
    """A throwaway redis-server on a free loopback port; its URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
         "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    try:
        for _ in range(1000):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.01)
        yield url
    finally:
        client.close()
        server.terminate()
        server.wait(timeout=30)


def _interleaved(title: str, contenders: list[Contender], baseline: str, smoke: bool) -> Table:
    table = Table(title, "operations per second", baseline, higher_is_better=True)
    numbers = []
    for _, op in contenders:
        one = median_time(op, repeat=3, number=5)  # also warms up: connections, scripts
        # Rounds of about 10 ms (smoke) or 200 ms (full), whatever one operation costs.
        numbers.append(max(5, int((0.01 if smoke else 0.2) / max(one, 1e-7))))
    samples: list[list[float]] = [[] for _ in contenders]
    for _ in range(2 if smoke else 9):
        for i, (_, op) in enumerate(contenders):
            start = time.perf_counter()
            for _ in range(numbers[i]):
                op()
            samples[i].append(numbers[i] / (time.perf_counter() - start))
    for (name, _), values in zip(contenders, samples, strict=True):
        table.add(name, statistics.median(values))
    return table


def _results(store: SQLiteResultStore | RedisResultStore) -> Callable[[], object]:
    counter = itertools.count()
    result = StoredResult("f" * 64, 201, (("content-type", "application/json"),), b"{}" * 64)

    def op() -> object:
        key = store.key_for(f"op-{next(counter)}")  # a new operation: a key is made
        store.save(key, result)
        return store.lookup(key)

    return op


def _claims(store: SQLiteDedupStore | RedisDedupStore) -> Callable[[], object]:
    counter = itertools.count()
    return lambda: store.claim(f"evt_{next(counter)}", now=time.time())


def _tokens(store: EncryptedFileTokenStore | RedisTokenStore) -> Callable[[], object]:
    token = Token(SecretStr("at" * 20), expires_at=2e9, refresh_token=SecretStr("rt" * 20))

    def op() -> object:
        store.save(token)
        return store.load()

    return op


def run(smoke: bool) -> list[Table]:
    """One table per kind of state."""
    if shutil.which("redis-server") is None:
        print("   (stores: skipped, redis-server is not installed)", file=sys.stderr)
        return []
    with tempfile.TemporaryDirectory() as tmp, _redis(Path(tmp)) as url:
        folder = Path(tmp)
        key = EncryptedFileTokenStore.generate_key()
        huge = 1e9  # a bucket that never makes anyone wait: only the bookkeeping is timed
        return [
            _interleaved(
                "Idempotency results: key_for + save + lookup of a new operation",
                [
                    ("SQLiteResultStore", _results(SQLiteResultStore(folder / "r.sqlite3"))),
                    ("RedisResultStore", _results(RedisResultStore(url))),
                ],
                "SQLiteResultStore",
                smoke,
            ),
            _interleaved(
                "Webhook dedup: claim a new delivery id",
                [
                    ("SQLiteDedupStore", _claims(SQLiteDedupStore(folder / "d.sqlite3"))),
                    ("RedisDedupStore", _claims(RedisDedupStore(url))),
                ],
                "SQLiteDedupStore",
                smoke,
            ),
            _interleaved(
                "Rate limit: reserve a token (never waits)",
                [
                    ("TokenBucket (in process)", TokenBucket(huge, capacity=huge).reserve),
                    (
                        "RedisTokenBucket",
                        RedisTokenBucket(url, "bench", rate=huge, capacity=huge).reserve,
                    ),
                ],
                "TokenBucket (in process)",
                smoke,
            ),
            _interleaved(
                "OAuth token: save + load, encrypted",
                [
                    (
                        "EncryptedFileTokenStore",
                        _tokens(EncryptedFileTokenStore(folder / "t.json", key=key)),
                    ),
                    ("RedisTokenStore", _tokens(RedisTokenStore(url, key=key))),
                ],
                "EncryptedFileTokenStore",
                smoke,
            ),
        ]
