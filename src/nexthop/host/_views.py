"""What the host hands out: `ServerState` (one server as the host sees it) and `RunHandle`
(a run started by `AgentHost.iter`, streamed as events)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import anyio

from nexthop._trajectory import RunResult
from nexthop.host._loop import RunEvent

__all__ = ["RunHandle", "ServerState"]


@dataclass(frozen=True)
class ServerState:
    """One configured MCP server as the host sees it.

    Attributes:
        name: The server's name from the config.
        state: ``pending``, ``connected``, ``failed`` or ``closed``.
        error: One line saying why it failed (untrusted: it may quote the server's stderr).
        protocol_version: The MCP revision spoken, once connected.
        last_error: The most recent failure, kept after the server came back.
        restarts: How many times it was restarted after it died.
        capabilities: What it declared (``tools``, ``resources``, ``prompts`` ...).
    """

    name: str
    state: str
    error: str | None
    protocol_version: str | None
    last_error: str | None = None
    restarts: int = 0
    capabilities: tuple[str, ...] = ()


class RunHandle:
    """A run started by `AgentHost.iter`: iterate it for events; ``result`` is set at the end."""

    def __init__(self, receive: Any) -> None:
        self._receive = receive
        self._scope: anyio.CancelScope | None = None
        self.result: RunResult | None = None

    def cancel(self) -> None:
        """Cancel the run; in-flight tool calls are cancelled on their servers."""
        if self._scope is not None:
            self._scope.cancel()

    def __aiter__(self) -> AsyncIterator[RunEvent]:
        return self._events()

    async def _events(self) -> AsyncIterator[RunEvent]:
        async with self._receive:
            async for event in self._receive:
                if isinstance(event, RunResult):
                    self.result = event
                yield event
