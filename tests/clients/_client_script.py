"""A scripted in-process upstream for the client tests (httpx MockTransport handler)."""

from __future__ import annotations

from collections.abc import Callable

import httpx

Outcome = int | tuple[int, dict[str, str]] | Exception


class Script:
    """An httpx MockTransport handler that serves outcomes in order, repeating the last."""

    def __init__(self, *outcomes: Outcome) -> None:
        self.outcomes = list(outcomes)
        self.requests: list[httpx.Request] = []
        self.bodies: list[bytes] = []
        self.timeouts: list[dict[str, float | None]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.bodies.append(request.read())
        self.timeouts.append(dict(request.extensions.get("timeout", {})))
        outcome = self.outcomes.pop(0) if len(self.outcomes) > 1 else self.outcomes[0]
        if isinstance(outcome, Exception):
            raise outcome
        status, headers = outcome if isinstance(outcome, tuple) else (outcome, {})
        return httpx.Response(status, headers=headers, text=f"body {status}")

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)


#: ``run(transport, method, url, **kwargs)`` through an httpx.Client or an AsyncClient.
Runner = Callable[..., httpx.Response]
