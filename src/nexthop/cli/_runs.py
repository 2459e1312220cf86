"""Runs as records at the terminal: the store flags, ``nexthop runs``, ``show``, ``report`` and ``resume``.

Where runs are recorded: ``--store URL``, else ``$NEXTHOP_STORE``, else the config
file's ``"store"``, else a SQLite file in the user data folder. ``--no-store`` (or
``NEXTHOP_STORE=off``) records nothing and runs as before. Everything read back from
the store came from a task, a model or a tool: it is cleaned and escaped (`shown`).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import uuid
from collections.abc import AsyncGenerator, Callable, Sequence
from pathlib import Path
from typing import Any, cast

import anyio
import json5
import platformdirs
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from nexthop._exceptions import ConfigError
from nexthop._sanitize import clean_text, one_line, reveal
from nexthop._toolset import FINISH_TOOL
from nexthop._trajectory import RunResult, ToolCall, Trajectory
from nexthop.cli._exit import run_exit_code
from nexthop.cli._memory import print_recalled
from nexthop.cli._report import write_report

__all__ = [
    "RUNS_COMMANDS",
    "add_runs_parsers",
    "add_store_flags",
    "new_run_id",
    "resume_command",
    "serve_runs",
    "open_store",
    "store_config",
]

_OFF = ("off", "none", "no", "false", "0")


def add_store_flags(parser: argparse.ArgumentParser) -> None:
    """``--store URL``, ``--no-store``, ``--keep-runs N`` and ``--keep-days D`` on a command that runs tasks."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--store",
        metavar="URL",
        help="record runs durably here: sqlite:///PATH or postgresql://USER:PASSWORD@HOST/DB; default: "
        '$NEXTHOP_STORE, else the config file\'s "store", else runs.sqlite in the user data folder',
    )
    group.add_argument("--no-store", action="store_true", help="record nothing (a run that dies is lost)")
    parser.add_argument("--keep-runs", type=int, default=1000, metavar="N", help="finished runs kept (default 1000)")
    parser.add_argument(
        "--keep-days", type=float, default=30.0, metavar="D", help="finished runs older than D days are deleted (30)"
    )


def store_config(args: argparse.Namespace, role: str = "cli") -> Any:
    """The `StoreConfig` the flags, environment and config file ask for; None when the store is off.

    Raises:
        ConfigError: The URL's scheme is not sqlite or postgresql, or the retention is not positive.
    """
    if getattr(args, "no_store", False):
        return None
    url = getattr(args, "store", None) or os.environ.get("NEXTHOP_STORE") or _file_store(args)
    if url is not None and url.strip().lower() in _OFF:
        return None
    from nexthop.host._store import StoreConfig, default_store_url

    return StoreConfig(
        url or default_store_url(),
        keep_runs=getattr(args, "keep_runs", 1000),
        keep_days=getattr(args, "keep_days", 30.0),
        role=role,  # pyright: ignore[reportArgumentType]
    )


def _file_store(args: argparse.Namespace) -> str | None:
    """The config file's top-level ``"store"`` (a URL), if it has one."""
    path = getattr(args, "config", None) or os.environ.get("NEXTHOP_CONFIG")
    default = Path(platformdirs.user_config_dir("nexthop")) / "servers.json"
    if path is None and default.exists():
        path = str(default)
    if path is None:
        return None
    try:
        top: Any = json5.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None  # the config loader reports a bad file with its own message
    value: Any = cast("dict[str, Any]", top).get("store") if isinstance(top, dict) else None
    return os.path.expandvars(value) if isinstance(value, str) else None


@contextlib.asynccontextmanager
async def open_store(args: argparse.Namespace, role: str = "cli") -> AsyncGenerator[Any]:
    """The open `RunStore` for these flags (None when off); DBOS is imported only here."""
    config = store_config(args, role)
    if config is None:
        yield None
        return
    from nexthop.host._store import RunStore

    async with RunStore(config) as store:
        yield store


@contextlib.asynccontextmanager
async def serve_runs(store: Any, host: Any) -> AsyncGenerator[None]:
    """Make a served host record its runs in ``store`` (None: no store).

    On PostgreSQL the process is also a worker: ``run_task`` goes on the shared queue,
    and the runs of workers that died are handed back to it (see `recover_dead_workers`).
    """
    if store is None:
        yield
        return
    from nexthop.host import _durable

    host.store = store
    _durable.attach(store, host)
    if store.config.is_sqlite:
        yield
        return
    async with anyio.create_task_group() as tg:
        tg.start_soon(_durable.recover_dead_workers, store)
        yield
        tg.cancel_scope.cancel()


def new_run_id() -> str:
    """A fresh run id (16 hex digits)."""
    return uuid.uuid4().hex[:16]


def add_runs_parsers(sub: Any, parents: Sequence[argparse.ArgumentParser]) -> None:
    """Register ``runs``, ``show``, ``report`` and ``resume`` (``parents`` carries the server flags, for resume)."""
    runs = sub.add_parser("runs", help="list recent runs", description="List the recent runs in the run store.")
    runs.add_argument("--json", action="store_true", help="print as JSON")
    runs.add_argument("-n", "--limit", type=int, default=20, metavar="N", help="how many (default 20)")
    add_store_flags(runs)
    show = sub.add_parser("show", help="print a run's timeline", description="Print one run's steps, in order.")
    show.add_argument("run_id", metavar="RUN_ID")
    show.add_argument("--json", action="store_true", help="print the run and its trajectory as JSON")
    add_store_flags(show)
    report = sub.add_parser(
        "report",
        help="write a run as one HTML page",
        description="Write one run as a self-contained HTML page (no external assets; opens offline): the task and "
        "outcome, every step's thought, calls, observations and duration, errors and policy events highlighted, "
        "tokens per step as a chart, and links to delegated runs (<sub-run-id>.html beside it).",
    )
    report.add_argument("run_id", metavar="RUN_ID")
    report.add_argument(
        "-o", "--output", metavar="FILE", help="where to write it; - for stdout (default: RUN_ID.html here)"
    )
    add_store_flags(report)
    for parser in (runs, show, report):
        parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    resume = sub.add_parser(
        "resume",
        parents=list(parents),
        help="continue an interrupted run",
        description="Continue a run whose process died from its last recorded step. Recorded model replies and "
        "tool results are replayed, not repeated; a tool call that was in flight when it died runs again "
        "(tool calls run at least once).",
    )
    resume.add_argument("run_id", metavar="RUN_ID")
    resume.add_argument("--model", default=None, help="as for run; default: the model the run started with")
    resume.add_argument("--json", action="store_true", help="print the RunResult as JSON on stdout")
    resume.add_argument("-q", "--quiet", action="store_true", help="do not show steps live")
    add_store_flags(resume)


async def _runs(args: argparse.Namespace, console: Console) -> int:
    async with open_store(args) as store:
        if store is None:
            raise ConfigError("the run store is off (--no-store or NEXTHOP_STORE=off): there are no runs to list")
        summaries = await store.summaries(max(1, args.limit))
    if args.json:
        print(json.dumps([s.model_dump(mode="json") for s in summaries], indent=2))
        return 0
    table = Table(box=None)
    for column in ("run", "task", "status", "termination", "steps", "tokens", "started", "time"):
        table.add_column(column, no_wrap=column != "task", overflow="ellipsis")
    for s in summaries:
        started = datetime.datetime.fromtimestamp(s.started_at).strftime("%Y-%m-%d %H:%M")
        table.add_row(
            escape(s.run_id),
            _shown(s.task, 60),
            escape(s.state),
            _shown(s.termination.kind if s.termination else "", 20),
            str(s.steps),
            str(s.tokens),
            started,
            f"{s.wall_time_s:.1f} s",
        )
    Console(highlight=False).print(table)
    return 0


async def _timeline(args: argparse.Namespace, verb: str) -> tuple[Any, Trajectory, list[ToolCall]]:
    """The recorded run ``args.run_id``, or a one-line ConfigError saying why there is none."""
    async with open_store(args) as store:
        if store is None:
            raise ConfigError(f"the run store is off (--no-store or NEXTHOP_STORE=off): there is no run to {verb}")
        found = await store.timeline(args.run_id)
    if found is None:
        raise ConfigError(f"no run {one_line(reveal(args.run_id), 64)!r} in the run store; `nexthop runs` lists them")
    return found


async def _show(args: argparse.Namespace, console: Console) -> int:
    summary, trajectory, in_flight = await _timeline(args, "show")
    if args.json:
        out = {**summary.model_dump(mode="json"), "trajectory": trajectory.model_dump(mode="json")}
        out["in_flight"] = [c.model_dump(mode="json") for c in in_flight]
        print(reveal(json.dumps(out, indent=2)))
        return 0
    _print_timeline(Console(highlight=False), summary, trajectory, in_flight)
    return 0


async def _report(args: argparse.Namespace, console: Console) -> int:
    summary, trajectory, in_flight = await _timeline(args, "report")
    written = write_report(summary, trajectory, in_flight, args.output)
    if written is not None:
        console.print(f"wrote {escape(written)}")
    return 0


def _print_timeline(out: Console, summary: Any, trajectory: Trajectory, in_flight: list[ToolCall]) -> None:
    out.print(f"[bold]run {escape(summary.run_id)}[/] · {escape(summary.state)} · {summary.steps} steps")
    out.print(f"[bold]task:[/] {_shown(trajectory.task, 2000)}", soft_wrap=True)
    print_recalled(out, trajectory.recalled)  # the earlier runs it was offered (memory)
    for step in trajectory.steps:
        out.rule(f"step {step.index} · {step.duration_s:.2f} s · {step.usage.total_tokens} tokens", align="left")
        if step.thought:
            out.print(f"[italic]{_shown(step.thought, 600)}[/]", soft_wrap=True)
        results = {o.call_id: o for o in step.observations}
        for call in step.tool_calls:
            args = escape(one_line(reveal(json.dumps(call.arguments, ensure_ascii=False)), 300))
            out.print(f"[cyan]→ {_name(call.name)}[/] {args}", soft_wrap=True)
            obs = results.get(call.id)
            if obs is not None and call.name != FINISH_TOOL.name:
                mark = "[red]✗[/]" if obs.failed else "[green]←[/]"
                out.print(f"  {mark} {_shown(obs.content, 400)} [dim]{obs.duration_s:.2f} s[/]", soft_wrap=True)
        if step.hint:
            out.print(f"  [yellow]hint:[/] {_shown(step.hint, 400)}", soft_wrap=True)
    for call in in_flight:
        out.print(f"[yellow]in flight when the run stopped:[/] {_name(call.name)} (runs again on resume)")
    if summary.termination is not None:
        out.print(f"[bold]{escape(summary.termination.kind)}[/]: {_shown(summary.termination.detail, 2000)}")


async def _resume(args: argparse.Namespace, console: Console, *, load: Callable[..., Any]) -> int:
    """Resume a run with a host built as ``nexthop run`` builds one (``load(args)`` gives servers, policy, sandbox)."""
    from nexthop.cli._policy import terminal_approver
    from nexthop.cli._render import StepPrinter, print_result
    from nexthop.host import _durable
    from nexthop.host._host import AgentHost
    from nexthop.models._select import DEFAULT_MODEL, model_from_string

    servers, policy, sandbox = load(args)
    printer = StepPrinter(console, quiet=args.quiet)
    async with open_store(args) as store:
        if store is None:
            raise ConfigError("the run store is off (--no-store or NEXTHOP_STORE=off): there is nothing to resume")
        found = await store.timeline(args.run_id)
        if found is None:
            raise ConfigError(
                f"no run {one_line(reveal(args.run_id), 64)!r} in the run store; `nexthop runs` lists them"
            )
        summary, _, in_flight = found
        if summary.state == "running":
            raise ConfigError(f"run {summary.run_id} is still running in another process; there is nothing to resume")
        if summary.state not in ("interrupted", "queued", "cancelled"):
            raise ConfigError(
                f"run {summary.run_id} has already finished ({summary.state}); there is nothing to resume"
            )
        console.print(f"resuming run {escape(summary.run_id)} after {summary.steps} recorded steps")
        for call in in_flight:
            console.print(
                f"[yellow]re-running {_name(call.name)}[/]: it was in flight when the run stopped, and a tool call "
                "runs at least once",
                soft_wrap=True,
            )
        # The run's own model unless told otherwise: a different one may take the rest of the run elsewhere.
        model = model_from_string(args.model or summary.model or os.environ.get("NEXTHOP_MODEL") or DEFAULT_MODEL)
        approver = terminal_approver(console, before_prompt=printer.stop)
        async with AgentHost(
            model=model, servers=servers, policy=policy, approver=approver, store=store, sandbox=sandbox
        ) as host:
            try:
                result: RunResult = await _durable.resume(
                    store, host, summary.run_id, _durable.RunCallbacks(on_event=printer)
                )
            finally:
                printer.stop()
    print_result(console, result)
    print(reveal(result.model_dump_json(indent=2)) if args.json else clean_text(result.result))
    return run_exit_code(result)


def _shown(text: str, limit: int) -> str:
    return escape(one_line(text, limit))


def _name(name: str) -> str:
    return escape(one_line(reveal(name), 128))


RUNS_COMMANDS = {"runs": _runs, "show": _show, "report": _report}
"""Commands that need nothing but the store; ``resume`` also needs the config loader (`resume_command`)."""
resume_command = _resume
