"""Bad input gets a message saying what is wrong and how to fix it, and exit status 2.

Each case is a mistake a newcomer made in their first hour (issue 21, point 3): a module that
does not compile, a file path where a module name belongs, a function where an exception class
belongs, a schema with a typo, a marker without its fixture, cassettes that are not cassettes.
None may end in a traceback or pytest's INTERNALERROR.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from _openapi import one_operation
from apiharness.cli import cli
from apiharness.contract import load_spec
from apiharness.errors import InvalidSpecError

SPEC_WITH_TYPO = one_operation({"type": "object", "properties": {"a": {"type": "strng"}}})
TYPO_PATH = (
    "$.paths['/x'].get.responses['200'].content['application/json'].schema.properties.a.type"
)


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def bad_input(result: Result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    for fragment in fragments:
        assert fragment in result.output


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user's project folder, the working directory, with a broken and a good module."""
    (tmp_path / "mods").mkdir()
    (tmp_path / "mods" / "__init__.py").write_text("")
    (tmp_path / "mods" / "broken.py").write_text("def make_client(:\n    pass\n")
    (tmp_path / "mods" / "x.py").write_text("def make_client(base_url):\n    return None\n")
    (tmp_path / "fz.py").write_text("def call(target):\n    return target.http.get('/x')\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_grade_a_module_with_a_syntax_error(project: Path) -> None:
    result = run("grade", "mods.broken:make_client")
    bad_input(result, "broken.py, line 1", "invalid syntax", "fix the syntax error")


def test_grade_a_path_instead_of_a_module_name(project: Path) -> None:
    result = run("grade", "../mods.x:make_client")
    bad_input(result, "'../mods.x' is not a module name", "mods.x:make_client", "PYTHONPATH")


def test_pytest_conformance_option_with_a_syntax_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(broken="def make_client(:\n    pass\n")
    pytester.makepyfile("def test_nothing():\n    pass\n")
    result = pytester.runpytest_subprocess(
        "-p", "apiharness", "--apiharness-conformance=broken:make_client"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: apiharness: cannot import 'broken'*line 1: invalid syntax*"]
    )
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    assert "Traceback" not in result.stderr.str()


def test_fuzz_raises_must_name_an_exception_class(project: Path) -> None:
    spec = project / "spec.yaml"
    fixed = yaml.safe_dump(SPEC_WITH_TYPO).replace("strng", "string")
    spec.write_text(fixed)
    result = run("fuzz", str(spec), "getX", "--call", "fz:call", "--raises", "builtins:len")
    bad_input(result, "--raises 'builtins:len'", "not an exception class")
    missing = run(
        "fuzz", str(spec), "getX", "--call", "fz:nothing", "--raises", "builtins:ValueError"
    )
    bad_input(missing, "module 'fz' has no attribute 'nothing'")
    unknown = run("fuzz", str(spec), "nope", "--call", "fz:call", "--raises", "builtins:ValueError")
    bad_input(unknown, "nope")


def test_a_schema_with_a_typo_is_refused_at_load_naming_the_json_path(tmp_path: Path) -> None:
    with pytest.raises(InvalidSpecError) as info:
        load_spec(SPEC_WITH_TYPO)
    assert info.value.json_path == TYPO_PATH
    assert "'strng' is not a JSON Schema type" in str(info.value)
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(SPEC_WITH_TYPO))
    # The mock refuses it at start, instead of answering 500 to every request.
    bad_input(run("mock", str(spec)), TYPO_PATH)
    bad_input(run("fuzz", str(spec), "getX", "--call", "x:y", "--raises", "x:Y"))


def test_the_same_typo_in_a_component_schema(tmp_path: Path) -> None:
    spec = {
        **SPEC_WITH_TYPO,
        "components": {"schemas": {"A": {"type": "object", "properties": {"n": {"type": "int"}}}}},
    }
    with pytest.raises(InvalidSpecError) as info:
        load_spec(spec)
    assert info.value.json_path == "$.components.schemas.A.properties.n.type"


def test_upstream_marker_without_its_fixture(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        from apiharness.upstream import status

        @pytest.mark.upstream({"GET /x": status(200)})
        def test_forgot_the_fixture():
            pass

        @pytest.mark.upstream({"GET /x": status(200)})
        def test_with_it(upstream):
            pass

        pytestmark_users = None
        """
    )
    result = pytester.runpytest_subprocess("-p", "apiharness")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "DeclarationError: test_forgot_the_fixture is marked @pytest.mark.upstream but uses "
            "neither the `upstream` nor the `upstream_server` fixture*"
        ]
    )


def test_a_module_level_marker_may_cover_tests_without_the_fixture(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import pytest
        from apiharness.upstream import status

        pytestmark = pytest.mark.upstream({"GET /x": status(200)})

        def test_plain():
            pass
        """
    )
    pytester.runpytest_subprocess("-p", "apiharness").assert_outcomes(passed=1)


# -- check-cassettes --------------------------------------------------------------------------

CASSETTE = {
    "version": 1,
    "interactions": [
        {
            "request": {"method": "GET", "uri": "https://api.test/x", "body": None, "headers": {}},
            "response": {
                "status": {"code": 200, "message": "OK"},
                "headers": {},
                "body": {"string": ""},
            },
        }
    ],
}


def test_check_cassettes_refuses_a_cassette_without_version(tmp_path: Path) -> None:
    no_version = {"interactions": CASSETTE["interactions"]}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(no_version))
    bad_input(run("check-cassettes", "--secrets", str(tmp_path)), "c.yaml: no 'version' key")


def test_check_cassettes_words_a_bad_field_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            version: 1
            interactions:
            - request: {method: GET, uri: 'https://api.test/x', body: null, headers: {}}
              response: {status: {code: 200}, headers: {}, body: {string: ''}}
            - request: {method: GET, body: null, headers: {}}
              response: {status: {code: 200}, headers: {}, body: {string: ''}}
            """
        )
    )
    expected = "c.yaml: interaction #1 (line 5): request.uri must be an absolute URL, got nothing"
    bad_input(run("check-cassettes", "--secrets", str(path)), expected)
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(SPEC_WITH_TYPO).replace("strng", "string"))
    bad_input(run("check-cassettes", str(spec), str(path)), expected)


def test_check_cassettes_on_an_empty_folder_is_not_no_drift(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(SPEC_WITH_TYPO).replace("strng", "string"))
    (tmp_path / "empty").mkdir()
    for args in ([str(spec)], ["--secrets"]):
        result = run("check-cassettes", *args, str(tmp_path / "empty"))
        bad_input(result, "no cassettes found in")
        assert "no drift" not in result.output


def test_check_cassettes_exit_codes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(CASSETTE))
    monkeypatch.setenv("MY_TOKEN", "api.test/x")
    assert run("check-cassettes", "--secrets", "--no-env", str(tmp_path)).exit_code == 0
    leak = run("check-cassettes", "--secrets", "--secret", "MY_TOKEN", str(tmp_path))
    assert leak.exit_code == 1, leak.output


@pytest.mark.parametrize("command", ["grade", "fuzz", "mock", "check-cassettes", "record"])
def test_every_subcommand_documents_exit_2_for_bad_input(command: str) -> None:
    result = run(command, "--help")
    assert result.exit_code == 0
    assert "2 on bad input" in " ".join(result.output.split())


def test_a_missing_cassette_advises_our_record_mode(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_replays(apiharness_cassette):
            pass
        """
    )
    result = pytester.runpytest_subprocess("-p", "apiharness")
    result.assert_outcomes(errors=1)
    output = result.stdout.str()
    result.stdout.fnmatch_lines(["CassetteError: no cassette at *test_replays.yaml*"])
    assert "pytest --apiharness-record-mode=once" in output
    assert "record_mode='once'" not in output
