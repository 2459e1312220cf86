"""Terminal output for the CLI, with `rich`: live steps, the result, tool listings.

Everything shown here may come from a server, a tool result or a model. Each piece
is cleaned (`one_line`: no escape sequences, no hidden characters) and then
escaped (`rich.markup.escape`), so it can neither drive the terminal nor be read
as rich markup (``[/]`` would raise, ``[link=...]`` would make a link).
"""

from __future__ import annotations

import json
from collections.abc import Generator, Sequence
from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape
from rich.status import Status
from rich.table import Table

from nexthop._sanitize import one_line, reveal
from nexthop._toolset import FINISH_TOOL, ToolDef
from nexthop._trajectory import RunResult, Step
from nexthop.host._loop import ActionEvent, RunEvent
from nexthop.host._views import ServerState

__all__ = ["StepPrinter", "print_result", "print_tools", "shown", "shown_name"]

NAME_LIMIT = 128
"""Longest tool or server name shown (characters): the spec's limit for tool names (SEP-986)."""


def shown(text: str, limit: int) -> str:
    """Untrusted prose made safe for rich markup: cleaned, on one line, at most ``limit`` characters, escaped."""
    return escape(one_line(text, limit))


def shown_name(name: str) -> str:
    """An untrusted name made safe for rich markup; hidden characters are shown as ``\\uXXXX``, not dropped.

    A person comparing names (``echo`` and ``echo\\u200b``) must see that they differ.
    """
    return escape(one_line(reveal(name), NAME_LIMIT))


class StepPrinter:
    """Shows each step as it happens: thought, tool call with arguments, a short observation, elapsed time."""

    def __init__(self, console: Console, *, quiet: bool = False) -> None:
        self.console = console
        self.quiet = quiet
        self._status: Status | None = None

    @contextmanager
    def status(self, text: str) -> Generator[None]:
        with self.console.status(escape(text)):
            yield

    def servers(self, states: Sequence[ServerState]) -> None:
        """One line per server: a check mark and its protocol revision, or a cross and its error."""
        for s in states:
            if s.state == "connected":
                if not self.quiet:
                    self.console.print(
                        f"[green]✓[/] {shown_name(s.name)} [dim]({shown(s.protocol_version or '', 40)})[/]"
                    )
            else:
                self.console.print(f"[red]✗ {shown_name(s.name)}[/]: {shown(s.error or s.state, 2000)}", soft_wrap=True)

    def __call__(self, event: RunEvent) -> None:
        if self.quiet:
            return
        if isinstance(event, ActionEvent):
            self._action(event)
        elif isinstance(event, Step):
            self._observations(event)
            self._spin(f"step {event.index + 1}: waiting for the model")
        else:
            self.stop()

    def _action(self, event: ActionEvent) -> None:
        self.stop()
        self.console.rule(f"step {event.step_index} · {event.elapsed_s:.1f} s", align="left", style="dim")
        if event.thought:
            self.console.print(f"[italic]{shown(event.thought, 400)}[/]")
        for call in event.tool_calls:
            # Arguments are what the tool will get: hidden characters are shown escaped, not dropped.
            args = escape(one_line(reveal(json.dumps(call.arguments, ensure_ascii=False)), 300))
            self.console.print(f"[cyan]→ {shown_name(call.name)}[/] {args}", soft_wrap=True)
        if event.tool_calls:
            self._spin("running " + ", ".join(shown_name(c.name) for c in event.tool_calls))

    def _observations(self, step: Step) -> None:
        self.stop()
        for call, obs in zip(step.tool_calls, step.observations, strict=False):
            if call.name == FINISH_TOOL.name:
                continue
            mark = "[red]✗[/]" if obs.failed else "[green]←[/]"
            text = shown(obs.content, 240) or "[dim](empty)[/]"
            self.console.print(f"{mark} {text} [dim]{obs.duration_s:.2f} s[/]", soft_wrap=True)

    def _spin(self, markup: str) -> None:
        self.stop()
        self._status = self.console.status(markup)
        self._status.start()

    def stop(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None


def print_result(console: Console, result: RunResult) -> None:
    """Print a one-line summary of the outcome: termination reason, steps, time, tokens."""
    style = {"completed": "green", "error": "red"}.get(result.status, "yellow")
    reason = result.termination
    console.rule(style="dim")
    u = result.usage
    console.print(
        f"[{style} bold]{shown_name(reason.kind)}[/]: {shown(reason.detail, 2000)} · {len(result.steps)} steps · "
        f"{result.wall_time_s:.1f} s · {u.input_tokens} in / {u.output_tokens} out tokens",
        soft_wrap=True,
    )


def print_tools(out: Console, err: Console, states: Sequence[ServerState], tools: Sequence[ToolDef]) -> None:
    """Print each connected server's tools as a table on ``out``; failed servers, with their error, on ``err``.

    Args:
        out: Where the tables go (stdout).
        err: Where failures go (stderr).
        states: The servers, in config order (`AgentHost.server_states`).
        tools: Their tools (`AgentHost.list_tools`); each is listed under its ``server``.
    """
    for s in states:
        if s.state != "connected":
            err.print(f"[red bold]✗ {shown_name(s.name)}[/]: {shown(s.error or s.state, 2000)}", soft_wrap=True)
            continue
        mine = [t for t in tools if t.server == s.name]
        title = f"{shown_name(s.name)} · {len(mine)} tools · {shown(s.protocol_version or '', 40)}"
        table = Table(title=title, title_justify="left", box=None)
        names = [one_line(reveal(t.name), NAME_LIMIT) for t in mine]
        # Tool names are what people copy into configs and prompts: never cut them (within the spec's limit).
        table.add_column("tool", style="cyan", no_wrap=True, min_width=max(map(len, names), default=4))
        table.add_column("description", no_wrap=True, overflow="ellipsis")
        for name, t in zip(names, mine, strict=True):
            table.add_row(escape(name), shown(t.description, 100))
        out.print(table)
