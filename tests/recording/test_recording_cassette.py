"""The cassette model: VCR.py format v1 both ways, safe loading, errors that name file and entry."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from vcr.request import Request as VcrRequest
from vcr.serialize import deserialize, serialize
from vcr.serializers import yamlserializer

from apiharness._yaml import load_yaml
from apiharness.errors import CassetteError
from apiharness.recording import Cassette, Interaction, RecordedRequest, RecordedResponse

header_names = st.sampled_from(["Content-Type", "X-Trace", "Set-Cookie", "Accept"])
header_values = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=0, max_size=20
)
headers = st.lists(st.tuples(header_names, header_values), max_size=4).map(tuple)
bodies = st.one_of(st.binary(max_size=300), st.text(max_size=100).map(str.encode))


@st.composite
def interactions(draw: st.DrawFn) -> Interaction:
    path = draw(st.from_regex(r"/[a-z0-9/]{0,12}", fullmatch=True))
    return Interaction(
        RecordedRequest(
            method=draw(st.sampled_from(["GET", "POST", "DELETE"])),
            uri=f"https://api.example.com{path}?q={draw(st.integers(0, 9))}",
            # vcrpy keeps one value per request header (its HeadersDict), so the round trip
            # through vcrpy is exact only for distinct request header names.
            headers=tuple({k: (k, v) for k, v in draw(headers)}.values()),
            body=draw(st.none() | bodies),
        ),
        RecordedResponse(
            status=draw(st.integers(100, 599)),
            reason=draw(st.sampled_from(["OK", "Not Found", ""])),
            headers=draw(headers),
            body=draw(bodies),
        ),
    )


cassettes = st.lists(interactions(), max_size=4).map(Cassette)


def grouped(fields: tuple[tuple[str, str], ...]) -> dict[str, list[str]]:
    """The format keeps a list of values per name: interleaved repeats regroup, as in vcrpy."""
    out: dict[str, list[str]] = {}
    for name, value in fields:
        out.setdefault(name, []).append(value)
    return out


def normal(interaction: Interaction) -> tuple[object, ...]:
    request, response = interaction.request, interaction.response
    return (
        request.method, request.uri, grouped(request.headers), request.body,
        response.status, response.reason, grouped(response.headers), response.body,
    )  # fmt: skip


@settings(max_examples=30, deadline=None)
@given(cassettes)
def test_what_we_write_vcrpy_reads_byte_for_byte(cassette: Cassette) -> None:
    requests, responses = deserialize(cassette.to_yaml(), yamlserializer)
    assert len(requests) == len(cassette)
    for request, response, interaction in zip(requests, responses, cassette, strict=True):
        assert request.method == interaction.request.method
        assert request.uri == interaction.request.uri
        assert request.body == interaction.request.body
        assert dict(request.headers) == dict(interaction.request.headers)
        assert response["body"]["string"] == interaction.response.body
        assert response["status"]["code"] == interaction.response.status
        assert response["headers"] == grouped(interaction.response.headers)


@settings(max_examples=30, deadline=None)
@given(cassettes)
def test_what_vcrpy_writes_we_read_and_our_own_round_trip(cassette: Cassette) -> None:
    vcr_dict = {
        "requests": [
            VcrRequest(i.request.method, i.request.uri, i.request.body, dict(i.request.headers))
            for i in cassette
        ],
        "responses": [
            {
                "status": {"code": i.response.status, "message": i.response.reason},
                "headers": {
                    k: [v for n, v in i.response.headers if n == k] for k, _ in i.response.headers
                },
                "body": {"string": i.response.body},
            }
            for i in cassette
        ],
    }
    loaded = Cassette.from_yaml(serialize(vcr_dict, yamlserializer))
    assert [i.response.body for i in loaded] == [i.response.body for i in cassette]
    assert [i.request.body for i in loaded] == [i.request.body for i in cassette]
    again = Cassette.from_yaml(cassette.to_yaml())
    assert [normal(i) for i in again] == [normal(i) for i in cassette]


def test_save_is_atomic_and_load_remembers_the_path(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "api.yaml"
    cassette = Cassette([Interaction(RecordedRequest("GET", "http://a/"), RecordedResponse(200))])
    assert cassette.save(target) == target
    assert sorted(p.name for p in target.parent.iterdir()) == ["api.yaml"]  # no temp left over
    loaded = Cassette.load(target)
    assert loaded.path == target
    assert loaded.interactions == cassette.interactions


GOOD = {
    "version": 1,
    "interactions": [
        {
            "request": {"method": "GET", "uri": "https://a.test/", "body": None, "headers": {}},
            "response": {
                "status": {"code": 200, "message": "OK"},
                "headers": {},
                "body": {"string": ""},
            },
        }
    ],
}


def _second_entry(**changes: object) -> dict[str, object]:
    entry = yaml.safe_load(yaml.safe_dump(GOOD["interactions"][0]))  # type: ignore[index]
    for dotted, value in changes.items():
        node = entry
        *parents, leaf = dotted.split("__")
        for part in parents:
            node = node[part]
        node[leaf] = value
    return {"version": 1, "interactions": [GOOD["interactions"][0], entry]}  # type: ignore[index]


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (_second_entry(request__method=None), "request.method"),
        (_second_entry(request__uri="/relative"), "request.uri"),
        (_second_entry(response__status={"code": "200"}), "response.status.code"),
        (_second_entry(response__status={"code": 42}), "response.status.code"),
        (_second_entry(response__body="plain"), "response.body"),
        (_second_entry(response__headers=["a", "b"]), "response.headers"),
        (_second_entry(request__headers={"X": [{"nested": 1}]}), "request.headers"),
        (_second_entry(request__body=[1, 2]), "request.body"),
        ({"version": 1, "interactions": [GOOD["interactions"][0], "oops"]}, "interaction #1"),  # type: ignore[index]
    ],
)
def test_a_hand_edited_cassette_names_the_file_and_the_entry(
    tmp_path: Path, document: object, expected: str
) -> None:
    path = tmp_path / "edited.yaml"
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(CassetteError) as info:
        Cassette.load(path)
    message = str(info.value)
    assert str(path) in message
    assert "interaction #1" in message
    assert expected in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("version: 2\ninteractions: []\n", "version 2 is not supported"),
        ("interactions: []\n", "version None is not supported"),
        ("- request: {}\n", "old VCR.py"),
        ("version: 1\ninteractions: {}\n", "'interactions' must be a list"),
        ("version: 1\ninteractions: [\n", "not a loadable cassette at line 3"),
        ("!!python/object/apply:os.system ['true']\n", "python/object/apply:os.system' is not"),
        ("version: 1\ninteractions:\n- !!python/object/new:_io.BytesIO {}\n", "safe loader"),
    ],
)
def test_unknown_versions_and_unsafe_yaml_are_refused(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(CassetteError, match=expected) as info:
        Cassette.load(path)
    assert str(path) in str(info.value)


def test_a_missing_file_is_a_cassette_error(tmp_path: Path) -> None:
    with pytest.raises(CassetteError, match="cannot read cassette"):
        Cassette.load(tmp_path / "absent.yaml")
    with pytest.raises(CassetteError, match="no path"):
        Cassette().save()


yaml_documents = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.binary(max_size=20),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.text(max_size=5) | st.integers(), children, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(yaml_documents)
def test_the_fast_reader_reads_what_pyyaml_safe_load_reads(document: object) -> None:
    text = yaml.safe_dump(document)
    assert load_yaml(text) == yaml.safe_load(text)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("a: !!python/name:os.system\n", "'tag:yaml.org,2002:python/name:os.system' is not"),
        ("--- 1\n--- 2\n", "a second YAML document"),
        ("? [1]\n: 2\n", "a mapping or sequence as a key"),
        ("a: !!binary 'abc'\n", "invalid base64"),
    ],
)
def test_the_fast_reader_refuses_what_a_cassette_cannot_hold(text: str, problem: str) -> None:
    with pytest.raises(yaml.YAMLError, match=problem):
        load_yaml(text)
    assert load_yaml("a: &x [1]\nb: *x\n") == {"a": [1], "b": [1]}  # aliases are plain data


@pytest.mark.parametrize("scalar", ["²", "0777", "012", "1_000", "0", "200", "yes", "~", "1.5e3"])
def test_the_fast_reader_resolves_plain_scalars_as_yaml_1_1(scalar: str) -> None:
    text = f"a: {scalar}\n"
    assert load_yaml(text) == yaml.safe_load(text)
