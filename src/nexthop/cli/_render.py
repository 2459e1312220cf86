"""Terminal output for the CLI, with `rich`: live steps, the result, tool listings."""

from __future__ import annotations

import json
from collections.abc import Generator, Mapping
from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape
from rich.status import Status
from rich.table import Table

from nexthop._toolset import ToolDef
from nexthop._trajectory import RunResult, Step
from nexthop.clients._connection import MCPConnection
from nexthop.clients._group import ServerGroup
from nexthop.host._loop import ActionEvent, RunEvent

__all__ = ["StepPrinter", "print_result", "print_tools"]


def _short(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class StepPrinter:
    """Shows each step as it happens: thought, tool call with arguments, a short observation, elapsed time."""

    def __init__(self, console: Console, *, quiet: bool = False) -> None:
        self.console = console
        self.quiet = quiet
        self._status: Status | None = None

    @contextmanager
    def status(self, text: str) -> Generator[None]:
        with self.console.status(text):
            yield

    def servers(self, group: ServerGroup) -> None:
        for conn in group.connections.values():
            if conn.state == "connected":
                if not self.quiet:
                    self.console.print(f"[green]✓[/] {conn.name} [dim]({conn.protocol_version})[/]")
            else:
                self.console.print(f"[red]✗ {conn.name}[/]: {escape(conn.error or conn.state)}", soft_wrap=True)

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
            self.console.print(f"[italic]{escape(_short(event.thought, 400))}[/]")
        for call in event.tool_calls:
            args = _short(json.dumps(call.arguments, ensure_ascii=False), 300)
            self.console.print(f"[cyan]→ {call.name}[/] {escape(args)}", soft_wrap=True)
        if event.tool_calls:
            self._spin("running " + ", ".join(c.name for c in event.tool_calls))

    def _observations(self, step: Step) -> None:
        self.stop()
        for call, obs in zip(step.tool_calls, step.observations, strict=False):
            if call.name == "finish":
                continue
            mark = "[red]✗[/]" if obs.is_error else "[green]←[/]"
            text = escape(_short(obs.content, 240)) or "[dim](empty)[/]"
            self.console.print(f"{mark} {text} [dim]{obs.duration_s:.2f} s[/]", soft_wrap=True)

    def _spin(self, text: str) -> None:
        self.stop()
        self._status = self.console.status(text)
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
        f"[{style} bold]{reason.kind}[/]: {escape(reason.detail)} · {len(result.steps)} steps · "
        f"{result.wall_time_s:.1f} s · {u.input_tokens} in / {u.output_tokens} out tokens",
        soft_wrap=True,
    )


def print_tools(out: Console, err: Console, listing: Mapping[str, tuple[MCPConnection, list[ToolDef]]]) -> None:
    """Print each server's tools as a table on ``out``; failed servers, with their error, on ``err``."""
    for name, (conn, tools) in listing.items():
        if conn.error:
            err.print(f"[red bold]✗ {name}[/]: {escape(conn.error)}", soft_wrap=True)
            continue
        table = Table(title=f"{name} · {len(tools)} tools · {conn.protocol_version}", title_justify="left", box=None)
        # Tool names are what people copy into configs and prompts: never cut them.
        table.add_column("tool", style="cyan", no_wrap=True, min_width=max((len(t.name) for t in tools), default=4))
        table.add_column("description", no_wrap=True, overflow="ellipsis")
        for t in tools:
            table.add_row(t.name, _short(t.description, 100))
        out.print(table)
