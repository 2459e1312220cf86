"""One MCP server connection, offered to the loop as a `Toolset`.

The connection lives in its own task (`run`), because the SDK's transports hold
cancel scopes that must be entered and exited by the same task; calls come from the
loop's tasks and run in the connection's task group (`PendingCall`), so a wedged
server can never hold a caller past its deadline. Every tool call has a deadline
that progress notifications push back, up to a hard maximum; on expiry the call is
abandoned, and the SDK sends ``notifications/cancelled`` in the background. A crash
or a hang becomes an error `Observation`, never an exception in the loop.

A stdio server runs as its own process group, ended whole when the connection ends
(`grouped_stdio_client`). A server that dies after connecting is marked failed and
restarted at once, retried with exponential backoff (tenacity) a bounded number of
times per outage (``restart_attempts``) and of outages (``max_restarts``); a later
`list_tools` or `call_tool` starts another round. Between calls, a health check (a
ping on 2025-11-25, a listing on 2026-07-28) finds a server that hangs or went away.

The server's questions (sampling, roots, elicitation, logs) are answered by
`ServerCallbacks` (clients/_callbacks.py); resources and prompts are read here and
converted in clients/_resources.py.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import tempfile
import time
from collections.abc import AsyncGenerator, Callable, Sequence
from typing import Any, TextIO, cast

import anyio
import httpx2
import mcp
import mcp_types
import tenacity
from anyio.abc import TaskGroup, TaskStatus
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from nexthop._exceptions import ServerConnectionError
from nexthop._sanitize import clean_text
from nexthop._toolset import ToolDef
from nexthop._trajectory import Observation, ToolCall
from nexthop.clients._callbacks import ClientHooks, RunBinding, ServerCallbacks, ServerProgress, current_run
from nexthop.clients._calls import PendingCall, call_observation, describe, error_observation
from nexthop.clients._config import HTTPServerConfig, ServerConfig, SSEServerConfig, StdioServerConfig
from nexthop.clients._features import ConnectionFeatures, ConnectionState
from nexthop.clients._listing import DESCRIPTION_LIMIT, TOOL_SEPARATOR, ToolListing
from nexthop.clients._oauth import default_auth
from nexthop.clients._resources import (
    LIST_RESOURCES,
    READ_RESOURCE,
    builtin_tools,
    capabilities_of,
)
from nexthop.clients._stdio import grouped_stdio_client, stderr_tail

__all__ = ["DESCRIPTION_LIMIT", "TOOL_SEPARATOR", "ConnectionState", "MCPConnection"]


_log = logging.getLogger(__name__)


class MCPConnection(ToolListing, ConnectionFeatures):
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

    # -- lifecycle ---------------------------------------------------------------------

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Connect, report readiness through ``task_status``, and hold the connection until `close`.

        A server that dies after connecting is reconnected when a call asks for it
        (`_reconnect`). Never raises for a server's failure: it sets ``state="failed"``
        and ``error`` instead, so one bad server cannot take the others down.
        """
        with contextlib.ExitStack() as files:  # the stderr file must outlive every session for _fail to quote it
            if self._stderr is None and isinstance(self._target, mcp.StdioServerParameters):
                self._stderr = files.enter_context(tempfile.TemporaryFile("w+", encoding="utf-8"))
            await self._session(task_status)
            while self._sessions and self._reusable() and not self._closing:
                if not self._reconnect_wanted:
                    self._wake = anyio.Event()
                    await self._wake.wait()
                    continue
                self._reconnect_wanted = False
                await self._reconnect()
        with contextlib.suppress(RuntimeError):  # already started unless the first connection failed
            task_status.started()
        if self.state == "connected":
            self.state = "closed"

    def close(self) -> None:
        """Ask `run` to disconnect; stdio servers are ended with their whole process group."""
        self._closing = True
        self._stop.set()
        self._wake.set()
        if self._startup is not None:  # a reconnect under way: stop it rather than wait for it
            self._startup.cancel()

    async def _session(self, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> bool:
        """Connect once and hold the connection until `close` or until it is lost.

        Returns:
            Whether it connected (False after a start-up failure, recorded by `_fail`).
        """
        # One scope spans the whole session: the SDK's transports hold cancel scopes that
        # must nest inside ours, so the start-up deadline is lifted rather than exited.
        connected = False
        with anyio.CancelScope(deadline=anyio.current_time() + self.connect_timeout_s) as scope:
            self._startup = scope
            try:
                async with self._connected(scope):
                    connected, self._startup = True, None  # close() now ends the session, not the start-up
                    task_status.started()
                    while self.state == "connected" and not self._closing:
                        self._wake = anyio.Event()
                        await self._wake.wait()
            except Exception as e:  # any start-up or transport failure is this server's, not the host's
                if not connected:
                    self._fail(e)
            finally:
                self._startup = None
        if scope.cancelled_caught and not connected and not self._closing:
            self._fail(TimeoutError())
        return connected

    async def _reconnect(self) -> None:
        """Connect again after the server died: a bounded number of attempts, with exponential backoff."""
        self._reconnecting = True
        retrying = tenacity.AsyncRetrying(
            stop=tenacity.stop_after_attempt(self.reconnect_attempts),
            wait=tenacity.wait_exponential(multiplier=self.reconnect_backoff_s, max=30),
            sleep=self._pause,
            retry=tenacity.retry_if_result(lambda connected: not connected and not self._closing),
            retry_error_callback=lambda _: False,  # give up quietly; state and error say why
        )
        try:
            await retrying(self._session)
        finally:
            self._reconnecting = False

    async def _pause(self, seconds: float) -> None:
        with anyio.move_on_after(seconds):
            await self._stop.wait()

    @contextlib.asynccontextmanager
    async def _connected(self, startup: anyio.CancelScope) -> AsyncGenerator[None]:
        async with contextlib.AsyncExitStack() as stack:
            client = mcp.Client(
                self._transport(),  # pyright: ignore[reportArgumentType]
                mode=self._mode,  # pyright: ignore[reportArgumentType]
                message_handler=self._on_message,
                **self.callbacks.client_kwargs(),
            )
            await stack.enter_async_context(client)
            self._client = client
            self.protocol_version = client.protocol_version
            self.capabilities = capabilities_of(client.server_capabilities)
            await self._refresh_tools()
            self._has_resources = await self._probe_resources(client)
            startup.deadline = math.inf
            async with anyio.create_task_group() as tg:
                if self.protocol_version in MODERN_PROTOCOL_VERSIONS:
                    tg.start_soon(self._listen_for_changes)
                if self.health_interval_s > 0:
                    tg.start_soon(self._watch_health, client)
                self._calls = tg
                if self._sessions:
                    self.restarts += 1
                self._sessions += 1
                self.state, self.error = "connected", None
                self._reconnecting = False  # connected again: a later death starts a fresh restart
                try:
                    yield
                finally:
                    self._calls = self._client = None
                    tg.cancel_scope.cancel()

    def _transport(self) -> Any:
        target = self._target
        if isinstance(target, mcp.StdioServerParameters):
            # run() has opened a stderr file for every stdio target before connecting.
            return grouped_stdio_client(target, cast("TextIO", self._stderr), self._server_exited)
        if self._sessions and self._new_target is not None:
            return self._new_target()
        return target

    def _reusable(self) -> bool:
        """Whether the target can be connected again (a transport context manager is single-use)."""
        return self._new_target is not None or not isinstance(self._target, contextlib.AbstractAsyncContextManager)

    def _fail(self, error: BaseException) -> None:
        self.state = "failed"
        self.error = self.last_error = describe(error) + self._stderr_tail()
        _log.warning("MCP server %r failed: %s", self.name, self.error)

    def _lost(self, reason: str) -> None:
        """The connected server died: mark it failed and let `run` end the session (and its processes)."""
        if self.state != "connected" or self._closing:
            return
        self.state = "failed"
        self.error = self.last_error = reason + self._stderr_tail()
        _log.warning("MCP server %r died: %s", self.name, self.error)
        self._wake.set()
        self._restart()  # at once, so its tools come back without waiting for a call

    def _server_exited(self, code: int) -> None:
        self._lost(f"the server process exited with code {code}")

    def _restart(self) -> bool:
        """Ask `run` to reconnect a server that died after connecting; whether one is (now) under way."""
        if self._reconnecting or self._reconnect_wanted:
            return True
        if self.state != "failed" or not self._sessions or not self._reusable() or self._closing:
            return False
        if self.reconnect_attempts < 1 or (self.max_restarts is not None and self.restarts >= self.max_restarts):
            return False
        self._reconnect_wanted = True
        self._wake.set()
        return True

    def _unavailable(self) -> str:
        """Why a call cannot go through now; starts a reconnect when the server died after connecting."""
        if self._restart():
            return f"server {self.name!r} is down ({self.error}); restarting it, try again shortly"
        if self.max_restarts is not None and self.restarts >= self.max_restarts and self._sessions:
            return (
                f"server {self.name!r} is down ({self.error}) and was restarted {self.restarts} times, "
                'its limit ("maxRestarts" in the config)'
            )
        return f"server {self.name!r} is not connected: {self.error or self.state}"

    def _stderr_tail(self) -> str:
        return f" (stderr: {tail})" if (tail := stderr_tail(self._stderr)) else ""

    def _notice_blocked(self) -> None:
        if not self._warned_wedged:
            self._warned_wedged = True
            _log.warning(
                "MCP server %r is not reading its input: a cancellation notice could not be delivered "
                "(reported once per server)",
                self.name,
            )

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
