"""``nexthop tools --save NAME`` and the library's listing under ``nexthop tools``.

Saving is the approval of a synthesized tool's exact source (see `ToolLibrary`); the
listing shows saved tools (offered in runs with ``--synthesize``), those changed since
they were saved (withheld), and the candidates runs left, with the command to save each.
"""

from __future__ import annotations

import argparse
import sys

import anyio.to_thread
from rich.console import Console
from rich.prompt import Confirm
from rich.syntax import Syntax
from rich.table import Table

from nexthop._sanitize import reveal
from nexthop.cli._render import shown, shown_name
from nexthop.host._tool_library import ToolLibrary, library_time

__all__ = ["add_library_flags", "library_time", "offer_to_save", "print_library", "save_tools"]


def add_library_flags(parser: argparse.ArgumentParser) -> None:
    """Add ``--save NAME`` to ``nexthop tools``."""
    parser.add_argument(
        "--save",
        action="append",
        metavar="NAME",
        help="approve a tool a run synthesized (shown under 'candidates'): it is offered in later runs "
        "with --synthesize (repeatable)",
    )


def save_tools(names: list[str], console: Console, library: ToolLibrary | None = None) -> int:
    """Save each named candidate, showing the source that is approved; 0 when all were saved.

    Raises:
        ConfigError: A name is not a candidate (the message lists the candidates).
    """
    library = library or ToolLibrary()
    for name in names:
        tool = library.save(name)
        console.print(f"[green]saved[/] synth__{shown_name(tool.name)} (source sha256 {tool.sha256[:12]}):")
        console.print(Syntax(reveal(tool.source), "python", line_numbers=True, word_wrap=True))
    return 0


def print_library(out: Console, library: ToolLibrary | None = None) -> None:
    """Print the saved tools and the candidates, if there are any (everything cleaned and escaped)."""
    library = library or ToolLibrary()
    saved, candidates = library.saved(), library.candidates()
    saved_names = {(t.name, t.sha256) for t in saved if t.approved}
    pending = [c for c in candidates if (c.name, c.sha256) not in saved_names]
    if not saved and not pending:
        return
    table = Table(title="synthesized tools (library)", title_justify="left", box=None)
    table.add_column("tool", style="cyan", no_wrap=True)
    table.add_column("state", no_wrap=True)
    table.add_column("description / task", no_wrap=True, overflow="ellipsis")
    for t in saved:
        state = "[green]saved[/]" if t.approved else "[red]changed: save again[/]"
        table.add_row(f"synth__{shown_name(t.name)}", state, shown(t.description or t.task, 100))
    for t in pending:
        table.add_row(f"synth__{shown_name(t.name)}", f"candidate: --save {shown_name(t.name)}", shown(t.task, 100))
    out.print(table)


async def offer_to_save(console: Console, since: str, library: ToolLibrary | None = None) -> list[str]:
    """After a run: offer to save each tool it wrote that worked, showing its source; return those saved.

    Without a terminal nothing is saved; the command that saves each is shown instead.

    Args:
        console: Where the sources and questions go (stderr).
        since: `library_time` taken when the run started: candidates written since are this run's.
        library: The tool library; the user's by default.
    """
    library = library or ToolLibrary()
    approved = {(t.name, t.sha256) for t in library.offered()}
    fresh = [t for t in library.candidates() if t.written_at >= since and (t.name, t.sha256) not in approved]
    saved: list[str] = []
    for tool in fresh:
        name = shown_name(tool.name)
        if not sys.stdin.isatty():
            console.print(f"synthesized tool synth__{name} worked: keep it with [bold]nexthop tools --save {name}[/]")
            continue
        console.print(f"[bold]synthesized tool[/] synth__{name}: {shown(tool.description, 300)}")
        console.print(Syntax(reveal(tool.source), "python", line_numbers=True, word_wrap=True))
        question = f"save synth__{name} to the tool library (offered in later runs)?"
        if await anyio.to_thread.run_sync(lambda q=question: Confirm.ask(q, console=console, default=False)):
            library.save(tool.name)
            saved.append(tool.name)
    return saved
