"""``nexthop report``: one run as a self-contained HTML page, for people reading what an agent did.

The page holds everything it shows: the style sheet is inlined (``report.css``, shipped
beside this module), the token chart is inline SVG, and there is no script at all;
long observations fold with ``<details>``. Its Content-Security-Policy forbids every
script and every fetch, so the page opens offline and stays inert even if some text
escaped its escaping. Every string from the run (task, thoughts, arguments, results,
policy evidence) is cleaned and escaped in `_report_parts`.
"""

from __future__ import annotations

import datetime
import html
import sys
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from nexthop._exceptions import ConfigError
from nexthop._sanitize import one_line, reveal
from nexthop._toolset import FINISH_TOOL
from nexthop._trajectory import Observation, Step, ToolCall, Trajectory, Usage
from nexthop.cli import _report_parts as p

if TYPE_CHECKING:
    from nexthop.host._store import RunSummary

__all__ = ["default_report_path", "render_report", "write_report"]

_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"  # no script, no fetch of any kind
_STATE_TONE = {"completed": "ok", "incomplete": "warn", "interrupted": "warn", "queued": "warn", "running": "warn"}


def render_report(summary: RunSummary, trajectory: Trajectory, in_flight: Sequence[ToolCall] = ()) -> str:
    """The report page of one run, as a complete HTML document.

    Args:
        summary: The run as the store lists it (`RunStore.timeline`).
        trajectory: Its steps.
        in_flight: Calls that were running when the run's process died (none for a finished run).

    Returns:
        The page (UTF-8 text, no external references).
    """
    style = resources.files("nexthop.cli").joinpath("report.css").read_text(encoding="utf-8")
    run_id = html.escape(summary.run_id)
    body = [
        _outcome(summary, trajectory),
        _chart_section(trajectory.steps),
        _events(trajectory.steps, in_flight),
        '<h2 class="kicker">Timeline</h2>',
        *(_step(step, in_flight if step is trajectory.steps[-1] else ()) for step in trajectory.steps),
    ]
    if not trajectory.steps:
        body.append('<section><p class="note info">No step was recorded.</p></section>')
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>nexthop run {run_id}</title><style>{style}</style></head>\n"
        "<body><main>\n" + "\n".join(body) + "\n"
        f"<footer>nexthop run report · run {run_id}</footer></main></body></html>\n"
    )


def _outcome(summary: RunSummary, trajectory: Trajectory) -> str:
    tone = _STATE_TONE.get(summary.state, "bad")
    when = datetime.datetime.fromtimestamp(summary.started_at, datetime.UTC)
    started = when.strftime("%Y-%m-%d %H:%M:%S UTC") if summary.started_at > 0 else "—"
    tokens = sum((s.usage for s in trajectory.steps), start=Usage())
    token_line = f"{summary.tokens:,}"
    if tokens.total_tokens:
        token_line += f" ({tokens.input_tokens:,} in, {tokens.output_tokens:,} out)"
    facts = [
        ("status", f'<span class="badge {tone}">{html.escape(summary.state)}</span>'),
        ("steps", str(summary.steps)),
        ("tokens", token_line),
        ("wall time", p.duration(summary.wall_time_s)),
        ("started", started),
    ]
    parts = [
        '<section class="outcome">',
        f'<div class="kicker">nexthop run report <code class="id">{html.escape(summary.run_id)}</code></div>',
        f'<h1 class="task"><span class="label">Task</span>{p.text(trajectory.task or summary.task)}</h1>',
    ]
    if trajectory.context:
        parts.append(f'<p class="context">Context: {p.text(trajectory.context)}</p>')
    if trajectory.memory is not None:
        earlier = len(trajectory.memory.steps)
        parts.append(f'<p class="context">Continued from an earlier run of {earlier} steps (given as memory).</p>')
    parts.append('<dl class="facts">')
    parts += [f"<div><dt>{k}</dt><dd>{v}</dd></div>" for k, v in facts]
    parts.append(f'<div class="wide"><dt>model</dt><dd><code>{p.text(summary.model, 300) or "—"}</code></dd></div>')
    parts.append("</dl>")
    if summary.termination is not None:
        t = summary.termination
        kind = "ok" if t.kind == "completed" else "bad" if summary.state == "error" else "warn"
        by = f" (policy {p.name(t.policy)})" if t.policy else ""
        parts.append(f'<p class="termination {kind}"><strong>{p.name(t.kind)}</strong>{by}: {p.text(t.detail)}</p>')
    answer = _final_answer(trajectory)
    if answer:
        parts.append(f'<div class="result"><span class="label">Result</span>{p.block(answer)}</div>')
    parts.append("</section>")
    return "\n".join(parts)


def _final_answer(trajectory: Trajectory) -> str:
    """The text the model passed to ``finish``, if it did."""
    for step in reversed(trajectory.steps):
        for call in step.tool_calls:
            if call.name == FINISH_TOOL.name:
                return str(call.arguments.get("result", ""))
    return ""


def _chart_section(steps: Sequence[Step]) -> str:
    if not steps:
        return ""
    legend = '<span class="legend"><i class="in"></i>input<i class="out"></i>output</span>'
    note = (
        "" if any(s.usage.total_tokens for s in steps) else '<p class="nodata">The model reported no token usage.</p>'
    )
    return f'<section class="chart"><h2>Tokens per step {legend}</h2>{p.chart(steps)}{note}</section>'


def _events(steps: Sequence[Step], in_flight: Sequence[ToolCall]) -> str:
    """The run's errors and policy events in one list, each linked to its step."""
    items: list[str] = []
    for step in steps:
        link = f'<a href="#step-{step.index}">step {step.index}</a>'
        calls = {c.id: c for c in step.tool_calls}
        for obs in step.observations:
            if obs.failed:
                call = calls.get(obs.call_id)
                tag = "denied" if obs.denied else "skipped" if obs.skipped else "error"
                tool = p.name(call.name) if call else "?"
                items.append(_event("bad", tag, f"{link} <code>{tool}</code>: {p.text(obs.content, 240)}"))
        if step.hint:
            items.append(_event("warn", "hint", f"{link}: {p.text(step.hint, 240)}"))
        for r in step.records:
            tone = p.record_tone(r)
            if tone != "info":
                items.append(_event(tone, p.name(r.event), f"{link} {p.name(r.policy)}: {p.record_text(r)}"))
    for call in in_flight:
        items.append(_event("warn", "in flight", f"<code>{p.name(call.name)}</code> had not returned when it stopped"))
    if not items:
        return '<section class="events"><h2>Errors and policy events</h2><p>None: every call succeeded.</p></section>'
    return f'<section class="events"><h2>Errors and policy events</h2><ul>{"".join(items)}</ul></section>'


def _event(tone: p.Tone, tag: str, what: str) -> str:
    return f'<li class="{tone}"><span class="tag {tone}">{tag}</span>{what}</li>'


def _step(step: Step, in_flight: Sequence[ToolCall]) -> str:
    failed = any(o.failed and not o.denied for o in step.observations)  # a denial is a policy event, not a failure
    flagged = (
        any(o.denied for o in step.observations)
        or step.hint
        or any(p.record_tone(r) != "info" for r in step.records)
        or in_flight
    )
    css = "step error" if failed else "step policy" if flagged else "step"
    tokens = f"{step.usage.total_tokens:,} tokens" if step.usage.total_tokens else "no tokens reported"
    parts = [
        f'<article class="{css}" id="step-{step.index}">',
        f"<header><h3>Step {step.index}</h3><span>{p.duration(step.duration_s)} · {tokens}</span></header>",
    ]
    if step.thought:
        parts.append(f'<div class="thought">{p.text(step.thought)}</div>')
    results = {o.call_id: o for o in step.observations}
    pending = {c.id for c in in_flight}
    parts += [_call(call, results.get(call.id), call.id in pending) for call in step.tool_calls]
    if step.hint:
        parts.append(f'<p class="note warn"><strong>hint to the model:</strong> {p.text(step.hint)}</p>')
    for r in step.records:
        what = f"<strong>{p.name(r.policy)} · {p.name(r.event)}</strong> {p.record_text(r)}"
        parts.append(f'<p class="note {p.record_tone(r)}">{what}</p>')
    parts.append("</article>")
    return "\n".join(parts)


def _call(call: ToolCall, obs: Observation | None, pending: bool) -> str:
    took = p.duration(obs.duration_s) if obs is not None else ""
    parts = [
        '<div class="call">',
        f'<div class="head"><code class="tool">{p.name(call.name)}</code><span>{took}</span></div>',
    ]
    if call.arguments or call.invalid_arguments is not None:
        label = "arguments" if call.invalid_arguments is None else "arguments (not valid JSON)"
        args = p.block(p.arguments_json(call), revealed=True)
        parts.append(f'<div class="args"><span class="label">{label}</span>{args}</div>')
    if obs is not None and call.name != FINISH_TOOL.name:
        css = "obs denied" if obs.denied else "obs error" if obs.failed else "obs"
        label = "denied" if obs.denied else "skipped" if obs.skipped else "error" if obs.failed else "observation"
        parts.append(f'<div class="{css}"><span class="label">{label}</span>{p.block(obs.content)}')
        sub = p.delegated_run_id(obs)
        if sub is not None:
            href = html.escape(sub) + ".html"
            parts.append(f'<p class="delegated">delegated run: <a href="{href}">{html.escape(sub)}</a></p>')
        parts.append("</div>")
    elif pending:
        parts.append('<div class="obs pending">in flight when the run stopped: it runs again on resume</div>')
    parts.append("</div>")
    return "\n".join(parts)


def default_report_path(run_id: str) -> Path:
    """``<run-id>.html`` in the current folder.

    Raises:
        ConfigError: The id holds characters unfit for a file name; pass ``-o`` then.
    """
    if not run_id or set(run_id) - p.RUN_ID_CHARS:
        raise ConfigError(f"run id {one_line(reveal(run_id), 64)!r} is not a plain file name; pass -o FILE")
    return Path(f"{run_id}.html")


def write_report(
    summary: RunSummary, trajectory: Trajectory, in_flight: Sequence[ToolCall], output: str | None
) -> str | None:
    """Render the report and write it to ``output`` (``-`` is stdout; None is ``<run-id>.html``).

    Returns:
        The path written, or None for stdout.

    Raises:
        ConfigError: The file cannot be written (named, with the reason).
    """
    page = render_report(summary, trajectory, in_flight)
    if output == "-":
        sys.stdout.write(page)
        return None
    path = Path(output) if output else default_report_path(summary.run_id)
    try:
        path.write_text(page, encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"cannot write the report to {path}: {e.strerror or e}") from e
    return str(path)
