"""One host hands a task to another, with its memory: over MCP between two processes, and in Python.

Host B is ``nexthop serve`` (a child process over stdio, with the demo server as its own
child); host A is in this process and calls B's ``run_task`` as ``b__run_task``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import anyio
import mcp
import pytest
from demo_server import make_server
from procs import no_new_children

from nexthop import AgentHost, ModelRequest, ModelResponse, ScriptedModel, Trajectory
from nexthop.clients import MCPConnection
from nexthop.models import call, finish
from nexthop.servers._server import RunTaskOutput

pytestmark = pytest.mark.anyio
DEMO = Path(__file__).resolve().parents[1] / "support" / "demo_server.py"
NEXTHOP = Path(sys.executable).parent / "nexthop"


@pytest.fixture
def no_leftover_children() -> Iterator[None]:
    """B and its demo server must be gone once A's host has exited."""
    with no_new_children():
        yield


def host_b(script: Path) -> MCPConnection:
    script.write_text(
        json.dumps(
            [
                {"tool": "demo__echo", "arguments": {"text": "B tried another way"}},
                {"tool": "finish", "arguments": {"result": "done by B"}},
            ]
        )
    )
    params = mcp.StdioServerParameters(
        command=str(NEXTHOP),
        args=["serve", "--model", f"scripted:{script}", "--server", f"demo={sys.executable} {DEMO}"],
    )
    return MCPConnection("b", params)


@pytest.mark.integration
@pytest.mark.usefixtures("no_leftover_children")
async def test_a_host_delegates_to_a_served_host_with_its_memory(tmp_path: Path) -> None:
    handed: list[Trajectory] = []

    def delegate(request: ModelRequest) -> ModelResponse:
        handed.append(request.trajectory.model_copy(deep=True))
        memory = request.trajectory.model_dump(mode="json")
        return call("b__run_task", task="write the report", memory=memory)

    def wrap_up(request: ModelRequest) -> ModelResponse:
        return finish(request.trajectory.steps[-1].observations[0].structured["result"])  # type: ignore[index]

    model = ScriptedModel([call("demo__fail", message="disk full"), delegate, wrap_up])
    b = host_b(tmp_path / "b.json")
    with anyio.fail_after(30):
        async with AgentHost(model=model, servers=[MCPConnection("demo", make_server("demo")), b]) as host:
            assert b.state == "connected", b.error
            result = await host.run("write the report")
            delegated = result.steps[1].observations[0]
            assert not delegated.is_error, delegated.content
            output = RunTaskOutput.model_validate(delegated.structured)
            assert b._client is not None  # B is one process per connection: read its run on this one
            read = await b._client.read_resource(output.run_uri)  # pyright: ignore[reportPrivateUsage]

    assert (result.status, result.result) == ("completed", "done by B")
    assert (output.status, output.result, output.steps) == ("completed", "done by B", 2)
    record = json.loads(read.contents[0].text)  # type: ignore[union-attr]
    b_run = Trajectory.model_validate(record["trajectory"])
    assert b_run.memory is not None
    assert b_run.memory == handed[0]  # A's whole trajectory, as A's model saw it when delegating
    (failed_step,) = b_run.memory.steps
    assert failed_step.tool_calls[0].name == "demo__fail"
    assert failed_step.observations[0].is_error
    message = b_run.task_message()
    assert "Memory of an earlier attempt (task: write the report)" in message
    assert 'demo__fail {"message": "disk full"} -> FAILED' in message
    assert b_run.steps[0].observations[0].content == "B tried another way"


async def test_the_python_api_passes_an_earlier_trajectory_as_memory() -> None:
    seen: list[str] = []

    def recall(request: ModelRequest) -> ModelResponse:
        seen.append(request.trajectory.task_message())
        return finish("used the memory")

    model = ScriptedModel([call("demo__fail", message="disk full"), finish("gave up"), recall])
    async with AgentHost(model=model, servers=[MCPConnection("demo", make_server("demo"))]) as host:
        earlier = await host.run("write the report")
        later = await host.run("write it again", memory=earlier.trajectory)

    assert later.trajectory.memory == earlier.trajectory
    assert later.result == "used the memory"
    (message,) = seen
    assert message.startswith("write it again\n\n")
    assert 'step 1: demo__fail {"message": "disk full"} -> FAILED' in message
    assert "Do not repeat what failed." in message
