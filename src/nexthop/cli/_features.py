"""The CLI's side of MCP client features: flags, the task from a prompt or with resources, catalogs.

``--sampling`` and ``--root`` set the host-wide defaults a server's own config entry
overrides; ``--prompt server/name key=value`` makes an upstream prompt the task;
``@server:uri`` in a task attaches that resource's text; ``nexthop tools`` shows each
server's capabilities, resources, templates and prompts. Servers' log messages are
logged (shown with ``-v``) by the connection itself.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence
from typing import Any

from rich.console import Console

from nexthop._exceptions import ConfigError
from nexthop.cli._elicit import terminal_elicitor, terminal_sampling_approver
from nexthop.cli._render import shown, shown_name
from nexthop.clients._callbacks import ClientHooks
from nexthop.clients._connection import MCPConnection
from nexthop.clients._resources import ServerCatalog, resource_mentions
from nexthop.host._host import AgentHost

__all__ = [
    "add_client_flags",
    "add_prompt_flag",
    "catalog_json",
    "client_hooks",
    "print_catalogs",
    "server_catalogs",
    "task_text",
]


def add_client_flags(parser: argparse.ArgumentParser) -> None:
    """``--sampling`` and ``--root``, for ``run`` and ``serve``."""
    parser.add_argument(
        "--sampling",
        choices=("off", "ask", "allow"),
        default=None,
        help="may servers use this host's model (sampling/createMessage)? default off; a server's "
        '"sampling" in the config file wins',
    )
    parser.add_argument(
        "--root",
        action="append",
        metavar="DIR",
        help="a folder servers may work in, offered as their roots (repeatable; default: none, so each server "
        'keeps the folders its own command line gives it); a server\'s "roots" in the config file win',
    )


def add_prompt_flag(parser: argparse.ArgumentParser) -> None:
    """``--prompt SERVER/NAME [KEY=VALUE ...]``, for ``run``."""
    parser.add_argument(
        "--prompt",
        nargs="+",
        metavar="SERVER/NAME [KEY=VALUE",
        help="use a server's prompt as the task, with its arguments, e.g. --prompt code/review language=go; "
        "a task given too is added after it",
    )


def client_hooks(
    args: argparse.Namespace, console: Console | None, before_prompt: Callable[[], None] | None = None
) -> ClientHooks:
    """The host-wide answers for servers' questions; roots from ``--root``, else none.

    No roots by default, not the current folder: the reference filesystem server replaces
    the folders on its command line with the client's roots, so offering the current
    folder would widen or move what a configured server may touch.

    Args:
        args: The parsed flags.
        console: The terminal that asks (elicitation, sampling under ``ask``); None when
            serving, where each run asks its own calling client instead.
        before_prompt: Called before asking, e.g. to stop a spinner.
    """
    given: list[str] = args.root or []
    hooks = ClientHooks(
        sampling=args.sampling or "off",
        roots=tuple(os.path.abspath(r) for r in given),
    )
    if console is not None:
        hooks.approve_sampling = terminal_sampling_approver(console, before_prompt)
        hooks.elicitor = terminal_elicitor(console, before_prompt)
    return hooks


async def task_text(host: AgentHost, task: str | None, prompt: Sequence[str] | None) -> str:
    """The task to run: a server's prompt (if ``--prompt``) then the task, with every ``@server:uri`` attached.

    Raises:
        ConfigError: Neither a task nor ``--prompt`` was given, or ``--prompt`` is malformed.
        ServerConnectionError: A prompt or resource could not be had (one line naming
            the server and what to do).
    """
    parts: list[str] = []
    if prompt:
        parts.append(await _prompt_text(host, prompt))
    if task:
        parts.append(task)
    if not parts:
        raise ConfigError("give a task, or --prompt SERVER/NAME [KEY=VALUE ...]")
    text = "\n\n".join(parts)
    for server, uri in resource_mentions(text):
        content = await _connection(host, server).read_resource(uri)
        text += f"\n\nAttached resource @{server}:{uri}:\n{content}"
    return text


async def _prompt_text(host: AgentHost, prompt: Sequence[str]) -> str:
    spec, *pairs = prompt
    server, sep, name = spec.partition("/")
    form = "use --prompt SERVER/NAME [KEY=VALUE ...], e.g. --prompt code/review language=go"
    if not sep or not server or not name:
        raise ConfigError(f"--prompt {spec!r}: {form}")
    arguments: dict[str, str] = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq or not key:
            raise ConfigError(f"--prompt argument {pair!r}: expected KEY=VALUE ({form})")
        arguments[key] = value
    return await _connection(host, server).get_prompt(name, arguments)


def _connection(host: AgentHost, server: str) -> MCPConnection:
    conn = host.servers.connections.get(server)
    if conn is None:
        known = ", ".join(host.servers.connections) or "none"
        raise ConfigError(f"unknown server {server!r} in @{server}: or --prompt; configured servers: {known}")
    return conn


async def server_catalogs(host: AgentHost) -> dict[str, ServerCatalog]:
    """Each connected server's capabilities, resources, templates and prompts."""
    return {name: await conn.catalog() for name, conn in host.servers.connections.items() if conn.state == "connected"}


def catalog_json(catalog: ServerCatalog | None) -> dict[str, Any]:
    """A catalog's fields for ``nexthop tools --json``."""
    if catalog is None:
        return {}
    return catalog.model_dump(mode="json", exclude={"kind"})


def print_catalogs(out: Console, catalogs: dict[str, ServerCatalog]) -> None:
    """Each server's capabilities, resources, templates and prompts, after its tools (cleaned and escaped)."""
    for name, c in catalogs.items():
        out.print(f"[bold]{shown_name(name)}[/] declares: {shown(', '.join(c.capabilities) or 'nothing', 300)}")
        for r in c.resources:
            out.print(
                f"  resource [cyan]{shown(r.uri, 300)}[/]  {shown(r.name, 80)}  [dim]{shown(r.description, 80)}[/]"
            )
        for t in c.templates:
            out.print(f"  template [cyan]{shown(t.uri_template, 300)}[/]  {shown(t.name, 80)}")
        for p in c.prompts:
            arguments = " ".join(f"{a.name}=…" if a.required else f"[{a.name}=…]" for a in p.arguments)
            out.print(
                f"  prompt   [cyan]{shown_name(p.name)}[/] {shown(arguments, 200)}  [dim]{shown(p.description, 80)}[/]"
            )
        if c.error:
            out.print(f"  [yellow]listing failed: {shown(c.error, 300)}[/]")
