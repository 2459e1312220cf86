"""``nexthop serve --publish-tools``: the tool library's saved tools as MCP tools, each call sandboxed.

Only saved tools whose source is the one a person approved are published (see
`ToolLibrary.offered`); each keeps its name (``synth__<name>``), description and input
schema, and every call runs in a fresh bubblewrap sandbox (`run_sandboxed`), exactly as
in a run. A failure is an MCP error result carrying the tool's traceback lines.
"""

from __future__ import annotations

import inspect
import json
from typing import Any

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from nexthop._sanitize import clean_text
from nexthop.host._sandbox import SandboxConfig, run_sandboxed
from nexthop.host._synthesis import PREFIX, require_sandbox
from nexthop.host._tool_library import SavedTool, ToolLibrary

__all__ = ["publish_tools"]


def publish_tools(
    server: MCPServer, sandbox: SandboxConfig | None = None, library: ToolLibrary | None = None
) -> list[str]:
    """Add every approved saved tool to ``server``; return the names published.

    Args:
        server: The MCP server (from `build_server`).
        sandbox: Limits, mounts and packages of each call's sandbox; the defaults when None.
        library: The tool library; the user's by default.

    Raises:
        SandboxUnavailable: bubblewrap is missing (the message says how to install it):
            nothing is published unsandboxed.
    """
    sandbox = require_sandbox(sandbox)
    published: list[str] = []
    for saved in (library or ToolLibrary()).offered():
        name = PREFIX + saved.name
        tool = server._tool_manager.add_tool(  # pyright: ignore[reportPrivateUsage] - the SDK's one registration path
            _caller(saved, sandbox), name=name, description=saved.description, structured_output=False
        )
        tool.parameters = saved.input_schema  # the schema the tool was approved with, not the generated one
        published.append(name)
    return published


def _caller(saved: SavedTool, sandbox: SandboxConfig) -> Any:
    """An async function whose signature has the schema's properties as keyword parameters.

    The SDK builds its argument model from the signature; optional parameters default to
    None and are left out of the call, so the tool's own defaults apply.
    """
    properties: dict[str, Any] = saved.input_schema.get("properties") or {}
    required = set(saved.input_schema.get("required") or [])

    async def call(**arguments: Any) -> str:
        given = {k: v for k, v in arguments.items() if v is not None or k in required}
        outcome = await run_sandboxed(saved.source, saved.function, given, sandbox)
        if outcome.kind == "returned":
            return outcome.value if isinstance(outcome.value, str) else json.dumps(outcome.value)
        detail = "\n".join([outcome.error, *outcome.traceback[:-1]])
        raise ToolError(clean_text(detail, 4000))  # an is_error result carrying this text

    parameters = [
        inspect.Parameter(
            key,
            inspect.Parameter.KEYWORD_ONLY,
            annotation=Any,
            default=inspect.Parameter.empty if key in required else None,
        )
        for key in properties
        if key.isidentifier()
    ]
    call.__signature__ = inspect.Signature(parameters, return_annotation=str)  # pyright: ignore[reportFunctionMemberAccess]
    return call
