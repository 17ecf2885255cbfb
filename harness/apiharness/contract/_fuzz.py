"""The client fuzzer: does a client survive everything an API may (and may not) send back?

Hypothesis draws a response for one operation, valid or tagged-invalid (see
:mod:`apiharness.strategies`); the spec-driven mock serves it; the user's call runs against
the mock. The oracle:

* a valid response: the call returns without raising;
* an invalid response: the call raises one of the exception types the user declared, and
  nothing else - no ``KeyError``, ``TypeError``, ``AttributeError``, and no silent success
  with garbage.

A failure is shrunk by Hypothesis to the smallest response that shows it, and reported with
the operation, what the response violates, and the body.
"""

from __future__ import annotations

import asyncio
import inspect
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from apiharness._scrub import scrub
from apiharness._stacks import httpx
from apiharness.contract._mutate import InvalidBody
from apiharness.contract._spec import Spec, load_spec
from apiharness.errors import ConfigurationError, FuzzFailure

if TYPE_CHECKING:
    from apiharness.upstream import Route, Upstream

__all__ = ["FuzzReport", "FuzzTarget", "fuzz_client"]

_SHOWN = 600


@dataclass
class FuzzTarget:
    """What the user's call talks to: the mock's base URL and a ready ``httpx.Client``.

    ``transport`` is the in-process mock (an httpx transport, sync and async) or ``None``
    when served on loopback, where ``base_url`` is a real ``http://127.0.0.1:PORT`` URL.
    """

    base_url: str
    http: httpx.Client
    upstream: Upstream
    transport: httpx.BaseTransport | None


@dataclass
class FuzzReport:
    """What was served: counts of valid responses and of invalid ones by violation."""

    valid: int = 0
    invalid: Counter[str] = field(default_factory=Counter)

    def format(self) -> str:
        """One line for people."""
        kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(self.invalid.items()))
        return f"{self.valid} valid, {sum(self.invalid.values())} invalid ({kinds or 'none'})"


def _shown(content: bytes) -> str:
    text = content.decode("utf-8", errors="replace")
    return text if len(text) <= _SHOWN else text[:_SHOWN] + f"... ({len(content)} bytes)"


def _run(call: Callable[[FuzzTarget], Any], target: FuzzTarget) -> Any:
    result = call(target)
    if inspect.isawaitable(result):
        return asyncio.run(_awaited(result))
    return result


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


@dataclass
class _Oracle:
    """Serves one drawn response and judges what the call did with it."""

    what: str
    code: int
    content_type: str
    route: Route
    call: Callable[[FuzzTarget], Any]
    target: FuzzTarget
    expected: tuple[type[BaseException], ...]
    report: FuzzReport
    on_example: Callable[[FuzzReport], None] | None = None

    def check(self, drawn: Any) -> None:
        from apiharness.upstream import respond

        bad = drawn if isinstance(drawn, InvalidBody) else None
        headers = {"Content-Type": self.content_type}
        if bad is None:
            self.report.valid += 1
            content = http_body(drawn)
        else:
            self.report.invalid[bad.violation.value] += 1
            content = bad.content
        if self.on_example is not None:
            self.on_example(self.report)
        self.route.respond(respond(self.code, content=content, headers=headers))
        allowed = " or ".join(kind.__name__ for kind in self.expected)
        try:
            _run(self.call, self.target)
        except self.expected as exc:
            if bad is None:
                raise FuzzFailure(
                    f"{self.what}: the client raised {type(exc).__name__} on a VALID response"
                    f"\n  body: {_shown(content)}"
                ) from exc
            return
        except Exception as exc:
            label = f"an INVALID response ({bad})" if bad else "a VALID response"
            # The client's message is foreign text; it may quote its own credentials.
            raise FuzzFailure(
                f"{self.what}: the client raised {type(exc).__name__}: "
                f"{scrub(str(exc), environment=True)} on {label}; "
                f"expected {allowed}\n  body: {_shown(content)}"
            ) from exc
        if bad is not None:
            raise FuzzFailure(
                f"{self.what}: the client accepted an INVALID response ({bad}) without error; "
                f"expected {allowed}\n  body: {_shown(content)}"
            )


def fuzz_client(
    spec: Spec | str | Mapping[str, Any],
    operation: str,
    call: Callable[[FuzzTarget], Any],
    *,
    raises: type[BaseException] | Sequence[type[BaseException]],
    status: int | None = None,
    max_examples: int = 100,
    seed: int | None = 0,
    base_url: str = "https://api.test",
    loopback: bool = False,
    valid: bool = True,
    invalid: bool = True,
    on_example: Callable[[FuzzReport], None] | None = None,
) -> FuzzReport:
    """Fuzz a client call with responses to ``operation``, valid and invalid.

    ``call(target)`` makes the client do its thing against the mock (use ``target.http``,
    ``target.base_url`` or ``target.transport``); it may be ``async``. ``raises`` are the
    error types the client is allowed to raise on an invalid response. Raises
    :class:`~apiharness.FuzzFailure` with the smallest offending response::

        def test_client_survives_charges():
            fuzz_client(
                "openapi.yaml", "getCharge",
                lambda t: PaymentsClient(t.http).get_charge("ch_abcdef"),
                raises=PaymentsError,
            )

    ``loopback=True`` serves the mock on 127.0.0.1 for clients that are not httpx-based.
    ``on_example(report)`` is called as each drawn response is served (progress, counts so far).
    """
    expected = (raises,) if isinstance(raises, type) else tuple(raises)
    if not expected or not all(
        isinstance(kind, type) and issubclass(kind, BaseException) for kind in expected
    ):
        raise ConfigurationError(
            f"raises= takes the exception types your client may raise, got {raises!r}"
        )
    if not (valid or invalid):
        raise ConfigurationError("valid=False and invalid=False leave nothing to fuzz")
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as seeded
    from hypothesis import strategies as st

    from apiharness.contract._bodies import invalid_response_bodies, response_bodies
    from apiharness.upstream import Upstream

    loaded = load_spec(spec)
    op = loaded.operation(operation)
    response = loaded.response(op, status)
    code = int(response.status) if response.status.isdigit() else 200
    media = response.media()
    content_type = media.media_type if media is not None else "application/json"
    choices: list[st.SearchStrategy[Any]] = []
    if valid:
        choices.append(response_bodies(loaded, op, response.status))
    if invalid:
        choices.append(invalid_response_bodies(loaded, op, response.status))
    report = FuzzReport()

    with ExitStack() as stack:
        upstream = Upstream(base_url=base_url, seed=seed or 0)
        mock = upstream.from_spec(loaded, seed=seed)
        route = mock.route(op)
        if loopback:
            server = stack.enter_context(upstream.serve())
            url, transport = server.base_url, None
            http = stack.enter_context(httpx.Client(base_url=url))
        else:
            url, transport = upstream.base_url, upstream
            http = stack.enter_context(httpx.Client(transport=upstream, base_url=url))
        target = FuzzTarget(url, http, upstream, transport)

        oracle = _Oracle(
            f"{op.name} -> {code}",
            code,
            content_type,
            route,
            call,
            target,
            expected,
            report,
            on_example,
        )
        test = given(st.one_of(choices))(oracle.check)
        test = settings(
            max_examples=max_examples,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
            print_blob=False,
            # One failure, the smallest: not an ExceptionGroup of every distinct one.
            report_multiple_bugs=False,
            # Shrink, but skip "explain": it re-runs the call hundreds of times to annotate
            # which parts of the body matter, which the violation tag already says.
            phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
        )(test)
        if seed is not None:
            test = seeded(seed)(test)
        try:
            test()
        except FuzzFailure as failure:
            # Hypothesis notes the failing call, `check(drawn=...)`, with an argument it cannot
            # print; the message already shows the response, which is what the user needs.
            failure.__notes__ = [
                note
                for note in getattr(failure, "__notes__", ())
                if not note.startswith(("Failing test case", "Falsifying example"))
            ]
            raise
    return report


def http_body(value: Any) -> bytes:
    """A decoded JSON value as the bytes the mock sends."""
    import json

    return json.dumps(value, separators=(",", ":")).encode()
