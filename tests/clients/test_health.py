"""Health: a killed server comes back by itself, a hung one is found by a health check, restarts are limited."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import Any

import mcp
import psutil
import pytest
from procs import no_new_children, wait_for

from nexthop import AgentHost, ScriptedModel, ToolCall
from nexthop.clients import MCPConnection, ServerGroup
from nexthop.servers._server import build_server

pytestmark = pytest.mark.anyio
SUPPORT = Path(__file__).parents[1] / "support"
BACK_S = 60.0
"""How long a restart may take on a loaded machine (seconds); spawning a Python server takes about 2 s."""


def demo(**kwargs: Any) -> MCPConnection:
    params = mcp.StdioServerParameters(command=sys.executable, args=[str(SUPPORT / "demo_server.py"), "d"])
    return MCPConnection("d", params, reconnect_backoff_s=0.1, **kwargs)


async def pid(conn: MCPConnection) -> psutil.Process:
    return psutil.Process(int((await conn.call_tool(ToolCall(id="p", name="d__pid"))).content))


@pytest.fixture(autouse=True)
def no_leftover_children() -> Any:
    with no_new_children():
        yield


async def test_a_killed_server_comes_back_with_its_tools_without_a_call() -> None:
    conn = demo()
    async with ServerGroup([conn]) as group:
        server = await pid(conn)
        server.send_signal(signal.SIGKILL)
        await wait_for(lambda: conn.restarts == 1 and conn.state == "connected", BACK_S, "the server to come back")
        assert "d__echo" in {t.name for t in await group.list_tools()}
        assert (await pid(conn)).pid != server.pid
        assert conn.last_error is not None and "exited with code -9" in conn.last_error and conn.error is None


async def test_a_hung_server_is_found_by_a_health_check_and_restarted() -> None:
    conn = demo(health_interval_s=0.2, timeout_s=1.0)
    async with ServerGroup([conn]):
        server = await pid(conn)
        server.suspend()  # alive but silent: only a health check can tell
        try:
            await wait_for(lambda: conn.restarts == 1 and conn.state == "connected", BACK_S, "a restart")
        finally:
            if server.is_running():
                server.resume()
        assert conn.last_error is not None and "health check" in conn.last_error
        assert (await pid(conn)).pid != server.pid


async def test_restarts_stop_at_the_limit_and_calls_say_so() -> None:
    conn = demo(max_restarts=1)
    async with ServerGroup([conn]):
        (await pid(conn)).send_signal(signal.SIGKILL)
        await wait_for(lambda: conn.restarts == 1 and conn.state == "connected", BACK_S, "the first restart")
        (await pid(conn)).send_signal(signal.SIGKILL)
        await wait_for(lambda: conn.state == "failed", BACK_S, "the second death to be noticed")
        down = await conn.call_tool(ToolCall(id="x", name="d__echo", arguments={"text": "hi"}))
    assert down.is_error and "restarted 1 times" in down.content and '"maxRestarts"' in down.content
    assert conn.restarts == 1


async def test_the_servers_resource_shows_state_and_last_error() -> None:
    conn = demo()
    async with AgentHost(model=ScriptedModel([]), servers=[conn]) as host:
        (await pid(conn)).send_signal(signal.SIGKILL)
        await wait_for(lambda: conn.restarts == 1 and conn.state == "connected", BACK_S, "the server to come back")
        server = await build_server(host)
        async with mcp.Client(server) as client:
            listed = await client.read_resource("nexthop://servers")
    [entry] = json.loads(listed.contents[0].text)  # type: ignore[union-attr]
    assert (entry["name"], entry["state"], entry["restarts"]) == ("d", "connected", 1)
    assert entry["error"] is None and "exited with code -9" in entry["last_error"]
    assert "tools" in entry["capabilities"]
