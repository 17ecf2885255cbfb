"""Bounds on untrusted data trees (parsed YAML, JSON, dict specs), checked without recursion.

A parsed document can be small on disk and huge to walk: YAML aliases (and Python objects
shared between places) let 368 bytes stand for a billion nodes, a recursive alias makes a
container that holds itself, and 100,000 nested brackets exhaust any recursive walker. Every
walker downstream (the leak gate, redaction, ``$ref`` discovery, the 3.0 normaliser, jsonschema,
jsonschema-rs, which crashes the process on deep input) is safe once the tree it is handed is
acyclic, shallow enough, and no larger when expanded than a small multiple of what was read.

:func:`tree_problem` measures all three in one iterative pass that visits each container once
(shared containers are remembered by identity), so the check itself is linear in the input.
Hand-written: no library measures the expanded size of a graph of Python containers.
"""

from __future__ import annotations

from typing import Any

__all__ = ["EXPANSION_FACTOR", "depth_problem", "tree_problem"]

#: How much larger than what was read a tree may become when its shared nodes are expanded.
EXPANSION_FACTOR = 10
#: Expansion allowed on top of that, so that tiny documents may still use an alias or two.
EXPANSION_ALLOWANCE = 10_000


def _weight(value: Any) -> int:
    """One node, plus the length of a string: a leak scan's cost grows with both."""
    return 1 + len(value) if isinstance(value, str | bytes | bytearray) else 1


def _children(container: dict[Any, Any] | list[Any]) -> list[Any]:
    if isinstance(container, dict):
        return [item for pair in container.items() for item in pair]
    return container


def tree_problem(root: Any, *, max_depth: int, read_size: int | None = None) -> str | None:
    """What makes ``root`` unsafe to walk, in words, or None when it is safe.

    Unsafe is: a container that contains itself; containers nested deeper than
    ``max_depth``; or a tree whose expanded weight (nodes plus string lengths, each shared
    container counted every time it is reached) exceeds ``EXPANSION_FACTOR`` times
    ``read_size`` (the length of the text it was parsed from; by default the weight with
    each container counted once) plus ``EXPANSION_ALLOWANCE``.
    """
    expanded: dict[int, int] = {}  # id of a finished container -> its expanded weight
    open_ids: set[int] = set()
    stored = 0
    # A frame: the container, its children still to visit, the weight summed so far.
    frames: list[tuple[Any, list[Any], list[int]]] = []
    total = 0

    def enter(node: Any) -> str | None:
        nonlocal stored
        if id(node) in open_ids:
            return "a container that contains itself (a recursive alias or reference)"
        if len(frames) >= max_depth:
            return f"containers nested deeper than {max_depth} levels"
        open_ids.add(id(node))
        children = _children(node)
        frames.append((node, children[::-1], [1]))
        stored += 1
        return None

    if isinstance(root, dict | list):
        problem = enter(root)
        if problem:
            return problem
    else:
        total = _weight(root)
    while frames:
        node, pending, acc = frames[-1]
        if pending:
            child = pending.pop()
            if isinstance(child, dict | list):
                known = expanded.get(id(child))
                if known is not None:
                    acc[0] += known
                    continue
                problem = enter(child)
                if problem:
                    return problem
                continue
            weight = _weight(child)
            acc[0] += weight
            stored += weight
            continue
        frames.pop()
        open_ids.discard(id(node))
        expanded[id(node)] = acc[0]
        if frames:
            frames[-1][2][0] += acc[0]
        else:
            total = acc[0]
    allowed = EXPANSION_FACTOR * (stored if read_size is None else read_size)
    if total > allowed + EXPANSION_ALLOWANCE:
        return (
            f"shared nodes (YAML aliases) that expand to {total:,} nodes and characters, "
            f"over {EXPANSION_FACTOR} times the document's size"
        )
    return None


def depth_problem(root: Any, *, max_depth: int) -> str | None:
    """``containers nested deeper than max_depth levels``, or None: the cheap check for values
    about to be validated (a few microseconds on a typical body, a quarter of
    :func:`tree_problem`'s cost).

    Level by level, each container once per level: a cycle ends at ``max_depth``, and a
    container shared by many parents is still visited once per level, so the cost is at most
    ``max_depth`` times the number of containers.
    """
    level: dict[int, Any] = {id(root): root} if isinstance(root, dict | list) else {}
    depth = 0
    while level:
        depth += 1
        if depth > max_depth:
            return f"containers nested deeper than {max_depth} levels"
        level = {
            id(child): child
            for node in level.values()
            for child in (node.values() if isinstance(node, dict) else node)
            if isinstance(child, dict | list)
        }
    return None
