"""Schemathesis for servers: run its checks against an app or URL with the harness's defaults.

:func:`run_schemathesis` loads the description with Schemathesis' own loader (so its view of
the spec is the reference one), generates requests for every operation with its public
``APIOperation.as_strategy()``, sends them with ``Case.call_and_validate`` and collects every
failure instead of stopping at the first, so one run reports every operation that lies.

The harness's defaults: the response-conformance checks (status code, content type, headers,
body schema) plus "no 5xx", a fixed seed, no example database (runs are reproducible and leave
no files), and a small number of examples per operation. Two checks of the harness's own,
:func:`problem_json_errors` and :func:`retry_after_is_valid`, can be added with ``extra_checks``
or, for ``schemathesis run``, with the hooks file ``plugins/schemathesis_hooks.py``.

Only public Schemathesis names are used (``schemathesis.openapi.from_*``, ``as_strategy``,
``call_and_validate``, ``schemathesis.check``), except for looking checks up by name in its
registry; if that moves, a :class:`~apiharness.ConfigurationError` says so.
"""

from __future__ import annotations

import email.utils
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apiharness._scrub import scrub
from apiharness.errors import ConfigurationError, ContractViolation

__all__ = [
    "DEFAULT_CHECKS",
    "SchemathesisReport",
    "assert_schemathesis",
    "problem_json_errors",
    "register_hooks",
    "retry_after_is_valid",
    "run_schemathesis",
]

DEFAULT_CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
)
_MESSAGE_LIMIT = 1500


@dataclass
class SchemathesisReport:
    """Per operation: how many cases ran and what failed (``operation label → message``)."""

    operations: int = 0
    failures: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when every check passed for every operation and no operation errored."""
        return not self.failures and not self.errors

    def format(self) -> str:
        """A report for people."""
        lines = [
            f"schemathesis: {self.operations} operation(s), {len(self.failures)} failing, "
            f"{len(self.errors)} not testable"
        ]
        for label, message in {**self.failures, **self.errors}.items():
            lines.append(f"- {label}:")
            lines.extend(f"    {line}" for line in message.splitlines())
        return "\n".join(lines)


def problem_json_errors(ctx: Any, response: Any, case: Any) -> bool | None:
    """4xx/5xx responses with a body are RFC 9457 problem details whose ``status`` matches."""
    del ctx, case
    if response.status_code < 400 or not response.content:
        return None
    content_type = (response.headers.get("content-type") or [""])[0]
    if "json" not in content_type:
        raise AssertionError(
            f"error response {response.status_code} is {content_type or 'untyped'}, "
            "not application/problem+json"
        )
    try:
        problem = json.loads(response.content)
    except ValueError:
        raise AssertionError(f"error response {response.status_code} is not JSON") from None
    if not isinstance(problem, dict) or problem.get("status") != response.status_code:
        raise AssertionError(
            f"problem+json `status` does not equal the response status {response.status_code}"
        )
    return True


def retry_after_is_valid(ctx: Any, response: Any, case: Any) -> bool | None:
    """429 and 503 responses carry Retry-After as delay-seconds or an HTTP-date (RFC 9110)."""
    del ctx, case
    if response.status_code not in (429, 503):
        return None
    values = response.headers.get("retry-after") or []
    if not values:
        raise AssertionError(f"{response.status_code} without a Retry-After header")
    value = values[0].strip()
    if value.isdigit():
        return True
    try:
        email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        raise AssertionError("Retry-After is neither delay-seconds nor an HTTP-date") from None
    return True


HARNESS_CHECKS: dict[str, Callable[..., bool | None]] = {
    "problem_json_errors": problem_json_errors,
    "retry_after_is_valid": retry_after_is_valid,
}


def register_hooks() -> None:
    """Register the harness's checks with Schemathesis (``schemathesis run --checks ...``).

    Called by ``plugins/schemathesis_hooks.py``; registration is global in Schemathesis, which
    is why :func:`run_schemathesis` passes checks explicitly instead.
    """
    import schemathesis

    for func in HARNESS_CHECKS.values():
        schemathesis.check(func)


def _checks(names: Sequence[str], extra: Iterable[str | Callable[..., Any]]) -> list[Any]:
    from schemathesis.checks import CHECKS, load_all_checks

    load_all_checks()
    known = set(CHECKS.get_all_names())
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ConfigurationError(f"Schemathesis has no check(s) {unknown}; known: {sorted(known)}")
    out: list[Any] = list(CHECKS.get_by_names(list(names)))
    for item in extra:
        if callable(item):
            out.append(item)
        elif item in HARNESS_CHECKS:
            out.append(HARNESS_CHECKS[item])
        else:
            raise ConfigurationError(
                f"unknown extra check {item!r}; use a function or one of {sorted(HARNESS_CHECKS)}"
            )
    return out


def _load(spec: str | Path | Mapping[str, Any], app: Any) -> Any:
    import schemathesis

    # An explicit empty config: a schemathesis.toml in any parent folder would otherwise
    # change what runs (see NOTES.md).
    config = schemathesis.Config()
    try:
        if isinstance(spec, Mapping):
            schema = schemathesis.openapi.from_dict(dict(spec), config=config)
        elif str(spec).startswith(("http://", "https://")):
            schema = schemathesis.openapi.from_url(str(spec), config=config)
        else:
            schema = schemathesis.openapi.from_path(str(spec), config=config)
    except Exception as exc:  # Schemathesis' loader errors have no common public base
        raise ConfigurationError(f"Schemathesis could not load the description: {exc}") from exc
    if app is not None:
        schema.app = app
    return schema


def _operation_id(operation: Any) -> str | None:
    raw = getattr(getattr(operation, "definition", None), "raw", None)
    return raw.get("operationId") if isinstance(raw, dict) else None


def run_schemathesis(
    spec: str | Path | Mapping[str, Any],
    *,
    base_url: str | None = None,
    app: Any = None,
    checks: Sequence[str] = DEFAULT_CHECKS,
    extra_checks: Iterable[str | Callable[..., Any]] = (),
    max_examples: int = 10,
    seed: int = 0,
    operations: Iterable[str] | None = None,
) -> SchemathesisReport:
    """Run Schemathesis' checks against a server: a URL, or an ASGI/WSGI app in-process.

    ``spec`` is the description (path, URL or dict); give ``base_url`` (the server's base,
    including any base path) or ``app``. ``operations`` restricts the run to operationIds or
    ``"METHOD /path"`` labels. Returns a report; see :func:`assert_schemathesis` for tests::

        report = run_schemathesis("openapi.yaml", app=my_starlette_app)
        assert report.ok, report.format()
    """
    if (base_url is None) == (app is None):
        raise ConfigurationError("give exactly one of base_url= (a server) or app= (ASGI/WSGI)")
    if max_examples < 1:
        raise ConfigurationError(f"max_examples must be at least 1, got {max_examples}")
    from hypothesis import HealthCheck, given, settings
    from hypothesis import seed as seed_with

    schema = _load(spec, app)
    functions = _checks(checks, extra_checks)
    wanted = set(operations) if operations is not None else None
    report = SchemathesisReport()
    for result in schema.get_all_operations():
        try:
            operation = result.ok()
        except Exception as exc:  # an operation Schemathesis cannot build cases for
            message = scrub(str(exc), environment=True)
            report.errors[f"operation #{len(report.errors) + 1}"] = message[:_MESSAGE_LIMIT]
            continue
        label = operation.label
        if wanted is not None and not ({label, _operation_id(operation)} & wanted):
            continue
        report.operations += 1

        @seed_with(seed)
        @settings(
            max_examples=max_examples,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
            print_blob=False,
        )
        @given(case=operation.as_strategy())
        def exercise(case: Any) -> None:
            kwargs: dict[str, Any] = {"checks": functions}
            if base_url is not None:
                kwargs["base_url"] = base_url
            case.call_and_validate(**kwargs)

        try:
            exercise()
        except (Exception, BaseExceptionGroup) as exc:  # FailureGroup is a BaseExceptionGroup
            # Schemathesis quotes the server's responses: scrubbed before they are reported.
            report.failures[label] = scrub(str(exc).strip(), environment=True)[:_MESSAGE_LIMIT]
    return report


def assert_schemathesis(spec: str | Path | Mapping[str, Any], **options: Any) -> SchemathesisReport:
    """:func:`run_schemathesis`, raising :class:`~apiharness.ContractViolation` on failures."""
    report = run_schemathesis(spec, **options)
    if not report.ok:
        raise ContractViolation(report.format())
    return report
