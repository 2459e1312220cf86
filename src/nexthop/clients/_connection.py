"""One MCP server connection, offered to the loop as a `Toolset`.

The connection lives in its own task (`run`), because the SDK's transports hold
cancel scopes that must be entered and exited by the same task; calls come from the
loop's tasks. Every tool call has a deadline that progress notifications push back,
up to a hard maximum; on expiry the call's scope is cancelled, which makes the SDK
send ``notifications/cancelled`` to the server. A crash or a hang becomes an error
`Observation`, never an exception in the loop.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import logging
import math
import tempfile
import time
from collections.abc import AsyncGenerator, Sequence
from typing import Any, Literal, TextIO, cast

import anyio
import mcp
import mcp_types
from anyio.abc import TaskStatus
from mcp.client.sse import sse_client
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp_types import CONNECTION_CLOSED
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from nexthop._toolset import ToolDef
from nexthop._trajectory import Observation, ToolCall
from nexthop.clients._config import HTTPServerConfig, ServerConfig, SSEServerConfig, StdioServerConfig

__all__ = ["MCPConnection", "ConnectionState", "TOOL_SEPARATOR"]

TOOL_SEPARATOR = "__"
"""Namespaced tool names are ``<server>__<tool>``, so servers never shadow each other."""

ConnectionState = Literal["pending", "connected", "failed", "closed"]
_log = logging.getLogger(__name__)
_STDERR_TAIL_BYTES = 2000


class MCPConnection:
    """A connection to one MCP server.

    Args:
        name: The server's name; it prefixes its tools (``<name>__<tool>``).
        target: What `mcp.Client` connects to: a URL, `StdioServerParameters`, a
            transport context manager, or an in-process server (tests).
        timeout_s: Per-call timeout (seconds); each progress notification restarts it.
        max_timeout_s: Hard cap on one call however much progress it reports (seconds).
        connect_timeout_s: How long start-up and the first listing may take (seconds).
        mode: Protocol negotiation passed to `mcp.Client`: ``auto`` probes for
            2026-07-28 and falls back to 2025-11-25; ``legacy`` forces 2025-11-25.
        stderr: Where a stdio server's stderr goes; by default a temp file whose tail
            is quoted in start-up errors.
        allowed_tools: Offer only the server's tools whose own names match one of these
            glob patterns; None offers all.
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
    ) -> None:
        self.name = name
        self.timeout_s = timeout_s
        self.max_timeout_s = max(max_timeout_s, timeout_s)
        self.connect_timeout_s = connect_timeout_s
        self.state: ConnectionState = "pending"
        self.error: str | None = None
        self.protocol_version: str | None = None
        self._target = target
        self._mode = mode
        self._stderr = stderr
        self.allowed_tools = tuple(allowed_tools) if allowed_tools is not None else None
        self._client: mcp.Client | None = None
        self._tools: list[ToolDef] | None = None
        self._stale = True
        self._stop = anyio.Event()

    @classmethod
    def from_config(
        cls, config: ServerConfig, *, mode: str = "auto", default_timeout_s: float | None = None
    ) -> MCPConnection:
        """Build a connection from a parsed server entry (stdio, HTTP or SSE).

        Args:
            config: The entry.
            mode: Protocol negotiation, as for the constructor.
            default_timeout_s: Per-call timeout for an entry that sets none (seconds);
                None keeps the entry's default of 60 s.
        """
        target: Any
        match config:
            case StdioServerConfig():
                target = mcp.StdioServerParameters(
                    command=config.command, args=list(config.args), env=dict(config.env) or None, cwd=config.cwd
                )
            case HTTPServerConfig():
                target = streamable_http_client(
                    config.url, http_client=create_mcp_http_client(headers=dict(config.headers))
                )
            case SSEServerConfig():
                target = sse_client(config.url, headers=dict(config.headers))
            case _:  # pragma: no cover - the discriminated union is exhaustive
                raise TypeError(f"unknown server config {config!r}")
        return cls(
            config.name,
            target,
            timeout_s=config.timeout_s
            if default_timeout_s is None or "timeout_s" in config.model_fields_set
            else default_timeout_s,
            max_timeout_s=config.max_timeout_s,
            mode=mode,
            allowed_tools=config.tools,
        )

    # -- lifecycle ---------------------------------------------------------------------

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Connect, report readiness through ``task_status``, and hold the connection until `close`.

        Never raises for a server's failure: it sets ``state="failed"`` and ``error`` instead,
        so one bad server cannot take the others down.
        """
        # One scope spans the whole connection: the SDK's transports hold cancel scopes that
        # must nest inside ours, so the start-up deadline is lifted rather than exited.
        with contextlib.ExitStack() as files:  # the stderr file must outlive _connected for _fail to quote it
            if self._stderr is None and isinstance(self._target, mcp.StdioServerParameters):
                self._stderr = files.enter_context(tempfile.TemporaryFile("w+", encoding="utf-8"))
            with anyio.CancelScope(deadline=anyio.current_time() + self.connect_timeout_s) as scope:
                try:
                    async with self._connected(scope):
                        task_status.started()
                        await self._stop.wait()
                except Exception as e:  # any start-up or transport failure is this server's, not the host's
                    self._fail(e)
            if scope.cancelled_caught and self.state == "pending":
                self._fail(TimeoutError())
        if self.state != "connected":
            with contextlib.suppress(RuntimeError):  # already started when it failed later
                task_status.started()
        else:
            self.state = "closed"

    def close(self) -> None:
        """Ask `run` to disconnect; stdio servers are terminated with their process tree."""
        self._stop.set()

    @contextlib.asynccontextmanager
    async def _connected(self, startup: anyio.CancelScope) -> AsyncGenerator[None]:
        async with contextlib.AsyncExitStack() as stack:
            target = self._target
            if isinstance(target, mcp.StdioServerParameters):
                # run() has opened a stderr file for every stdio target before connecting.
                target = stdio_client(target, errlog=cast("TextIO", self._stderr))
            client = mcp.Client(target, mode=self._mode, message_handler=self._on_message)  # pyright: ignore[reportArgumentType]
            await stack.enter_async_context(client)
            self._client = client
            self.protocol_version = client.protocol_version
            await self._refresh_tools()
            startup.deadline = math.inf
            self.state = "connected"
            async with anyio.create_task_group() as tg:
                if self.protocol_version in MODERN_PROTOCOL_VERSIONS:
                    tg.start_soon(self._listen_for_changes)
                try:
                    yield
                finally:
                    tg.cancel_scope.cancel()

    def _fail(self, error: BaseException) -> None:
        self.state = "failed"
        self.error = _describe(error) + self._stderr_tail()
        _log.warning("MCP server %r failed: %s", self.name, self.error)

    def _stderr_tail(self) -> str:
        if self._stderr is None or not hasattr(self._stderr, "seek"):
            return ""
        with contextlib.suppress(OSError, ValueError):
            self._stderr.seek(0, 2)
            size = self._stderr.tell()
            self._stderr.seek(max(0, size - _STDERR_TAIL_BYTES))
            lines = [ln for ln in self._stderr.read().splitlines() if ln.strip()]
            if lines:
                return f" (stderr: {lines[-1].strip()})"
        return ""

    # -- tools/list_changed ------------------------------------------------------------

    async def _on_message(self, message: Any) -> None:
        # 2025-11-25 connections deliver list_changed as a plain notification.
        if isinstance(getattr(message, "root", message), mcp_types.ToolListChangedNotification):
            self._stale = True

    async def _listen_for_changes(self) -> None:
        # 2026-07-28 connections deliver list_changed only on a subscriptions/listen stream.
        assert self._client is not None
        with contextlib.suppress(Exception):
            async with self._client.listen(tools_list_changed=True) as sub:
                async for _event in sub:
                    self._stale = True

    async def _refresh_tools(self) -> None:
        assert self._client is not None
        self._stale = False  # before the fetch, so a change during it is not lost
        tools: list[ToolDef] = []
        cursor: str | None = None
        while True:
            page = await self._client.list_tools(cursor=cursor, cache_mode="refresh")
            tools.extend(self._to_tool_def(t) for t in page.tools if self._allowed(t.name))
            cursor = page.next_cursor
            if not cursor:
                break
        self._tools = tools

    def _allowed(self, remote_name: str) -> bool:
        return self.allowed_tools is None or any(fnmatch.fnmatchcase(remote_name, p) for p in self.allowed_tools)

    def _to_tool_def(self, t: mcp_types.Tool) -> ToolDef:
        annotations = t.annotations.model_dump(by_alias=True, exclude_none=True) if t.annotations else None
        return ToolDef(
            name=f"{self.name}{TOOL_SEPARATOR}{t.name}",
            description=t.description or "",
            input_schema=dict(t.input_schema),
            output_schema=dict(t.output_schema) if t.output_schema else None,
            annotations=annotations,
            server=self.name,
            remote_name=t.name,
        )

    # -- Toolset -----------------------------------------------------------------------

    async def list_tools(self) -> list[ToolDef]:
        """The server's tools, namespaced; refetched after a ``tools/list_changed``.

        Returns an empty list when the server is not connected.
        """
        if self.state != "connected":
            return []
        if self._stale or self._tools is None:
            try:
                with anyio.fail_after(self.timeout_s):
                    await self._refresh_tools()
            except Exception as e:  # keep offering the last known tools rather than none
                _log.warning("re-listing tools of %r failed: %s", self.name, _describe(e))
        return list(self._tools or [])

    async def call_tool(self, call: ToolCall) -> Observation:
        """Call a tool by its namespaced or its own name.

        The deadline starts at ``timeout_s``; every progress notification restarts it,
        never past ``max_timeout_s`` from the call's start.

        Returns:
            The observation. Timeouts, crashes and protocol errors come back with
            ``is_error=True`` and a one-line explanation.
        """
        start = time.perf_counter()
        remote = call.name.removeprefix(f"{self.name}{TOOL_SEPARATOR}")
        if self.state != "connected" or self._client is None:
            return _error(call, f"server {self.name!r} is not connected: {self.error or self.state}", start)
        if not self._allowed(remote):
            return _error(call, f"tool {remote!r} of server {self.name!r} is not enabled by its 'tools' setting", start)
        hard_deadline = anyio.current_time() + self.max_timeout_s
        result: mcp_types.CallToolResult | None = None
        with anyio.CancelScope(deadline=anyio.current_time() + self.timeout_s) as scope:

            async def on_progress(progress: float, total: float | None, message: str | None) -> None:
                scope.deadline = min(anyio.current_time() + self.timeout_s, hard_deadline)

            try:
                result = await self._client.call_tool(remote, call.arguments, progress_callback=on_progress)
            except mcp.MCPError as e:
                if e.error.code != CONNECTION_CLOSED:
                    return _error(call, f"{self.name}: {e.error.message} (code {e.error.code})", start)
                self._fail(e)
                return _error(call, f"server {self.name!r} crashed or closed the connection during the call", start)
            except (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream, OSError) as e:
                self._fail(e)
                return _error(call, f"server {self.name!r} crashed or closed the connection during the call", start)
            except Exception as e:  # a malformed reply must not take the loop down
                return _error(call, f"{self.name}: {_describe(e)}", start)
        if scope.cancelled_caught or result is None:  # no result only when the deadline cancelled the call
            limit = self.max_timeout_s if anyio.current_time() >= hard_deadline else self.timeout_s
            return _error(call, f"{call.name} timed out after {limit:g} s and was cancelled on the server", start)
        return Observation(
            call_id=call.id,
            content=_content_text(result.content),
            is_error=bool(result.is_error),
            structured=result.structured_content,
            duration_s=time.perf_counter() - start,
        )


def _error(call: ToolCall, message: str, start: float) -> Observation:
    return Observation(call_id=call.id, content=message, is_error=True, duration_s=time.perf_counter() - start)


def _content_text(blocks: list[Any]) -> str:
    parts: list[str] = []
    for block in blocks:
        kind = getattr(block, "type", None)
        if kind == "text":
            parts.append(block.text)
        elif kind == "resource" and hasattr(block.resource, "text"):
            parts.append(block.resource.text)
        elif kind == "resource_link":
            parts.append(f"[resource {block.uri}]")
        else:  # images and audio cannot be shown to a text model; say they were there
            parts.append(f"[{kind} content, {len(json.dumps(block.model_dump(mode='json')))} bytes]")
    return "\n".join(parts)


def _sole_member(error: BaseException) -> BaseException | None:
    """The only exception inside ``error`` when it is a one-member ExceptionGroup, else None."""
    if isinstance(error, BaseExceptionGroup):
        # isinstance cannot bind the group's type parameter; its members are BaseExceptions.
        members = cast("BaseExceptionGroup[BaseException]", error).exceptions
        if len(members) == 1:
            return members[0]
    return None


def _describe(error: BaseException) -> str:
    # ExceptionGroups from task groups hide the real cause one or more levels down.
    while (inner := _sole_member(error)) is not None:
        error = inner
    if isinstance(error, TimeoutError):
        return "timed out while connecting"
    if isinstance(error, FileNotFoundError):
        return f"command not found: {error.filename or error} (check 'command' and PATH)"
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
