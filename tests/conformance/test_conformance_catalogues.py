"""Named catalogues: chosen by name, loaded on first use, ids unique across them all."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from apiharness.cli import cli
from apiharness.conformance import (
    CATALOGUE,
    CATALOGUE_MODULES,
    _catalogue,
    find_scenario,
    grade,
    load_catalogue,
    select,
)
from apiharness.errors import ConformanceError

EXAMPLES = Path(__file__).parent.parent.parent / "examples"
REFERENCE = "shop.reference:make_client"

EXTRA = """
from apiharness.conformance._catalogue import ok, scenario
from apiharness.conformance._resource import RESOURCE_PATH

@scenario("extra-get-once", "one read is one request", "test", catalogue="extra")
def _get_once(t):
    t.up.get(RESOURCE_PATH).respond(ok())
    out = t.get()
    n = t.count(path=RESOURCE_PATH)
    if out.error is None and n == 1:
        return t.ok("1 request")
    return t.fail(f"{n} requests, error {out.error!r}")
"""


@pytest.fixture
def extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A second catalogue, ``extra``, in a module of its own that nothing has imported yet."""
    (tmp_path / "extra_catalogue_mod.py").write_text(EXTRA)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(CATALOGUE_MODULES, "extra", ("extra_catalogue_mod", "a test catalogue"))
    yield "extra"
    _catalogue._LOADED.pop("extra", None)
    sys.modules.pop("extra_catalogue_mod", None)


def test_the_default_catalogue_is_what_select_returns_unasked() -> None:
    assert select() == list(CATALOGUE.values())
    assert {s.catalogue for s in select()} == {"default"}


def test_a_catalogue_module_is_imported_only_when_chosen(extra: str) -> None:
    assert "extra_catalogue_mod" not in sys.modules
    select()  # the default catalogue does not load the others
    assert "extra_catalogue_mod" not in sys.modules
    chosen = select(catalogue=extra)
    assert [s.id for s in chosen] == ["extra-get-once"]
    assert chosen[0].catalogue == "extra"
    assert "extra_catalogue_mod" in sys.modules
    assert load_catalogue(extra) is load_catalogue(extra)  # loaded once


def test_an_unknown_catalogue_names_the_known_ones() -> None:
    with pytest.raises(ConformanceError, match=r"unknown conformance catalogue 'nope'.*default"):
        select(catalogue="nope")


def test_a_scenario_named_under_the_wrong_catalogue_says_where_it_lives(extra: str) -> None:
    with pytest.raises(ConformanceError, match=r"'extra-get-once' is in the 'extra' catalogue"):
        select(["extra-get-once"])
    first = next(iter(CATALOGUE))
    with pytest.raises(ConformanceError, match=rf"'{first}' is in the 'default' catalogue"):
        select([first], catalogue=extra)
    assert find_scenario("extra-get-once").catalogue == "extra"


def test_ids_stay_unique_across_catalogues(extra: str) -> None:
    load_catalogue(extra)
    taken = next(iter(CATALOGUE))
    with pytest.raises(ValueError, match="is taken"):
        _catalogue.scenario(taken, "again", "test", catalogue=extra)(lambda t: t.ok(""))
    with pytest.raises(ValueError, match="not listed"):
        _catalogue.scenario("fresh-id", "x", "test", catalogue="unlisted")(lambda t: t.ok(""))


def test_grade_runs_only_the_chosen_catalogue(extra: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(EXAMPLES))
    card = grade(REFERENCE, catalogue=extra)
    assert [r.scenario for r in card.results] == ["extra-get-once"]
    assert card.ok


def test_cli_lists_catalogues_and_refuses_an_unknown_one(monkeypatch: pytest.MonkeyPatch) -> None:
    listed = CliRunner().invoke(cli, ["grade", REFERENCE, "--list-catalogues"])
    assert listed.exit_code == 0
    assert "default:" in listed.output
    assert all(f"  {scenario_id}:" in listed.output for scenario_id in CATALOGUE)
    monkeypatch.syspath_prepend(str(EXAMPLES))
    refused = CliRunner().invoke(cli, ["grade", REFERENCE, "--catalogue", "nope"])
    assert refused.exit_code == 2
    assert "unknown conformance catalogue 'nope'" in refused.output


def test_pytest_option_chooses_the_catalogue(pytester: pytest.Pytester) -> None:
    pytester.syspathinsert(EXAMPLES)
    result = pytester.runpytest_subprocess(
        "-p", "apiharness", "--apiharness-catalogue=nope", f"--apiharness-conformance={REFERENCE}"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--apiharness-catalogue*invalid choice*'nope'*"])
