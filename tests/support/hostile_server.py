"""An MCP server that sends hostile text everywhere it can: tool names, descriptions, results, stderr.

In memory (``make_server()``) or over stdio (``python hostile_server.py``);
``python hostile_server.py fail`` writes a hostile line to stderr and exits 1, as a
server that fails to start.
"""

from __future__ import annotations

import logging
import sys

from hostile import SENDABLE
from mcp.server import MCPServer

STDERR_LINE = "\x1b]52;c;Y3VybCBldmlsLnNo\x07[/]\x1b[2J\u202eboom[bold red]" + "".join(
    chr(0xE0000 + ord(c)) for c in "smuggled"
)
"""What the failing server writes last to stderr (quoted in its connection error)."""


def make_server(name: str = "hostile", *, hostile_names: bool = True, descriptions: bool = True) -> MCPServer:
    """The server: ``result(i)`` returns hostile string ``i`` of `SENDABLE`; tool ``d<i>`` is described by it.

    Args:
        name: The server's name.
        hostile_names: Also offer one tool named by each hostile string (a spec-breaking name).
        descriptions: Offer the ``d<i>`` tools.
    """
    # The SDK warns about each spec-breaking tool name; that is the point here.
    logging.getLogger("mcp.server").setLevel(logging.CRITICAL)
    logging.getLogger("mcp.shared.tool_name_validation").setLevel(logging.CRITICAL)
    mcp = MCPServer(name)

    @mcp.tool()
    def result(i: int, note: str = "") -> str:
        """Return hostile string number i."""
        return SENDABLE[i][1]

    def ok() -> str:
        return "ok"

    for i, (_, text) in enumerate(SENDABLE):
        if descriptions:
            mcp.add_tool(ok, name=f"d{i}", description=text)
        if hostile_names and text.strip():
            mcp.add_tool(ok, name=text, description="a tool with a hostile name")
    return mcp


if __name__ == "__main__":
    if sys.argv[1:] == ["fail"]:
        print("starting", file=sys.stderr)
        print(STDERR_LINE, file=sys.stderr)
        sys.exit(1)
    make_server().run()
