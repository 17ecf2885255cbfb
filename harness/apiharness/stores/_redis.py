"""The one place the stores talk to Redis: connections, key names and error translation.

Keys are namespaced ``apiharness:<kind>:<name>`` (see :func:`redis_key`), so one Redis database
can hold other applications' keys beside ours. Every Redis error reaches the caller as
:class:`~apiharness.errors.StoreUnavailable` (translated by :func:`unavailable`), and clients are
built with retries *off*: redis-py retries a command on a broken connection by default, and a
retried ``SET NX`` whose first attempt did reach the server answers "already claimed" to the
very process that claimed it, losing the delivery. One attempt, then a typed error, is the only
answer that never guesses.

``redis`` is an optional dependency (``pip install 'apiharness[redis]'``), imported here only
when a Redis store is built.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from apiharness.errors import ConfigurationError, StoreUnavailable

if TYPE_CHECKING:
    import redis
    import redis.asyncio

__all__ = ["NAMESPACE", "RedisConnection", "as_bytes", "redis_key", "unavailable"]

#: The prefix of every key the stores write.
NAMESPACE = "apiharness"
# A store call is one short command: a server that takes longer than this is treated as gone.
_SOCKET_TIMEOUT = 5.0


def redis_key(kind: str, *parts: str) -> str:
    """``apiharness:<kind>:<part>:...``, the name of one piece of state."""
    return ":".join((NAMESPACE, kind, *parts))


def as_bytes(value: object) -> bytes:
    """A reply value as bytes (the clients are built without ``decode_responses``)."""
    if isinstance(value, str):
        return value.encode()
    if not isinstance(value, bytes | bytearray | memoryview):
        raise TypeError(f"unexpected Redis reply {type(value).__name__}")
    return bytes(value)


def _module() -> Any:
    try:
        import redis
        import redis.asyncio
        import redis.asyncio.retry
        import redis.backoff
        import redis.retry
    except ImportError:
        raise ConfigurationError(
            "the Redis stores need the redis client library; install it with "
            "pip install 'apiharness[redis]'"
        ) from None
    return redis


@contextlib.contextmanager
def unavailable(what: str, url: str) -> Iterator[None]:
    """Translate any Redis error raised in the block into :class:`StoreUnavailable`."""
    errors = _module().RedisError
    try:
        yield
    except errors as exc:
        raise StoreUnavailable(
            f"{what} could not complete its operation on Redis at {url} "
            f"({type(exc).__name__}); its outcome is unknown and nothing was assumed. Check "
            "that redis-server is running and reachable, then retry"
        ) from exc


class RedisConnection:
    """A sync client, and one asyncio client per event loop, for one Redis URL.

    The URL is kept without its password for messages and reprs.
    """

    def __init__(self, url: str, *, what: str) -> None:
        module = _module()
        if not isinstance(url, str):
            raise ConfigurationError(f"{what} takes a Redis URL, e.g. 'redis://localhost:6379/0'")
        self.what = what
        self._url = url
        options: dict[str, Any] = {
            "socket_timeout": _SOCKET_TIMEOUT,
            "socket_connect_timeout": _SOCKET_TIMEOUT,
        }
        try:
            self.sync: redis.Redis = module.Redis.from_url(
                url, retry=module.retry.Retry(module.backoff.NoBackoff(), 0), **options
            )
            self.shown = self._shown()
        except ValueError as exc:
            raise ConfigurationError(
                f"{what}: {self._redacted()!r} is not a Redis URL ({exc}); "
                "use e.g. 'redis://localhost:6379/0'"
            ) from None
        self._options = options
        self._async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, redis.asyncio.Redis] = (
            weakref.WeakKeyDictionary()
        )

    def _redacted(self) -> str:
        scheme, sep, rest = self._url.partition("://")
        if sep and "@" in rest:
            rest = "***@" + rest.rsplit("@", 1)[1]
        return f"{scheme}{sep}{rest}"

    def _shown(self) -> str:
        kwargs = self.sync.connection_pool.connection_kwargs
        if "path" in kwargs:
            return f"unix://{kwargs['path']}"
        return f"redis://{kwargs.get('host')}:{kwargs.get('port')}/{kwargs.get('db', 0)}"

    def asyncio_client(self) -> redis.asyncio.Redis:
        """The asyncio client of the running event loop (asyncio clients are bound to one)."""
        loop = asyncio.get_running_loop()
        client = self._async.get(loop)
        if client is None:
            module = _module()
            client = module.asyncio.Redis.from_url(
                self._url,
                retry=module.asyncio.retry.Retry(module.backoff.NoBackoff(), 0),
                **self._options,
            )
            self._async[loop] = client
        return client

    def errors(self) -> contextlib.AbstractContextManager[None]:
        """``with conn.errors(): ...`` turns Redis errors into :class:`StoreUnavailable`."""
        return unavailable(self.what, self.shown)

    def close(self) -> None:
        """Close the sync client's connections."""
        self.sync.close()
