"""A deliberately naive client on httpx: the mistakes the conformance suite exists to catch.

It retries everything at once (4xx included), ignores Retry-After, mints a new Idempotency-Key
for every attempt, has no circuit breaker and validates nothing. Grade it with::

    apiharness grade shop.naive_httpx:make_client
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx


class NaiveError(Exception):
    """The only error this client means to raise."""


class NaiveHttpxClient:
    errors: tuple[type[BaseException], ...] = (NaiveError,)

    def __init__(self, base_url: str, attempts: int = 3) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=5.0)
        self.attempts = attempts

    def _send(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        for _ in range(self.attempts):
            # Bug: a fresh key per attempt defeats the point of idempotency keys.
            headers = {"Idempotency-Key": str(uuid.uuid4())} if method == "POST" else {}
            try:
                response = self.http.request(method, path, json=body, headers=headers)
            except httpx.TransportError:
                continue  # Bug: retries at once, no backoff.
            if response.status_code < 400:
                return response.json()  # Bug: no validation; JSON errors escape untyped.
        raise NaiveError(f"{method} {path} failed after {self.attempts} attempts")

    def get(self, path: str) -> Any:
        return self._send("GET", path)

    def create(self, path: str, body: dict[str, Any]) -> Any:
        return self._send("POST", path, body)

    def close(self) -> None:
        self.http.close()


def make_client(base_url: str) -> NaiveHttpxClient:
    return NaiveHttpxClient(base_url)
