"""Webhook verification, side by side with the providers' own Python libraries.

Standard Webhooks: ``apiharness.webhooks.standard.verify`` against ``standardwebhooks``'
``Webhook.verify(..., json_parse=False)``; and, since that library parses the body by default,
its default against ours followed by ``json.loads``. Stripe: ``apiharness.webhooks.stripe.verify``
against ``stripe.WebhookSignature.verify_header``. Each with a small and a large JSON body,
timestamps current, one valid signature. Target: no slower than the provider's library.

The contenders of a table are timed in interleaved rounds (A, B, A, B, ...), so a slow spell on
a shared machine hits them alike; the median round is reported.
"""

from __future__ import annotations

import gc
import json
import statistics
import time
from collections.abc import Callable

import stripe as stripe_sdk
from standardwebhooks.webhooks import Webhook

from apiharness.webhooks import standard, stripe
from benchmarks._common import Table, median_time

STANDARD_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
STRIPE_SECRET = "whsec_benchmark_secret"

Contender = tuple[str, Callable[[], object], str]


def _body(size: int) -> bytes:
    items = [{"id": f"item_{i}", "amount": i * 7, "note": "x" * 20} for i in range(size // 60)]
    return json.dumps({"type": "invoice.paid", "data": items}).encode()


def _interleaved(table: Table, contenders: list[Contender], smoke: bool) -> Table:
    numbers = []
    for _, func, _ in contenders:
        func()  # fail loudly before timing if a contender rejects the delivery
        one = median_time(func, repeat=3, number=20)
        # Rounds of about 10 ms (smoke) or 100 ms (full), whatever one call costs.
        numbers.append(max(20, int((0.01 if smoke else 0.1) / max(one, 1e-7))))
    samples: list[list[float]] = [[] for _ in contenders]
    for _ in range(3 if smoke else 15):
        for i, (_, func, _) in enumerate(contenders):
            gc.collect()
            start = time.perf_counter()
            for _ in range(numbers[i]):
                func()
            samples[i].append((time.perf_counter() - start) / numbers[i] * 1e6)
    for (name, _, note), values in zip(contenders, samples, strict=True):
        table.add(name, statistics.median(values), note)
    return table


def _standard_tables(size: int, smoke: bool) -> list[Table]:
    body = _body(size)
    headers = standard.sign(body, STANDARD_SECRET, msg_id="msg_bench")
    reference = Webhook(STANDARD_SECRET)
    kib = len(body) // 1024

    def ours_and_parse() -> object:
        standard.verify(body, headers, STANDARD_SECRET)
        return json.loads(body)

    verify_only = _interleaved(
        Table(
            title=f"Standard Webhooks verify, {kib} KiB body",
            unit="µs per verification (median)",
            baseline="standardwebhooks verify(json_parse=False)",
            target="no slower than standardwebhooks",
        ),
        [
            (
                "standardwebhooks verify(json_parse=False)",
                lambda: reference.verify(body, headers, json_parse=False),
                "",
            ),
            (
                "apiharness standard.verify",
                lambda: standard.verify(body, headers, STANDARD_SECRET),
                "",
            ),
        ],
        smoke,
    )
    with_parse = _interleaved(
        Table(
            title=f"Standard Webhooks verify + parse the JSON body, {kib} KiB body",
            unit="µs per verification (median)",
            baseline="standardwebhooks verify (default)",
            target="informative: the parse is json.loads either way",
        ),
        [
            (
                "standardwebhooks verify (default)",
                lambda: reference.verify(body, headers),
                "decodes to str, then json.loads",
            ),
            ("apiharness verify, then json.loads(body)", ours_and_parse, "json.loads on bytes"),
        ],
        smoke,
    )
    return [verify_only, with_parse]


def _stripe_table(size: int, smoke: bool) -> Table:
    body = _body(size)
    headers = stripe.sign(body, STRIPE_SECRET)
    header = headers["Stripe-Signature"]
    return _interleaved(
        Table(
            title=f"Stripe verify, {len(body) // 1024} KiB body",
            unit="µs per verification (median)",
            baseline="stripe WebhookSignature.verify_header",
            target="no slower than stripe",
        ),
        [
            (
                "stripe WebhookSignature.verify_header",
                lambda: stripe_sdk.WebhookSignature.verify_header(
                    body, header, STRIPE_SECRET, tolerance=300
                ),
                "",
            ),
            ("apiharness stripe.verify", lambda: stripe.verify(body, headers, STRIPE_SECRET), ""),
        ],
        smoke,
    )


def run(smoke: bool) -> list[Table]:
    """Both comparisons at two body sizes."""
    sizes = [1024, 64 * 1024]
    tables = [table for n in sizes for table in _standard_tables(n, smoke)]
    return tables + [_stripe_table(n, smoke) for n in sizes]
