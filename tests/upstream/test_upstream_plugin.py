"""The upstream fixtures and marker, in fresh inner pytest sessions (pytester)."""

from __future__ import annotations

import pytest

FIXTURES = """
import json, os
import httpx, pytest, requests
from apiharness.upstream import respond, status

def client(up):
    return httpx.Client(transport=up, base_url=up.base_url)

def test_unmatched_fails_at_teardown(upstream):
    upstream.get("/known").respond(status(200))
    assert client(upstream).get("/unknown").status_code == 404

def test_unmet_expectation_fails_at_teardown(upstream):
    upstream.post("/charges", expect=2).respond(status(201))
    client(upstream).post("/charges")

def test_met_expectation_passes(upstream):
    upstream.post("/charges", expect=1).respond(status(201))
    client(upstream).post("/charges")

@pytest.mark.upstream(
    {"GET /users/{id}": respond(200, json={"id": 1}), "POST /c": [status(503), status(201)]}
)
def test_marker_declares_routes(upstream):
    http = client(upstream)
    assert http.get("/users/3").json() == {"id": 1}
    assert [http.post("/c").status_code for _ in range(3)] == [503, 201, 201]

@pytest.mark.upstream(allow_unmatched=True, base_url="https://shop.test/v1")
def test_marker_options(upstream):
    assert upstream.base_url == "https://shop.test/v1"
    assert client(upstream).get("/nothing").status_code == 404

@pytest.mark.upstream(strict=True)
def test_marker_with_unknown_option(upstream):
    pass

def test_server_first(upstream_server):
    upstream_server.get("/only-here").respond(status(200))
    assert requests.get(upstream_server.base_url + "/only-here", timeout=5).ok
    os.environ["FIRST_PORT"] = str(upstream_server.server.port)

@pytest.mark.upstream(allow_unmatched=True)
def test_server_second_is_cleared_not_restarted(upstream_server):
    assert requests.get(upstream_server.base_url + "/only-here", timeout=5).status_code == 404
    assert str(upstream_server.server.port) == os.environ["FIRST_PORT"]
    assert len(upstream_server.journal) == 1

def test_server_thread_error_reaches_the_test(upstream_server):
    def broken(request):
        raise RuntimeError("handler exploded")
    upstream_server.get("/boom").respond(broken)
    requests.get(upstream_server.base_url + "/boom", timeout=5)

def test_server_after_an_error_is_clean(upstream_server):
    upstream_server.get("/ok").respond(status(204))
    assert requests.get(upstream_server.base_url + "/ok", timeout=5).status_code == 204
"""


def test_fixtures_verify_at_teardown_and_the_marker_declares(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(FIXTURES)
    result = pytester.runpytest("-p", "apiharness", "-p", "no:randomly", "-p", "no:xdist")
    result.assert_outcomes(passed=9, errors=4)  # teardown errors follow passing calls
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_unmatched_fails_at_teardown*",
            "*UnmatchedRequestError: 1 request(s) matched no route*",
            "*no route matched GET /unknown*",
            "*<Route GET /known>: path /unknown does not fit /known*",
            "*allow_unmatched=True*",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_unmet_expectation_fails_at_teardown*",
            "*ExpectationError: route call counts were not met*",
            "*<Route POST /charges>: expected 2 call(s), got 1*",
            "*check_expectations = False*",
        ]
    )
    result.stdout.fnmatch_lines(
        ["*ERROR at setup of test_marker_with_unknown_option*", "*unknown option(s)*strict*"]
    )
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_server_thread_error_reaches_the_test*",
            "*ServerThreadError*RuntimeError: handler exploded*",
        ]
    )


FAILING_TESTS = """
import httpx, requests
from apiharness.upstream import status

def test_fails_and_left_a_request_unmatched(upstream):
    upstream.get("/known").respond(status(200))
    response = httpx.Client(transport=upstream, base_url=upstream.base_url).get("/typo")
    assert response.status_code == 200

def test_served_fails_with_an_unmet_count(upstream_server):
    upstream_server.post("/charges", expect=2).respond(status(201))
    assert requests.post(upstream_server.base_url + "/charges", timeout=5).status_code == 200

def test_oauth_fails_and_left_a_request_unmatched(oauth_server):
    http = httpx.Client(transport=oauth_server.upstream, base_url="https://auth.test")
    assert http.get("/nowhere").status_code == 200

def test_passes_with_an_unmatched_request(upstream):
    httpx.Client(transport=upstream, base_url=upstream.base_url).get("/typo")
"""


def test_a_failed_test_gets_the_teardown_findings_beside_its_failure(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(FAILING_TESTS)
    result = pytester.runpytest("-p", "apiharness", "-p", "no:randomly", "-n", "2")
    # Failed tests count once; a passing test with an unmatched request still errors.
    result.assert_outcomes(failed=3, passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*_ test_fails_and_left_a_request_unmatched _*",
            "*assert 404 == 200*",
            "*Captured apiharness teardown*",
            "UnmatchedRequestError: 1 request(s) matched no route*",
            "*<Route GET /known>: path /typo does not fit /known*",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*_ test_served_fails_with_an_unmet_count _*",
            "*assert 201 == 200*",
            "*Captured apiharness teardown*",
            "ExpectationError: route call counts were not met*",
            "*<Route POST /charges>: expected 2 call(s), got 1*",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*_ test_oauth_fails_and_left_a_request_unmatched _*",
            "*Captured apiharness teardown*",
            "UnmatchedRequestError: 1 request(s) matched no route*",
            "*no route matched GET /nowhere*",
        ]
    )
    result.stdout.fnmatch_lines(
        ["*ERROR at teardown of test_passes_with_an_unmatched_request*", "*UnmatchedRequestError*"]
    )


def test_marker_help_is_registered(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("-p", "apiharness", "--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.upstream(*routes, **options):*upstream_server*"])


SEEDED = """
import httpx
from apiharness.upstream import chance, status

def test_seeded(upstream):
    upstream.get("/x").respond(chance(0.5, status(503), otherwise=status(200)))
    http = httpx.Client(transport=upstream, base_url=upstream.base_url)
    print("CODES", "".join("x" if http.get("/x").status_code == 503 else "." for _ in range(32)))
"""


def codes(pytester: pytest.Pytester, *args: str) -> str:
    result = pytester.runpytest("-p", "apiharness", "-s", *args)
    result.assert_outcomes(passed=1)
    return next(line for line in result.outlines if "CODES" in line).split("CODES ")[1][:32]


def test_the_run_seed_drives_the_upstreams_randomness(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(SEEDED)
    default = codes(pytester)
    assert default == codes(pytester, "--apiharness-seed=0")
    assert default != codes(pytester, "--apiharness-seed=7")


XDIST = """
import os, pytest, requests
from apiharness.upstream import respond

@pytest.mark.parametrize("n", range(8))
def test_worker(upstream_server, n):
    upstream_server.get("/n").respond(respond(200, json=n))
    assert requests.get(upstream_server.base_url + "/n", timeout=5).json() == n
    assert len(upstream_server.journal) == 1
    out = os.environ["PORTS_FILE"]
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    with open(out, "a") as f:
        f.write(f"{worker} {upstream_server.server.port}\\n")
"""


def test_works_under_xdist_with_a_server_per_worker(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(XDIST)
    monkeypatch.setenv("PORTS_FILE", str(pytester.path / "ports"))
    # Autoload off: workers start in a second rather than importing every installed plugin.
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    result = pytester.runpytest_subprocess("-p", "xdist", "-p", "apiharness", "-n", "2")
    result.assert_outcomes(passed=8)
    lines = (pytester.path / "ports").read_text().split("\n")
    by_worker = {}
    for line in filter(None, lines):
        worker, port = line.split()
        by_worker.setdefault(worker, set()).add(port)
    assert set(by_worker) == {"gw0", "gw1"}
    assert all(len(ports) == 1 for ports in by_worker.values())  # one server per worker
    assert by_worker["gw0"] != by_worker["gw1"]  # separate ports


def test_the_subpackage_is_not_shadowed_by_the_fixture() -> None:
    import apiharness
    import apiharness.upstream as module

    assert module.Upstream.__name__ == "Upstream"
    assert apiharness.upstream is module


REFUSED = """
import socket
import pytest, requests
from apiharness.upstream import status

SECRET = b"Bearer sk-live-plugin-0123456789"

def send_malformed(up):
    with socket.create_connection(("127.0.0.1", up.server.port), timeout=5) as sock:
        sock.sendall(
            b"GET /ok HTTP/1.1\\r\\nHost: x\\r\\nAuthorization: " + SECRET
            + b"\\r\\nContent-Length: -1\\r\\n\\r\\n"
        )
        sock.shutdown(socket.SHUT_WR)
        assert sock.recv(65536).startswith(b"HTTP/1.1 400 ")

def test_a_malformed_request_fails_at_teardown(upstream_server):
    upstream_server.get("/ok").respond(status(204))
    send_malformed(upstream_server)
    assert requests.get(upstream_server.base_url + "/ok", timeout=5).status_code == 204

@pytest.mark.upstream(allow_rejected=True)
def test_the_marker_opts_out(upstream_server):
    send_malformed(upstream_server)

def test_the_next_test_is_not_blamed(upstream_server):
    upstream_server.get("/ok").respond(status(204))
    assert requests.get(upstream_server.base_url + "/ok", timeout=5).status_code == 204
"""


def test_requests_refused_as_client_protocol_errors_fail_at_teardown(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(REFUSED)
    result = pytester.runpytest("-p", "apiharness", "-p", "no:randomly", "-p", "no:xdist")
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_a_malformed_request_fails_at_teardown*",
            "*UnmatchedRequestError: 1 request(s) were refused as client protocol errors*",
            "*RejectedRequest(400: client protocol error: *",
            "*allow_rejected=True*",
        ]
    )
    assert "sk-live-plugin" not in result.stdout.str()
