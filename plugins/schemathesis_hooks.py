"""Schemathesis hooks file: adds apiharness' checks to ``schemathesis run``.

    SCHEMATHESIS_HOOKS=plugins/schemathesis_hooks.py schemathesis run openapi.yaml \\
        --url http://127.0.0.1:8000 --checks all

Adds ``problem_json_errors`` (4xx/5xx bodies are RFC 9457 problem details with a matching
``status``) and ``retry_after_is_valid`` (429/503 carry a valid Retry-After). The logic lives in
``apiharness.contract._schemathesis``; this file only registers it.
"""

from apiharness.contract._schemathesis import register_hooks

register_hooks()
