"""The served resource ``nexthop://servers``: each upstream server's state, as the calling client sees it."""

from __future__ import annotations

import json

from mcp.server import MCPServer

from nexthop._sanitize import one_line
from nexthop.host._host import AgentHost

__all__ = ["SERVERS_URI", "add_status_resource"]

SERVERS_URI = "nexthop://servers"


def add_status_resource(server: MCPServer, host: AgentHost) -> None:
    """Register ``nexthop://servers``: name, state, error, last error, restarts, revision and capabilities per server.

    Errors may quote a server's stderr, so they are cleaned to one line before a caller reads them.
    """

    @server.resource(SERVERS_URI, mime_type="application/json", name="servers")
    def servers() -> str:
        """Each upstream MCP server: its state (connected, failed ...), its error and last error, and restarts."""
        return json.dumps(
            [
                {
                    "name": s.name,
                    "state": s.state,
                    "error": one_line(s.error, 2000) if s.error else None,
                    "last_error": one_line(s.last_error, 2000) if s.last_error else None,
                    "restarts": s.restarts,
                    "protocol_version": s.protocol_version,
                    "capabilities": list(s.capabilities),
                }
                for s in host.server_states()
            ]
        )
