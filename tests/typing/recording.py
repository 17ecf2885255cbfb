"""Typical use of apiharness.recording, type-checked with mypy --strict (never executed)."""

from __future__ import annotations

from pathlib import Path

import httpx

from apiharness import CassetteError, SecretLeakError
from apiharness.recording import (
    Cassette,
    CassettePlayer,
    Leak,
    Recorder,
    Redactor,
    check_cassettes,
    find_leaks,
)
from apiharness.upstream import Upstream, status


def record_and_check(path: Path) -> list[Path]:
    redactor = Redactor().with_extra(headers={"X-Tenant-Key"}, body_fields={"pin"})
    with Recorder(
        path, upstream="https://api.example.com", redact_headers=("X-Tenant-Key",)
    ) as rec:
        httpx.get(f"{rec.base_url}/v1/items")
    cassette = Cassette.load(path)
    cassette.interactions = [redactor.redact(i) for i in cassette]
    cassette.save()
    try:
        return check_cassettes([path], {"tenant": "t-123456"})
    except SecretLeakError as exc:
        return [Path(str(leak)) for leak in exc.leaks if isinstance(leak, Leak)]


def replay(path: Path) -> int:
    try:
        with httpx.Client(transport=CassettePlayer(path)) as client:
            return client.get("https://api.example.com/v1/items").status_code
    except CassetteError:
        return -1


def faults(path: Path) -> int:
    up = Upstream(base_url="https://api.test")
    recorded = up.from_cassette(path)
    up.get("/v1/items").respond(status(429, retry_after=1), recorded.responder("GET", "/v1/items"))
    leaks: list[Leak] = find_leaks(path.read_bytes(), {"k": "secret-value"})
    return len(recorded.routes) + len(leaks)
