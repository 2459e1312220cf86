"""nexthop as an MCP server (``nexthop serve``): IDEs and other agents hand it whole tasks.

Like `nexthop.clients`, this is where the `mcp` SDK is imported.
"""

from nexthop.servers._elicit import elicitation_approver
from nexthop.servers._runs import RUN_URI_PREFIX, RunRecord, RunRegistry
from nexthop.servers._serve import http_app, is_loopback, serve_http, serve_stdio
from nexthop.servers._server import RunTaskOutput, build_server, describe_host

__all__ = [
    "RUN_URI_PREFIX",
    "RunRecord",
    "RunRegistry",
    "RunTaskOutput",
    "build_server",
    "describe_host",
    "elicitation_approver",
    "http_app",
    "is_loopback",
    "serve_http",
    "serve_stdio",
]
