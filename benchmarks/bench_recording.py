"""Recording and replaying cassettes, side by side with the alternatives.

Replay: vcrpy compares each request with every recorded interaction (re-parsing URLs each
time); the harness indexes the cassette once. Both replay the same VCR.py file through an httpx
client, requesting interactions spread over the whole cassette in a shuffled order. Load time
(file to a ready-to-replay object) and per-request time are measured separately.

Recording overhead: the redactor's first pass alone (by place) against both passes (by place,
then every found value scrubbed everywhere in every encoding), per interaction, on echo
exchanges like httpbin's: each request carries credentials in headers, query and JSON body,
the response echoes them and issues a fresh token that the next request sends in its path. The
YAML serialisation of the same interactions is given as a yardstick of what writing costs.
"""

from __future__ import annotations

import functools
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
    Redactor,
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


def echo_exchanges(size: int) -> list[Interaction]:
    """httpbin-like exchanges: secrets sent, echoed, a token issued and used in the next path."""
    interactions = []
    issued = "issued-token-start-000"
    for n in range(size):
        uri = f"{BASE}/anything/sessions/{issued}?api_key=key-{n:012d}&page={n}"
        headers = (
            ("Authorization", f"Bearer tok-{n:016d}"),
            ("Content-Type", "application/json"),
            ("Accept", "application/json"),
        )
        body = json.dumps({"user": f"user-{n}", "password": f"pw-{n:012d}", "items": [1, 2, 3]})
        issued = f"issued-token-{n:010d}"
        echo = {
            "args": {"api_key": f"key-{n:012d}", "page": str(n)},
            "data": body,
            "headers": dict(headers),
            "json": json.loads(body),
            "url": uri,
            "access_token": issued,
            "pad": "x" * 300,
        }
        interactions.append(
            Interaction(
                RecordedRequest("POST", uri, headers, body.encode()),
                RecordedResponse(
                    200, "OK", (("Content-Type", "application/json"),), json.dumps(echo).encode()
                ),
            )
        )
    return interactions


def recording_overhead(smoke: bool) -> Table:
    sizes = (50,) if smoke else (100, 1000)
    rounds = 2 if smoke else 5
    table = Table(
        "Redacting a recording of echo exchanges, per interaction",
        "µs per interaction",
        baseline=f"first pass alone ({sizes[0]})",
        target="both passes within 3x of the first pass; linear in the recording's size",
    )
    redactor = Redactor()

    def first_pass(interactions: list[Interaction]) -> None:
        found: dict[str, str] = {}  # the first pass alone: private, measured on purpose
        for i in interactions:
            redactor._first_request(i.request, found, "")
            redactor._first_response(i.response, found, "")

    for size in sizes:
        exchanges = echo_exchanges(size)
        first = median_time(functools.partial(first_pass, exchanges), repeat=rounds) / size
        both_passes = functools.partial(redactor.redact_recording, exchanges)
        both = median_time(both_passes, repeat=rounds) / size
        written = Cassette(redactor.redact_all(exchanges))
        dump = median_time(written.to_yaml, repeat=rounds) / size
        table.add(f"first pass alone ({size})", 1e6 * first, "by place")
        table.add(f"both passes ({size})", 1e6 * both, "by place, then by value everywhere")
        table.add(f"YAML serialisation ({size})", 1e6 * dump, "yardstick: writing the cassette")
    return table


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
    return [load, per_request, recording_overhead(smoke)]
