"""``run_task``'s optional ``retries``: a served run that stops early is retried with a reflection."""

from __future__ import annotations

import mcp
import pytest
from demo_server import make_server

from nexthop import AgentHost, ScriptedModel
from nexthop.clients import MCPConnection
from nexthop.models import call, finish, reply
from nexthop.servers._server import build_server

pytestmark = pytest.mark.anyio


async def serve_and_run(model: ScriptedModel, arguments: dict[str, object]) -> dict[str, object]:
    async with AgentHost(model=model, servers=[MCPConnection("demo", make_server("demo"))], max_steps=1) as host:
        async with mcp.Client(await build_server(host)) as client:
            result = await client.call_tool("run_task", arguments)
    assert result.structured_content is not None
    return result.structured_content


async def test_run_task_retries_a_run_that_ran_out_of_steps() -> None:
    model = ScriptedModel([call("demo__echo", text="a"), reply("one step was not enough"), finish("done")])
    output = await serve_and_run(model, {"task": "echo", "retries": 1})
    assert (output["status"], output["result"], model.requests) == ("completed", "done", 3)


async def test_run_task_does_not_retry_by_default() -> None:
    model = ScriptedModel([call("demo__echo", text="a"), reply("never asked")])
    output = await serve_and_run(model, {"task": "echo"})
    assert (output["status"], model.requests) == ("incomplete", 1)


async def test_run_task_refuses_more_than_three_retries() -> None:
    model = ScriptedModel([])
    async with AgentHost(model=model) as host:
        async with mcp.Client(await build_server(host)) as client:
            result = await client.call_tool("run_task", {"task": "t", "retries": 4})
    assert result.is_error and model.requests == 0
