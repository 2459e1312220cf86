"""One MCP server connection, offered to the loop as a `Toolset`.

Calls come from the loop's tasks and run in the connection's task group
(`PendingCall`), so a wedged server can never hold a caller past its deadline. Every
tool call has a deadline that progress notifications push back, up to a hard maximum;
on expiry the call is abandoned, and the SDK sends ``notifications/cancelled`` in the
background. A crash or a hang becomes an error `Observation`, never an exception in
the loop.

Connecting, holding the connection in its own task and restarting a server that died
are in clients/_lifecycle.py (`ConnectionLifecycle`, a base of `MCPConnection`). The
server's questions (sampling, roots, elicitation, logs) are answered by
`ServerCallbacks` (clients/_callbacks.py); resources and prompts are read in
clients/_features.py and converted in clients/_resources.py.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, TextIO

import anyio
import httpx2
import mcp
import mcp_types
from anyio.abc import TaskGroup
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from nexthop._exceptions import ServerConnectionError
from nexthop._sanitize import clean_text
from nexthop._toolset import ToolDef
from nexthop._trajectory import Observation, ToolCall
from nexthop.clients._callbacks import ClientHooks, RunBinding, ServerCallbacks, ServerProgress, current_run
from nexthop.clients._calls import PendingCall, call_observation, describe, error_observation
from nexthop.clients._config import HTTPServerConfig, ServerConfig, SSEServerConfig, StdioServerConfig
from nexthop.clients._features import ConnectionState
from nexthop.clients._lifecycle import ConnectionLifecycle
from nexthop.clients._listing import DESCRIPTION_LIMIT, TOOL_SEPARATOR
from nexthop.clients._oauth import default_auth
from nexthop.clients._resources import LIST_RESOURCES, READ_RESOURCE, builtin_tools

__all__ = ["DESCRIPTION_LIMIT", "TOOL_SEPARATOR", "ConnectionState", "MCPConnection"]

_log = logging.getLogger(__name__)


class MCPConnection(ConnectionLifecycle):
    """A connection to one MCP server.

    Args:
        name: The server's name; it prefixes its tools (``<name>__<tool>``).
        target: What `mcp.Client` connects to: a URL, `StdioServerParameters`, a
            transport context manager, or an in-process server (tests). A transport
            context manager can be entered once, so such a connection is not reconnected.
        timeout_s: Per-call timeout (seconds); each progress notification restarts it.
        max_timeout_s: Hard cap on one call however much progress it reports (seconds).
        connect_timeout_s: How long start-up and the first listing may take (seconds).
        mode: Protocol negotiation passed to `mcp.Client`: ``auto`` probes for
            2026-07-28 and falls back to 2025-11-25; ``legacy`` forces 2025-11-25.
        stderr: Where a stdio server's stderr goes; by default a temp file whose tail
            is quoted in start-up errors.
        allowed_tools: Offer only the server's tools whose own names match one of these
            glob patterns; None offers all.
        reconnect_attempts: Connection attempts in one reconnect after the server died.
        reconnect_backoff_s: First wait between reconnect attempts (seconds); it doubles
            after each failure, up to 30 s.
        max_restarts: The most restarts over the connection's life; None is unlimited.
        health_interval_s: Seconds between health checks while connected; 0 turns them off.
        callbacks: What answers the server's sampling, roots, elicitation and logs;
            by default host-wide `ClientHooks()` (sampling off, no one to ask, no roots).
    """

    def __init__(
        self,
        name: str,
        target: Any,
        *,
        timeout_s: float = 60.0,
        max_timeout_s: float = 600.0,
        connect_timeout_s: float = 60.0,
        mode: str = "auto",
        stderr: TextIO | None = None,
        allowed_tools: Sequence[str] | None = None,
        reconnect_attempts: int = 3,
        reconnect_backoff_s: float = 0.5,
        max_restarts: int | None = None,
        health_interval_s: float = 0.0,
        callbacks: ServerCallbacks | None = None,
    ) -> None:
        self.name = name
        self.timeout_s = timeout_s
        self.max_timeout_s = max(max_timeout_s, timeout_s)
        self.connect_timeout_s = connect_timeout_s
        self.reconnect_attempts = reconnect_attempts
        self.reconnect_backoff_s = reconnect_backoff_s
        self.state: ConnectionState = "pending"
        self.error: str | None = None
        self.protocol_version: str | None = None
        self.restarts = 0
        """How many times the server was connected again after it died."""
        self.max_restarts = max_restarts
        self.health_interval_s = health_interval_s
        self.last_error: str | None = None
        """The most recent failure, kept after the server came back (``error`` is cleared)."""
        self.capabilities: tuple[str, ...] = ()
        """What the server declared, as short names (see `capabilities_of`)."""
        self.callbacks = callbacks or ServerCallbacks(name, ClientHooks())
        self.callbacks.own_hooks = callbacks is not None
        self.callbacks._run_in_flight = self._run_in_flight  # pyright: ignore[reportPrivateUsage]
        self._in_flight: dict[int, RunBinding | None] = {}
        self._has_resources = False
        self._resources_stale = False
        self._target = target
        self._new_target: Callable[[], Any] | None = None
        self._mode = mode
        self._stderr = stderr
        self.allowed_tools = tuple(allowed_tools) if allowed_tools is not None else None
        self._client: mcp.Client | None = None
        self._calls: TaskGroup | None = None
        self._tools: list[ToolDef] | None = None
        self._stale = True
        self._sessions = 0
        self._closing = False
        self._reconnecting = False
        self._reconnect_wanted = False
        self._warned_wedged = False
        self._startup: anyio.CancelScope | None = None
        self._wake = anyio.Event()
        self._stop = anyio.Event()

    @classmethod
    def from_config(
        cls,
        config: ServerConfig,
        *,
        mode: str = "auto",
        default_timeout_s: float | None = None,
        hooks: ClientHooks | None = None,
        auth: httpx2.Auth | None = None,
    ) -> MCPConnection:
        """Build a connection from a parsed server entry (stdio, HTTP or SSE).

        Args:
            config: The entry.
            mode: Protocol negotiation, as for the constructor.
            default_timeout_s: Per-call timeout for an entry that sets none (seconds);
                None keeps the entry's default of 60 s.
            hooks: The host's answers to servers' questions (sampling, elicitation,
                roots, log observers); the entry's ``sampling`` and ``roots`` override
                the defaults there.
            auth: Signs HTTP requests; None uses the entry's OAuth settings and stored
                tokens (`default_auth`: never a browser; a needed sign-in fails the connection).
        """
        new_target: Callable[[], Any] | None = None
        match config:
            case StdioServerConfig():
                target = mcp.StdioServerParameters(
                    command=config.command, args=list(config.args), env=dict(config.env) or None, cwd=config.cwd
                )
            case HTTPServerConfig():
                auth = auth if auth is not None else default_auth(config)
                new_target = functools.partial(_http_transport, config.url, dict(config.headers), auth)
                target = new_target()
            case SSEServerConfig():
                new_target = functools.partial(sse_client, config.url, headers=dict(config.headers))
                target = new_target()
            case _:  # pragma: no cover - the discriminated union is exhaustive
                raise TypeError(f"unknown server config {config!r}")
        conn = cls(
            config.name,
            target,
            timeout_s=config.timeout_s
            if default_timeout_s is None or "timeout_s" in config.model_fields_set
            else default_timeout_s,
            max_timeout_s=config.max_timeout_s,
            mode=mode,
            allowed_tools=config.tools,
            reconnect_attempts=config.restart_attempts,
            max_restarts=config.max_restarts,
            health_interval_s=config.health_interval_s,
            callbacks=ServerCallbacks(
                config.name, hooks or ClientHooks(), sampling=config.sampling, roots=config.roots
            ),
        )
        conn._new_target = new_target  # transports are single-use; a reconnect needs a fresh one
        return conn

    def lend_hooks(self, hooks: ClientHooks) -> None:
        """Answer this server's questions with a host's ``hooks``, unless it was given callbacks of its own."""
        if not self.callbacks.own_hooks:
            self.callbacks.hooks = hooks

    # -- Toolset -----------------------------------------------------------------------

    async def list_tools(self) -> list[ToolDef]:
        """The server's tools, namespaced; refetched after a ``tools/list_changed``.

        Returns an empty list when the server is not connected; if it died after
        connecting, this starts its reconnect.
        """
        if self.state != "connected":
            self._unavailable()
            return []
        calls = self._calls
        if (self._stale or self._tools is None) and calls is not None:
            # In the background like a call, so a wedged server cannot stretch the timeout.
            pending = PendingCall[None](self._notice_blocked)
            calls.start_soon(pending.run, self._refresh_tools)
            with anyio.move_on_after(self.timeout_s):
                await pending.wait()
            if not pending.ok:  # keep offering the last known tools rather than none
                why = describe(pending.error) if pending.error else f"no answer in {self.timeout_s:g} s"
                _log.warning("re-listing tools of %r failed: %s", self.name, why)
        tools = list(self._tools or [])
        if self._resources_stale and self._client is not None:  # resources came or went: offer the built-ins or not
            self._resources_stale = False
            client = self._client
            with contextlib.suppress(ServerConnectionError):
                self._has_resources = await self._request(lambda _: self._probe_resources(client))
        if self._has_resources:  # the allowlist governs the built-ins too; a server's own tool wins
            own = {t.remote_name for t in tools}
            tools += [
                t
                for t in builtin_tools(self.name, TOOL_SEPARATOR)
                if t.remote_name not in own and self._allowed(t.remote_name or "")
            ]
        return tools

    async def call_tool(self, call: ToolCall) -> Observation:
        """Call a tool by its namespaced or its own name.

        The deadline starts at ``timeout_s``; every progress notification restarts it,
        never past ``max_timeout_s`` from the call's start. At the deadline the call is
        abandoned and this returns at once; the cancellation notice to the server goes
        on in the background (bounded by the SDK at 5 s).

        Returns:
            The observation. Timeouts, crashes and protocol errors come back with
            ``is_error=True`` and a one-line explanation. A call to a server that died
            after connecting starts its reconnect and says so.
        """
        start = time.perf_counter()
        remote = call.name.removeprefix(f"{self.name}{TOOL_SEPARATOR}")
        client, calls = self._client, self._calls
        if self.state != "connected" or client is None or calls is None:
            return error_observation(call, self._unavailable(), start)
        if remote in (LIST_RESOURCES, READ_RESOURCE) and self._has_resources and not self._own(remote):
            return await self._resource_tool(call, remote, start)
        if not self._allowed(remote):
            return error_observation(
                call, f"tool {remote!r} of server {self.name!r} is not enabled by its 'tools' setting", start
            )
        hard_deadline = anyio.current_time() + self.max_timeout_s
        pending = PendingCall[mcp_types.CallToolResult](self._notice_blocked)
        with anyio.CancelScope(deadline=anyio.current_time() + self.timeout_s) as wait:

            async def on_progress(progress: float, total: float | None, message: str | None) -> None:
                wait.deadline = min(anyio.current_time() + self.timeout_s, hard_deadline)
                self.callbacks.emit(
                    ServerProgress(
                        server=self.name,
                        tool=remote,
                        progress=progress,
                        total=total,
                        message=clean_text(message or "", 500),
                    )
                )

            calls.start_soon(
                pending.run, lambda: client.call_tool(remote, call.arguments, progress_callback=on_progress)
            )
            self._in_flight[id(pending)] = current_run()
            try:
                await pending.wait()  # until the deadline, or the run's own cancellation
            finally:
                self._in_flight.pop(id(pending), None)
        if not pending.done.is_set():
            limit = self.max_timeout_s if anyio.current_time() >= hard_deadline else self.timeout_s
            return error_observation(
                call, f"{call.name} timed out after {limit:g} s and was cancelled on the server", start
            )
        if not pending.connection_lost:
            return call_observation(pending, call, self.name, start)
        self._lost(f"the connection closed during a call ({describe(pending.error) if pending.error else 'ended'})")
        restarting = "; restarting it, try again shortly" if self._restart() else ""
        return error_observation(
            call, f"server {self.name!r} crashed or closed the connection during the call{restarting}", start
        )


def _http_transport(url: str, headers: dict[str, str], auth: httpx2.Auth | None = None) -> Any:
    return streamable_http_client(url, http_client=create_mcp_http_client(headers=headers, auth=auth))
