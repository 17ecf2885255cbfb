"""Real retry libraries, each wrapped the way its README recommends, as conformance adapters.

Nobody on the team wrote these libraries: their verdicts (asserted, one by one, with the line of
source that justifies each, in test_conformance_corpus.py) are how the catalogue is checked
against the world. Adapters only translate; they add no retry, validation or key of their own.
"""

from __future__ import annotations

from typing import Any

import httpx
import openai
import requests
import stamina
import tenacity
from httpx_retries import Retry as HttpxRetry
from httpx_retries import RetryTransport
from requests.adapters import HTTPAdapter
from urllib3.util import Retry as Urllib3Retry

# Every README here recommends setting a timeout; none names a value. Half a second per attempt
# keeps the hang scenario cheap and lets a capped retry loop end within its bound.
TIMEOUT = 0.5


class _Adapter:
    """Shared shape: ``get`` and ``create`` go through ``_send``, where each library retries."""

    def _send(self, method: str, path: str, body: dict[str, Any] | None) -> Any:
        raise NotImplementedError

    def get(self, path: str) -> Any:
        return self._send("GET", path, None)

    def create(self, path: str, body: dict[str, Any]) -> Any:
        return self._send("POST", path, body)


class _HttpxAdapter(_Adapter):
    errors: tuple[type[BaseException], ...] = (httpx.HTTPError,)

    def __init__(self, base_url: str, **client: Any) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=TIMEOUT, **client)

    def _send(self, method: str, path: str, body: dict[str, Any] | None) -> Any:
        response = self.http.request(method, path, json=body)
        response.raise_for_status()
        return response.json()

    def close(self) -> None:
        self.http.close()


class Urllib3OnRequests(_Adapter):
    """requests + urllib3 ``Retry`` mounted on an ``HTTPAdapter`` (urllib3's user guide)."""

    errors: tuple[type[BaseException], ...] = (requests.RequestException,)

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        retries = Urllib3Retry(
            total=5, backoff_factor=0.5, status_forcelist=[429, 500, 502, 503, 504]
        )
        self.session = requests.Session()
        self.session.mount("http://", HTTPAdapter(max_retries=retries))

    def _send(self, method: str, path: str, body: dict[str, Any] | None) -> Any:
        response = self.session.request(method, self.base_url + path, json=body, timeout=TIMEOUT)
        response.raise_for_status()
        return response.json()

    def close(self) -> None:
        self.session.close()


def _transient(exc: BaseException) -> bool:
    """Retry transport errors, 429 and 5xx: the filter both tenacity's and stamina's docs show."""
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code == 429 or exc.response.status_code >= 500
    return isinstance(exc, httpx.TransportError)


class Tenacity(_HttpxAdapter):
    """tenacity's ``@retry`` with ``wait_random_exponential`` (its README's jitter example)."""

    @tenacity.retry(
        retry=tenacity.retry_if_exception(_transient),
        wait=tenacity.wait_random_exponential(multiplier=1, max=60),
        stop=tenacity.stop_after_attempt(5),
        reraise=True,
    )
    def _send(self, method: str, path: str, body: dict[str, Any] | None) -> Any:
        return super()._send(method, path, body)


class Stamina(_HttpxAdapter):
    """stamina's ``@stamina.retry(on=...)`` with its defaults (10 attempts, 45 s)."""

    @stamina.retry(on=_transient)
    def _send(self, method: str, path: str, body: dict[str, Any] | None) -> Any:
        return super()._send(method, path, body)


class HttpxRetries(_HttpxAdapter):
    """httpx-retries' ``RetryTransport`` with ``Retry(total=5, backoff_factor=0.5)`` (README)."""

    def __init__(self, base_url: str) -> None:
        retry = HttpxRetry(total=5, backoff_factor=0.5)
        super().__init__(base_url, transport=RetryTransport(retry=retry))


class OpenAISDK:
    """The openai SDK pointed at the harness by ``base_url``; custom requests as its README
    shows (``client.get(path, cast_to=...)``), with the SDK's default retries and timeout."""

    errors: tuple[type[BaseException], ...] = (openai.APIError,)

    def __init__(self, base_url: str) -> None:
        self.client = openai.OpenAI(base_url=base_url, api_key="sk-harness-not-a-real-key")

    def get(self, path: str) -> Any:
        return self.client.get(path, cast_to=object)

    def create(self, path: str, body: dict[str, Any]) -> Any:
        return self.client.post(path, cast_to=object, body=body)

    def close(self) -> None:
        self.client.close()


CORPUS: dict[str, type] = {
    "urllib3-on-requests": Urllib3OnRequests,
    "tenacity": Tenacity,
    "stamina": Stamina,
    "httpx-retries": HttpxRetries,
    "openai": OpenAISDK,
}
