"""A small MCP server for the host's tests, in-memory (``make_server()``) or over stdio (``python demo_server.py``).

Its tools cover what the machinery must handle: plain calls, progress, hangs, crashes,
and a tool list that changes.
"""

from __future__ import annotations

import os
import sys

import anyio
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp_types.version import MODERN_PROTOCOL_VERSIONS


class State:
    """What the server saw, for assertions in in-memory tests."""

    def __init__(self) -> None:
        self.cancelled: list[str] = []
        self.calls: list[str] = []


def make_server(name: str = "demo", state: State | None = None) -> MCPServer:
    state = state or State()
    mcp = MCPServer(name)

    @mcp.tool()
    def echo(text: str) -> str:
        """Return the text unchanged."""
        state.calls.append(f"echo:{text}")
        return text

    @mcp.tool()
    def add(a: int, b: int) -> int:
        """Add two integers."""
        state.calls.append("add")
        return a + b

    @mcp.tool()
    def fail(message: str = "boom") -> str:
        """Always fail with the message."""
        raise ValueError(message)

    @mcp.tool()
    async def sleep(seconds: float) -> str:
        """Sleep, then answer; records a cancellation if cancelled."""
        try:
            await anyio.sleep(seconds)
        except anyio.get_cancelled_exc_class():
            state.cancelled.append("sleep")
            raise
        return f"slept {seconds}"

    @mcp.tool()
    async def busy(seconds: float, every: float, ctx: Context) -> str:
        """Work for `seconds`, reporting progress every `every` seconds."""
        elapsed = 0.0
        try:
            while elapsed < seconds:
                await anyio.sleep(every)
                elapsed += every
                await ctx.report_progress(elapsed, seconds, "working")
        except anyio.get_cancelled_exc_class():
            state.cancelled.append("busy")
            raise
        return "done"

    @mcp.tool()
    def crash() -> str:
        """Kill this server's process mid-call (stdio only)."""
        sys.stdout.flush()
        os._exit(3)

    @mcp.tool()
    def pid() -> int:
        """This server's process id."""
        return os.getpid()

    @mcp.tool()
    async def unlock(ctx: Context) -> str:
        """Add the tool `secret` and announce the change with tools/list_changed."""

        def secret() -> str:
            """The unlocked tool."""
            return "the secret is 42"

        mcp.add_tool(secret)
        # 2026-07-28 clients hear it on their listen stream; 2025-11-25 clients as a notification.
        await ctx.notify_tools_changed()
        if ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS:
            await ctx.session.send_tool_list_changed()
        return "unlocked"

    return mcp


if __name__ == "__main__":
    # python demo_server.py [NAME [stdio | streamable-http PORT | sse PORT]]
    name = sys.argv[1] if len(sys.argv) > 1 else "demo"
    transport = sys.argv[2] if len(sys.argv) > 2 else "stdio"
    if transport == "stdio":
        make_server(name).run()
    else:
        make_server(name).run(transport, host="127.0.0.1", port=int(sys.argv[3]))  # type: ignore[call-overload]
