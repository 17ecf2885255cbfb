"""The client under test, reached through a small adapter the user writes.

A factory ``make_client(base_url: str) -> adapter`` is named as ``"module:attribute"``. The
adapter performs one *logical* operation per call, through the client's whole stack (retries,
breaker, validation …):

* ``get(path: str) -> object`` — one idempotent read;
* ``create(path: str, body: dict) -> object`` — one POST;
* ``errors: tuple[type[BaseException], ...]`` — the errors the client means to raise;
* ``stream(path: str) -> list`` — optional: read the event stream at ``path`` to its end (with
  whatever resuming the client does) and return each event's data, as text or decoded JSON, in
  the order delivered; the ``streaming`` and ``llm`` catalogues need it;
* ``close()`` — optional;
* ``http2 = True`` — optional: the client speaks HTTP/2 (the transport catalogue then serves
  it over HTTP/2).

The ``transport`` catalogue serves TLS. The client is told to trust the session's throwaway CA
the way deployments tell it about a private CA: while a TLS scenario runs, ``SSL_CERT_FILE``
(read by httpx with its default ``trust_env=True``, by ``ssl.create_default_context`` and by
urllib3) and ``REQUESTS_CA_BUNDLE`` (read by requests) name the CA's PEM file, so a client with
default settings needs no change. For mutual TLS the factory is called as
``make_client(base_url, client_cert=PATH)`` (a PEM file with the key and the certificate
chain, which ``httpx.Client(cert=PATH)`` and ``requests`` ``cert=PATH`` take) when it accepts
a ``client_cert`` keyword; a factory without one cannot present a certificate.

``get``, ``create`` and ``stream`` are all plain functions or all coroutine functions. Async
adapters run on one private event loop per scenario, so clients bound to a loop
(``httpx.AsyncClient``) work.
"""

from __future__ import annotations

import asyncio
import inspect
import traceback
from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

from apiharness._imports import import_object
from apiharness._scrub import scrub
from apiharness.errors import ClientFactoryError, ConformanceError

__all__ = ["ClientAdapter", "ClientFactory", "Driver", "accepts_client_cert", "load_factory"]


@runtime_checkable
class ClientAdapter(Protocol):
    """What the conformance suite needs of a client (sync form; async adapters mirror it)."""

    errors: tuple[type[BaseException], ...]

    def get(self, path: str) -> object:
        """Read the resource at ``path``: one logical, idempotent operation."""

    def create(self, path: str, body: dict[str, Any]) -> object:
        """Create a resource with one logical POST."""


ClientFactory = Callable[[str], object]


def load_factory(spec: str | ClientFactory) -> ClientFactory:
    """Resolve ``"package.module:make_client"`` (or pass a callable through).

    >>> load_factory("examples.naive_httpx:make_client")  # doctest: +SKIP
    """
    if callable(spec):
        return spec
    factory = import_object(spec, what="client factory", error=ConformanceError)
    if not callable(factory):
        raise ConformanceError(f"client factory {spec!r} is not callable")
    return factory


def accepts_client_cert(factory: ClientFactory) -> bool:
    """Whether ``factory`` takes a ``client_cert`` keyword (by name, or through ``**kwargs``)."""
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):  # a builtin or a C callable: no signature to read
        return False
    return any(
        p.kind is p.VAR_KEYWORD
        or (p.name == "client_cert" and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD))
        for p in parameters
    )


def _check_adapter(
    adapter: object, factory_name: str
) -> tuple[bool, tuple[type[BaseException], ...]]:
    """Validate the adapter's shape; return whether it is async, and its declared errors."""
    missing = [name for name in ("get", "create", "errors") if not hasattr(adapter, name)]
    if missing:
        raise ConformanceError(
            f"the adapter returned by {factory_name} lacks {', '.join(missing)}; it needs "
            "get(path), create(path, body) and errors (a tuple of exception classes)"
        )
    errors = adapter.errors  # type: ignore[attr-defined]
    if not isinstance(errors, tuple) or not all(
        isinstance(e, type) and issubclass(e, BaseException) for e in errors
    ):
        raise ConformanceError(
            f"{factory_name}(...).errors must be a tuple of exception classes, got {errors!r}"
        )
    methods = ("get", "create", "stream") if callable(getattr(adapter, "stream", None)) else ()
    kinds = {
        name: inspect.iscoroutinefunction(getattr(adapter, name))
        for name in methods or ("get", "create")
    }
    if len(set(kinds.values())) != 1:
        each = "both" if len(kinds) == 2 else "all"
        raise ConformanceError(
            f"{factory_name}(...).{' and .'.join(kinds)} must be {each} sync or {each} async, "
            f"got {kinds}"
        )
    return kinds["get"], errors


class Driver:
    """Drives one adapter, sync or async, from the grader's worker thread."""

    def __init__(
        self, factory: ClientFactory, base_url: str, *, client_cert: str | None = None
    ) -> None:
        self._runner: asyncio.Runner | None = None
        name = getattr(factory, "__qualname__", repr(factory))
        #: Whether the factory was handed the client certificate (it takes ``client_cert``).
        self.offered_cert = client_cert is not None and accepts_client_cert(factory)
        extra = {"client_cert": client_cert} if self.offered_cert else {}
        try:
            self.adapter: Any = factory(base_url, **extra)
        except Exception as exc:
            # The client's own text: it may quote a credential, so the secrets the environment
            # holds are scrubbed, and the original is not chained (its message is unscrubbed).
            trace = scrub("".join(traceback.format_exception(exc)).rstrip(), environment=True)
            raise ClientFactoryError(
                f"the client factory {name}({base_url!r}) raised {type(exc).__name__}; no "
                f"scenario can run until it builds a client. Its traceback:\n{trace}"
            ) from None
        self.is_async, self.errors = _check_adapter(self.adapter, name)
        self.http2 = getattr(self.adapter, "http2", False) is True
        self.name = name
        #: Whether the adapter can read event streams (``stream(path)``).
        self.streams = callable(getattr(self.adapter, "stream", None))
        if self.is_async:
            self._runner = asyncio.Runner()

    def _call(self, method: str, *args: object) -> object:
        result = getattr(self.adapter, method)(*args)
        if self._runner is not None:
            return self._runner.run(result)
        return result

    def get(self, path: str) -> object:
        return self._call("get", path)

    def create(self, path: str, body: Mapping[str, Any]) -> object:
        return self._call("create", path, dict(body))

    def stream(self, path: str) -> list[object]:
        """Each event's data the client delivered from the stream at ``path``."""
        events: Any = self._call("stream", path)
        return list(events)

    def require_stream(self, catalogue: str) -> None:
        """Refuse, before any call, an adapter a streaming catalogue cannot drive."""
        if not self.streams:
            raise ConformanceError(
                f"the {catalogue!r} catalogue reads event streams, and the adapter returned by "
                f"{self.name} has no stream(path); add stream(path) returning each event's data "
                "(text or decoded JSON) in order, as a plain or a coroutine function like get"
            )

    def close(self) -> None:
        try:
            close = getattr(self.adapter, "close", None)
            if close is not None:
                result = close()
                if inspect.isawaitable(result) and self._runner is not None:
                    self._runner.run(result)  # type: ignore[arg-type]
        finally:
            if self._runner is not None:
                self._runner.close()
