"""`make demo`: grade three clients against the conformance catalogue and print the scorecards.

The reference client (apiharness.clients, adapted in shop/reference.py) is the standard and must
pass everything; the two naive clients show what the suite catches. Exits 0 when the reference
client passes every scenario and each naive client fails at least one.
"""

from __future__ import annotations

import sys
import time

from apiharness.conformance import CATALOGUE, grade

CLIENTS = {
    "shop.reference:make_client": "the reference client (retry, jitter, Retry-After, breaker)",
    "shop.naive_httpx:make_client": "a naive httpx client (retries at once, new key per attempt)",
    "shop.naive_requests:make_client": "a naive requests client (no timeout, no keys)",
}


def main() -> int:
    print(f"Grading {len(CLIENTS)} clients against {len(CATALOGUE)} failure scenarios.\n")
    summary = []
    ok = True
    for factory, description in CLIENTS.items():
        started = time.perf_counter()
        card = grade(factory)
        wall = time.perf_counter() - started
        print(f"# {description}")
        print(card.render())
        summary.append(f"  {card.passed:>2}/{len(card.results)}  {factory}  ({wall:.1f} s wall)")
        reference = factory.startswith("shop.reference")
        ok = ok and (card.ok if reference else not card.ok)
    print("Summary (scenarios passed):")
    print("\n".join(summary))
    print(
        "\nGrade your own client: write make_client(base_url) -> adapter "
        "(see docs/conformance.md), then\n  apiharness grade yourmodule:make_client"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
