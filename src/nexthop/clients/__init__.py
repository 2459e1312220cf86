"""Clients: MCP connections to servers (stdio, streamable HTTP, SSE) and their configuration.

In MCP's vocabulary a client is one connection to one server; this package holds
those and nothing else. It is the only place besides servers/ that imports the `mcp` SDK.
"""

from nexthop.clients._callbacks import (
    ClientHooks,
    ElicitationAnswer,
    ElicitationRequest,
    SamplingReply,
    SamplingRequest,
    ServerEvent,
)
from nexthop.clients._config import (
    HTTPServerConfig,
    ServerConfig,
    SSEServerConfig,
    StdioServerConfig,
    parse_server_flag,
)
from nexthop.clients._connection import TOOL_SEPARATOR, MCPConnection
from nexthop.clients._group import ServerGroup

__all__ = [
    "TOOL_SEPARATOR",
    "ClientHooks",
    "ElicitationAnswer",
    "ElicitationRequest",
    "SamplingReply",
    "SamplingRequest",
    "ServerEvent",
    "HTTPServerConfig",
    "MCPConnection",
    "SSEServerConfig",
    "ServerConfig",
    "ServerGroup",
    "StdioServerConfig",
    "parse_server_flag",
]
