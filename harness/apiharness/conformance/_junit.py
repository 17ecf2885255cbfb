"""The scorecard as JUnit XML, for CI systems that show test reports.

One ``<testsuite>`` per client and one ``<testcase>`` per scenario; a failed scenario carries
a ``<failure>`` whose message is what the client did and whose text adds the expectation and
the journal. Built with the standard library's ElementTree, which escapes for us.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from apiharness.conformance._scorecard import Scorecard

__all__ = ["render_junit"]


def render_junit(card: Scorecard) -> str:
    """The scorecard as a JUnit XML document."""
    root = ET.Element("testsuites", name="apiharness conformance")
    total = failures = 0
    for client in dict.fromkeys(r.client for r in card.results):
        rows = [r for r in card.results if r.client == client]
        failed = sum(not r.passed for r in rows)
        suite = ET.SubElement(
            root,
            "testsuite",
            name=client or "client",
            tests=str(len(rows)),
            failures=str(failed),
            errors="0",
            skipped="0",
            time=f"{sum(r.wall_seconds for r in rows):.3f}",
        )
        for r in rows:
            case = ET.SubElement(
                suite,
                "testcase",
                classname=f"apiharness.conformance.{client or 'client'}",
                name=r.scenario,
                time=f"{r.wall_seconds:.3f}",
            )
            ET.SubElement(case, "properties").append(
                ET.Element("property", name="expected", value=r.expected)
            )
            if not r.passed:
                failure = ET.SubElement(case, "failure", message=r.observed, type="conformance")
                failure.text = r.explain()
            elif r.details:
                ET.SubElement(case, "system-out").text = "\n".join(r.details)
        total += len(rows)
        failures += failed
    root.set("tests", str(total))
    root.set("failures", str(failures))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
