"""Schemathesis for servers: the helper against ASGI, WSGI and URL targets, and the hooks file."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, jsonify
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from apiharness import ConfigurationError, ContractViolation
from apiharness.contract._schemathesis import assert_schemathesis, run_schemathesis

ROOT = Path(__file__).parents[2]
USERS = ROOT / "fixtures" / "openapi" / "users-items.yaml"
HOOKS = ROOT / "plugins" / "schemathesis_hooks.py"


def user(user_id: int, role: str = "admin") -> dict[str, Any]:
    return {
        "id": user_id,
        "name": "Ada",
        "email": "ada@example.com",
        "role": role,
        "nickname": None,
    }


def starlette_app(*, lie: bool) -> Starlette:
    async def list_users(request: Request) -> JSONResponse:
        return JSONResponse({"items": [user(1)], "next_page": None})

    async def create_user(request: Request) -> JSONResponse:
        return JSONResponse(user(1), status_code=201)

    async def get_user(request: Request) -> JSONResponse:
        return JSONResponse(user(request.path_params["id"], "boss" if lie else "member"))

    async def items(request: Request) -> JSONResponse:
        return JSONResponse([])

    return Starlette(
        routes=[
            Route("/users", list_users),
            Route("/users", create_user, methods=["POST"]),
            Route("/users/{id:int}", get_user),
            Route("/users/{id:int}/items", items),
        ]
    )


def test_honest_asgi_app_passes() -> None:
    report = assert_schemathesis(USERS, app=starlette_app(lie=False), max_examples=5)
    assert report.operations == 4
    assert report.ok


def test_lying_asgi_app_is_caught_with_the_operation() -> None:
    report = run_schemathesis(USERS, app=starlette_app(lie=True), max_examples=5)
    assert list(report.failures) == ["GET /users/{id}"]
    assert "boss" in report.failures["GET /users/{id}"]
    with pytest.raises(ContractViolation, match="GET /users/"):
        assert_schemathesis(
            USERS, app=starlette_app(lie=True), max_examples=5, operations=["getUser"]
        )


def test_operations_filter_and_wsgi_app() -> None:
    flask = Flask(__name__)

    @flask.get("/users/<int:user_id>/items")
    def items(user_id: int) -> Any:
        return jsonify([{"sku": "ABC-1234", "title": "x", "price": 1.5, "tags": ["a", "a"]}])

    report = run_schemathesis(USERS, app=flask, max_examples=3, operations=["listUserItems"])
    assert report.operations == 1
    assert "listUserItems" not in report.failures  # keyed by label
    assert "GET /users/{id}/items" in report.failures  # duplicate tags break uniqueItems


def test_declaration_errors() -> None:
    with pytest.raises(ConfigurationError, match="exactly one"):
        run_schemathesis(USERS)
    with pytest.raises(ConfigurationError, match="no check"):
        run_schemathesis(USERS, base_url="http://127.0.0.1:9", checks=["no_such_check"])
    with pytest.raises(ConfigurationError, match="unknown extra check"):
        run_schemathesis(USERS, base_url="http://127.0.0.1:9", extra_checks=["nope"])


@pytest.fixture
def loopback_app() -> Iterator[str]:
    import uvicorn

    async def teapot(request: Request) -> JSONResponse:
        return JSONResponse({"oops": True}, status_code=404)

    app = Starlette(routes=[Route("/users/{id:int}", teapot)])
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        threading.Event().wait(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def test_url_target_with_harness_checks(loopback_app: str) -> None:
    report = run_schemathesis(
        USERS,
        base_url=loopback_app,
        checks=["not_a_server_error"],
        extra_checks=["problem_json_errors"],
        max_examples=2,
        operations=["getUser"],
    )
    assert "problem+json" in report.failures["GET /users/{id}"]


def test_hooks_file_adds_checks_to_schemathesis_run(loopback_app: str, tmp_path: Path) -> None:
    env = {**os.environ, "SCHEMATHESIS_HOOKS": str(HOOKS), "NO_COLOR": "1"}
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        str(USERS),
        "--url",
        loopback_app,
        "--checks",
        "problem_json_errors",
        "--include-operation-id",
        "getUser",
        "--max-examples",
        "2",
        "--phases",
        "fuzzing",
    ]
    done = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "problem_json_errors" in done.stdout or "problem+json" in done.stdout


def test_fixture_runs_seeded_checks(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        f"""
        from starlette.applications import Starlette
        from starlette.responses import JSONResponse
        from starlette.routing import Route

        async def get_user(request):
            return JSONResponse({{"id": 1, "name": "A", "email": "a@b.c", "role": "boss",
                                 "nickname": None}})

        APP = Starlette(routes=[Route("/users/{{id:int}}", get_user)])

        def test_contract(schemathesis_check):
            schemathesis_check({str(USERS)!r}, app=APP, operations=["getUser"], max_examples=2)
        """
    )
    result = pytester.runpytest("-p", "apiharness", "--apiharness-seed=7")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*ContractViolation*", "*GET /users/{id}*"])
