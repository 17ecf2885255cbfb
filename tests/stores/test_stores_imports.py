"""The stores moved into apiharness.stores; every old import path hands out the same objects."""

from __future__ import annotations

import subprocess
import sys

import pytest

import apiharness.clients
import apiharness.clients.idempotency
import apiharness.oauth
import apiharness.stores
import apiharness.webhooks

OLD_PATHS = [
    (apiharness.clients, ["MemoryResultStore", "ResultStore", "SQLiteResultStore", "StoredResult",
                          "TokenBucket", "new_idempotency_key", "server_quota"]),
    (apiharness.clients.idempotency, ["MemoryResultStore", "ResultStore", "SQLiteResultStore",
                                      "StoredResult", "new_idempotency_key"]),
    (apiharness.webhooks, ["DedupStore", "MemoryDedupStore", "SQLiteDedupStore"]),
    (apiharness.oauth, ["EncryptedFileTokenStore", "MemoryTokenStore", "Token", "TokenStore"]),
]  # fmt: skip


@pytest.mark.parametrize(("module", "names"), OLD_PATHS, ids=lambda v: getattr(v, "__name__", ""))
def test_old_import_paths_keep_working(module: object, names: list[str]) -> None:
    for name in names:
        assert getattr(module, name) is getattr(apiharness.stores, name), name


def test_the_reference_clients_load_no_token_or_redis_machinery() -> None:
    code = (
        "import sys, apiharness.clients; "
        "print(sorted(m for m in ('pytest', 'pydantic', 'cryptography', 'redis') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
