"""The HTTP stacks apiharness serves: httpx and httpx2, one surface, two sets of classes.

httpx2 is httpx's successor under its own import name (the openai 3 and anthropic 2 SDKs are
built on it). Its public surface mirrors httpx's name for name (``Request``, ``Response``,
``SyncByteStream``, ``ReadTimeout``, ``BaseTransport``, ``Auth``...), but the classes are distinct:
an ``httpx.Response`` handed to an ``httpx2.Client`` fails its ``isinstance`` check on the
response stream (an ``AssertionError`` inside httpx2). So every transport and auth flow here is
written once against the shared surface and builds its objects from the *stack of the request it
was given*: :func:`stack_of`. The decisions (routing, faults, retries, keys, tokens) never know
which stack they serve; only the objects they hand back do. No stack is imported by this
module; a project may have either one, or both.

``httpx2.alias_httpx()`` makes ``import httpx`` return httpx2 itself; then both names are one
module, :func:`stack_of` still answers with it, and :data:`TransportBase` does not list it twice.
"""

from __future__ import annotations

import functools
import importlib
import sys
from types import ModuleType
from typing import TYPE_CHECKING, Any

from apiharness.errors import ConfigurationError

__all__ = ["STACKS", "TransportBase", "installed_stacks", "is_a", "stack_of", "stream_type"]

#: The import names of the stacks, in the order they are tried where no request decides.
STACKS = ("httpx", "httpx2")


def _stack_or_none(obj: object) -> ModuleType | None:
    for cls in type(obj).__mro__:
        name = cls.__module__.partition(".")[0]
        if name in STACKS:
            return sys.modules[name]
    return None


def is_a(obj: object, name: str) -> bool:
    """Whether ``obj`` is an instance of the class ``name`` (``"Response"``) of either stack."""
    stack = _stack_or_none(obj)
    return stack is not None and isinstance(obj, getattr(stack, name))


def stack_of(obj: object) -> ModuleType:
    """The stack module (``httpx`` or ``httpx2``) whose class ``obj`` is an instance of.

    Both stacks set ``__module__`` of their public classes to the package name, so the answer
    is a lookup, not a chain of ``isinstance`` checks (that would import both).
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


if TYPE_CHECKING:
    import httpx

    class TransportBase(httpx.BaseTransport, httpx.AsyncBaseTransport):
        """What type checkers see: an httpx transport, sync and async."""

else:
    #: The base of apiharness's transports: the sync and async transport classes of every
    #: installed stack, so one transport object plugs into an ``httpx`` and an ``httpx2`` client.
    TransportBase: Any = type("TransportBase", _transport_bases(), {"__module__": __name__})
