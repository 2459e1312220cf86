"""nexthop served over MCP, in memory: ``run_task``, its progress, the run resources, memory, concurrency, cancel.

Every test runs on both protocol revisions: ``auto`` negotiates 2026-07-28 with the
in-process server, ``legacy`` forces 2025-11-25.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
import mcp
import pytest
from demo_server import State, make_server
from mcp.server import MCPServer
from mcp_types import ResourceLink, TextContent
from procs import wait_for

from nexthop import AgentHost, ModelRequest, ModelResponse, ScriptedModel, Trajectory
from nexthop.clients import MCPConnection
from nexthop.models import call, finish, reply
from nexthop.servers._runs import RunRecord, RunRegistry
from nexthop.servers._server import RunTaskOutput, build_server

pytestmark = pytest.mark.anyio

REVISIONS = pytest.mark.parametrize(
    ("mode", "version"), [("auto", "2026-07-28"), ("legacy", "2025-11-25")], ids=["2026-07-28", "2025-11-25"]
)


@contextlib.asynccontextmanager
async def serving(
    model: ScriptedModel, mode: str, demo: MCPServer | None = None
) -> AsyncIterator[tuple[mcp.Client, MCPServer]]:
    """A host with the demo server, served as nexthop's MCP server, and a client connected to it."""
    async with AgentHost(model=model, servers=[MCPConnection("demo", demo or make_server("demo"))]) as host:
        server = await build_server(host)
        async with mcp.Client(server, mode=mode) as client:
            yield client, server


def registry(server: MCPServer) -> RunRegistry:
    return server.runs  # type: ignore[attr-defined]


def watch_sleep(demo: MCPServer) -> anyio.Event:
    """An event set once the demo server's ``sleep`` tool is running (the demo has no hook of its own)."""
    started = anyio.Event()
    original = demo._tool_manager.get_tool("sleep").fn  # pyright: ignore[reportPrivateUsage, reportOptionalMemberAccess]

    async def sleep(seconds: float) -> str:
        """Sleep, then answer; records a cancellation if cancelled."""
        started.set()
        return await original(seconds)

    demo.remove_tool("sleep")
    demo.add_tool(sleep)
    return started


async def read_json(client: mcp.Client, uri: str) -> Any:
    result = await client.read_resource(uri, cache_mode="refresh")
    return json.loads(result.contents[0].text)  # type: ignore[union-attr]


@REVISIONS
async def test_run_task_is_listed_with_a_description_of_the_host(mode: str, version: str) -> None:
    async with serving(ScriptedModel([]), mode) as (client, _):
        assert client.protocol_version == version
        tools = (await client.list_tools()).tools
        instructions = client.instructions
    assert [t.name for t in tools] == ["run_task"]
    run_task = tools[0]
    description = run_task.description or ""
    assert "- demo: echo, add, fail, sleep, busy, crash" in description
    assert "Model: scripted." in description
    assert "nexthop://runs/{run_id}" in description
    assert instructions == description
    assert set(run_task.input_schema["properties"]) == {"task", "context", "memory", "max_steps", "retries"}
    assert run_task.input_schema["required"] == ["task"]
    assert run_task.output_schema is not None
    assert set(run_task.output_schema["properties"]) == set(RunTaskOutput.model_fields)


@REVISIONS
async def test_run_task_returns_structured_output_a_summary_and_a_link_to_the_run(mode: str, version: str) -> None:
    model = ScriptedModel([call("demo__fail", message="disk full"), call("demo__add", a=2, b=3), finish("5")])
    progress: list[tuple[float, float | None, str | None]] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, total, message))

    async with serving(model, mode) as (client, _):
        with anyio.fail_after(10):
            result = await client.call_tool("run_task", {"task": "add 2 and 3"}, progress_callback=on_progress)
            record = await read_json(client, result.structured_content["run_uri"])  # type: ignore[index]

    assert not result.is_error
    output = RunTaskOutput.model_validate(result.structured_content)
    assert (output.status, output.result, output.termination.kind, output.steps) == ("completed", "5", "completed", 3)
    assert output.usage.requests == 3
    assert output.run_uri.startswith("nexthop://runs/")
    text, link = result.content
    assert isinstance(text, TextContent) and text.text == "completed after 3 steps: 5"
    assert isinstance(link, ResourceLink)
    assert (link.uri, link.mime_type) == (output.run_uri, "application/json")

    assert progress == [
        (1, None, "step 1: demo__fail failed"),
        (2, None, "step 2: demo__add ok"),
        (3, None, "step 3: finish ok"),
    ]

    assert (record["uri"], record["task"], record["state"]) == (output.run_uri, "add 2 and 3", "finished")
    trajectory = Trajectory.model_validate(record["trajectory"])
    assert [s.tool_calls[0].name for s in trajectory.steps] == ["demo__fail", "demo__add", "finish"]
    failed, added, _ = (s.observations[0] for s in trajectory.steps)
    assert failed.is_error and "fail" in failed.content  # the SDK hides the exception's message
    assert (added.content, added.is_error) == ("5", False)
    assert record["result"]["result"] == "5"


@REVISIONS
async def test_recent_runs_are_listed_newest_first(mode: str, version: str) -> None:
    model = ScriptedModel([finish("one"), call("demo__echo", text="x"), finish("two")])
    async with serving(model, mode) as (client, _):
        first = await client.call_tool("run_task", {"task": "first"})
        second = await client.call_tool("run_task", {"task": "second"})
        runs = await read_json(client, "nexthop://runs")
    uris = [r.structured_content["run_uri"] for r in (second, first)]  # type: ignore[index]
    assert runs == [
        {"uri": uris[0], "task": "second", "state": "finished", "status": "completed", "steps": 2},
        {"uri": uris[1], "task": "first", "state": "finished", "status": "completed", "steps": 1},
    ]


@REVISIONS
async def test_memory_as_a_run_uri_or_a_trajectory_reaches_the_model(mode: str, version: str) -> None:
    seen: list[tuple[Trajectory | None, str]] = []

    def recall(request: ModelRequest) -> ModelResponse:
        seen.append((request.trajectory.memory, request.trajectory.task_message()))
        return finish("took the memory into account")

    model = ScriptedModel([call("demo__fail", message="disk full"), finish("gave up"), recall, recall])
    async with serving(model, mode) as (client, _):
        earlier = await client.call_tool("run_task", {"task": "write the report"})
        uri = earlier.structured_content["run_uri"]  # type: ignore[index]
        trajectory = (await read_json(client, uri))["trajectory"]
        by_uri = await client.call_tool("run_task", {"task": "try again", "memory": uri})
        by_value = await client.call_tool("run_task", {"task": "try again", "memory": trajectory, "context": "ctx"})
        later = await read_json(client, by_uri.structured_content["run_uri"])  # type: ignore[index]

    assert not by_uri.is_error and not by_value.is_error
    assert len(seen) == 2
    for memory, message in seen:
        assert memory is not None and memory.task == "write the report"
        assert memory.steps[0].observations[0].is_error
        assert message.startswith("try again\n\n")
        assert "Memory of an earlier attempt (task: write the report)" in message
        assert 'demo__fail {"message": "disk full"} -> FAILED' in message
    assert "Context from the caller:\nctx" in seen[1][1]
    assert later["trajectory"]["memory"]["task"] == "write the report"


@REVISIONS
async def test_an_unknown_memory_uri_is_an_error_result(mode: str, version: str) -> None:
    model = ScriptedModel([reply("never asked")])
    async with serving(model, mode) as (client, server):
        result = await client.call_tool("run_task", {"task": "t", "memory": "nexthop://runs/nope"})
    assert result.is_error
    assert model.requests == 0
    assert registry(server).recent() == []


@REVISIONS
async def test_the_error_for_an_unknown_memory_uri_says_what_to_pass(mode: str, version: str) -> None:
    async with serving(ScriptedModel([]), mode) as (client, _):
        result = await client.call_tool("run_task", {"task": "t", "memory": "nexthop://runs/nope"})
    assert isinstance(result.content[0], TextContent)
    assert "'nexthop://runs/nope' is not a run on this host" in result.content[0].text


@REVISIONS
async def test_reading_an_unknown_run_says_why(mode: str, version: str) -> None:
    async with serving(ScriptedModel([]), mode) as (client, _):
        with pytest.raises(mcp.MCPError, match="no run 'nope' on this host"):
            await client.read_resource("nexthop://runs/nope")


def by_task(request: ModelRequest) -> ModelResponse:
    """Slow tasks sleep; the others echo their own task, then finish with it."""
    task = request.trajectory.task
    if not request.trajectory.steps:
        return call("demo__sleep", seconds=30) if task.startswith("slow") else call("demo__echo", text=task)
    return finish(request.trajectory.steps[-1].observations[0].content)


@REVISIONS
async def test_concurrent_runs_are_isolated_and_a_slow_one_holds_up_no_other(mode: str, version: str) -> None:
    demo = make_server("demo")
    sleeping = watch_sleep(demo)
    model = ScriptedModel([by_task, by_task], by_step=True)
    results: dict[str, Any] = {}

    async def run(task: str) -> None:
        results[task] = await client.call_tool("run_task", {"task": task})

    async with serving(model, mode, demo) as (client, server):
        with anyio.fail_after(10):
            async with anyio.create_task_group() as slow:
                slow.start_soon(run, "slow")
                await sleeping.wait()
                async with anyio.create_task_group() as fast:
                    for task in ("fast a", "fast b", "fast c"):
                        fast.start_soon(run, task)
                (slow_record,) = [r for r in registry(server).recent() if r.task == "slow"]
                assert slow_record.state == "running"  # all three finished while it slept
                slow.cancel_scope.cancel()

        for task in ("fast a", "fast b", "fast c"):
            output = RunTaskOutput.model_validate(results[task].structured_content)
            assert (output.status, output.result, output.steps) == ("completed", task, 2)
            record = await read_json(client, output.run_uri)
            trajectory = Trajectory.model_validate(record["trajectory"])
            assert [s.tool_calls[0].arguments for s in trajectory.steps] == [
                {"text": task},
                {"result": task, "outcome": "done"},
            ]
            assert trajectory.steps[0].observations[0].content == task
    assert "slow" not in results


async def wait_cancelled(record: RunRecord) -> None:
    await wait_for(lambda: record.state == "finished", 2, "the run to be recorded as cancelled")


@REVISIONS
async def test_cancelling_run_task_cancels_the_run_and_its_tool_call(mode: str, version: str) -> None:
    state = State()
    demo = make_server("demo", state)
    sleeping = watch_sleep(demo)
    model = ScriptedModel([call("demo__echo", text="a"), call("demo__sleep", seconds=30), finish("never")])
    async with serving(model, mode, demo) as (client, server):
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(client.call_tool, "run_task", {"task": "nap"})
                await sleeping.wait()
                (record,) = registry(server).recent()
                tg.cancel_scope.cancel()
        await wait_cancelled(record)
        await wait_for(lambda: state.cancelled == ["sleep"], 2, "the demo server to see sleep cancelled")
        shown = await read_json(client, record.uri)
        # The connection outlives the cancelled call.
        again = await client.call_tool("run_task", {"task": "after"})

    assert record.result is not None
    assert (record.result.status, record.result.termination.kind) == ("incomplete", "cancelled")
    assert [s.tool_calls[0].name for s in record.trajectory.steps] == ["demo__echo"]  # no observation of the sleep
    assert (shown["state"], shown["result"]["termination"]["kind"]) == ("finished", "cancelled")
    assert len(shown["trajectory"]["steps"]) == 1
    assert not again.is_error
