"""A one-operation OpenAPI description for tests that need a spec, not a realistic one."""

from __future__ import annotations

from typing import Any


def one_operation(schema: dict[str, Any], operation_id: str = "getX") -> dict[str, Any]:
    """``GET /x`` answering 200 with a JSON body of ``schema``."""
    media = {"application/json": {"schema": schema}}
    return {
        "openapi": "3.0.3",
        "info": {"title": "t", "version": "1"},
        "paths": {
            "/x": {
                "get": {
                    "operationId": operation_id,
                    "responses": {"200": {"description": "ok", "content": media}},
                }
            }
        },
    }
