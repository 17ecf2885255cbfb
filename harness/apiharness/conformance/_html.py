"""The scorecard as one self-contained HTML page, with a timeline picture per scenario.

Every scenario gets its statement (what a good client does), its verdict, what the client did,
and an inline SVG of its attempts in virtual time: each attempt a mark coloured by its answer,
the gap before it, and where the answer asked for a wait (Retry-After), the wait asked drawn
beside the wait taken. The page loads nothing: no scripts, fonts, styles or images from
anywhere, so it can be archived as a CI artifact and opened offline.

Hand-written rather than templated: the page is a few elements, and a template engine would be
a dependency for one file. Every piece of text goes through :func:`html.escape`.
"""

from __future__ import annotations

import html
import itertools
from typing import TYPE_CHECKING

from apiharness.conformance._timeline import AttemptRecord

if TYPE_CHECKING:
    from apiharness.conformance._scorecard import ScenarioResult, Scorecard

__all__ = ["render_html", "timeline_svg"]

WIDTH, LEFT, RIGHT = 760, 24, 24
MIN_STEP = 30  # pixels between marks of attempts made at (nearly) the same virtual time
MAX_MARKS = 120  # a breaker scenario makes ~90 requests; beyond this the rest are counted

_STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
       max-width: 820px; color: #1f2328; padding: 0 1rem; }
h1 { font-size: 1.5rem; margin-bottom: .2rem; }
h2 { font-size: 1.15rem; margin-top: 2rem; border-bottom: 1px solid #d0d7de;
     padding-bottom: .3rem; }
.scenario { border: 1px solid #d0d7de; border-left-width: 6px; border-radius: 6px;
            padding: .6rem .9rem; margin: .8rem 0; }
.scenario.pass { border-left-color: #1a7f37; }
.scenario.fail { border-left-color: #cf222e; }
.scenario.crash { border-left-color: #8250df; }
.scenario h3 { font-size: 1rem; margin: 0 0 .3rem; font-family: ui-monospace, monospace; }
.verdict { display: inline-block; min-width: 3.2em; font-family: system-ui, sans-serif;
           font-size: .8rem; padding: 0 .4em; border-radius: 4px; color: #fff; margin-right: .5em;
           text-align: center; }
.pass .verdict { background: #1a7f37; }
.fail .verdict { background: #cf222e; }
.crash .verdict { background: #8250df; }
.statement, .observed { margin: .2rem 0; }
.label { color: #59636e; }
svg.timeline { display: block; margin-top: .4rem; max-width: 100%; height: auto; }
details pre { background: #f6f8fa; padding: .5rem; overflow-x: auto; font-size: 12px; }
.legend { color: #59636e; font-size: 12px; }
.legend span { display: inline-block; width: .8em; height: .8em; border-radius: 50%;
               vertical-align: -1px; margin: 0 .25em 0 .8em; }
"""

_COLOURS = {"2": "#1a7f37", "3": "#0969da", "4": "#bc4c00", "5": "#cf222e"}
_ASKED, _WAITED, _FAULT = "#8250df", "#57606a", "#6e7781"


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _colour(attempt: AttemptRecord) -> str:
    if attempt.status is None:
        return _FAULT
    if attempt.status == 429:
        return "#d4a72c"
    return _COLOURS.get(str(attempt.status)[0], _FAULT)


def _positions(times: list[float], span: float, inner: float) -> list[float]:
    """x of each attempt: by virtual time, but never closer than MIN_STEP to the previous."""
    step = min(MIN_STEP, inner / max(len(times), 1))
    xs: list[float] = []
    for t in times:
        x = LEFT + (t / span) * inner if span > 0 else LEFT
        if xs and x < xs[-1] + step:
            x = xs[-1] + step
        xs.append(x)
    if xs and xs[-1] > LEFT + inner:  # pushed past the end: squeeze back into the width
        scale = inner / (xs[-1] - LEFT)
        xs = [LEFT + (x - LEFT) * scale for x in xs]
    return xs


def timeline_svg(attempts: tuple[AttemptRecord, ...], label: str = "") -> str:
    """An inline SVG of the attempts in virtual time (one ``<svg class="timeline">``)."""
    title = f"<title>{_e(label or 'timeline')}</title>"
    if not attempts:
        return (
            f'<svg class="timeline" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" '
            f'height="34" viewBox="0 0 {WIDTH} 34" role="img">{title}'
            f'<text x="{LEFT}" y="22" fill="{_WAITED}" font-size="12">'
            "no request reached the upstream</text></svg>"
        )
    shown = attempts[:MAX_MARKS]
    ends = [a.t + (a.retry_after or 0.0) for a in shown]
    span = max([a.t for a in shown] + ends + [0.0])
    inner = WIDTH - LEFT - RIGHT
    xs = _positions([a.t for a in shown], span, inner)
    asked_any = any(a.retry_after is not None for a in shown)
    axis_y, height = 46, 108 if asked_any else 72
    parts = [
        f'<svg class="timeline" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" '
        f'height="{height}" viewBox="0 0 {WIDTH} {height}" role="img" font-size="11" '
        f'font-family="system-ui, sans-serif">{title}',
        f'<line x1="{LEFT}" y1="{axis_y}" x2="{WIDTH - RIGHT}" y2="{axis_y}" '
        f'stroke="#d0d7de" stroke-width="2"/>',
        f'<text x="{LEFT}" y="{axis_y + 18}" fill="{_WAITED}">t = 0 s</text>',
        f'<text x="{WIDTH - RIGHT}" y="{axis_y + 18}" fill="{_WAITED}" text-anchor="end">'
        f"{span:.2f} s (virtual)</text>",
    ]
    labelled_wait = False
    labels = min((b - a for a, b in itertools.pairwise(xs)), default=inner) >= 26
    for k, (attempt, x) in enumerate(zip(shown, xs, strict=True)):
        if k:
            gap = attempt.t - shown[k - 1].t
            if x - xs[k - 1] >= 44:
                mid = (x + xs[k - 1]) / 2
                parts.append(
                    f'<text class="gap" x="{mid:.1f}" y="{axis_y - 14}" fill="{_WAITED}" '
                    f'text-anchor="middle">+{gap:.2f} s</text>'
                )
        parts.append(
            f'<g class="attempt"><title>{_e(_describe(k + 1, attempt))}</title>'
            f'<circle cx="{x:.1f}" cy="{axis_y}" r="6" fill="{_colour(attempt)}"/>'
            + (
                f'<text x="{x:.1f}" y="{axis_y - 26}" '
                f'text-anchor="middle" fill="{_colour(attempt)}" font-weight="600">'
                f"{_e(_short(attempt.answer))}</text>"
                if labels
                else ""
            )
            + "</g>"
        )
        if attempt.retry_after is not None:
            following = k + 1 < len(shown)
            parts.append(
                _asked_and_waited(
                    attempt,
                    shown[k + 1] if following else None,
                    x0=x,
                    x_next=xs[k + 1] if following else None,
                    per_second=inner / span if span > 0 else 0.0,
                    y=axis_y + 24,
                    label=not labelled_wait,  # later pairs lie on the same rows: no 2nd label
                )
            )
            labelled_wait = True
    if len(attempts) > len(shown):
        parts.append(
            f'<text x="{WIDTH - RIGHT}" y="12" text-anchor="end" fill="{_WAITED}">'
            f"first {len(shown)} of {len(attempts)} attempts</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _asked_and_waited(
    attempt: AttemptRecord,
    following: AttemptRecord | None,
    *,
    x0: float,
    x_next: float | None,
    per_second: float,
    y: int,
    label: bool,
) -> str:
    """Two bars under an answer that asked for a wait, to the same scale: the wait asked
    (Retry-After) and the wait taken (until the next attempt); a line of text under them."""
    asked = attempt.retry_after or 0.0
    asked_w = min(max(2.0, asked * per_second), WIDTH - RIGHT - x0)
    words = f"asked {asked:g} s"
    out = [
        f'<g class="retry-after"><title>{_e(f"Retry-After asked {asked:g} s")}</title>'
        f'<rect x="{x0:.1f}" y="{y}" width="{asked_w:.1f}" height="6" rx="2" fill="{_ASKED}"/>'
        "</g>"
    ]
    if following is not None and x_next is not None:
        waited = following.t - attempt.t
        waited_w = max(x_next - x0, 2.0)
        words += f" · waited {waited:.2f} s"
        out.append(
            f'<g class="waited"><title>{_e(f"waited {waited:.2f} s")}</title>'
            f'<rect x="{x0:.1f}" y="{y + 9}" width="{waited_w:.1f}" height="6" '
            f'rx="2" fill="{_WAITED}"/></g>'
        )
    if label:
        anchor, x = ("end", WIDTH - RIGHT) if x0 > WIDTH * 0.6 else ("start", x0)
        out.append(
            f'<text class="wait" x="{x:.1f}" y="{y + 30}" text-anchor="{anchor}" '
            f'fill="{_ASKED}">{_e(words)}</text>'
        )
    return "".join(out)


def _short(answer: str) -> str:
    """A mark's label: a status, or a fault's name cut to fit above one mark."""
    return answer if len(answer) <= 6 else answer[:5] + "…"


def _describe(number: int, attempt: AttemptRecord) -> str:
    asked = f", asked to wait {attempt.retry_after:g} s" if attempt.retry_after is not None else ""
    return (
        f"attempt {number}: {attempt.method} {attempt.path} at t={attempt.t:.2f} s "
        f"-> {attempt.answer}{asked}"
    )


def _scenario(result: ScenarioResult, client: str) -> str:
    verdict = result.verdict.lower()  # pass, fail or crash
    anchor = _e(f"{client}--{result.scenario}")
    journal = "\n".join(result.details)
    return (
        f'<article class="scenario {verdict}" id="{anchor}">'
        f'<h3><span class="verdict">{verdict.upper()}</span>{_e(result.scenario)}</h3>'
        f'<p class="statement"><span class="label">expected:</span> {_e(result.expected)}</p>'
        f'<p class="observed"><span class="label">the client:</span> {_e(result.observed)}</p>'
        + timeline_svg(result.attempts, f"{result.scenario}: attempts in virtual time")
        + (
            f"<details><summary>journal</summary><pre>{_e(journal)}</pre></details>"
            if journal
            else ""
        )
        + "</article>"
    )


def render_html(card: Scorecard) -> str:
    """The scorecard as a complete HTML document."""
    body: list[str] = []
    for client in dict.fromkeys(r.client for r in card.results):
        rows = [r for r in card.results if r.client == client]
        passed = sum(r.passed for r in rows)
        body.append(
            f'<section class="client"><h2>{_e(client or "client")}: '
            f"{passed}/{len(rows)} passed</h2>"
            + "".join(_scenario(r, client) for r in rows)
            + "</section>"
        )
    if not body:
        body.append("<p>No scenarios were run.</p>")
    legend = (
        '<p class="legend">marks: answer status'
        f'<span style="background:{_COLOURS["2"]}"></span>2xx'
        '<span style="background:#d4a72c"></span>429'
        f'<span style="background:{_COLOURS["4"]}"></span>4xx'
        f'<span style="background:{_COLOURS["5"]}"></span>5xx'
        f'<span style="background:{_FAULT}"></span>no response (fault)'
        f'<span style="background:{_ASKED};border-radius:1px"></span>Retry-After asked'
        f'<span style="background:{_WAITED};border-radius:1px"></span>wait taken</p>'
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>apiharness conformance scorecard</title>"
        f"<style>{_STYLE}</style></head><body>"
        "<h1>apiharness conformance scorecard</h1>"
        "<p>Each scenario makes the upstream misbehave in one way and checks what the client "
        "does. Timelines are in virtual time: a 30-second backoff is drawn at its length but "
        "cost milliseconds to run.</p>"
        f"{legend}{''.join(body)}</body></html>\n"
    )
