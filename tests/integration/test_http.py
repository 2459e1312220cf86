"""Servers reached over the network transports: streamable HTTP and SSE, on loopback."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from nexthop import (
    AgentHost,
    HTTPServerConfig,
    ScriptedModel,
    SSEServerConfig,
    ToolCall,
)
from nexthop.clients import MCPConnection, ServerGroup
from nexthop.models import call, finish

pytestmark = [pytest.mark.integration, pytest.mark.anyio]
DEMO = Path(__file__).resolve().parents[1] / "support" / "demo_server.py"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(transport: str) -> Iterator[int]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, str(DEMO), "web", transport, str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for _ in range(300):  # up to ~30 s for the interpreter and uvicorn to come up
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail(f"the {transport} demo server exited with {proc.returncode}")
                time.sleep(0.1)
        else:
            pytest.fail(f"the {transport} demo server did not listen on {port}")
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def http_port() -> Iterator[int]:
    yield from _serve("streamable-http")


@pytest.fixture(scope="module")
def sse_port() -> Iterator[int]:
    yield from _serve("sse")


async def test_streamable_http_lists_calls_and_times_out(http_port: int) -> None:
    config = HTTPServerConfig(name="web", url=f"http://127.0.0.1:{http_port}/mcp", timeout_s=0.5)
    conn = MCPConnection.from_config(config)
    async with ServerGroup([conn]) as group:
        assert conn.state == "connected", conn.error
        assert "web__echo" in [t.name for t in await group.list_tools()]
        echo = await group.call_tool(ToolCall(id="1", name="web__echo", arguments={"text": "over http"}))
        hang = await group.call_tool(ToolCall(id="2", name="web__sleep", arguments={"seconds": 30}))
    assert (echo.content, echo.is_error) == ("over http", False)
    assert hang.is_error and "timed out" in hang.content


async def test_sse_server_runs_a_task(sse_port: int) -> None:
    config = SSEServerConfig(name="old", url=f"http://127.0.0.1:{sse_port}/sse")
    model = ScriptedModel([call("old__add", a=20, b=22), finish("42")])
    with anyio.fail_after(30):
        async with AgentHost(model=model, servers=[config], strict=True) as host:
            result = await host.run("add")
    assert result.steps[0].observations[0].content == "42"
    assert result.status == "completed"


async def test_an_unreachable_url_is_reported_by_name() -> None:
    config = HTTPServerConfig(name="gone", url=f"http://127.0.0.1:{_free_port()}/mcp")
    async with ServerGroup([MCPConnection.from_config(config)]) as group:
        assert list(group.failed) == ["gone"]
