"""Replaying a large cassette: apiharness's indexed player vs plain vcrpy, side by side.

vcrpy compares each request with every recorded interaction (re-parsing URLs each time); the
harness indexes the cassette once. Both replay the same VCR.py file through an httpx client,
requesting interactions spread over the whole cassette in a shuffled order. Load time (file to
a ready-to-replay object) and per-request time are measured separately.
"""

from __future__ import annotations

import json
import random
import tempfile
import time
from pathlib import Path

import httpx
import vcr
from vcr.cassette import Cassette as VcrCassette

from apiharness.recording import (
    Cassette,
    CassettePlayer,
    Interaction,
    RecordedRequest,
    RecordedResponse,
)
from benchmarks._common import Table, median_time

BASE = "https://api.example.com"


def make_cassette(size: int) -> Cassette:
    interactions = []
    for n in range(size):
        body = json.dumps({"id": n, "name": f"item {n}", "tags": ["a", "b"], "pad": "x" * 200})
        interactions.append(
            Interaction(
                RecordedRequest(
                    "GET",
                    f"{BASE}/v1/items/{n}?page={n % 7}&expand=owner",
                    (("Accept", "application/json"), ("Authorization", "Bearer REDACTED")),
                ),
                RecordedResponse(
                    200,
                    "OK",
                    (
                        ("Content-Type", "application/json"),
                        ("Content-Length", str(len(body))),
                        ("X-Request-Id", f"req-{n}"),
                    ),
                    body.encode(),
                ),
            )
        )
    return Cassette(interactions)


def run(smoke: bool) -> list[Table]:
    size = 100 if smoke else 1000
    requests = 50 if smoke else 300
    rounds = 2 if smoke else 5
    cassette = make_cassette(size)
    order = random.Random(0).sample(range(size), requests)
    urls = [f"{BASE}/v1/items/{n}?page={n % 7}&expand=owner" for n in order]
    with tempfile.TemporaryDirectory() as folder:
        path = cassette.save(Path(folder) / "big.yaml")
        load = Table(
            f"Loading a {size}-interaction cassette, ready to replay",
            "ms per load",
            baseline="vcrpy Cassette.load",
            target="apiharness no slower",
        )
        load.add(
            "vcrpy Cassette.load",
            1000 * median_time(lambda: VcrCassette.load(path=str(path)), repeat=rounds),
        )
        load.add(
            "apiharness CassettePlayer(path)",
            1000 * median_time(lambda: CassettePlayer(path), repeat=rounds),
            "safe loader, every field validated, index built",
        )

        per_request = Table(
            f"Replaying {requests} requests from a {size}-interaction cassette (httpx)",
            "µs per request",
            baseline="vcrpy (plain)",
            target="apiharness at least 20x faster",
        )
        player_vcr = vcr.VCR(record_mode="none")

        def vcrpy_round() -> float:
            with (
                player_vcr.use_cassette(str(path)),
                httpx.Client() as client,
            ):
                start = time.perf_counter()
                for url in urls:
                    client.get(url)
                return (time.perf_counter() - start) / len(urls)

        loaded = CassettePlayer(path)

        def harness_round() -> float:
            loaded.index.rewind()
            with httpx.Client(transport=loaded) as client:
                start = time.perf_counter()
                for url in urls:
                    client.get(url)
                return (time.perf_counter() - start) / len(urls)

        def floor_round() -> float:
            transport = httpx.MockTransport(lambda request: httpx.Response(200, content=b"{}"))
            with httpx.Client(transport=transport) as client:
                start = time.perf_counter()
                for url in urls:
                    client.get(url)
                return (time.perf_counter() - start) / len(urls)

        for name, func, note in (
            ("vcrpy (plain)", vcrpy_round, "linear scan per request"),
            ("apiharness CassettePlayer", harness_round, "hash index"),
            ("httpx MockTransport (floor)", floor_round, "no matching at all"),
        ):
            samples = sorted(func() for _ in range(rounds))
            per_request.add(name, 1e6 * samples[len(samples) // 2], note)
    return [load, per_request]
