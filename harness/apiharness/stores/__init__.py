"""Shared state behind one small interface per kind: in memory, in SQLite, in Redis.

=====================  ==============================  =====================================
state                  interface                       implementations
=====================  ==============================  =====================================
idempotency results    :class:`ResultStore`            :class:`MemoryResultStore`,
                                                       :class:`SQLiteResultStore`,
                                                       :class:`RedisResultStore`
webhook delivery ids   :class:`DedupStore`             :class:`MemoryDedupStore`,
                                                       :class:`SQLiteDedupStore`,
                                                       :class:`RedisDedupStore`
rate-limit budgets     :class:`RateLimiter`            :class:`TokenBucket`,
                                                       :class:`RedisTokenBucket`
OAuth tokens           :class:`TokenStore`,            :class:`MemoryTokenStore`,
                       :class:`SharedTokenStore`       :class:`EncryptedFileTokenStore`,
                                                       :class:`RedisTokenStore`
=====================  ==============================  =====================================

Memory serves one process, SQLite several processes on one host, Redis several processes on
several hosts. Memory and SQLite follow the active clock (virtual time works); Redis keeps time
and expiry itself, in real time. Every Redis key starts with ``apiharness:``. When Redis cannot
be reached, the Redis stores raise :class:`~apiharness.errors.StoreUnavailable`.

The reference clients, webhooks and OAuth packages re-export the stores they use, so
``from apiharness.clients import SQLiteResultStore`` keeps working. The Redis stores need
``pip install 'apiharness[redis]'``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from apiharness.stores._dedup import (
        DedupStore,
        MemoryDedupStore,
        RedisDedupStore,
        SQLiteDedupStore,
    )
    from apiharness.stores._limiter import RateLimiter, RedisTokenBucket, TokenBucket, server_quota
    from apiharness.stores._redis import NAMESPACE
    from apiharness.stores._results import (
        MemoryResultStore,
        RedisResultStore,
        ResultStore,
        SQLiteResultStore,
        StoredResult,
        new_idempotency_key,
    )
    from apiharness.stores._tokens import (
        EncryptedFileTokenStore,
        MemoryTokenStore,
        RedisTokenStore,
        SharedTokenStore,
        Token,
        TokenStore,
    )

__all__ = [
    "NAMESPACE",
    "DedupStore",
    "EncryptedFileTokenStore",
    "MemoryDedupStore",
    "MemoryResultStore",
    "MemoryTokenStore",
    "RateLimiter",
    "RedisDedupStore",
    "RedisResultStore",
    "RedisTokenBucket",
    "RedisTokenStore",
    "ResultStore",
    "SQLiteDedupStore",
    "SQLiteResultStore",
    "SharedTokenStore",
    "StoredResult",
    "Token",
    "TokenBucket",
    "TokenStore",
    "new_idempotency_key",
    "server_quota",
]

# Loaded on first use (PEP 562): the reference clients import the limiter and the result stores
# from here, and must not pay for the token stores' pydantic and cryptography.
_HOMES = {
    "DedupStore": "apiharness.stores._dedup",
    "EncryptedFileTokenStore": "apiharness.stores._tokens",
    "MemoryDedupStore": "apiharness.stores._dedup",
    "MemoryResultStore": "apiharness.stores._results",
    "MemoryTokenStore": "apiharness.stores._tokens",
    "NAMESPACE": "apiharness.stores._redis",
    "RateLimiter": "apiharness.stores._limiter",
    "RedisDedupStore": "apiharness.stores._dedup",
    "RedisResultStore": "apiharness.stores._results",
    "RedisTokenBucket": "apiharness.stores._limiter",
    "RedisTokenStore": "apiharness.stores._tokens",
    "ResultStore": "apiharness.stores._results",
    "SQLiteDedupStore": "apiharness.stores._dedup",
    "SQLiteResultStore": "apiharness.stores._results",
    "SharedTokenStore": "apiharness.stores._tokens",
    "StoredResult": "apiharness.stores._results",
    "Token": "apiharness.stores._tokens",
    "TokenBucket": "apiharness.stores._limiter",
    "TokenStore": "apiharness.stores._tokens",
    "new_idempotency_key": "apiharness.stores._results",
    "server_quota": "apiharness.stores._limiter",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
