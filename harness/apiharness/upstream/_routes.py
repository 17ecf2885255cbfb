"""Routes: what requests a declaration answers, and an index that finds them in flat time.

A route is a method, a path template (``/users/{id}``; a segment may also mix text and a
parameter, ``/files/{name}.json``) and optional host, query and header matchers. The
:class:`Router` indexes routes in a trie keyed by method and literal path segments, so finding
the route for a request costs the same with 1 or 10,000 routes (respx and pytest-httpx scan
every route). When several routes match, the first declared wins. A request's path is split
on ``/`` as sent, then each segment is percent-decoded (RFC 3986: ``%2F`` is data inside a
segment, not a separator); literal segments of templates are decoded too.

An unmatched request gets a diagnostic naming the closest routes and why each did not match.
"""

from __future__ import annotations

import random
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable
from urllib.parse import unquote

from apiharness._stacks import httpx
from apiharness._urls import path_segments
from apiharness.errors import DeclarationError
from apiharness.upstream._behaviours import Behaviour, ResponseData, Runner, respond
from apiharness.upstream._scripts import script_of

if TYPE_CHECKING:
    from apiharness.upstream._journal import JournalEntry

__all__ = ["METHODS", "Outcome", "Route", "RoutePolicy", "Router"]

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"})
# Any name OpenAPI allows between braces ({id}, {enterprise-team}, {user.id}, {1d}): every
# character but the braces and the segment separator. Regex groups are numbered, not named,
# so a name never has to be a Python identifier.
_PARAM = re.compile(r"\{([^{}/]+)\}")
_EMPTY_200 = respond(200)  # what a route answers before it is given a script; stateless


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of a request, as a route policy learns it afterwards.

    ``response`` is what the upstream produced (None: nothing, e.g. ``hang()``); ``delivered``
    says whether it reached the client whole (False for dropped, truncated or timed-out ones).
    """

    response: ResponseData | None
    delivered: bool
    entry: JournalEntry


@runtime_checkable
class RoutePolicy(Protocol):
    """An object attached to a route that sees each matched request before its behaviour runs.

    ``before`` may answer instead by returning a behaviour (say ``respond(409, json=...)``),
    or return None to let the route's script answer. ``after`` learns the outcome. Both are
    called under the route's lock, one request at a time, from whichever thread delivers
    (the loopback server is concurrent); state shared across routes needs its own lock.
    """

    def before(self, request: httpx.Request, route: Route) -> Behaviour | None: ...

    def after(self, request: httpx.Request, route: Route, outcome: Outcome) -> None: ...


class _Template:
    """A parsed path template, matched segment by segment against a request's segments.

    Both sides are percent-decoded per segment, after splitting on ``/`` (RFC 3986: ``%2F``
    inside a segment is data): ``/files/{name}`` takes ``/files/a%2Fb`` with ``name="a/b"``,
    and a literal segment may be declared encoded or not (``/a%20b`` and ``/a b`` are one).
    """

    def __init__(
        self,
        text: str,
        segments: tuple[str | None, ...],
        affixes: tuple[tuple[str, str], ...],
        names: tuple[str, ...] = (),
    ) -> None:
        self.text = text
        self.segments = segments  # literal text, or None for a segment with a parameter
        self.affixes = affixes  # per parameter segment, its text before and after the parameter
        self.names = names  # the parameters, in path order
        # Set by the spec mock: a last segment that is a whole parameter may also take the
        # rest of the path, slashes included (GitHub's {ref} is "heads/main"), when no route
        # matches segment by segment.
        self.tail = False
        # Some segment mixes text and a parameter: the trie cannot tell, `values` has the last word.
        self.mixed = any(affix != ("", "") for affix in affixes)

    @property
    def takes_tail(self) -> bool:
        return self.tail and bool(self.segments) and self.segments[-1] is None and not self.mixed

    def values(self, segments: Sequence[str]) -> list[str] | None:
        """The parameters' values in a request's (decoded) ``segments``; None if they don't fit."""
        if len(segments) != len(self.segments):
            return None
        values = []
        affixes = iter(self.affixes)
        for want, got in zip(self.segments, segments, strict=True):
            if want is not None:
                if got != want:
                    return None
                continue
            before, after = next(affixes)
            if len(got) <= len(before) + len(after) or not (
                got.startswith(before) and got.endswith(after)
            ):
                return None
            values.append(got[len(before) : len(got) - len(after)])
        return values

    def tail_values(self, segments: Sequence[str]) -> list[str] | None:
        """:meth:`values` with the last parameter taking the rest of a longer path."""
        count = len(self.segments)
        if not self.takes_tail or len(segments) <= count:
            return None
        return self.values([*segments[: count - 1], "/".join(segments[count - 1 :])])


def parse_template(template: object) -> _Template:
    """Validate and compile a path template, or raise a DeclarationError saying what is wrong."""
    if not isinstance(template, str) or not template.startswith("/"):
        raise DeclarationError(
            f"a route path is a template starting with '/', e.g. '/users/{{id}}'; got {template!r}"
        )
    literal = _PARAM.sub("", template)  # a parameter's name may hold any character
    if "?" in literal or "#" in literal:
        raise DeclarationError(
            f"route path {template!r} contains a query or fragment; match queries with "
            "query={'name': 'value'}"
        )
    segments: list[str | None] = []
    affixes: list[tuple[str, str]] = []
    names: list[str] = []
    for segment in template[1:].split("/"):
        params = _PARAM.findall(segment)
        leftover = _PARAM.sub("", segment)
        if "{" in leftover or "}" in leftover:
            raise DeclarationError(
                f"route path {template!r} has a malformed parameter in segment {segment!r}; "
                "parameters look like {name}, with no braces or '/' in the name"
            )
        if len(params) > 1:
            raise DeclarationError(
                f"route path {template!r}: segment {segment!r} has {len(params)} parameters; "
                "use at most one per segment"
            )
        names.extend(params)
        if not params:
            segments.append(unquote(segment))
            continue
        segments.append(None)
        before, after = segment.split("{" + params[0] + "}")
        affixes.append((unquote(before), unquote(after)))
    if len(set(names)) != len(names):
        raise DeclarationError(f"route path {template!r} repeats a parameter name; rename one")
    return _Template(template, tuple(segments), tuple(affixes), tuple(names))


def _matcher(where: str, value: object, *, lower_keys: bool) -> dict[str, str | None]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in value.items()
    ):
        raise DeclarationError(
            f"{where}= takes a mapping of str to str (or None for 'present, any value'), "
            f"got {value!r}"
        )
    return {(k.lower() if lower_keys else k): v for k, v in value.items()}


class Route:
    """A declared route: its matchers, its script, the calls it answered.

    Made by :meth:`Upstream.route` (or ``up.get(...)`` ...); configure it with :meth:`respond`
    and, for extensions, :meth:`add_policy`.
    """

    def __init__(
        self,
        method: str,
        template: str,
        *,
        host: str | None,
        query: Mapping[str, str | None] | None,
        headers: Mapping[str, str | None] | None,
        expect: int | None,
        order: int,
        seed: int,
    ) -> None:
        if not isinstance(method, str) or method.upper() not in METHODS:
            raise DeclarationError(
                f"route method must be one of {', '.join(sorted(METHODS))}, got {method!r}"
            )
        if host is not None and (not isinstance(host, str) or not host or "/" in host):
            raise DeclarationError(f"route host= takes a host name like 'api.test', got {host!r}")
        if expect is not None and (
            isinstance(expect, bool) or not isinstance(expect, int) or expect < 0
        ):
            raise DeclarationError(
                f"route expect= is the number of calls the test expects (an int >= 0), "
                f"got {expect!r}"
            )
        self.method = method.upper()
        self.template = parse_template(template)
        self.host = host.lower() if host else None
        self.query = _matcher("query", query, lower_keys=False)
        self.headers = _matcher("headers", headers, lower_keys=True)
        self.expect = expect
        self.order = order
        self.policies: list[RoutePolicy] = []
        self.lock = threading.Lock()
        # Seeded per route, for reproducible chaos, not for secrecy.
        self.rng = random.Random(f"{seed}:{self.method} {template}:{order}")  # noqa: S311
        self._calls: list[JournalEntry] = []
        self._script: Behaviour = _EMPTY_200
        self.runner: Runner = self._script

    @property
    def path(self) -> str:
        """The path template as declared."""
        return self.template.text

    @property
    def key(self) -> tuple[object, ...]:
        """Identity of the declaration: declaring the same route again returns this one."""
        return (
            self.method,
            self.template.text,
            self.host,
            tuple(sorted(self.query.items())),
            tuple(sorted(self.headers.items())),
        )

    def respond(self, *behaviours: object) -> Route:
        """Serve ``behaviours`` in order, one per request; the last one repeats.

        ``up.post("/charges").respond(status(503).times(3), respond(201, json={"id": "ch_1"}))``
        A callable ``(httpx.Request) -> behaviour`` is a behaviour too. Replaces any earlier
        script and starts it afresh.
        """
        script = script_of(behaviours, f"{self.method} {self.path}: respond()")
        with self.lock:
            self._script, self.runner = script, script.runner()
        return self

    def add_policy(self, policy: RoutePolicy) -> Route:
        """Attach a policy that sees each matched request first (see :class:`RoutePolicy`)."""
        if not isinstance(policy, RoutePolicy):
            raise DeclarationError(
                f"add_policy() takes an object with before(request, route) and "
                f"after(request, route, outcome) methods, got {policy!r}"
            )
        with self.lock:
            self.policies.append(policy)
        return self

    @property
    def calls(self) -> list[JournalEntry]:
        """The requests this route answered, oldest first."""
        with self.lock:
            return list(self._calls)

    @property
    def call_count(self) -> int:
        with self.lock:
            return len(self._calls)

    def record(self, entry: JournalEntry) -> None:
        self._calls.append(entry)

    def params(self, path: str | bytes) -> dict[str, str]:
        """The template's parameters in ``path``: ``{"id": "7"}`` for ``/users/7``.

        ``path`` is the path as sent, percent-encoded (httpx's ``request.url.raw_path``); each
        value comes back decoded: ``{"name": "a/b"}`` for ``/files/a%2Fb`` and ``/files/{name}``.
        """
        segments = path_segments(path)
        found = self.template.values(segments)
        if found is None:
            found = self.template.tail_values(segments)
        return dict(zip(self.template.names, found, strict=True)) if found else {}

    # -- matching --------------------------------------------------------------------------

    def accepts(self, request: httpx.Request, segments: Sequence[str]) -> bool:
        """Everything but method and the trie-checked segments: host, query, headers, affixes."""
        if self.template.mixed and self.template.values(segments) is None:
            return False
        if self.host is not None and request.url.host != self.host:
            return False
        if self.query:
            params = request.url.params
            for name, value in self.query.items():
                if name not in params or (value is not None and value not in params.get_list(name)):
                    return False
        for name, value in self.headers.items():
            got = request.headers.get(name)
            if got is None or (value is not None and got != value):
                return False
        return True

    def mismatches(self, request: httpx.Request) -> list[str]:
        """Why this route does not match ``request`` (empty: it matches)."""
        reasons = []
        if request.method != self.method:
            reasons.append(f"method is {self.method}, not {request.method}")
        segments = path_segments(request.url.raw_path)
        if self.template.values(segments) is None and self.template.tail_values(segments) is None:
            reasons.append(f"path {request.url.path} does not fit {self.path}")
        if self.host is not None and request.url.host != self.host:
            reasons.append(f"host is {request.url.host!r}, route wants {self.host!r}")
        params = request.url.params
        for name, value in self.query.items():
            if name not in params:
                reasons.append(f"query parameter {name!r} is missing")
            elif value is not None and value not in params.get_list(name):
                # Query values may carry secrets (api_key=...): never echo them.
                reasons.append(f"query parameter {name!r} has a different value than wanted")
        for name, value in self.headers.items():
            got = request.headers.get(name)
            if got is None:
                reasons.append(f"header {name!r} is missing")
            elif value is not None and got != value:
                reasons.append(f"header {name!r} has a different value than wanted")
        return reasons

    def __repr__(self) -> str:
        extra = "".join(
            f" {name}={value!r}"
            for name, value in (("host", self.host), ("query", self.query or None))
            if value
        )
        if self.headers:
            extra += f" headers={sorted(self.headers)}"
        return f"<Route {self.method} {self.path}{extra}>"


@dataclass(slots=True)
class _Node:
    literal: dict[str, _Node] = field(default_factory=dict)
    wild: _Node | None = None
    routes: list[Route] = field(default_factory=list)


class Router:
    """Routes indexed by method and literal segments. Thread-safe for concurrent lookups."""

    def __init__(self) -> None:
        self._roots: dict[str, _Node] = {}
        self._by_key: dict[tuple[object, ...], Route] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._by_key)

    def routes(self) -> list[Route]:
        with self._lock:
            return sorted(self._by_key.values(), key=lambda r: r.order)

    def add(self, route: Route) -> Route:
        """Index ``route``; an identical declaration returns the route already there."""
        with self._lock:
            existing = self._by_key.get(route.key)
            if existing is not None:
                if route.expect is not None:
                    existing.expect = route.expect
                return existing
            node = self._roots.setdefault(route.method, _Node())
            for segment in route.template.segments:
                if segment is None:
                    node.wild = node.wild or _Node()
                    node = node.wild
                else:
                    node = node.literal.setdefault(segment, _Node())
            node.routes.append(route)
            self._by_key[route.key] = route
            return route

    def clear(self) -> None:
        with self._lock:
            self._roots.clear()
            self._by_key.clear()

    def find(self, request: httpx.Request, segments: Sequence[str]) -> Route | None:
        """The first-declared route that matches ``request``, whose path has the (decoded)
        ``segments`` (see :func:`apiharness._urls.path_segments`).

        A ``HEAD`` request that no ``HEAD`` route matches is the ``GET`` route's: RFC 9110
        section 9.3.2 makes HEAD a GET whose answer has no content (the delivery drops it).
        """
        found = self._find(request.method, request, segments)
        if found is None and request.method == "HEAD":
            found = self._find("GET", request, segments)
        return found

    def _find(self, method: str, request: httpx.Request, segments: Sequence[str]) -> Route | None:
        root = self._roots.get(method)
        if root is None:
            return None
        best: Route | None = None
        # Depth-first over the trie: literal children, then the parameter child.
        stack: list[tuple[_Node, int]] = [(root, 0)]
        depth = len(segments)
        while stack:
            node, index = stack.pop()
            if index == depth:
                for route in node.routes:
                    if (best is None or route.order < best.order) and route.accepts(
                        request, segments
                    ):
                        best = route
                continue
            segment = segments[index]
            if node.wild is not None and segment:
                stack.append((node.wild, index + 1))
            child = node.literal.get(segment)
            if child is not None:
                stack.append((child, index + 1))
        return best if best is not None else self._tail_match(root, segments, request)

    @staticmethod
    def _tail_match(root: _Node, segments: Sequence[str], request: httpx.Request) -> Route | None:
        """A route whose last parameter takes the rest of the path (see ``_Template.tail``).

        The longest template wins (``/repos/{o}/{r}/git/refs/{ref}`` over ``/repos/{o}/{r}``
        for ``/repos/o/r/git/refs/heads/main``), then the first declared.
        """
        best: Route | None = None
        rank = (0, 0)
        stack: list[tuple[_Node, int]] = [(root, 0)]
        while stack:
            node, index = stack.pop()
            if index >= len(segments) - 1:
                continue
            wild = node.wild
            if wild is not None and segments[index]:
                for route in wild.routes:
                    candidate = (-len(route.template.segments), route.order)
                    if (
                        route.template.takes_tail
                        and (best is None or candidate < rank)
                        and route.template.tail_values(segments) is not None
                        and route.accepts(request, segments)
                    ):
                        best, rank = route, candidate
                stack.append((wild, index + 1))
            child = node.literal.get(segments[index])
            if child is not None:
                stack.append((child, index + 1))
        return best

    def explain(self, request: httpx.Request, routes: Iterable[Route], *, closest: int = 3) -> str:
        """A diagnostic for an unmatched request: the closest routes and why each missed."""
        ranked = sorted(
            ((route.mismatches(request), route) for route in routes),
            key=lambda pair: (len(pair[0]), pair[1].order),
        )[:closest]
        lines = [f"apiharness: no route matched {request.method} {request.url.path}."]
        if ranked:
            lines.append("Closest routes:")
            lines.extend(f"  {route!r}: {'; '.join(why)}" for why, route in ranked)
        else:
            lines.append("No routes are declared.")
        lines.append(
            f'Declare one, e.g. upstream.route("{request.method}", "{request.url.path}")'
            ".respond(...), or let unmatched requests pass with Upstream(allow_unmatched=True) "
            "(marker: @pytest.mark.upstream(allow_unmatched=True))."
        )
        return "\n".join(lines)
