"""Write a large OpenAPI description for the loading benchmark, built from the shipped specs.

``python -m benchmarks.make_large_spec OUT.json [--copies N]``: the payments description is
copied N times under distinct path prefixes and component names (``/t17/charges``,
``Charge_t17``), each operation and schema given the kind of prose real descriptions carry
(Stripe's and GitHub's are 6-12 MB, mostly descriptions). The default, 130 copies, gives
1,170 operations and about 11 MB of JSON. Generated, not stored: no licence question, and the
repository stays small.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import yaml

PAYMENTS = Path(__file__).parents[1] / "fixtures" / "openapi" / "payments.yaml"
PROSE = (
    "This field is part of the fictional payments API used by apiharness' benchmarks. "
    "Real descriptions explain every field at length: when it is set, what it means for "
    "reconciliation, how it relates to refunds and disputes, and which versions changed it. "
) * 3


def _rename_refs(node: Any, suffix: str, *, names: bool = False) -> Any:
    # ``names``: node maps property names to schemas (``properties``), so it is no schema itself.
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#/components/"):
                out[key] = value + suffix
            else:
                out[key] = _rename_refs(value, suffix, names=key == "properties" and not names)
        if not names and ("type" in out or "properties" in out):
            out.setdefault("description", PROSE)
        return out
    if isinstance(node, list):
        return [_rename_refs(item, suffix) for item in node]
    return node


def build(copies: int) -> dict[str, Any]:
    """The large description as a dict."""
    base = yaml.safe_load(PAYMENTS.read_text(encoding="utf-8"))
    document: dict[str, Any] = {
        "openapi": base["openapi"],
        "info": {**base["info"], "title": f"Large payments ({copies} copies)"},
        "paths": {},
        "components": {},
    }
    for i in range(copies):
        suffix = f"_t{i}"
        copy = _rename_refs(base, suffix)
        for path, item in copy["paths"].items():
            for method, operation in item.items():
                if isinstance(operation, dict) and "operationId" in operation:
                    operation["operationId"] += suffix
                    operation["description"] = PROSE
                    del method
            document["paths"][f"/t{i}{path}"] = item
        for section, entries in copy["components"].items():
            target = document["components"].setdefault(section, {})
            for name, value in entries.items():
                target[name + suffix] = value
    return document


def write(out: Path, copies: int) -> Path:
    """Write the description as JSON to ``out``."""
    out.write_text(json.dumps(build(copies)), encoding="utf-8")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--copies", type=int, default=130)
    args = parser.parse_args()
    path = write(args.out, args.copies)
    print(f"{path}: {path.stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
