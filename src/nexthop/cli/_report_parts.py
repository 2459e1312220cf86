"""The pieces of a run report: escaped text, folded blocks, policy-event tones, delegated runs, the token chart.

Everything here turns text that came from a task, a model, a server or a tool into
HTML. Such text is cleaned first (`clean_text`: terminal escapes and hidden
characters go) and then escaped with `html.escape`, so markup in a tool result or a
thought shows as text and never becomes an element of the page.
"""

from __future__ import annotations

import html
import json
import string
from collections.abc import Sequence
from typing import Literal

from nexthop._sanitize import clean_text, one_line, reveal
from nexthop._trajectory import Observation, PolicyRecord, Step, ToolCall
from nexthop.servers._runs import RUN_URI_PREFIX

__all__ = [
    "MAX_FIELD_CHARS",
    "RUN_ID_CHARS",
    "Tone",
    "arguments_json",
    "block",
    "chart",
    "delegated_run_id",
    "duration",
    "name",
    "record_tone",
    "record_text",
    "text",
]

MAX_FIELD_CHARS = 50_000
"""Longest observation, argument or thought shown (characters); the rest is cut with a note."""
_FOLD_CHARS, _FOLD_LINES = 600, 10  # longer than either: folded under <details>, its first line as the summary
RUN_ID_CHARS = frozenset(string.ascii_letters + string.digits + "-_")
"""The characters a run id may hold to be linked or used as a file name."""

Tone = Literal["bad", "warn", "ok", "retry", "info"]
# How a policy event is highlighted: stops and refusals red, hints and nudges amber, approvals
# green, retries purple; what is only recorded (abandonment draws, narrowing) is plain information.
_TONES: dict[str, Tone] = {
    "denied": "bad",
    "stop": "bad",
    "blocked": "bad",
    "hint": "warn",
    "nudge": "warn",
    "finish_offer": "warn",
    "tainted": "warn",
    "check": "warn",
    "approved": "ok",
    "accepted": "ok",
    "transient": "retry",
    "backoff": "retry",
}


def text(value: str, limit: int | None = MAX_FIELD_CHARS) -> str:
    """Untrusted text as HTML: cleaned (escapes and hidden characters removed), cut to ``limit``, escaped."""
    return html.escape(clean_text(value, limit))


def name(value: str) -> str:
    """A tool or policy name as HTML on one line; hidden characters are shown as ``\\uXXXX``, not dropped."""
    return html.escape(one_line(reveal(value), 128))


def block(value: str, css: str = "", *, revealed: bool = False) -> str:
    """Untrusted text as a ``<pre>``, folded under ``<details>`` when long (over 600 characters or 10 lines).

    Args:
        value: The text (a tool result, arguments as JSON, a thought).
        css: Class of the ``<pre>``.
        revealed: Show hidden characters as ``\\uXXXX`` (for JSON, where they matter) instead of dropping them.
    """
    cleaned = clean_text(reveal(value) if revealed else value, MAX_FIELD_CHARS)
    pre = f'<pre class="{css}">{html.escape(cleaned)}</pre>' if css else f"<pre>{html.escape(cleaned)}</pre>"
    lines = cleaned.count("\n") + 1
    if len(cleaned) <= _FOLD_CHARS and lines <= _FOLD_LINES:
        return pre
    first = html.escape(one_line(cleaned.lstrip().partition("\n")[0], 90))
    return f"<details><summary>{first} <em>({lines} lines, {len(cleaned):,} characters)</em></summary>{pre}</details>"


def arguments_json(call: ToolCall) -> str:
    """A call's arguments as the model gave them: indented JSON, or its raw text when that was not JSON."""
    if call.invalid_arguments is not None:
        return call.invalid_arguments
    return json.dumps(call.arguments, indent=2, ensure_ascii=False)


def duration(seconds: float) -> str:
    """A duration for people: ``0.42 s``, ``12.3 s``, ``2 min 5 s``; ``—`` when none was recorded."""
    if seconds <= 0:
        return "—"
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{int(seconds // 60)} min {int(seconds % 60)} s"


def record_tone(record: PolicyRecord) -> Tone:
    """How a policy record is highlighted (``bad`` for stops and denials, ``warn`` for hints, ...)."""
    return _TONES.get(record.event, "info")


def record_text(record: PolicyRecord) -> str:
    """A policy record's facts on one line, as HTML (``reason: ...`` first when there is one)."""
    data = dict(record.data)
    reason = data.pop("reason", None)
    facts = one_line(reveal(json.dumps(data, ensure_ascii=False, default=str)), 300) if data else ""
    parts = [text(one_line(str(reason), 400))] if reason else []
    if facts:
        parts.append(f"<code>{html.escape(facts)}</code>")
    return " ".join(parts)


def delegated_run_id(observation: Observation) -> str | None:
    """The id of the run another nexthop host ran for this call (its ``run_task``), if the result names one.

    A served host's ``run_task`` returns ``run_uri`` (``nexthop://runs/<id>``) in its
    structured content and as a resource link, which reaches the trajectory as
    ``[resource nexthop://runs/<id>]`` (see `nexthop.servers._server`). The id is kept
    only when it is a plain run id (letters, digits, ``-``, ``_``), so it is safe as a file name.
    """
    uri = (observation.structured or {}).get("run_uri")
    if not isinstance(uri, str):
        marker = f"[resource {RUN_URI_PREFIX}"
        start = observation.content.find(marker)
        end = observation.content.find("]", start)
        uri = RUN_URI_PREFIX + observation.content[start + len(marker) : end] if start >= 0 and end > start else ""
    run_id = uri.removeprefix(RUN_URI_PREFIX) if uri.startswith(RUN_URI_PREFIX) else ""
    return run_id if 0 < len(run_id) <= 128 and set(run_id) <= RUN_ID_CHARS else None


def chart(steps: Sequence[Step]) -> str:
    """Tokens per step as an inline SVG bar chart: one ``<g class="bar">`` per step, input below output.

    Each bar links to its step and carries a ``<title>`` (the browser's tooltip) with
    the figures; a step with a failed call has its bar outlined.
    """
    width, height, top, bottom = 900, 150, 16, 22
    most = max((s.usage.total_tokens for s in steps), default=0)
    slot = width / max(len(steps), 1)
    bar = min(48.0, slot * 0.7)
    scale = (height - top - bottom) / most if most else 0.0
    base = height - bottom
    parts = [f'<svg viewBox="0 0 {width} {height}" role="img" aria-label="tokens per step">']
    parts.append(f'<line class="axis" x1="0" y1="{base}" x2="{width}" y2="{base}"/>')
    if most:
        parts.append(f'<text x="0" y="11">{most:,} tokens</text>')
    label_every = max(1, len(steps) // 30)
    for i, step in enumerate(steps):
        x = i * slot + (slot - bar) / 2
        h_in, h_out = step.usage.input_tokens * scale, step.usage.output_tokens * scale
        failed = " error" if any(o.failed and not o.denied for o in step.observations) else ""
        tip = (
            f"step {step.index}: {step.usage.total_tokens:,} tokens "
            f"({step.usage.input_tokens:,} in, {step.usage.output_tokens:,} out)"
        )
        parts.append(f'<a href="#step-{step.index}"><g class="bar{failed}"><title>{tip}</title>')
        parts.append(f'<rect class="in" x="{x:.1f}" y="{base - h_in:.1f}" width="{bar:.1f}" height="{h_in:.1f}"/>')
        parts.append(
            f'<rect class="out" x="{x:.1f}" y="{base - h_in - h_out:.1f}" width="{bar:.1f}" height="{h_out:.1f}"/>'
        )
        parts.append("</g></a>")
        if i % label_every == 0:
            parts.append(f'<text x="{x + bar / 2:.1f}" y="{height - 6}" text-anchor="middle">{step.index}</text>')
    parts.append("</svg>")
    return "".join(parts)
