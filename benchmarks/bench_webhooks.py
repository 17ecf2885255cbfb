"""Webhook verification, side by side with the providers' own Python libraries.

Standard Webhooks: ``apiharness.webhooks.standard.verify`` against ``standardwebhooks``'
``Webhook.verify(..., json_parse=False)``; and, since that library parses the body by default,
its default against ours followed by ``json.loads``. Stripe: ``apiharness.webhooks.stripe.verify``
against ``stripe.WebhookSignature.verify_header``. Each with a small and a large JSON body,
timestamps current, one valid signature. Target: no slower than the provider's library.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import stripe as stripe_sdk
from standardwebhooks.webhooks import Webhook

from apiharness.webhooks import standard, stripe
from benchmarks._common import Table, median_time

STANDARD_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
STRIPE_SECRET = "whsec_benchmark_secret"


def _body(size: int) -> bytes:
    items = [{"id": f"item_{i}", "amount": i * 7, "note": "x" * 20} for i in range(size // 60)]
    return json.dumps({"type": "invoice.paid", "data": items}).encode()


def _per_call_us(func: Callable[[], object], smoke: bool) -> float:
    func()  # fail loudly before timing if a contender rejects the delivery
    # Rounds of about 20 ms (smoke) or 200 ms (full), whatever one call costs.
    one = median_time(func, repeat=3, number=20)
    number = max(20, int((0.02 if smoke else 0.2) / max(one, 1e-7)))
    return median_time(func, repeat=3 if smoke else 9, number=number) * 1e6


def _standard_tables(size: int, smoke: bool) -> list[Table]:
    body = _body(size)
    headers = standard.sign(body, STANDARD_SECRET, msg_id="msg_bench")
    reference = Webhook(STANDARD_SECRET)
    kib = len(body) // 1024
    verify_only = Table(
        title=f"Standard Webhooks verify, {kib} KiB body",
        unit="µs per verification (median)",
        baseline="standardwebhooks verify(json_parse=False)",
        target="no slower than standardwebhooks",
    )
    verify_only.add(
        "standardwebhooks verify(json_parse=False)",
        _per_call_us(lambda: reference.verify(body, headers, json_parse=False), smoke),
    )
    verify_only.add(
        "apiharness standard.verify",
        _per_call_us(lambda: standard.verify(body, headers, STANDARD_SECRET), smoke),
    )

    def ours_and_parse() -> object:
        standard.verify(body, headers, STANDARD_SECRET)
        return json.loads(body)

    with_parse = Table(
        title=f"Standard Webhooks verify + parse the JSON body, {kib} KiB body",
        unit="µs per verification (median)",
        baseline="standardwebhooks verify (default)",
        target="informative: the parse is json.loads either way",
    )
    with_parse.add(
        "standardwebhooks verify (default)",
        _per_call_us(lambda: reference.verify(body, headers), smoke),
        "decodes to str, then json.loads",
    )
    with_parse.add(
        "apiharness verify, then json.loads(body)",
        _per_call_us(ours_and_parse, smoke),
        "json.loads on bytes",
    )
    return [verify_only, with_parse]


def _stripe_table(size: int, smoke: bool) -> Table:
    body = _body(size)
    headers = stripe.sign(body, STRIPE_SECRET)
    header = headers["Stripe-Signature"]
    table = Table(
        title=f"Stripe verify, {len(body) // 1024} KiB body",
        unit="µs per verification (median)",
        baseline="stripe WebhookSignature.verify_header",
        target="no slower than stripe",
    )
    table.add(
        "stripe WebhookSignature.verify_header",
        _per_call_us(
            lambda: stripe_sdk.WebhookSignature.verify_header(
                body, header, STRIPE_SECRET, tolerance=300
            ),
            smoke,
        ),
    )
    table.add(
        "apiharness stripe.verify",
        _per_call_us(lambda: stripe.verify(body, headers, STRIPE_SECRET), smoke),
    )
    return table


def run(smoke: bool) -> list[Table]:
    """Both comparisons at two body sizes."""
    sizes = [1024, 64 * 1024]
    tables = [table for n in sizes for table in _standard_tables(n, smoke)]
    return tables + [_stripe_table(n, smoke) for n in sizes]
