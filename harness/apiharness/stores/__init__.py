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
