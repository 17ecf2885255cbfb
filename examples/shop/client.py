"""A hand-written client for a catalogue API, with a naive retry loop.

This is user code: it knows nothing of apiharness. It sleeps with ``time.sleep`` and reads
``time.monotonic``, so under the harness's virtual clock its backoff costs no real time.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

RETRYABLE = {429, 500, 502, 503, 504}


class CatalogueError(Exception):
    """The catalogue API could not be reached or answered with an error."""


class CatalogueClient:
    """Fetches products, retrying transient failures with exponential backoff."""

    def __init__(self, http: httpx.Client, *, attempts: int = 5, base: float = 0.5) -> None:
        self.http = http
        self.attempts = attempts
        self.base = base
        self.waited: list[float] = []

    def product(self, product_id: str) -> dict[str, Any]:
        for attempt in range(self.attempts):
            response = self.http.get(f"/products/{product_id}")
            if response.status_code not in RETRYABLE:
                break
            if attempt + 1 < self.attempts:
                delay = self.base * 2**attempt
                self.waited.append(delay)
                time.sleep(delay)
        if response.is_error:
            raise CatalogueError(f"GET /products/{product_id} -> {response.status_code}")
        body: dict[str, Any] = response.json()
        return body
