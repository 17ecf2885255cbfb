"""Drift: do recorded VCR.py cassettes still agree with the OpenAPI description?

Every interaction of every cassette is checked: the operation exists (method and path, after
stripping the base path of a ``servers`` URL), the status code is documented, and a JSON body
validates against the documented schema. Undocumented operations and status codes are listed
separately from invalid bodies, since they usually mean the description, not the API, is
behind.

Cassettes are read by :class:`~apiharness.recording.Cassette` (VCR.py format 1, a safe YAML
loader), so cassettes written by vcrpy, by pytest-recording or by ``apiharness record`` all
work, a broken one is worded as the cassette player words it (file, interaction, field, line),
and this module does not import vcrpy. Reports name the method and path only: query strings
and bodies may carry secrets.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from apiharness.contract._loader import SpecSource
from apiharness.contract._spec import Spec, is_json_media, load_spec
from apiharness.errors import CassetteDriftError, CassetteError, PactError, SchemaViolationError
from apiharness.recording import Cassette, Interaction, cassette_files, header_values

__all__ = [
    "DriftIssue",
    "DriftKind",
    "DriftReport",
    "assert_no_drift",
    "check_cassettes",
    "check_pacts",
]


class DriftKind(enum.StrEnum):
    """What kind of disagreement an interaction shows."""

    UNDOCUMENTED_OPERATION = "undocumented operation"
    UNDOCUMENTED_STATUS = "undocumented status"
    INVALID_BODY = "invalid body"
    UNREADABLE = "unreadable cassette"
    UNREADABLE_PACT = "unreadable pact"


@dataclass(frozen=True)
class DriftIssue:
    """One disagreement: where (cassette, interaction index), what, and why."""

    cassette: str
    index: int
    kind: DriftKind
    method: str
    path: str
    status: int | None
    detail: str

    def __str__(self) -> str:
        if self.kind in (DriftKind.UNREADABLE, DriftKind.UNREADABLE_PACT):
            return f"{self.kind.value}: {self.detail}"
        status = f" -> {self.status}" if self.status is not None else ""
        where = f"{self.cassette}#{self.index}" if self.index >= 0 else self.cassette
        return f"{where}: {self.kind.value}: {self.method} {self.path}{status}: {self.detail}"


@dataclass
class DriftReport:
    """The outcome of a drift check; falsy ``issues`` means the cassettes agree with the spec."""

    cassettes: int = 0
    interactions: int = 0
    issues: list[DriftIssue] = field(default_factory=list)
    kind: str = "cassette"  # what was checked: cassettes, or pacts (check_pacts)

    @property
    def ok(self) -> bool:
        """True when no interaction disagrees with the description."""
        return not self.issues

    def of_kind(self, kind: DriftKind) -> list[DriftIssue]:
        """The issues of one kind."""
        return [issue for issue in self.issues if issue.kind is kind]

    def format(self) -> str:
        """A report for people: a summary line, then one line per issue."""
        files = f"{self.cassettes} {self.kind}(s)"
        head = f"checked {self.interactions} interaction(s) in {files}: " + (
            "no drift" if self.ok else f"{len(self.issues)} issue(s)"
        )
        return "\n".join([head, *(f"  {issue}" for issue in self.issues)])


def _base_paths(spec: Spec) -> list[str]:
    prefixes = []
    for server in spec.document.get("servers") or ():
        if isinstance(server, dict) and isinstance(server.get("url"), str):
            prefix = urlsplit(server["url"]).path.rstrip("/")
            if prefix and "{" not in prefix:
                prefixes.append(prefix)
    return sorted(set(prefixes), key=len, reverse=True)


def check_cassettes(spec: Spec | str | Mapping[str, Any], *sources: str | Path) -> DriftReport:
    """Check every interaction in the cassettes (files or folders) against the description.

    ::

        report = check_cassettes("openapi.yaml", "cassettes/")
        assert report.ok, report.format()
    """
    loaded = load_spec(spec)
    report = DriftReport()
    for cassette in cassette_files(sources):
        try:
            interactions = Cassette.load(cassette).interactions
        except CassetteError as exc:
            _unreadable(report, cassette, exc)
            continue
        _check_all(loaded, report, str(cassette), interactions)
    return report


def check_pacts(spec: Spec | SpecSource, *pacts: str | Path) -> DriftReport:
    """The bi-directional check: does each HTTP interaction of the pact files use a documented
    operation and status code, with a response body valid for its schema?

    A consumer's pact (``--apiharness-pact-dir``, or pact-python's) checked against the
    provider's OpenAPI description, without running the provider::

        report = check_pacts("openapi.yaml", "pacts/shop-payments.json")
        assert report.ok, report.format()
    """
    from apiharness.contract._pact import load_pact

    loaded = load_spec(spec)
    report = DriftReport(kind="pact")
    for source in pacts:
        try:
            pact = load_pact(source)
        except PactError as exc:
            _unreadable(report, source, exc, DriftKind.UNREADABLE_PACT)
            continue
        _check_all(loaded, report, str(source), [i.recorded() for i in pact])
    return report


def _unreadable(
    report: DriftReport, source: str | Path, exc: Exception, kind: DriftKind = DriftKind.UNREADABLE
) -> None:
    report.cassettes += 1
    report.issues.append(DriftIssue(str(source), -1, kind, "", "", None, str(exc)))


def _check_all(
    spec: Spec, report: DriftReport, source: str, interactions: list[Interaction]
) -> None:
    prefixes = _base_paths(spec)
    report.cassettes += 1
    for index, interaction in enumerate(interactions):
        report.interactions += 1
        issue = _check_one(spec, prefixes, source, index, interaction)
        if issue is not None:
            report.issues.append(issue)


def _check_one(  # noqa: PLR0911 - one return per finding
    spec: Spec, prefixes: list[str], cassette: str, index: int, interaction: Interaction
) -> DriftIssue | None:
    response = interaction.response
    method = interaction.request.method.upper()
    path = urlsplit(interaction.request.uri).path or "/"
    status = response.status
    found = spec.match(method, path)
    for prefix in prefixes:
        if found is None and path.startswith(prefix + "/"):
            found = spec.match(method, path[len(prefix) :])
    if found is None:
        return DriftIssue(
            cassette,
            index,
            DriftKind.UNDOCUMENTED_OPERATION,
            method,
            path,
            status,
            "no operation in the description matches",
        )
    operation = found[0]
    documented = operation.response_for(status)
    if documented is None:
        return DriftIssue(
            cassette,
            index,
            DriftKind.UNDOCUMENTED_STATUS,
            method,
            path,
            status,
            f"{operation.name} documents {', '.join(operation.responses)}",
        )
    content_type = next(iter(header_values(response.headers, "content-type")), "")
    body = response.body
    media = documented.media(content_type or None)
    invalid = functools.partial(
        DriftIssue, cassette, index, DriftKind.INVALID_BODY, method, path, status
    )
    if media is None and content_type and documented.content:
        return invalid(
            f"{operation.name}: content type {content_type.split(';')[0]!r} "
            f"is not documented ({', '.join(documented.content)})"
        )
    if media is None or media.schema_uri is None or not body:
        return None
    if content_type and not is_json_media(content_type):
        return None
    try:
        spec.validate_response(operation, status, body, media_type=media.media_type)
    except SchemaViolationError as exc:
        return invalid(f"{operation.name}: at {exc.path}: {exc.violation}")
    return None


def assert_no_drift(spec: Spec | str | Mapping[str, Any], *sources: str | Path) -> DriftReport:
    """:func:`check_cassettes`, raising :class:`~apiharness.CassetteDriftError` on any drift.

    For tests::

        def test_cassettes_match_the_spec():
            assert_no_drift("openapi.yaml", "cassettes/")
    """
    report = check_cassettes(spec, *sources)
    if not report.ok:
        raise CassetteDriftError(
            report.format() + "\nUpdate the description, or re-record the cassettes."
        )
    return report
