"""Duplicates by delivery id: the in-memory and SQLite dedup stores, alone and through verify()."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apiharness import ConfigurationError
from apiharness.webhooks import (
    DedupStore,
    MemoryDedupStore,
    MissingWebhookHeader,
    SQLiteDedupStore,
    WebhookDuplicate,
    WebhookError,
    WebhookReplayed,
    WebhookSignatureMismatch,
    WebhookVerificationError,
    github,
    shopify,
    standard,
)
from apiharness.webhooks._schemes import scheme_named

SECRET = "whsec_" + "a2V5LWZvci10ZXN0cw=="


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "memory":
        yield MemoryDedupStore(ttl=60)
        return
    db = SQLiteDedupStore(tmp_path / "seen.sqlite3", ttl=60)
    yield db
    db.close()


def test_claims_once_then_expires(store: Any) -> None:
    assert isinstance(store, DedupStore)
    assert store.claim("a", now=1000.0)
    assert not store.claim("a", now=1059.9)
    assert store.claim("b", now=1059.9)
    assert store.claim("a", now=1060.0)  # expired exactly at ttl
    store.forget("a")
    assert store.claim("a", now=1061.0)


def test_expired_ids_are_swept(store: Any) -> None:
    for i in range(10):
        store.claim(f"id-{i}", now=1000.0)
    store.claim("late", now=2000.0)
    assert len(store) == 1


@pytest.mark.parametrize(
    ("module", "secret"), [(github, "gh-secret"), (shopify, "shop-secret"), (standard, SECRET)]
)
def test_verify_tells_a_duplicate_apart_from_a_forgery(
    module: Any, secret: str, store: Any, clock: Any
) -> None:
    body = b'{"id": 1}'
    headers = module.sign(body, secret)
    module.verify(body, headers, secret, dedup=store)
    with pytest.raises(WebhookDuplicate, match="acknowledge it with 2xx") as info:
        module.verify(body, headers, secret, dedup=store)
    # A duplicate verified: a receiver that answers 4xx on WebhookVerificationError must not
    # catch it there, or the provider re-sends the delivery for days.
    assert not isinstance(info.value, WebhookVerificationError)
    assert isinstance(info.value, WebhookError)
    assert (
        info.value.delivery_id
        == headers[module.DELIVERY_HEADER if module is not standard else "webhook-id"]
    )
    # The old name still catches it.
    with pytest.raises(WebhookReplayed):
        module.verify(body, headers, secret, dedup=store)
    # Expiry runs on the active (here virtual) clock.
    clock.advance(61)
    if module is standard:
        headers = module.sign(body, secret, msg_id=headers["webhook-id"])
    module.verify(body, headers, secret, dedup=store)


def test_a_forged_copy_of_a_received_delivery_is_still_a_verification_error(store: Any) -> None:
    body = b"{}"
    headers = github.sign(body, "right", delivery_id="d-9")
    github.verify(body, headers, "right", dedup=store)
    forged = github.sign(b'{"forged": true}', "wrong", delivery_id="d-9")
    # The signature is checked before the id: a forgery never passes as a harmless duplicate.
    with pytest.raises(WebhookSignatureMismatch):
        github.verify(b'{"forged": true}', forged, "right", dedup=store)


def test_forged_deliveries_do_not_burn_ids(store: Any) -> None:
    body = b"{}"
    headers = github.sign(body, "right", delivery_id="d-1")
    with pytest.raises(WebhookSignatureMismatch):
        github.verify(body, headers, "wrong", dedup=store)
    github.verify(body, headers, "right", dedup=store)


def test_dedup_needs_the_delivery_header(store: Any) -> None:
    headers = github.sign(b"{}", "s")
    del headers["X-GitHub-Delivery"]
    github.verify(b"{}", headers, "s")  # fine without a store
    with pytest.raises(MissingWebhookHeader, match="X-GitHub-Delivery"):
        github.verify(b"{}", headers, "s", dedup=store)


def test_bad_configuration_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="ttl"):
        MemoryDedupStore(ttl=0)
    with pytest.raises(ConfigurationError, match=r"dedup store cannot use .*writable folder"):
        SQLiteDedupStore(tmp_path / "missing" / "dir" / "x.sqlite3")
    with pytest.raises(ConfigurationError, match="dedup="):
        github.verify(b"{}", github.sign(b"{}", "s"), "s", dedup={})  # type: ignore[arg-type]


def _claim_many(path: str, out: Any) -> None:
    db = SQLiteDedupStore(path, ttl=3600)
    out.put(sum(db.claim(f"shared-{i}", now=1.0) for i in range(200)))
    db.close()


def test_sqlite_store_claims_each_id_once_across_processes(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.sqlite3")
    SQLiteDedupStore(path).close()
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    workers = [ctx.Process(target=_claim_many, args=(path, out)) for _ in range(3)]
    for worker in workers:
        worker.start()
    wins = [out.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    assert sum(wins) == 200


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    steps=st.lists(
        st.tuples(st.sampled_from(["claim", "forget"]), st.sampled_from("abc"), st.integers(0, 50)),
        max_size=30,
    )
)
def test_store_behaves_like_a_dict_of_expiry_times(store: Any, steps: list[Any]) -> None:
    """Against a model: an id is new unless claimed less than ttl ago and not forgotten since."""
    for key in "abc":
        store.forget(key)
    model: dict[str, float] = {}
    now = 0.0
    for action, key, dt in steps:
        now += dt
        if action == "forget":
            store.forget(key)
            model.pop(key, None)
            continue
        fresh = key not in model or model[key] <= now
        assert store.claim(key, now=now) is fresh
        if fresh:
            model[key] = now + 60


def test_shopify_dedup_keys_on_the_event_id_shopify_documents(store: Any) -> None:
    # https://shopify.dev/docs/apps/build/webhooks/ignore-duplicates: the same
    # X-Shopify-Event-Id on more than one webhook marks a duplicate, whatever the
    # X-Shopify-Webhook-Id of each.
    body = b'{"id": 820982911946154508}'
    signed = shopify.sign(body, "shop-secret")  # neither id is signed

    def delivery(event_id: str, webhook_id: str) -> dict[str, str]:
        return {**signed, "X-Shopify-Event-Id": event_id, "X-Shopify-Webhook-Id": webhook_id}

    shopify.verify(body, delivery("evt-1", "wh-1"), "shop-secret", dedup=store)
    retry = delivery("evt-1", "wh-2")
    with pytest.raises(WebhookDuplicate) as info:
        shopify.verify(body, retry, "shop-secret", dedup=store)
    assert info.value.delivery_id == "evt-1"
    # Another event is processed even if a webhook id repeats.
    shopify.verify(body, delivery("evt-2", "wh-1"), "shop-secret", dedup=store)
    # sign() sends both headers, and a retry signed with the event's id keeps it.
    headers = shopify.sign(body, "shop-secret", event_id="evt-3", delivery_id="wh-3")
    assert headers["X-Shopify-Event-Id"] == "evt-3"
    assert headers["X-Shopify-Webhook-Id"] == "wh-3"
    # The sender's retry of a Shopify delivery keeps its event id.
    scheme = scheme_named("shopify")
    assert scheme.delivery_header == shopify.EVENT_HEADER
    resent = scheme.sign(body, "shop-secret", delivery_id="evt-3")
    assert resent[shopify.EVENT_HEADER] == "evt-3"
    # Dedup needs the header it keys on.
    del retry[shopify.EVENT_HEADER]
    with pytest.raises(MissingWebhookHeader, match="X-Shopify-Event-Id"):
        shopify.verify(body, retry, "shop-secret", dedup=store)
