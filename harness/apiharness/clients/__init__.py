"""Reference resilient clients, composed as httpx transports."""

from apiharness.clients.idempotency import (
    IdempotencyTransport,
    MemoryResultStore,
    ResultStore,
    SQLiteResultStore,
    StoredResult,
    new_idempotency_key,
)

__all__ = [
    "IdempotencyTransport",
    "MemoryResultStore",
    "ResultStore",
    "SQLiteResultStore",
    "StoredResult",
    "new_idempotency_key",
]
