"""The loop's machinery, with the scripted model and in-memory MCP servers."""

from __future__ import annotations

import itertools

import anyio
import pytest
from demo_server import make_server

from nexthop import AgentHost, ModelRequest, ModelResponse, RunResult, ScriptedModel, Step, ToolCall, tool
from nexthop.clients import MCPConnection
from nexthop.host import ActionEvent
from nexthop.models import call, finish, reply
from nexthop.policies import PolicyConfig

pytestmark = pytest.mark.anyio
# These tests repeat one call on purpose; doom-loop detection would (rightly) stop them.
NO_LOOP_CHECK = PolicyConfig(doom_loop_n=0)


def demo(name: str = "demo", **kwargs: object) -> MCPConnection:
    return MCPConnection(name, make_server(name), **kwargs)  # type: ignore[arg-type]


async def test_finish_ends_the_run_with_its_result() -> None:
    model = ScriptedModel([call("demo__add", "adding", a=2, b=3), finish("five")])
    async with AgentHost(model=model, servers=[demo()]) as host:
        result = await host.run("add 2 and 3")
    assert result.status == "completed"
    assert result.termination.kind == "completed"
    assert result.result == "five"
    first = result.steps[0]
    assert first.thought == "adding"
    assert first.tool_calls[0].name == "demo__add"
    assert first.observations[0].content == "5"
    assert first.observations[0].call_id == first.tool_calls[0].id
    assert not first.observations[0].is_error
    assert len(result.steps) == 2
    assert result.usage.requests == 2
    assert result.wall_time_s > 0


async def test_a_reply_without_a_tool_call_also_ends_the_run() -> None:
    # With text_replies=1; by default the first is nudged (tests/policies/test_text_replies.py).
    model = ScriptedModel([reply("nothing to do")])
    async with AgentHost(model=model, policy=PolicyConfig(text_replies=1)) as host:
        result = await host.run("say hi")
    assert (result.status, result.result, result.termination.kind) == ("completed", "nothing to do", "completed")


async def test_each_next_action_sees_the_whole_trajectory() -> None:
    seen: list[int] = []

    def next_from(request: ModelRequest) -> ModelResponse:
        seen.append(len(request.trajectory.steps))
        last = request.trajectory.steps[-1].observations[0].content
        return call("demo__add", a=int(last), b=1) if int(last) < 4 else finish(last)

    model = ScriptedModel([call("demo__add", a=0, b=1), *itertools.repeat(next_from, 10)])
    async with AgentHost(model=model, servers=[demo()]) as host:
        result = await host.run("count to 4")
    assert result.result == "4"
    assert seen == [1, 2, 3, 4]
    assert result.steps[0].tool_calls[0].arguments == {"a": 0, "b": 1}


async def test_a_failing_tool_is_an_observation_and_the_run_adapts() -> None:
    def recover(request: ModelRequest) -> ModelResponse:
        obs = request.trajectory.steps[-1].observations[0]
        return call("demo__echo", text="fallback") if obs.is_error else finish("no error?")

    model = ScriptedModel([call("demo__fail", message="disk full"), recover, finish("recovered")])
    async with AgentHost(model=model, servers=[demo()]) as host:
        result = await host.run("try")
    failed, fallback = result.steps[0].observations[0], result.steps[1].observations[0]
    assert failed.is_error
    assert (fallback.content, fallback.is_error) == ("fallback", False)
    assert result.result == "recovered"


async def test_max_steps_stops_with_the_partial_trajectory() -> None:
    model = ScriptedModel(itertools.repeat(call("demo__echo", text="again")))
    async with AgentHost(model=model, servers=[demo()], max_steps=4, policy=NO_LOOP_CHECK) as host:
        result = await host.run("loop forever")
        shorter = await host.run("loop forever", max_steps=2)
    assert (result.status, result.termination.kind) == ("incomplete", "max_steps")
    assert len(result.steps) == 4
    assert result.result == ""
    assert len(shorter.steps) == 2


async def test_max_steps_defaults_to_30() -> None:
    model = ScriptedModel(itertools.repeat(call("demo__echo", text="x")))
    async with AgentHost(model=model, servers=[demo()], policy=NO_LOOP_CHECK) as host:
        result = await host.run("loop")
    assert len(result.steps) == 30


async def test_a_model_error_stops_the_run_and_keeps_the_steps() -> None:
    model = ScriptedModel([call("demo__echo", text="one")])  # runs out at request 2
    async with AgentHost(model=model, servers=[demo()]) as host:
        result = await host.run("t")
    assert (result.status, result.termination.kind) == ("error", "error")
    assert "ran out of actions" in result.termination.detail
    assert [s.observations[0].content for s in result.steps] == ["one"]


async def test_bad_arguments_and_unknown_tools_become_error_observations() -> None:
    model = ScriptedModel(
        [
            call("demo__add", a="two", b=3),
            call("demo__nope"),
            call("nosuchserver__x"),
            call("demo__add", a=2, b=3),
            finish("ok"),
        ]
    )
    async with AgentHost(model=model, servers=[demo()]) as host:
        result = await host.run("t")
    schema, unknown, server, good = (s.observations[0] for s in result.steps[:4])
    assert schema.is_error and "demo__add" in schema.content and "'two' is not of type 'integer'" in schema.content
    assert unknown.is_error and "unknown tool 'demo__nope'" in unknown.content and "demo__add" in unknown.content
    assert server.is_error and "unknown tool 'nosuchserver__x'" in server.content
    assert (good.content, good.is_error) == ("5", False)


async def test_arguments_that_did_not_parse_are_answered_without_running_the_tool() -> None:
    garbled = ModelResponse(tool_calls=(ToolCall(id="g", name="demo__add", invalid_arguments="{a: 2"),))
    async with AgentHost(model=ScriptedModel([garbled, finish("ok")]), servers=[demo()]) as host:
        result = await host.run("t")
    [obs] = result.steps[0].observations
    assert (obs.is_error, obs.denied) == (True, False)
    assert obs.content == "arguments for demo__add are not valid JSON: '{a: 2'"


async def test_each_call_goes_to_the_server_that_listed_its_tool() -> None:
    model = ScriptedModel([call("a__echo", text="to a"), call("b__echo", text="to b"), finish("ok")])
    # Two servers list 16 tools: narrowing off, so both echo tools are on offer whatever the task says.
    async with AgentHost(
        model=model, servers=[demo("a"), demo("b")], policy=PolicyConfig(narrow_tools_over=None)
    ) as host:
        result = await host.run("t")
        assert [type(t).__name__ for t in host.toolsets] == ["FunctionToolset", "MCPConnection", "MCPConnection"]
    assert [s.observations[0].content for s in result.steps[:2]] == ["to a", "to b"]


async def test_parallel_calls_in_one_step_run_concurrently() -> None:
    released = anyio.Event()

    @tool
    async def wait_for_release() -> str:
        """Wait until `release` runs."""
        await released.wait()
        return "released"

    @tool
    async def release() -> str:
        """Release the waiter."""
        released.set()
        return "done"

    both = ModelResponse(tool_calls=(*call("wait_for_release").tool_calls, *call("release").tool_calls))
    async with AgentHost(model=ScriptedModel([both, finish("ok")]), tools=[wait_for_release, release]) as host:
        with anyio.fail_after(5):  # run one after the other, the first call would wait forever
            result = await host.run("t")
    assert [o.content for o in result.steps[0].observations] == ["released", "done"]


async def test_python_tools_sit_beside_mcp_tools() -> None:
    def shout(text: str, times: int = 1) -> str:
        """Upper-case the text.

        Args:
            text: What to shout.
            times: How many times.
        """
        return " ".join([text.upper()] * times)

    model = ScriptedModel([call("shout", text="hi", times=2), call("demo__echo", text="x"), finish("ok")])
    async with AgentHost(model=model, servers=[demo()], tools=[shout]) as host:
        names = [t.name for ts in host.toolsets for t in await ts.list_tools()]
        result = await host.run("t")
    assert "shout" in names and "demo__echo" in names
    assert result.steps[0].observations[0].content == "HI HI"


async def test_observers_get_actions_steps_and_the_result_in_order() -> None:
    events: list[str] = []

    async def async_observer(event: object) -> None:
        events.append(f"async:{type(event).__name__}")

    model = ScriptedModel([call("demo__echo", text="a"), finish("b")])
    async with AgentHost(model=model, servers=[demo()], observers=[async_observer]) as host:
        await host.run("t", on_event=lambda e: events.append(type(e).__name__))
    assert [e for e in events if not e.startswith("async:")] == [
        "ActionEvent",
        "Step",
        "ActionEvent",
        "Step",
        "RunResult",
    ]
    assert len([e for e in events if e.startswith("async:")]) == 5


async def test_iter_streams_events_as_an_async_iterator() -> None:
    model = ScriptedModel([call("demo__echo", text="a"), finish("b")])
    async with AgentHost(model=model, servers=[demo()]) as host:
        async with host.iter("t") as run:
            kinds = [event.kind async for event in run]
    assert kinds == ["action", "step", "action", "step", "run_result"]
    assert run.result is not None and run.result.result == "b"


async def test_cancelling_a_run_records_it_as_cancelled_and_cancels_the_call() -> None:
    model = ScriptedModel([call("demo__echo", text="a"), call("demo__sleep", seconds=30)])
    async with AgentHost(model=model, servers=[demo()]) as host:
        async with host.iter("t") as run:
            async for event in run:
                if isinstance(event, ActionEvent) and event.tool_calls[0].name == "demo__sleep":
                    run.cancel()
        assert run.result is not None
        assert (run.result.status, run.result.termination.kind) == ("incomplete", "cancelled")
        assert len(run.result.steps) == 1  # the cancelled step recorded no observation


async def test_outside_cancellation_is_recorded_then_propagates() -> None:
    results: list[RunResult] = []
    model = ScriptedModel([call("demo__sleep", seconds=30)])
    async with AgentHost(model=model, servers=[demo()]) as host:
        with anyio.move_on_after(0.5):
            await host.run("t", on_event=lambda e: results.append(e) if isinstance(e, RunResult) else None)
            pytest.fail("the run should have been cancelled")
    assert [r.termination.kind for r in results] == ["cancelled"]


async def test_long_observations_are_clipped() -> None:
    model = ScriptedModel([call("demo__echo", text="x" * 500), finish("ok")])
    async with AgentHost(model=model, servers=[demo()], max_observation_chars=100) as host:
        result = await host.run("t")
    content = result.steps[0].observations[0].content
    assert content.startswith("x" * 100) and "400 more characters cut" in content


async def test_the_trajectory_is_appended_not_copied() -> None:
    trajectories: set[int] = set()

    def spy(request: ModelRequest) -> ModelResponse:
        trajectories.add(id(request.trajectory))
        return call("demo__echo", text="x")

    model = ScriptedModel(itertools.repeat(spy))
    async with AgentHost(model=model, servers=[demo()], max_steps=5, policy=NO_LOOP_CHECK) as host:
        result = await host.run("t")
    assert len(trajectories) == 1
    assert isinstance(result.steps[-1], Step) and result.steps[-1].index == 5


async def test_the_result_round_trips_through_json() -> None:
    model = ScriptedModel([call("demo__add", a=1, b=2), finish("3")])
    async with AgentHost(model=model, servers=[demo()]) as host:
        result = await host.run("t")
    again = RunResult.model_validate_json(result.model_dump_json())
    assert again == result
