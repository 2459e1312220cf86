"""An in-memory MCP server whose tools misbehave on purpose, for tests of the policies.

``make_fault_server(fail_rate=0.5, seed=0, state=None, shift_on_list=True)`` returns an
`MCPServer` (connect it with ``MCPConnection("fault", server)``) with these tools:

- ``flaky(x: int) -> str``: fails (a tool error ``"flaky failure"``, the same text every
  time) with probability ``fail_rate``, drawn from ``random.Random(seed)``; otherwise
  returns ``"ok <x>"``. ``fail_rate=1.0`` always fails, ``0.0`` never.
- ``same() -> str``: returns ``"the same thing"`` forever.
- ``slow(seconds: float) -> str``: sleeps, then returns ``"slept <seconds>"``.
- ``shifty() -> str``: returns ``"shifty v<N>"``; its *definition* changes. Its
  description is ``"Shifty tool, version <N>."`` where ``N`` is ``state.shifty_version``.
  With ``shift_on_list=True`` every ``tools/list`` the server answers bumps ``N`` first, so
  no two listings agree. With ``shift_on_list=False`` the definition only changes when
  asked, through either:
    * ``state.shift()`` (from the test): bumps ``N``; the host sees it at its next listing,
      which happens only after a ``tools/list_changed`` — so use the tool below when the
      host must notice;
    * the tool ``shift(description: str = "")``: bumps ``N`` (and, when ``description`` is
      given, uses it as the new description text), then announces ``tools/list_changed``
      on both protocol versions, so the host re-lists before its next step.

`FaultState` keeps what the server saw (``calls``, ``listings``) for assertions.
"""

from __future__ import annotations

import random
from typing import Any

import anyio
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

__all__ = ["FaultState", "make_fault_server"]


class FaultState:
    """What the fault server saw, and the knobs a test may turn while it runs.

    Attributes:
        calls: Tool names in call order (``flaky:ok``, ``flaky:fail``, ``same`` ...).
        listings: How many ``tools/list`` requests were answered.
        shifty_version: The current version of ``shifty``'s definition.
        shifty_description: Description text overriding the default, if set.
    """

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.listings = 0
        self.shifty_version = 1
        self.shifty_description: str | None = None

    def shift(self, description: str | None = None) -> None:
        """Change ``shifty``'s definition (takes effect at the server's next listing)."""
        self.shifty_version += 1
        if description is not None:
            self.shifty_description = description

    def describe_shifty(self) -> str:
        """``shifty``'s current description."""
        return self.shifty_description or f"Shifty tool, version {self.shifty_version}."


class _FaultServer(MCPServer):
    def __init__(self, name: str, state: FaultState, shift_on_list: bool) -> None:
        super().__init__(name)
        self.state = state
        self.shift_on_list = shift_on_list

    async def list_tools(self) -> list[Any]:
        self.state.listings += 1
        if self.shift_on_list and self.state.listings > 1:
            self.state.shift()
        tools = await super().list_tools()
        return [
            t.model_copy(update={"description": self.state.describe_shifty()}) if t.name == "shifty" else t
            for t in tools
        ]


def make_fault_server(
    name: str = "fault",
    *,
    fail_rate: float = 0.5,
    seed: int = 0,
    state: FaultState | None = None,
    shift_on_list: bool = True,
) -> MCPServer:
    """Build the fault server (see the module docstring for its tools)."""
    state = state or FaultState()
    rng = random.Random(seed)
    mcp = _FaultServer(name, state, shift_on_list)

    @mcp.tool()
    def flaky(x: int) -> str:
        """Answer, or fail with probability fail_rate."""
        if rng.random() < fail_rate:
            state.calls.append("flaky:fail")
            raise ToolError("flaky failure")  # a ToolError's text reaches the client; others are masked
        state.calls.append("flaky:ok")
        return f"ok {x}"

    @mcp.tool()
    def same() -> str:
        """Always return the same thing."""
        state.calls.append("same")
        return "the same thing"

    @mcp.tool()
    async def slow(seconds: float) -> str:
        """Sleep, then answer."""
        state.calls.append("slow")
        await anyio.sleep(seconds)
        return f"slept {seconds}"

    @mcp.tool()
    def shifty() -> str:
        """Shifty tool (its description is replaced at each listing)."""
        state.calls.append("shifty")
        return f"shifty v{state.shifty_version}"

    @mcp.tool()
    async def shift(ctx: Context, description: str = "") -> str:
        """Change shifty's definition and announce tools/list_changed."""
        state.calls.append("shift")
        state.shift(description or None)
        # 2026-07-28 clients hear it on their listen stream; 2025-11-25 clients as a notification.
        await ctx.notify_tools_changed()
        if ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS:
            await ctx.session.send_tool_list_changed()
        return f"shifty is now version {state.shifty_version}"

    return mcp
