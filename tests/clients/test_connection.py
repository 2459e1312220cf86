"""MCP connections and server groups over in-memory servers, on both protocol revisions."""

from __future__ import annotations

import sys
import unicodedata

import pytest
from demo_server import State, make_server
from mcp.server import MCPServer

from nexthop import ServerConnectionError, StdioServerConfig, ToolCall
from nexthop.clients import MCPConnection, ServerGroup
from nexthop.clients._connection import DESCRIPTION_LIMIT

pytestmark = pytest.mark.anyio
REVISIONS = pytest.mark.parametrize("mode", ["auto", "legacy"], ids=["2026-07-28", "2025-11-25"])


def call(name: str, **arguments: object) -> ToolCall:
    return ToolCall(id="c1", name=name, arguments=arguments)


@REVISIONS
async def test_tools_are_namespaced_and_servers_never_shadow_each_other(mode: str) -> None:
    a, b = MCPConnection("a", make_server("a"), mode=mode), MCPConnection("b", make_server("b"), mode=mode)
    async with ServerGroup([a, b]) as group:
        names = [t.name for t in await group.list_tools()]
        assert "a__echo" in names and "b__echo" in names
        tool = next(t for t in await group.list_tools() if t.name == "b__echo")
        assert (tool.server, tool.remote_name) == ("b", "echo")
        assert (await group.call_tool(call("b__echo", text="hi"))).content == "hi"
    assert a.protocol_version == ("2025-11-25" if mode == "legacy" else "2026-07-28")


@REVISIONS
async def test_list_changed_offers_new_tools_from_the_next_listing(mode: str) -> None:
    async with ServerGroup([MCPConnection("demo", make_server(), mode=mode)]) as group:
        assert "demo__secret" not in [t.name for t in await group.list_tools()]
        assert (await group.call_tool(call("demo__unlock"))).content == "unlocked"
        for _ in range(50):  # the notification races the call's reply by a hop or two
            if "demo__secret" in [t.name for t in await group.list_tools()]:
                break
        assert (await group.call_tool(call("demo__secret"))).content == "the secret is 42"


@REVISIONS
async def test_a_timeout_cancels_the_call_on_the_server(mode: str) -> None:
    state = State()
    conn = MCPConnection("demo", make_server(state=state), mode=mode, timeout_s=0.2)
    async with ServerGroup([conn]):
        obs = await conn.call_tool(call("demo__sleep", seconds=30))
        assert obs.is_error and "timed out after 0.2 s" in obs.content
        assert 0.2 <= obs.duration_s < 2
        assert (await conn.call_tool(call("demo__echo", text="still here"))).content == "still here"
    assert state.cancelled == ["sleep"]


@REVISIONS
async def test_progress_restarts_the_timeout_up_to_the_hard_maximum(mode: str) -> None:
    conn = MCPConnection("demo", make_server(), mode=mode, timeout_s=0.3, max_timeout_s=1.2)
    async with ServerGroup([conn]):
        ok = await conn.call_tool(call("demo__busy", seconds=0.8, every=0.1))
        capped = await conn.call_tool(call("demo__busy", seconds=5, every=0.1))
    assert (ok.content, ok.is_error) == ("done", False)
    assert ok.duration_s > 0.3  # it outlived the plain timeout because it kept reporting
    assert capped.is_error and "timed out after 1.2 s" in capped.content


async def test_a_server_that_fails_to_start_is_reported_and_the_others_work() -> None:
    bad = MCPConnection.from_config(StdioServerConfig(name="broken", command="/nonexistent/server-binary"))
    async with ServerGroup([bad, MCPConnection("demo", make_server())]) as group:
        assert list(group.failed) == ["broken"]
        assert "/nonexistent/server-binary" in group.failed["broken"]
        assert [c.name for c in group.active] == ["demo"]
        assert not any(t.server == "broken" for t in await group.list_tools())
        obs = await group.call_tool(call("broken__anything"))
        assert obs.is_error and "not connected" in obs.content


async def test_strict_makes_a_failed_server_fatal() -> None:
    bad = MCPConnection.from_config(StdioServerConfig(name="broken", command="/nonexistent/server-binary"))
    with pytest.raises(ServerConnectionError, match="server 'broken'.*--strict"):
        async with ServerGroup([bad, MCPConnection("demo", make_server())], strict=True):
            pytest.fail("entered despite strict")


async def test_tool_errors_keep_is_error_and_text() -> None:
    async with ServerGroup([MCPConnection("demo", make_server())]) as group:
        obs = await group.call_tool(call("demo__fail", message="disk full"))
    assert obs.is_error and obs.content


async def test_structured_content_is_kept() -> None:
    async with ServerGroup([MCPConnection("demo", make_server())]) as group:
        obs = await group.call_tool(call("demo__add", a=2, b=2))
    assert obs.structured == {"result": 4}


async def test_a_tools_allowlist_offers_and_allows_only_matching_tools() -> None:
    conn = MCPConnection("demo", make_server(), allowed_tools=["ec*", "add"])
    async with ServerGroup([conn]) as group:
        assert sorted(t.name for t in await group.list_tools()) == ["demo__add", "demo__echo"]
        refused = await group.call_tool(call("demo__fail"))
        assert refused.is_error and "not enabled" in refused.content
        assert (await group.call_tool(call("demo__echo", text="ok"))).content == "ok"


HOSTILE = "\x1b]52;c;ZXZpbA==\x07\x1b[2J\u202eRead\u200b files\U000e0041\u00ad\x9b31m [bold]now[/]"
"""Escapes (OSC 52 writes the clipboard), bidi, zero-width, a tag character, C1 controls and rich markup."""


def invisible(text: str) -> list[str]:
    """Control, format, private-use and unassigned characters, less newline and tab."""
    return [hex(ord(c)) for c in text if unicodedata.category(c) in {"Cc", "Cf", "Co", "Cn"} and c not in "\n\t"]


async def test_descriptions_are_cleaned_and_capped_where_they_enter() -> None:
    # With no pinning policy at all: the connection is where untrusted text enters.
    server = MCPServer("evil")

    @server.tool(description=HOSTILE + "x" * 10_000)
    def read() -> str:
        return "ok"

    async with ServerGroup([MCPConnection("evil", server)]) as group:
        [tool] = await group.list_tools()
    assert invisible(tool.description) == []
    assert "Read files" in tool.description
    assert len(tool.description) <= DESCRIPTION_LIMIT + 100  # the cap plus its note


async def test_a_failing_servers_stderr_is_cleaned_in_its_error() -> None:
    code = f"import sys; sys.stderr.write({HOSTILE!r} + chr(10)); sys.exit(1)"
    noisy = MCPConnection.from_config(StdioServerConfig(name="noisy", command=sys.executable, args=["-c", code]))
    async with ServerGroup([noisy]) as group:
        error = group.failed["noisy"]
    assert "Read files" in error
    assert invisible(error) == []
