"""``nexthop auth login|logout|status SERVER``: OAuth sign-in to remote MCP servers.

``login`` signs in afresh: it opens the browser at the authorization server and takes
the code on a loopback redirect (``http://127.0.0.1:PORT/callback``, RFC 8252). With
``--headless``, or where no browser can be found, it prints the URL and reads back the
URL the browser was sent to. Tokens go to the store `token_store` picks (a 0600 file in
the user config folder, or the OS keyring); ``nexthop run`` then uses and refreshes them.
Everything shown here that came from a server (URLs, scopes, client IDs) is cleaned.
"""

from __future__ import annotations

import argparse
import sys
import time
import webbrowser
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlparse

import anyio.to_thread
from rich.console import Console
from rich.markup import escape

from nexthop._exceptions import ConfigError
from nexthop._sanitize import one_line
from nexthop.clients._config import HTTPServerConfig, ServerConfig
from nexthop.clients._oauth import LoopbackRedirect, login
from nexthop.clients._oauth_store import TokenStore, token_store

__all__ = ["add_auth_parser", "auth_command"]

LoadServers = Callable[[argparse.Namespace, Sequence[str]], list[ServerConfig]]
_HEADLESS_PORT = 33418
"""Loopback port named in a headless sign-in when neither the config nor a registration names one."""


def add_auth_parser(sub: Any, parents: Sequence[argparse.ArgumentParser]) -> None:
    """Register ``nexthop auth`` and its three subcommands on the CLI's subparsers."""
    auth = sub.add_parser(
        "auth",
        help="sign in to remote servers that demand OAuth",
        description="Sign in to, sign out of, or show the sign-in of HTTP servers that demand OAuth 2.1.",
    )
    actions = auth.add_subparsers(dest="auth_action", required=True, metavar="ACTION")
    login_p = actions.add_parser("login", parents=list(parents), help="sign in (opens the browser)")
    login_p.add_argument("names", metavar="SERVER", help="the server's name in the config")
    login_p.add_argument(
        "--headless", action="store_true", help="print the URL and read the redirect URL back (no browser here)"
    )
    login_p.add_argument(
        "--timeout", type=float, default=300.0, metavar="SECONDS", help="give up after this long (default 300)"
    )
    logout_p = actions.add_parser("logout", parents=list(parents), help="forget a server's tokens")
    logout_p.add_argument("names", metavar="SERVER", help="the server's name in the config")
    status_p = actions.add_parser("status", parents=list(parents), help="show sign-ins (all HTTP servers by default)")
    status_p.add_argument("names", nargs="*", metavar="SERVER", help="only these servers")


async def auth_command(args: argparse.Namespace, console: Console, *, load: LoadServers) -> int:
    """Run ``nexthop auth ACTION``; returns the exit status (0, or raises `NexthopError`)."""
    names = [args.names] if isinstance(args.names, str) else list(args.names)
    servers = [s for s in load(args, names) if not names or s.name in names]
    http = [s for s in servers if isinstance(s, HTTPServerConfig)]
    for s in servers:
        if names and not isinstance(s, HTTPServerConfig):
            raise ConfigError(f"server {s.name!r} is not an HTTP server; OAuth sign-in applies to HTTP servers only")
    if args.auth_action == "status":
        for config in http:
            await _status(config, console)
        if not http:
            console.print("no HTTP servers configured")
        return 0
    config = http[0]
    store = token_store(config.name, config.url)
    if args.auth_action == "logout":
        had = await store.clear()
        console.print(f"{'signed out of' if had else 'was not signed in to'} {escape(config.name)}")
        return 0
    return await _login(config, store, console, headless=args.headless, timeout_s=args.timeout)


async def _login(
    config: HTTPServerConfig, store: TokenStore, console: Console, *, headless: bool, timeout_s: float
) -> int:
    port = config.oauth.callback_port or await _registered_port(store)
    if not headless and not _has_browser():
        console.print("[yellow]no browser found here; signing in headless[/]")
        headless = True
    listener = None if headless else LoopbackRedirect(port)
    redirect_uri = listener.redirect_uri if listener else f"http://127.0.0.1:{port or _HEADLESS_PORT}/callback"

    async def show_url(url: str) -> None:
        shown = escape(one_line(url, 4000))
        if listener is None:
            console.print(f"Open this URL in a browser and sign in:\n{shown}", soft_wrap=True)
            console.print("Then paste the URL the browser was sent to (it starts with http://127.0.0.1):")
            return
        console.print(f"Opening the browser to sign in to {escape(config.name)}. If it does not open, visit:")
        console.print(shown, soft_wrap=True)
        await anyio.to_thread.run_sync(webbrowser.open, url)

    async def receive() -> str:
        if listener is not None:
            return await listener.wait()
        return await anyio.to_thread.run_sync(sys.stdin.readline, abandon_on_cancel=True)

    try:
        tokens = await login(
            config, store, redirect_uri=redirect_uri, show_url=show_url, receive_redirect=receive, timeout_s=timeout_s
        )
    finally:
        if listener is not None:
            listener.close()
    if tokens is None:
        console.print(f"{escape(config.name)} let nexthop in without a sign-in; nothing stored")
        return 0
    scope = f" (scope: {escape(one_line(tokens.scope, 200))})" if tokens.scope else ""
    console.print(f"[green]signed in to {escape(config.name)}[/]{scope}; tokens kept in {escape(store.where)}")
    return 0


async def _registered_port(store: TokenStore) -> int:
    """The port of the loopback redirect an earlier registration named (it must stay the same), else 0."""
    client = (await store.load()).current.client_info
    uris = client.redirect_uris if client is not None else None
    if not uris:
        return 0
    parsed = urlparse(str(uris[0]))
    return (parsed.port or 0) if parsed.hostname in ("127.0.0.1", "localhost") else 0


def _has_browser() -> bool:
    try:
        webbrowser.get()
    except webbrowser.Error:
        return False
    return True


async def _status(config: HTTPServerConfig, console: Console) -> None:
    store = token_store(config.name, config.url)
    record = await store.load()
    name = escape(config.name)
    if not config.oauth.enabled:
        console.print(f"{name}: sign-in off in the config")
        return
    entry = record.current
    if entry.tokens is None:
        console.print(f"{name}: not signed in (run: nexthop auth login {name})", soft_wrap=True)
        return
    issuer = escape(one_line(record.issuer or "unknown issuer", 200))
    client = escape(one_line(entry.client_info.client_id, 200)) if entry.client_info else "?"
    scope = escape(one_line(entry.tokens.scope or "none", 200))
    refresh = "a refresh token" if entry.tokens.refresh_token else "no refresh token"
    expiry = _expiry(entry.expires_at)
    line = f"{name}: signed in with {issuer} as client {client}; scope {scope}; {expiry}; {refresh}"
    console.print(line, soft_wrap=True)


def _expiry(expires_at: float | None) -> str:
    if expires_at is None:
        return "no stated expiry"
    left = expires_at - time.time()
    if left <= 0:
        return "access token expired (refreshed on next use)"
    return f"access token expires in {left / 60:.0f} min"
