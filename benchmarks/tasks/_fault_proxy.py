"""A fault-injecting MCP proxy: the upstream server's whole tool set, each call failing with p = 0.5.

It is an MCP server (mcp 2.x `MCPServer`) that connects as a client to a real server and
forwards ``tools/list`` and ``tools/call``. Before forwarding a call it draws from a seeded
`random.Random`: with probability ``fail_rate`` it answers a tool error instead and never
reaches the upstream server, so a failed call has no side effect. The error text says
plainly that the call failed and that nothing was done, as a real transient fault would.
This is the "multi-step with failing tools" setting of Autono (arXiv 2504.04650, §5), where
each tool call fails with probability 0.5.

Run it in front of a stdio server (only the standard library and ``mcp`` are imported,
so it runs as a plain script from any working folder)::

    python _fault_proxy.py --seed 7 --fail-rate 0.5 -- npx -y @modelcontextprotocol/server-filesystem .

or build one in-process with `FaultProxy(upstream)` (tests pass an in-memory `MCPServer`).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import sys
from collections.abc import AsyncGenerator
from typing import Any

import mcp
from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

__all__ = ["FAULT_TEXT", "FaultProxy", "main"]

FAULT_TEXT = "{name} failed: the server did not respond (temporary fault). Nothing was changed."
"""The injected error's text; ``{name}`` is the tool's name."""


class FaultProxy(MCPServer):
    """Forward every tool of an upstream MCP server, failing each call with probability ``fail_rate``.

    Args:
        upstream: What `mcp.Client` connects to: `mcp.StdioServerParameters`, a URL, or an
            in-process server (tests).
        fail_rate: Probability that a call fails without being forwarded (0 to 1).
        seed: Seed of the `random.Random` that decides; the same calls in the same order
            fail the same way on every run.
        name: The proxy's server name.

    Attributes:
        calls: Every call as ``(tool name, "ok" | "fault")``, in order.
    """

    def __init__(self, upstream: Any, *, fail_rate: float = 0.5, seed: int = 0, name: str = "fault-proxy") -> None:
        super().__init__(name, lifespan=_connect_upstream, log_level="WARNING")
        if not 0.0 <= fail_rate <= 1.0:
            raise ValueError(f"fail_rate must be within [0, 1], got {fail_rate}")
        self.upstream = upstream
        self.fail_rate = fail_rate
        self.calls: list[tuple[str, str]] = []
        self._rng = random.Random(seed)
        self._client: mcp.Client | None = None

    def _connected(self) -> mcp.Client:
        if self._client is None:
            raise ToolError("the proxy is not connected to its upstream server")
        return self._client

    async def list_tools(self) -> list[Any]:
        """The upstream server's tools, every page, unchanged."""
        client = self._connected()
        tools: list[Any] = []
        cursor: str | None = None
        while True:
            page = await client.list_tools(cursor=cursor)
            tools.extend(page.tools)
            cursor = page.next_cursor
            if not cursor:
                return tools

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Any = None) -> Any:
        """Fail with probability ``fail_rate`` (before touching upstream), else forward the call.

        Raises:
            ToolError: The injected fault; the client sees it as a tool result with
                ``is_error`` set and the text of `FAULT_TEXT`.
        """
        client = self._connected()
        if self._rng.random() < self.fail_rate:
            self.calls.append((name, "fault"))
            raise ToolError(FAULT_TEXT.format(name=name))
        self.calls.append((name, "ok"))
        return await client.call_tool(name, arguments)


@contextlib.asynccontextmanager
async def _connect_upstream(server: MCPServer) -> AsyncGenerator[None]:
    # The upstream client lives as long as the proxy serves: the SDK enters and leaves the
    # lifespan in one task, as its transports require.
    assert isinstance(server, FaultProxy)
    async with mcp.Client(server.upstream) as client:
        server._client = client  # pyright: ignore[reportPrivateUsage]
        try:
            yield None
        finally:
            server._client = None  # pyright: ignore[reportPrivateUsage]


def main(argv: list[str] | None = None) -> int:
    """Serve the proxy on stdio in front of the command after ``--``; the upstream runs in this folder."""
    parser = argparse.ArgumentParser(description="Fault-injecting MCP proxy (stdio).")
    parser.add_argument("--seed", type=int, default=0, help="seed of the failure draws")
    parser.add_argument("--fail-rate", type=float, default=0.5, help="probability that a call fails (0-1)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- <upstream command> [args...]")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the upstream server's command after --")
    upstream = mcp.StdioServerParameters(command=command[0], args=command[1:], cwd=os.getcwd(), env=dict(os.environ))
    FaultProxy(upstream, fail_rate=args.fail_rate, seed=args.seed).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
