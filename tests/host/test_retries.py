"""Retries with reflection: an early stop is retried with the failed attempt and a reflection as memory."""

from __future__ import annotations

from collections.abc import Sequence

import anyio
import pytest

from nexthop import AgentHost, ModelRequest, ModelResponse, Observation, RunResult, ScriptedModel, ToolCall, tool
from nexthop._trajectory import TerminationKind
from nexthop.host import FunctionTool
from nexthop.host._loop import RunEvent
from nexthop.models import call, finish, reply
from nexthop.policies import GO_ON, Permissions, PolicyConfig, RunPolicy, RunView, Verdict

pytestmark = pytest.mark.anyio

REFLECTION = "I added numbers but never wrote the sum down; next time call finish with it."


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


async def test_a_run_that_hits_max_steps_is_retried_with_its_reflection_as_memory() -> None:
    asked: list[tuple[ModelRequest, int]] = []  # with the steps each request saw (the trajectory grows)
    events: list[RunEvent] = []

    def reflect(request: ModelRequest) -> ModelResponse:
        asked.append((request, len(request.trajectory.steps)))
        return reply(REFLECTION)

    def second(request: ModelRequest) -> ModelResponse:
        asked.append((request, len(request.trajectory.steps)))
        return call("add", a=2, b=3)

    model = ScriptedModel([call("add", a=1, b=1), call("add", a=1, b=2), reflect, second, finish("5")])
    async with AgentHost(model=model, tools=[add], max_steps=2) as host:
        result = await host.run("add 2 and 3", retries=1, on_event=events.append)

    assert (result.status, result.result, result.termination.kind) == ("completed", "5", "completed")
    (reflection_request, seen_at_reflection), (retry_request, seen_at_retry) = asked
    # The reflection: one request with no tools, asked after the failed attempt's last step.
    assert list(reflection_request.tools) == []
    assert seen_at_reflection == 2
    assert "stopped without completing the task" in reflection_request.trajectory.steps[-1].hint
    assert "step budget" in reflection_request.trajectory.steps[-1].hint
    # The retry starts afresh with the failed attempt, and its reflection, as memory.
    memory = retry_request.trajectory.memory
    assert memory is not None and memory.reflection == REFLECTION
    assert [s.tool_calls[0].arguments for s in memory.steps] == [{"a": 1, "b": 1}, {"a": 1, "b": 2}]
    message = retry_request.trajectory.task_message()
    assert message.startswith("add 2 and 3\n\nMemory of an earlier attempt")
    assert f"Reflection on that attempt: {REFLECTION}" in message
    assert seen_at_retry == 0
    # Both attempts are in the result: the first in ``attempts``, the second is the result itself.
    (first,) = result.attempts
    assert (first.kind, first.index, first.status, first.termination.kind) == ("attempt", 1, "incomplete", "max_steps")
    assert first.reflection == REFLECTION and first.trajectory.reflection == REFLECTION
    assert first.usage.requests == 3, "two steps and the reflection"
    assert len(result.steps) == 2 and result.trajectory.memory == first.trajectory
    assert result.usage.requests == 5 and model.requests == 5
    # Observers saw every step of both attempts, and one result: the final one.
    results = [e for e in events if isinstance(e, RunResult)]
    assert results == [result]
    assert sum(1 for e in events if e.kind == "step") == 4
    assert RunResult.model_validate_json(result.model_dump_json()) == result


async def test_without_retries_an_early_stop_is_final() -> None:
    model = ScriptedModel([call("add", a=1, b=1), call("add", a=1, b=2), reply("never asked")])
    async with AgentHost(model=model, tools=[add], max_steps=2) as host:
        result = await host.run("add 2 and 3")
    assert (result.termination.kind, result.attempts, model.requests) == ("max_steps", (), 2)


async def test_when_retries_run_out_the_last_early_stop_stands_with_every_attempt() -> None:
    script = [call("add", a=1, b=1), reply("first went wrong"), call("add", a=2, b=2), reply("second went wrong")]
    script.append(call("add", a=3, b=3))
    model = ScriptedModel(script)
    async with AgentHost(model=model, tools=[add], max_steps=1) as host:
        result = await host.run("add", retries=2)
    assert result.termination.kind == "max_steps"
    assert [(a.index, a.reflection) for a in result.attempts] == [(1, "first went wrong"), (2, "second went wrong")]
    assert result.steps[0].tool_calls[0].arguments == {"a": 3, "b": 3}
    # The third attempt's memory leads back through the second to the first.
    memory = result.trajectory.memory
    assert memory is not None and memory.memory is not None and memory.memory.reflection == "first went wrong"
    message = result.trajectory.task_message()
    assert message.index("first went wrong") < message.index("second went wrong")
    assert model.requests == 5, "no reflection after the last attempt"


class FirstAttemptStop(RunPolicy):
    """Stops the first attempt (the one with no memory) after its first step, with the given kind."""

    name = "first_attempt_stop"

    def __init__(self, kind: TerminationKind) -> None:
        self.kind: TerminationKind = kind

    def after_step(self, view: RunView, calls: Sequence[ToolCall], observations: Sequence[Observation]) -> Verdict:
        if view.trajectory.memory is not None:
            return GO_ON
        return Verdict(kind="stop", termination=self.kind, detail=f"stopped as {self.kind}")


@pytest.mark.parametrize(
    ("kind", "retried"),
    [("doom_loop", True), ("abandoned", True), ("budget", True), ("denied", False), ("policy", False)],
)
async def test_which_early_stops_are_retried(kind: TerminationKind, retried: bool) -> None:
    model = ScriptedModel([call("add", a=1, b=1), reply("it went wrong"), finish("2")])
    async with AgentHost(model=model, tools=[add], policies=[FirstAttemptStop(kind)]) as host:
        result = await host.run("add 1 and 1", retries=1)
    if retried:
        assert [(a.termination.kind, a.reflection) for a in result.attempts] == [(kind, "it went wrong")]
        assert (result.status, result.result) == ("completed", "2")
    else:
        assert (result.termination.kind, result.attempts, model.requests) == (kind, (), 1)


async def test_a_cancelled_run_is_not_retried() -> None:
    started = anyio.Event()
    results: list[RunResult] = []

    async def wait_forever() -> str:
        """Block until cancelled."""
        started.set()
        await anyio.sleep_forever()
        return "never"

    model = ScriptedModel([call("wait_forever"), reply("should not be asked to reflect")])
    async with AgentHost(model=model, tools=[FunctionTool(wait_forever)]) as host:
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:

                async def run() -> None:
                    results.append(await host.run("wait", retries=3))

                tg.start_soon(run)
                await started.wait()
                tg.cancel_scope.cancel()

    assert results == [], "the cancellation reached the caller"
    assert model.requests == 1


async def test_a_cancelled_run_reports_one_cancelled_result_to_observers() -> None:
    started = anyio.Event()
    seen: list[RunResult] = []

    async def wait_forever() -> str:
        """Block until cancelled."""
        started.set()
        await anyio.sleep_forever()
        return "never"

    def keep(event: RunEvent) -> None:
        if isinstance(event, RunResult):
            seen.append(event)

    model = ScriptedModel([call("wait_forever")])
    async with AgentHost(model=model, tools=[FunctionTool(wait_forever)]) as host:
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(lambda: host.run("wait", retries=3, on_event=keep))
                await started.wait()
                tg.cancel_scope.cancel()

    ((result),) = seen
    assert (result.termination.kind, result.attempts) == ("cancelled", ())


async def test_a_run_stopped_by_denials_is_not_retried() -> None:
    model = ScriptedModel([call("add", a=1, b=1), reply("never asked")])
    policy = PolicyConfig(permissions=Permissions(deny=("add",)), max_denials=1)
    async with AgentHost(model=model, tools=[add], policy=policy) as host:
        result = await host.run("add", retries=2)
    assert (result.termination.kind, result.attempts, model.requests) == ("denied", (), 1)


async def test_negative_retries_are_refused() -> None:
    from nexthop import ConfigError

    async with AgentHost(model=ScriptedModel([])) as host:
        with pytest.raises(ConfigError, match="retries"):
            await host.run("t", retries=-1)


async def test_a_reflection_the_model_fails_to_write_still_leads_to_the_retry() -> None:
    from nexthop import ModelError

    def broken(request: ModelRequest) -> ModelResponse:
        raise ModelError("the provider is down")

    model = ScriptedModel([call("add", a=1, b=1), broken, finish("2")])
    async with AgentHost(model=model, tools=[add], max_steps=1) as host:
        result = await host.run("add 1 and 1", retries=1)
    assert (result.status, result.result) == ("completed", "2")
    (first,) = result.attempts
    assert (first.termination.kind, first.reflection) == ("max_steps", "")
    assert "Reflection on that attempt" not in result.trajectory.task_message()
