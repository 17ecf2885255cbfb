"""The conformance adapter for apiharness's own reference client — the standard to meet.

``resilient_client`` brings retry with full-jitter backoff and Retry-After, a circuit breaker
and deadlines; this adapter adds the two things only the caller can know: one Idempotency-Key
per logical operation (the retry transport resends the same request, so every attempt carries
it) and validation of the body against the published schema.
"""

from __future__ import annotations

import json
import ssl
import uuid
from typing import Any

import httpx
import jsonschema

from apiharness.clients import async_resilient_client, resilient_client
from apiharness.conformance import RESOURCE_SCHEMA
from apiharness.errors import ClientError, ResponseValidationError

_VALIDATOR = jsonschema.Draft202012Validator(RESOURCE_SCHEMA)
ERRORS: tuple[type[BaseException], ...] = (httpx.HTTPError, ClientError)
TIMEOUT = 0.5  # per attempt; the conformance suite's hung upstream must cost little wall time


def parse(response: httpx.Response) -> dict[str, Any]:
    """Raise for error statuses; parse and validate the body, or raise a typed error."""
    response.raise_for_status()
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ResponseValidationError(f"{response.request.url.path}: body is not JSON") from exc
    error = jsonschema.exceptions.best_match(_VALIDATOR.iter_errors(body))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        raise ResponseValidationError(f"{response.request.url.path}: {where}: {error.message}")
    resource: dict[str, Any] = body
    return resource


def tls(client_cert: str | None) -> ssl.SSLContext | bool:
    """Default verification (``SSL_CERT_FILE`` honoured), presenting ``client_cert`` if given:
    httpx 0.28 takes a client certificate inside the SSL context (its ``cert=`` is deprecated)."""
    if client_cert is None:
        return True
    context = httpx.create_ssl_context(trust_env=True)
    context.load_cert_chain(client_cert)
    return context


def new_key() -> dict[str, str]:
    return {"Idempotency-Key": f'"{uuid.uuid4()}"'}


class ReferenceAdapter:
    errors = ERRORS
    http2 = True  # ALPN offers h2 (and http/1.1); the transport catalogue grades it on HTTP/2

    def __init__(self, base_url: str, client_cert: str | None = None) -> None:
        self.http = resilient_client(base_url, timeout=TIMEOUT, verify=tls(client_cert), http2=True)

    def get(self, path: str) -> dict[str, Any]:
        return parse(self.http.get(path))

    def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return parse(self.http.post(path, json=body, headers=new_key()))

    def close(self) -> None:
        self.http.close()


class AsyncReferenceAdapter:
    errors = ERRORS
    http2 = True

    def __init__(self, base_url: str, client_cert: str | None = None) -> None:
        self.http = async_resilient_client(
            base_url, timeout=TIMEOUT, verify=tls(client_cert), http2=True
        )

    async def get(self, path: str) -> dict[str, Any]:
        return parse(await self.http.get(path))

    async def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return parse(await self.http.post(path, json=body, headers=new_key()))

    async def close(self) -> None:
        await self.http.aclose()


def make_client(base_url: str, *, client_cert: str | None = None) -> ReferenceAdapter:
    """``client_cert``: a PEM file with key and chain, for servers that require one (mTLS)."""
    return ReferenceAdapter(base_url, client_cert)


def make_async_client(base_url: str, *, client_cert: str | None = None) -> AsyncReferenceAdapter:
    return AsyncReferenceAdapter(base_url, client_cert)
