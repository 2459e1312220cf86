"""Listing one server's tools: pagination, the ``tools`` allowlist, and list_changed on both revisions.

`MCPConnection` inherits this. A 2025-11-25 server announces changes with plain
notifications (``message_handler``); a 2026-07-28 server only on a
``subscriptions/listen`` stream. Either marks the list stale, and the next
`list_tools` fetches it again; a resources change makes the next listing check
whether the built-in resource tools are still due.
"""

from __future__ import annotations

import contextlib
import fnmatch
from typing import Any

import mcp
import mcp_types
from mcp.shared.subscriptions import ResourcesListChanged

from nexthop._sanitize import clean_text
from nexthop._toolset import ToolDef

__all__ = ["DESCRIPTION_LIMIT", "TOOL_SEPARATOR", "ToolListing"]

DESCRIPTION_LIMIT = 2000
"""Characters of a tool description kept; the rest is cut with a note (descriptions reach the model)."""
TOOL_SEPARATOR = "__"
"""Namespaced tool names are ``<server>__<tool>``, so servers never shadow each other."""


class ToolListing:
    """The tool list of one connection (a base of `MCPConnection`)."""

    name: str
    capabilities: tuple[str, ...]
    allowed_tools: tuple[str, ...] | None
    _client: mcp.Client | None
    _tools: list[ToolDef] | None
    _stale: bool
    _resources_stale: bool

    async def _on_message(self, message: Any) -> None:
        # 2025-11-25 connections deliver list_changed as a plain notification.
        notification = getattr(message, "root", message)
        if isinstance(notification, mcp_types.ToolListChangedNotification):
            self._stale = True
        elif isinstance(notification, mcp_types.ResourceListChangedNotification):
            self._resources_stale = True

    async def _listen_for_changes(self) -> None:
        # 2026-07-28 connections deliver list_changed only on a subscriptions/listen stream.
        assert self._client is not None
        resources = "resources.listChanged" in self.capabilities
        with contextlib.suppress(Exception):
            async with self._client.listen(tools_list_changed=True, resources_list_changed=resources) as sub:
                async for event in sub:
                    if isinstance(event, ResourcesListChanged):
                        self._resources_stale = True
                    else:
                        self._stale = True

    async def _refresh_tools(self) -> None:
        client = self._client
        assert client is not None
        self._stale = False  # before the fetch, so a change during it is not lost
        tools: list[ToolDef] = []
        cursor: str | None = None
        try:
            while True:
                page = await client.list_tools(cursor=cursor, cache_mode="refresh")
                tools.extend(self._to_tool_def(t) for t in page.tools if self._allowed(t.name))
                cursor = page.next_cursor
                if not cursor:
                    break
        except BaseException:  # a listing that failed or was abandoned leaves the list stale
            self._stale = True
            raise
        self._tools = tools

    def _allowed(self, remote_name: str) -> bool:
        return self.allowed_tools is None or any(fnmatch.fnmatchcase(remote_name, p) for p in self.allowed_tools)

    def _to_tool_def(self, t: mcp_types.Tool) -> ToolDef:
        annotations = t.annotations.model_dump(by_alias=True, exclude_none=True) if t.annotations else None
        return ToolDef(
            name=f"{self.name}{TOOL_SEPARATOR}{t.name}",
            # Cleaned where it enters, whatever the policies: it reaches the model and the terminal.
            description=clean_text(t.description or "", DESCRIPTION_LIMIT),
            input_schema=dict(t.input_schema),
            output_schema=dict(t.output_schema) if t.output_schema else None,
            annotations=annotations,
            server=self.name,
            remote_name=t.name,
        )
