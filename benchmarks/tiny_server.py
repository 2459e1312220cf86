"""The smallest useful MCP server, for benchmarks: one tool that echoes."""

from mcp.server import MCPServer

server = MCPServer("tiny")


@server.tool()
def echo(text: str) -> str:
    """Return the text."""
    return text


if __name__ == "__main__":
    server.run()
