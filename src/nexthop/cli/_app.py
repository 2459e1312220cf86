"""The ``nexthop`` command: ``run`` a task, list ``tools``, ``serve`` over MCP.

Reads files and environment variables (``NEXTHOP_MODEL``, ``NEXTHOP_CONFIG``) here
and nowhere else; everything below gets explicit config objects.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.syntax import Syntax

from nexthop._config_file import HostConfig, load_config, merge
from nexthop._exceptions import ConfigError, ModelError, NexthopError, ServerConnectionError
from nexthop._sanitize import clean_text, one_line, reveal
from nexthop._toolset import ToolDef
from nexthop._trajectory import RunResult
from nexthop.cli._auth import auth_command
from nexthop.cli._exit import EXIT_CODES, run_exit_code
from nexthop.cli._features import (
    catalog_json,
    client_hooks,
    print_catalogs,
    server_catalogs,
    task_text,
)
from nexthop.cli._memory import print_recalled, recall_setting
from nexthop.cli._parser import build_parser, default_config_path
from nexthop.cli._policy import policy_from_args, sandbox_from_args, terminal_approver
from nexthop.cli._render import StepPrinter, print_result, print_tools, shown, shown_name
from nexthop.cli._runs import (
    RUNS_COMMANDS,
    new_run_id,
    open_store,
    resume_command,
    serve_runs,
)
from nexthop.cli._tool_library import library_time, offer_to_save, print_library, save_tools
from nexthop.clients._config import ServerConfig, parse_server_flag
from nexthop.host._host import AgentHost
from nexthop.host._sandbox import SandboxConfig
from nexthop.host._tracing import install_otlp
from nexthop.models._model import Model, ModelRequest, ModelResponse
from nexthop.models._select import DEFAULT_MODEL, model_from_string
from nexthop.policies._config import PolicyConfig
from nexthop.policies._pinning import PinStore, default_pin_file

__all__ = ["EXIT_CODES", "log_handler", "main"]


def _servers(args: argparse.Namespace, names: Sequence[str] = ()) -> list[ServerConfig]:
    return _load(args, names)[0]


def _load(
    args: argparse.Namespace, names: Sequence[str] = ()
) -> tuple[list[ServerConfig], PolicyConfig, SandboxConfig | None]:
    path = args.config or os.environ.get("NEXTHOP_CONFIG")
    if path is None and default_config_path().exists():
        path = str(default_config_path())
    config = merge(load_config(path) if path is not None else HostConfig(), map(parse_server_flag, args.server))
    file_policy = config.policies
    by_name = {s.name: s for s in config.servers}
    for name in names:
        if name not in by_name:
            known = ", ".join(by_name) or "none (pass --config FILE or --server NAME=COMMAND)"
            raise ConfigError(f"unknown server {name!r}; configured servers: {known}")
    servers = [s for s in by_name.values() if not names or s.name in names]
    policy = policy_from_args(args, file_policy) if hasattr(args, "autonomy") else (file_policy or PolicyConfig())
    return servers, policy, sandbox_from_args(args, config.sandbox)


async def _run(args: argparse.Namespace, console: Console) -> int:
    servers, policy, sandbox = _load(args)
    if args.max_steps < 1:
        raise ConfigError(f"--max-steps must be at least 1, got {args.max_steps}")
    if args.retries < 0:
        raise ConfigError(f"--retries must be 0 or more, got {args.retries}")
    recall = recall_setting(args)
    model = model_from_string(args.model or os.environ.get("NEXTHOP_MODEL") or DEFAULT_MODEL)
    printer = StepPrinter(console, quiet=args.quiet)
    result: RunResult | None = None

    def show(event: Any) -> None:
        nonlocal result
        if isinstance(event, RunResult):
            result = event  # kept so the partial trajectory is printed whatever ends the run
        printer(event)

    async with contextlib.AsyncExitStack() as stack:
        store = await stack.enter_async_context(open_store(args))
        with printer.status("connecting to servers"):
            host = AgentHost(
                model=model,
                servers=servers,
                strict=args.strict,
                max_steps=args.max_steps,
                policy=policy,
                approver=terminal_approver(console, before_prompt=printer.stop),
                tool_timeout_s=args.tool_timeout,
                hooks=client_hooks(args, console, printer.stop),
                store=store,
                recall=recall,
                sandbox=sandbox,
            )
            await stack.enter_async_context(host)
        printer.servers(host.server_states())
        task = await task_text(host, args.task, args.prompt)
        run_id = new_run_id() if store is not None else None
        if run_id is not None:
            console.print(f"[dim]run {run_id} (nexthop show {run_id}; nexthop resume {run_id} if it stops)[/]")
        if not args.quiet:
            console.print(f"[bold]task:[/] {shown(task, 2000)}  [dim](model {shown(model.name, 200)})[/]")
        started = library_time()
        try:
            await host.run(task, on_event=show, retries=args.retries, run_id=run_id)
        finally:
            printer.stop()
            if result is not None:
                print_recalled(console, result.trajectory.recalled)
                print_result(console, result)
                # The answer goes to stdout, progress to stderr, so scripts can capture just the answer.
                # It comes from the model (maybe quoting a tool): cleaned; the JSON shows hidden characters escaped.
                print(reveal(result.model_dump_json(indent=2)) if args.json else clean_text(result.result))
    assert result is not None
    if policy.synthesize:  # tools the run wrote that worked: saved only on approval
        await offer_to_save(console, started)
    return run_exit_code(result)


async def _serve(args: argparse.Namespace, console: Console) -> int:
    from nexthop.servers._serve import check_allowed, is_loopback, serve_http, serve_stdio
    from nexthop.servers._server import build_server
    from nexthop.servers._sessions import SessionLimits

    servers, policy, sandbox = _load(args)
    address = _http_address(args.http) if args.http else None
    limits = SessionLimits.from_flags(args.max_sessions, args.session_idle_timeout)
    check_allowed(args.allow_host or (), args.allow_origin or ())
    token = args.token or os.environ.get("NEXTHOP_TOKEN") or None
    if address is not None:
        # Checked before any server starts, so a refused start costs nothing.
        if not is_loopback(address[0]) and not token:
            raise ConfigError(
                f"serving on {address[0]} (not loopback) needs a bearer token: pass --token or set NEXTHOP_TOKEN"
            )
    model = model_from_string(args.model or os.environ.get("NEXTHOP_MODEL") or DEFAULT_MODEL)
    host = AgentHost(
        model=model,
        servers=servers,
        strict=args.strict,
        max_steps=args.max_steps,
        policy=policy,
        tool_timeout_s=args.tool_timeout,
        hooks=client_hooks(args, None),  # served: each run asks its own calling client
        recall=recall_setting(args),
        sandbox=sandbox,
    )
    async with open_store(args, "worker") as store, host, serve_runs(store, host):
        StepPrinter(console, quiet=True).servers(host.server_states())
        server = await build_server(host)
        if args.publish_tools:  # the tool library's saved tools, each call sandboxed
            from nexthop.servers._publish import publish_tools

            publish_tools(server)
        if address is None:
            await serve_stdio(server)
        else:
            console.print(f"nexthop serving MCP at http://{address[0]}:{address[1]}/mcp (model {model.name})")
            await serve_http(
                server,
                host=address[0],
                port=address[1],
                token=token,
                allowed_hosts=args.allow_host or (),
                allowed_origins=args.allow_origin or (),
                sessions=limits,
            )
    return 0


def _http_address(spec: str) -> tuple[str, int]:
    host, sep, port = spec.rpartition(":")
    if not sep:
        host, port = "127.0.0.1", spec
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"--http {spec!r}: expected [HOST:]PORT, e.g. --http 8765 or --http 0.0.0.0:8765")
    return host.strip("[]") or "127.0.0.1", int(port)


class _NoModel(Model):
    """The model of a host that only lists tools (``nexthop tools``): it is never asked."""

    name = "none"

    async def request(self, request: ModelRequest) -> ModelResponse:
        raise ModelError("nexthop tools runs no model")


async def _tools(args: argparse.Namespace, console: Console) -> int:
    if args.save:  # approving a synthesized tool needs no server
        return save_tools(args.save, console)
    servers = _servers(args, args.names)
    if not servers:
        raise ConfigError("no servers configured: pass --config FILE or --server NAME=COMMAND")
    with console.status("connecting to servers"):
        async with AgentHost(model=_NoModel(), servers=servers, strict=args.strict) as host:
            states, tools = host.server_states(), await host.list_tools()
            catalogs = await server_catalogs(host)
    changed = _review_pins(args, console, tools)
    if args.json:
        out = {
            s.name: {
                "status": s.state,
                "error": s.error,
                "protocol_version": s.protocol_version,
                "last_error": s.last_error,
                "restarts": s.restarts,
                **catalog_json(catalogs.get(s.name)),
                "tools": [
                    {**t.model_dump(exclude={"kind"}), "blocked": t.name in changed}
                    for t in tools
                    if t.server == s.name
                ],
            }
            for s in states
        }
        print(json.dumps(out, indent=2))  # ASCII only: every other character is escaped
    else:
        print_tools(Console(highlight=False), console, states, tools)
        print_catalogs(Console(highlight=False), catalogs)
        print_library(Console(highlight=False))
    return 0 if all(s.state == "connected" for s in states) else EXIT_CODES["servers"]


def _review_pins(args: argparse.Namespace, console: Console, tools: list[ToolDef]) -> dict[str, str]:
    """Pin the tools named by ``--approve``; show every other blocked tool, why, and its diff; return those."""
    pins = PinStore(Path(args.pin_file) if args.pin_file else default_pin_file())
    approvals: list[str] = args.approve or []
    for name in approvals:
        tool = next((t for t in tools if t.name == name), None)
        if tool is None:
            raise ConfigError(
                f"--approve {one_line(reveal(name), 200)}: no such tool now; `nexthop tools` lists them as SERVER__TOOL"
            )
        pins.approve(tool)
        console.print(f"[green]approved[/] {shown_name(name)}: its current definition is pinned")
    blocked = pins.blocked(tools)
    for name, block in blocked.items():
        until = f"until you run [bold]nexthop tools --approve {shown_name(name)}[/]" if block.approvable else "for good"
        console.print(
            f"[yellow bold]⚠ {shown_name(name)}: {escape(block.detail)}[/]; it is blocked {until}", soft_wrap=True
        )
        if block.diff:
            console.print(Syntax(reveal(block.diff), "diff", word_wrap=True))
    return {name: block.diff for name, block in blocked.items()}


def log_handler(console: Console, level: int) -> logging.Handler:
    """The CLI's log handler: rich on ``console``, from ``level`` up, each line cleaned first."""
    handler = RichHandler(console=console, show_path=False, level=level)
    handler.addFilter(_clean_log_record)
    return handler


def _clean_log_record(record: logging.LogRecord) -> bool:
    """Clean a log line before rich shows it: libraries log what servers send (errors, stderr)."""
    record.msg, record.args = clean_text(record.getMessage(), 4000), None
    return True


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``nexthop`` command; returns the exit status (see `EXIT_CODES`)."""
    args = build_parser().parse_args(argv)
    console = Console(stderr=True, highlight=False)
    install_otlp(os.environ)  # OpenTelemetry traces, only when OTEL_EXPORTER_OTLP_ENDPOINT is set (docs/tracing.md)
    # Always a cleaning handler: without one, Python's last-resort handler would print a
    # library's warnings raw, and the mcp SDK's quote what servers and models send.
    level = logging.INFO if args.verbose else logging.WARNING
    logging.basicConfig(level=level, handlers=[log_handler(console, level)])
    command = {
        "run": _run,
        "tools": _tools,
        "serve": _serve,
        "auth": functools.partial(auth_command, load=_servers),
        **RUNS_COMMANDS,
        "resume": functools.partial(resume_command, load=_load),
    }[args.command]
    try:
        return anyio.run(command, args, console)
    except NexthopError as e:
        # An error may quote a server (its stderr) or a model: cleaned and escaped like everything else.
        console.print(f"[red bold]error:[/] {escape(clean_text(str(e)))}", soft_wrap=True)
        return EXIT_CODES["servers"] if isinstance(e, ServerConnectionError) else EXIT_CODES["usage"]
    except KeyboardInterrupt:
        console.print("[yellow]cancelled[/]")
        return EXIT_CODES["cancelled"]
