"""A deliberately naive client on requests.

It retries everything at once, POSTs included and without an Idempotency-Key, ignores
Retry-After, sets no timeout, has no circuit breaker and validates nothing. Grade it with::

    apiharness grade shop.naive_requests:make_client
"""

from __future__ import annotations

from typing import Any

import requests


class NaiveRequestsError(Exception):
    """The only error this client means to raise."""


class NaiveRequestsClient:
    errors: tuple[type[BaseException], ...] = (NaiveRequestsError,)

    def __init__(self, base_url: str, attempts: int = 3) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        self.attempts = attempts

    def _send(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        for _ in range(self.attempts):
            try:
                # Bug: no timeout; a silent upstream blocks this call forever.
                response = self.session.request(method, self.base_url + path, json=body)
            except requests.RequestException:
                continue
            if response.ok:
                return response.json()
        raise NaiveRequestsError(f"{method} {path} failed after {self.attempts} attempts")

    def get(self, path: str) -> Any:
        return self._send("GET", path)

    def create(self, path: str, body: dict[str, Any]) -> Any:
        return self._send("POST", path, body)

    def close(self) -> None:
        self.session.close()


def make_client(base_url: str) -> NaiveRequestsClient:
    return NaiveRequestsClient(base_url)
