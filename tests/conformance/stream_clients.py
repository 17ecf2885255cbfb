"""Stream consumers graded by the ``streaming`` catalogue: a naive one and the reference one.

The naive consumer is httpx-sse as its README shows it (``connect_sse`` + ``iter_sse``), which
parses correctly and does nothing else: no reconnect, no Last-Event-ID, no error events. The
careful one is :func:`apiharness.clients.stream_events` behind a ``ResilientTransport``.
"""

from __future__ import annotations

from typing import Any

import httpx
from httpx_sse import connect_sse

from apiharness.clients import ResilientTransport, SSEResume, astream_events, stream_events
from apiharness.errors import ApiHarnessError


class PlainHttpx:
    """get and create through a plain httpx client ``http`` (the streaming catalogue never calls
    them; the transport catalogue's adapters add only how the client is built)."""

    errors: tuple[type[BaseException], ...] = (httpx.HTTPError,)
    http: httpx.Client

    def get(self, path: str) -> Any:
        return self.http.get(path).raise_for_status().json()

    def create(self, path: str, body: dict[str, Any]) -> Any:
        return self.http.post(path, json=body).raise_for_status().json()

    def close(self) -> None:
        self.http.close()


class NaiveStream(PlainHttpx):
    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url)  # httpx's default 5 s timeout

    def stream(self, path: str) -> list[str]:
        with connect_sse(self.http, "GET", path) as source:
            return [event.data for event in source.iter_sse()]


class CarefulStream(PlainHttpx):
    errors = (httpx.HTTPError, ApiHarnessError)

    def __init__(self, base_url: str) -> None:
        transport = ResilientTransport(httpx.HTTPTransport())
        self.http = httpx.Client(base_url=base_url, transport=transport, timeout=1.0)

    def stream(self, path: str) -> list[str]:
        return [event.data for event in stream_events(self.http, path, resume=SSEResume())]


class AsyncCarefulStream:
    errors = (httpx.HTTPError, ApiHarnessError)

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http: httpx.AsyncClient | None = None

    def _client(self) -> httpx.AsyncClient:
        # Built on the adapter's own loop, on first use.
        if self.http is None:
            transport = ResilientTransport(httpx.AsyncHTTPTransport())
            self.http = httpx.AsyncClient(base_url=self.base_url, transport=transport, timeout=1)
        return self.http

    async def get(self, path: str) -> Any:
        return (await self._client().get(path)).raise_for_status().json()

    async def create(self, path: str, body: dict[str, Any]) -> Any:
        return (await self._client().post(path, json=body)).raise_for_status().json()

    async def stream(self, path: str) -> list[str]:
        return [event.data async for event in astream_events(self._client(), path)]

    async def close(self) -> None:
        if self.http is not None:
            await self.http.aclose()
