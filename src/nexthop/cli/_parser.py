"""The ``nexthop`` command line's parser: every subcommand, flag and help text.

Kept apart from `nexthop.cli._app`, which acts on the parsed arguments.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import platformdirs

from nexthop.cli._auth import add_auth_parser
from nexthop.cli._features import add_client_flags, add_prompt_flag
from nexthop.cli._memory import add_memory_flags
from nexthop.cli._policy import add_policy_flags
from nexthop.cli._runs import add_runs_parsers, add_store_flags
from nexthop.cli._tool_library import add_library_flags
from nexthop.host._host import DEFAULT_MAX_STEPS

__all__ = ["build_parser", "default_config_path"]


def default_config_path() -> Path:
    """Where ``--config`` is looked for when neither it nor NEXTHOP_CONFIG is given."""
    return Path(platformdirs.user_config_dir("nexthop")) / "servers.json"


_EPILOG = """\
exit codes: 0 completed, 2 bad usage or config, 3 step budget ran out, 4 model or host error,
            5 a server failed under --strict, 6 stopped by a policy, 7 the model reported the task not
            done (finish with outcome "failed"), 130 cancelled (Ctrl-C)
environment: NEXTHOP_MODEL (default model), NEXTHOP_CONFIG (default config file),
             ANTHROPIC_API_KEY, OPENAI_API_KEY
"""


def build_parser() -> argparse.ArgumentParser:
    """The ``nexthop`` command line: run, serve, tools, auth, runs / show / resume / report."""
    parser = argparse.ArgumentParser(
        prog="nexthop",
        description="An MCP-native agent host: connect MCP servers, then let a model reach a goal with their tools.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    servers = argparse.ArgumentParser(add_help=False)
    servers.add_argument(
        "--config",
        metavar="FILE",
        help="server config JSON with 'mcpServers' (Claude Desktop, Cursor) or 'servers' (VS Code); "
        f"default: $NEXTHOP_CONFIG, else {default_config_path()} if it exists",
    )
    servers.add_argument(
        "--server",
        action="append",
        default=[],
        metavar="NAME=COMMAND",
        help="add a stdio server, e.g. --server 'fs=npx -y @modelcontextprotocol/server-filesystem .' (repeatable)",
    )
    servers.add_argument("--strict", action="store_true", help="fail if any server fails to start")
    servers.add_argument("-v", "--verbose", action="store_true", help="log connection details to stderr")

    run = sub.add_parser(
        "run", parents=[servers], help="run a task", description="Run a task with the configured MCP servers' tools."
    )
    run.add_argument(
        "task", nargs="?", default=None, help="the goal, in plain language (@server:uri attaches a resource)"
    )
    run.add_argument(
        "--model",
        default=None,
        help="anthropic:<model>, openai:<model>, openai:<model>@<base_url>, local (embedded, the default) "
        "or local:<path.gguf>; default: $NEXTHOP_MODEL, else local",
    )
    run.add_argument("--max-steps", type=int, default=DEFAULT_MAX_STEPS, metavar="N", help="step budget (default 30)")
    run.add_argument(
        "--retries",
        type=int,
        default=0,
        metavar="N",
        help="retry a run that stops early (loop, abandoned, budget) up to N times, with a reflection (default 0)",
    )
    run.add_argument("--json", action="store_true", help="print the RunResult with its trajectory as JSON on stdout")
    run.add_argument("-q", "--quiet", action="store_true", help="do not show steps live")
    add_policy_flags(run)
    add_client_flags(run)
    add_prompt_flag(run)
    add_store_flags(run)
    add_memory_flags(run)

    serve = sub.add_parser(
        "serve",
        parents=[servers],
        help="serve this host over MCP (tool run_task)",
        description="Expose this host as an MCP server, so an IDE or another agent can hand it whole tasks "
        "with the tool run_task and read every run back as nexthop://runs/{run_id}. stdio by default.",
    )
    serve.add_argument("--model", default=None, help="as for run; default: $NEXTHOP_MODEL, else local")
    serve.add_argument("--max-steps", type=int, default=DEFAULT_MAX_STEPS, metavar="N", help="default step budget")
    serve.add_argument(
        "--http",
        metavar="[HOST:]PORT",
        help="serve streamable HTTP at http://HOST:PORT/mcp instead of stdio (HOST defaults to 127.0.0.1)",
    )
    add_policy_flags(serve)
    add_client_flags(serve)
    add_store_flags(serve)
    add_memory_flags(serve)
    serve.add_argument(
        "--allow-host",
        action="append",
        metavar="NAME[:PORT]",
        help="also accept this Host header over HTTP (e.g. a DNS name clients use; a bare NAME takes the served "
        "port or none); repeatable",
    )
    serve.add_argument(
        "--allow-origin",
        action="append",
        metavar="SCHEME://NAME[:PORT]",
        help="also accept requests from this browser Origin over HTTP (default: only the served origin); repeatable",
    )
    serve.add_argument(
        "--max-sessions",
        type=int,
        default=None,
        metavar="N",
        help="most 2025-11-25 HTTP sessions held at once; at the cap the idlest is ended (default 256)",
    )
    serve.add_argument(
        "--session-idle-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="end an HTTP session after this long with no request in flight (default 600)",
    )
    serve.add_argument(
        "--token",
        default=None,
        help="require 'Authorization: Bearer TOKEN' over HTTP; default $NEXTHOP_TOKEN; required off loopback",
    )
    serve.add_argument(
        "--publish-tools",
        action="store_true",
        help="also serve the tool library's saved tools (nexthop tools --save), each call in a bubblewrap sandbox",
    )

    tools = sub.add_parser(
        "tools",
        parents=[servers],
        help="list servers and their tools",
        description="Connect and list each server's tools.",
    )
    tools.add_argument("names", nargs="*", metavar="SERVER", help="only these servers")
    tools.add_argument("--json", action="store_true", help="print as JSON")
    tools.add_argument(
        "--approve",
        action="append",
        metavar="SERVER__TOOL",
        help="trust the current definition of a blocked tool: changed since pinned, new on a pinned server, "
        "or named like another (repeatable)",
    )
    tools.add_argument("--pin-file", metavar="FILE", help="where tool pins are kept (default: user config folder)")
    add_library_flags(tools)
    add_auth_parser(sub, [servers])
    add_runs_parsers(sub, [servers])
    return parser
