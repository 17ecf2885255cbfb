"""The documentation's promises that are cheap to check on every run: the example descriptions
ship and load, the README's links land on pages, the nav lists every page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

import apiharness
from apiharness import SpecError
from apiharness.contract import EXAMPLE_SPECS, example_spec, load_spec

ROOT = Path(__file__).parents[2]


@pytest.mark.parametrize("name", sorted(EXAMPLE_SPECS))
def test_each_example_spec_ships_in_the_package_and_loads(name: str) -> None:
    path = example_spec(name)
    package = Path(apiharness.__file__).parent  # the source tree, or site-packages under nox
    assert path.is_relative_to(package)
    assert path.is_file()
    spec = load_spec(path)
    assert spec.operations  # every operation, $refs into common.yaml resolved


def test_an_unknown_example_spec_names_the_known_ones() -> None:
    with pytest.raises(SpecError, match=r"'payments', 'users-items'"):
        example_spec("payment")


def test_every_page_the_readme_links_to_exists() -> None:
    readme = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\((docs/[^)#]+)(?:#[^)]*)?\)", readme)
    assert len(links) >= 10
    assert [link for link in links if not (ROOT / link).is_file()] == []


def _nav_pages(node: object) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, list):
        return [page for item in node for page in _nav_pages(item)]
    if isinstance(node, dict):
        return [page for value in node.values() for page in _nav_pages(value)]
    return []


def test_every_page_is_in_the_nav_and_every_nav_entry_exists() -> None:
    # mkdocs.yml lets a nav entry without its page pass the strict build (reports.md and
    # troubleshooting.md come from another branch); everything else must be there.
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    nav = set(_nav_pages(config["nav"]))
    docs = ROOT / "docs"
    pages = {str(path.relative_to(docs)) for path in docs.rglob("*.md")}
    assert pages - nav == set()
    assert nav - pages <= {"reports.md", "troubleshooting.md"}


def test_the_command_line_page_documents_every_subcommand() -> None:
    import click

    from apiharness.cli import cli

    page = (ROOT / "docs" / "cli.md").read_text()
    with click.Context(cli) as ctx:
        names = cli.list_commands(ctx)
    assert len(names) >= 5
    assert [name for name in names if f":prog_name: apiharness {name}\n" not in page] == []
