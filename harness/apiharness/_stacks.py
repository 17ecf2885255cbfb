"""The HTTP stacks apiharness serves: httpx and httpx2, one surface, two sets of classes.

httpx2 is httpx's successor under its own import name (the openai 3 and anthropic 2 SDKs are
built on it). Its public surface mirrors httpx's name for name (``Request``, ``Response``,
``SyncByteStream``, ``ReadTimeout``, ``BaseTransport``, ``Auth``...), but the classes are distinct:
an ``httpx.Response`` handed to an ``httpx2.Client`` fails its ``isinstance`` check on the
response stream (an ``AssertionError`` inside httpx2). So every transport and auth flow here is
written once against the shared surface and builds its objects from the *stack of the request it
was given*: :func:`stack_of`. The decisions (routing, faults, retries, keys, tokens) never know
which stack they serve; only the objects they hand back do. A project may have either one, or
both: :data:`httpx` is the one apiharness builds its own objects with (httpx where installed).

``httpx2.alias_httpx()`` makes ``import httpx`` return httpx2 itself; then both names are one
module, :func:`stack_of` still answers with it, and :data:`TransportBase` does not list it twice.
"""

from __future__ import annotations

import functools
import importlib
import sys
from collections.abc import Generator
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

from apiharness.errors import ConfigurationError

__all__ = [
    "STACKS",
    "AuthBase",
    "TransportBase",
    "aclose_inner",
    "as_stack",
    "async_inner",
    "classes",
    "close_inner",
    "httpx",
    "installed_stacks",
    "is_a",
    "is_transport",
    "restack",
    "stack_of",
    "stream_type",
    "sync_inner",
]

#: The import names of the stacks, in the order they are tried where no request decides.
STACKS = ("httpx", "httpx2")


def _loaded_stacks() -> list[ModuleType]:
    """The stack modules imported so far, each once (no import happens here)."""
    found: list[ModuleType] = []
    for name in STACKS:
        module = sys.modules.get(name)
        if module is not None and module not in found:
            found.append(module)
    return found


def _stack_or_none(obj: object) -> ModuleType | None:
    # By identity, not by ``__module__``: packages that re-export a stack's classes may rewrite
    # it (openai 2 sets ``httpx.BaseTransport.__module__`` to "openai" on import).
    for cls in type(obj).__mro__:
        for stack in _loaded_stacks():
            if getattr(stack, cls.__name__, None) is cls:
                return stack
    return None


def is_a(obj: object, name: str) -> bool:
    """Whether ``obj`` is an instance of the class ``name`` (``"Response"``) of either stack."""
    return any(isinstance(obj, getattr(stack, name)) for stack in _loaded_stacks())


def stack_of(obj: object) -> ModuleType:
    """The stack module (``httpx`` or ``httpx2``) whose class ``obj`` is an instance of.

    Found by identity among the stacks already imported: an object of a stack implies that
    stack was imported, so nothing is imported here.
    """
    stack = _stack_or_none(obj)
    if stack is not None:
        return stack
    raise ConfigurationError(
        f"{type(obj).__qualname__} is neither an httpx nor an httpx2 object; apiharness serves "
        "httpx.Client/AsyncClient and httpx2.Client/AsyncClient (pass the client's own Request)"
    )


def installed_stacks() -> list[ModuleType]:
    """The stack modules that import here, each once (one module when httpx is aliased)."""
    found: list[ModuleType] = []
    for name in STACKS:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        if module not in found:
            found.append(module)
    return found


def classes(name: str) -> tuple[type[Any], ...]:
    """The class ``name`` (``"TransportError"``) of every installed stack, for ``except`` and
    ``isinstance``: code that catches a stack's exception catches both stacks' forms of it."""
    return tuple(getattr(stack, name) for stack in installed_stacks())


@functools.cache
def stream_type(stack: ModuleType, body: type) -> type:
    """``body`` (a class with ``__iter__``/``__aiter__``) as a byte stream of ``stack``.

    Clients of both stacks assert that a transport's response stream is an instance of their
    own ``SyncByteStream`` (sync client) or ``AsyncByteStream`` (async client); the one body
    class is mixed into each stack's pair once, on first use.
    """
    bases = (body, stack.SyncByteStream, stack.AsyncByteStream)
    return type(body.__name__, bases, {"__module__": body.__module__})


def _transport_bases() -> tuple[type, ...]:
    bases: list[type] = []
    for stack in installed_stacks():
        bases += [stack.BaseTransport, stack.AsyncBaseTransport]
    return tuple(bases) or (object,)


def is_transport(obj: object) -> bool:
    """Whether ``obj`` is a sync or async transport of either stack."""
    return is_a(obj, "BaseTransport") or is_a(obj, "AsyncBaseTransport")


def _inner(wrapper: object, inner: object, request: object, *, sync: bool) -> Any:
    stack = stack_of(request)
    base, other = ("BaseTransport", "AsyncBaseTransport")[:: 1 if sync else -1]
    if isinstance(inner, getattr(stack, base)):
        return inner
    name, client = stack.__name__, "Client" if sync else "AsyncClient"
    wrapped = f"{type(wrapper).__name__} wraps {type(inner).__name__}"
    if isinstance(inner, getattr(stack, other)):
        serves = "async" if sync else "sync"
        raise ConfigurationError(
            f"{wrapped}, which only serves {serves} clients; it was given a request of a "
            f"{name}.{client}: wrap {name}.{'' if sync else 'Async'}HTTPTransport() for it"
        )
    raise ConfigurationError(
        f"{wrapped}, which is not a transport of {name}, and was given a request of a "
        f"{name}.{client}: an inner transport answers with its own stack's responses, which "
        f"a {name} client rejects. Wrap {name}.{'' if sync else 'Async'}HTTPTransport() (or "
        "a transport of apiharness's, which serve both stacks)"
    )


def sync_inner(wrapper: object, inner: object, request: httpx.Request) -> httpx.BaseTransport:
    """``inner`` if it can send ``request`` for a sync client of the request's stack; else a
    :class:`ConfigurationError` naming the transport to wrap instead. ``wrapper`` is the
    transport that wraps ``inner`` (named in the message)."""
    transport: httpx.BaseTransport = _inner(wrapper, inner, request, sync=True)
    return transport


def async_inner(wrapper: object, inner: object, request: httpx.Request) -> httpx.AsyncBaseTransport:
    """The async form of :func:`sync_inner`."""
    transport: httpx.AsyncBaseTransport = _inner(wrapper, inner, request, sync=False)
    return transport


def as_stack(request: httpx.Request, like: object) -> httpx.Request:
    """``request`` as a request of ``like``'s stack (``like``: a client, request or module).

    Flows that build their own requests (the OAuth token requests) build httpx ones; sent
    through an httpx2 client they are rebuilt, the body read, headers and URL unchanged.
    """
    stack = like if isinstance(like, ModuleType) else stack_of(like)
    if stack_of(request) is stack:
        return request
    rebuilt: httpx.Request = stack.Request(
        request.method,
        str(request.url),
        headers=request.headers.multi_items(),
        content=request.read(),
        extensions=request.extensions,
    )
    return rebuilt


_T = TypeVar("_T")
_Flow = Generator["httpx.Request", "httpx.Response", _T]


def restack(flow: _Flow[_T], like: object) -> _Flow[_T]:
    """``flow`` (yields requests, receives responses) with each request in ``like``'s stack."""
    stack = stack_of(like)
    try:
        request = next(flow)
        while True:
            request = flow.send((yield as_stack(request, stack)))
    except StopIteration as done:
        result: _T = done.value
        return result
    finally:
        flow.close()


def close_inner(inner: object) -> None:
    """Close a wrapped transport if it is a sync one (an async one is closed by aclose)."""
    if is_a(inner, "BaseTransport"):
        inner.close()  # type: ignore[attr-defined]


async def aclose_inner(inner: object) -> None:
    """Close a wrapped transport if it is an async one."""
    if is_a(inner, "AsyncBaseTransport"):
        await inner.aclose()  # type: ignore[attr-defined]


def _home() -> ModuleType:
    stacks = installed_stacks()
    if not stacks:
        raise ConfigurationError(
            "apiharness needs an HTTP stack and found neither httpx nor httpx2: "
            "pip install 'apiharness[httpx]' or 'apiharness[httpx2]'"
        )
    return stacks[0]


if TYPE_CHECKING:
    import httpx

    class TransportBase(httpx.BaseTransport, httpx.AsyncBaseTransport):
        """What type checkers see: an httpx transport, sync and async."""

    class AuthBase(httpx.Auth):
        """What type checkers see: an httpx auth flow."""

else:
    #: The stack apiharness builds its own objects with where no request decides (URLs, the
    #: loopback server's requests, the reference clients' defaults): httpx if installed, else
    #: httpx2. The modules of the package import it from here, never ``httpx`` directly, so a
    #: project with only httpx2 installed imports and uses apiharness on it.
    httpx = _home()
    #: The base of apiharness's transports: the sync and async transport classes of every
    #: installed stack, so one transport object plugs into an ``httpx`` and an ``httpx2`` client.
    TransportBase: Any = type("TransportBase", _transport_bases(), {"__module__": __name__})
    #: The base of apiharness's auth flows: ``Auth`` of every installed stack (a client accepts
    #: only an instance of its own stack's ``Auth``).
    AuthBase: Any = type(
        "AuthBase",
        tuple(stack.Auth for stack in installed_stacks()) or (object,),
        {"__module__": __name__},
    )
