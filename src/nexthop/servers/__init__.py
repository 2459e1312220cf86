"""nexthop as an MCP server (``nexthop serve``), so that IDEs and other agents can delegate tasks.

Nothing lives here yet: the serving issue builds it on `AgentHost`. Like `clients/`,
this is where the `mcp` SDK may be imported.
"""

__all__: list[str] = []
