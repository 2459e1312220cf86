"""Holding one server's connection: connect, hold it, notice a death, reconnect with backoff.

`MCPConnection` inherits this. The connection lives in its own task (`run`), because
the SDK's transports hold cancel scopes that must be entered and exited by the same
task; one cancel scope spans each session, so the start-up deadline is lifted, not
exited, once the server has answered.

A stdio server runs as its own process group, ended whole when the connection ends
(`grouped_stdio_client`). A server that dies after connecting is marked failed and
restarted at once, retried with exponential backoff (tenacity) a bounded number of
times per outage (``restart_attempts``) and of outages (``max_restarts``); a later
`list_tools` or `call_tool` starts another round. Between calls, a health check (a
ping on 2025-11-25, a listing on 2026-07-28) finds a server that hangs or went away.
"""

from __future__ import annotations

import contextlib
import logging
import math
import tempfile
from collections.abc import AsyncGenerator, Callable
from typing import Any, TextIO, cast

import anyio
import mcp
import tenacity
from anyio.abc import TaskStatus
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from nexthop.clients._calls import describe
from nexthop.clients._features import ConnectionFeatures
from nexthop.clients._listing import ToolListing
from nexthop.clients._resources import capabilities_of
from nexthop.clients._stdio import grouped_stdio_client, stderr_tail

__all__ = ["ConnectionLifecycle"]

# Named after the module users know (and filter logs by): this one was split out of it.
_log = logging.getLogger("nexthop.clients._connection")


class ConnectionLifecycle(ToolListing, ConnectionFeatures):
    """Connecting, holding and restarting one connection (a base of `MCPConnection`).

    The state it reads and writes is set up by `MCPConnection.__init__`, declared here.
    """

    error: str | None
    last_error: str | None
    restarts: int
    max_restarts: int | None
    reconnect_attempts: int
    reconnect_backoff_s: float
    connect_timeout_s: float
    _has_resources: bool
    _target: Any
    _new_target: Callable[[], Any] | None
    _mode: str
    _stderr: TextIO | None
    _sessions: int
    _reconnecting: bool
    _reconnect_wanted: bool
    _warned_wedged: bool
    _startup: anyio.CancelScope | None
    _wake: anyio.Event
    _stop: anyio.Event

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
