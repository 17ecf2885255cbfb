"""The canonical resource the conformance suite serves, its schema and its paths."""

from __future__ import annotations

from typing import Any

__all__ = [
    "COLLECTION_PATH",
    "LLM_PATHS",
    "NEW_RESOURCE",
    "RESOURCE",
    "RESOURCE_PATH",
    "RESOURCE_SCHEMA",
]

#: The canonical resource the suite serves. Clients should validate it against the schema.
RESOURCE: dict[str, Any] = {"id": "res_1", "name": "widget", "amount": 1200, "currency": "eur"}

#: JSON Schema (2020-12) of the canonical resource, published with the suite.
RESOURCE_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Resource",
    "type": "object",
    "required": ["id", "name", "amount", "currency"],
    "properties": {
        "id": {"type": "string", "minLength": 1},
        "name": {"type": "string"},
        "amount": {"type": "integer", "minimum": 0},
        "currency": {"type": "string", "pattern": "^[a-z]{3}$"},
    },
}

RESOURCE_PATH = "/resources/res_1"
COLLECTION_PATH = "/resources"
NEW_RESOURCE: dict[str, Any] = {"name": "gadget", "amount": 500, "currency": "eur"}

#: The completion endpoint of each LLM provider dialect (the ``llm`` and ``streaming``
#: catalogues serve the adapter's ``dialect`` there).
LLM_PATHS: dict[str, str] = {"openai": "/v1/chat/completions", "anthropic": "/v1/messages"}
