"""Trim GitHub's description (npm ``@octokit/openapi``) to a path subset, with what it refers to.

The whole description is 13 MB and 800+ paths: too big to vendor and to fuzz in a few minutes.
This keeps the paths below (the ``{enterprise-team}`` ones among them, a parameter name that is
not a Python identifier) and every ``components`` entry they reach, transitively. Run once::

    python tests/contract/corpus/trim_github.py \\
        node_modules/@octokit/openapi/generated/api.github.com.json \\
        fixtures/openapi/public/octokit/api.github.com.trimmed.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

PATHS = (
    "/",
    "/zen",
    "/octocat",
    "/emojis",
    "/meta",
    "/rate_limit",
    "/users/{username}",
    "/orgs/{org}",
    "/repos/{owner}/{repo}",
    "/repos/{owner}/{repo}/issues",
    "/repos/{owner}/{repo}/issues/{issue_number}",
    "/repos/{owner}/{repo}/contents/{path}",
    "/repos/{owner}/{repo}/git/refs/{ref}",
    "/enterprises/{enterprise}/teams/{enterprise-team}/memberships",
    "/enterprises/{enterprise}/teams/{enterprise-team}/memberships/add",
    "/enterprises/{enterprise}/teams/{enterprise-team}/memberships/{username}",
    "/enterprises/{enterprise}/teams/{enterprise-team}/organizations",
    "/enterprises/{enterprise}/teams/{enterprise-team}/organizations/{org}",
)


def _refs(node: Any) -> set[str]:
    found: set[str] = set()
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            ref = current.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/components/"):
                found.add(ref)
            stack.extend(current.values())
        elif isinstance(current, list):
            stack.extend(current)
    return found


def trim(document: dict[str, Any], paths: tuple[str, ...] = PATHS) -> dict[str, Any]:
    """``document`` with only ``paths`` and the components they reach."""
    kept_paths = {path: document["paths"][path] for path in paths}
    components: dict[str, dict[str, Any]] = {}
    pending = _refs(kept_paths)
    seen: set[str] = set()
    while pending:
        ref = pending.pop()
        if ref in seen:
            continue
        seen.add(ref)
        _, _, kind, name = ref.split("/", 3)
        value = document["components"][kind][name]
        components.setdefault(kind, {})[name] = value
        pending |= _refs(value)
    out = {key: value for key, value in document.items() if key not in ("paths", "components")}
    out["paths"] = kept_paths
    out["components"] = {kind: dict(sorted(items.items())) for kind, items in components.items()}
    out.pop("webhooks", None)
    return out


def main(source: str, target: str) -> None:
    document = json.loads(Path(source).read_text(encoding="utf-8"))
    Path(target).write_text(json.dumps(trim(document), indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main(*sys.argv[1:3])
