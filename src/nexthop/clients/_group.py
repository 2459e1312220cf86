"""Many MCP servers as one `Toolset` (after openai-agents' ``MCPServerManager``).

All servers connect concurrently, so start-up costs about as much as the slowest
one. A server that fails is reported by name with its error while the others keep
working; ``strict=True`` makes any failure fatal.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from types import TracebackType

import anyio
from anyio.abc import TaskGroup

from nexthop._exceptions import ServerConnectionError
from nexthop._toolset import ToolDef
from nexthop._trajectory import Observation, ToolCall
from nexthop.clients._connection import TOOL_SEPARATOR, MCPConnection

__all__ = ["ServerGroup"]


class ServerGroup:
    """Connections to several MCP servers, routed by the ``<server>__`` tool prefix.

    Args:
        connections: One `MCPConnection` per server; names must be unique.
        strict: Raise `ServerConnectionError` on entry if any server failed to start.

    Use it as an async context manager; leaving it disconnects every server and
    terminates every stdio child process tree.
    """

    def __init__(self, connections: Sequence[MCPConnection], *, strict: bool = False) -> None:
        names = [c.name for c in connections]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate server names in {names}")
        self.connections: dict[str, MCPConnection] = {c.name: c for c in connections}
        self.strict = strict
        self.connect_time_s: float = 0.0
        self._tg: TaskGroup | None = None

    @property
    def active(self) -> list[MCPConnection]:
        """Servers connected now."""
        return [c for c in self.connections.values() if c.state == "connected"]

    @property
    def failed(self) -> dict[str, str]:
        """Failed servers: name to one-line error."""
        return {c.name: c.error or "failed" for c in self.connections.values() if c.state == "failed"}

    async def __aenter__(self) -> ServerGroup:
        start = time.perf_counter()
        self._tg = await anyio.create_task_group().__aenter__()
        try:
            async with anyio.create_task_group() as starters:
                for conn in self.connections.values():
                    starters.start_soon(self._tg.start, conn.run)
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        self.connect_time_s = time.perf_counter() - start
        if self.strict and self.failed:
            name, error = next(iter(self.failed.items()))
            await self.__aexit__(None, None, None)
            raise ServerConnectionError(name, f"{error} (--strict makes a failed server fatal)")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._tg is None:
            return
        for conn in self.connections.values():
            conn.close()
        tg, self._tg = self._tg, None
        if isinstance(exc, Exception):
            # The body's own error (a missing resource, a bad flag) propagates as itself, not
            # wrapped in the connections' ExceptionGroup; the connections still end cleanly.
            await tg.__aexit__(None, None, None)
            return
        await tg.__aexit__(exc_type, exc, tb)

    async def list_tools(self) -> list[ToolDef]:
        """Every connected server's tools, namespaced, in server order.

        Asking a server that died after connecting starts its reconnect (it offers no
        tools until it is back).
        """
        tools: list[ToolDef] = []
        for conn in self.connections.values():
            tools.extend(await conn.list_tools())
        return tools

    async def call_tool(self, call: ToolCall) -> Observation:
        """Route a call to its server by the name's ``<server>__`` prefix."""
        server, sep, _ = call.name.partition(TOOL_SEPARATOR)
        conn = self.connections.get(server) if sep else None
        if conn is None:
            known = ", ".join(self.connections) or "none"
            return Observation(
                call_id=call.id,
                content=f"unknown server {server!r} in tool name {call.name!r}; servers: {known}",
                is_error=True,
            )
        return await conn.call_tool(call)
