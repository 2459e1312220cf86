"""Doom-loop detection: same call, same error, no new information; a hint first, then a stop."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from fault_server import make_fault_server

from nexthop import AgentHost, ModelResponse, RunResult, ScriptedModel, Trajectory, Usage
from nexthop._trajectory import Observation, ToolCall
from nexthop.clients import MCPConnection
from nexthop.models import call, finish
from nexthop.policies import PolicyConfig
from nexthop.policies._base import RunView
from nexthop.policies._doom_loop import DoomLoop

pytestmark = pytest.mark.anyio


async def run(script: list[ModelResponse], policy: PolicyConfig | None = None, **server: Any) -> RunResult:
    connection = MCPConnection("fault", make_fault_server(**server))
    async with AgentHost(model=ScriptedModel(script), servers=[connection], policy=policy) as host:
        return await host.run("find something new")


def events(result: RunResult) -> list[tuple[int, str]]:
    return [(s.index, r.event) for s in result.steps for r in s.records if r.policy == "doom_loop"]


async def test_the_same_call_is_hinted_at_then_stopped() -> None:
    result = await run([call("fault__same")] * 10)
    assert events(result) == [(3, "hint"), (4, "stop")]
    hint = result.steps[2].hint
    assert "fault__same" in hint and "3 times" in hint
    assert result.steps[1].hint == ""
    assert (result.termination.kind, result.termination.policy) == ("doom_loop", "doom_loop")
    assert result.termination.evidence == {
        "pattern": "same_call",
        "tool": "fault__same",
        "count": 4,
        "hinted_at_step": 3,
    }
    assert len(result.steps) == 4


async def test_the_same_error_with_other_arguments_is_a_loop() -> None:
    script = [call("fault__flaky", x=i) for i in range(10)]
    result = await run(script, fail_rate=1.0)
    assert events(result) == [(3, "hint"), (4, "stop")]
    assert "flaky failure" in result.steps[2].hint
    assert result.termination.evidence["pattern"] == "same_error"
    assert result.termination.evidence["count"] == 4


async def test_results_already_seen_are_no_new_information() -> None:
    script = [call("fault__flaky", x=x) for x in itertools.islice(itertools.cycle([1, 2]), 10)]
    result = await run(script, fail_rate=0.0)
    # Steps 3, 4 and 5 repeat "ok 1" / "ok 2": the third stale step is the hint.
    assert events(result) == [(5, "hint"), (6, "stop")]
    assert "nothing you had not already seen" in result.steps[4].hint
    assert result.termination.evidence == {
        "pattern": "no_new_information",
        "tool": "fault__flaky",
        "count": 4,
        "hinted_at_step": 5,
    }


async def test_a_model_that_heeds_the_hint_finishes() -> None:
    script = [call("fault__same")] * 3 + [call("fault__flaky", x=1), finish("done")]
    result = await run(script, fail_rate=0.0)
    assert (result.termination.kind, result.result) == ("completed", "done")
    assert events(result) == [(3, "hint")]


async def test_zero_turns_detection_off_and_n_is_configurable() -> None:
    off = await run([call("fault__same")] * 6 + [finish("done")], PolicyConfig(doom_loop_n=0))
    assert off.termination.kind == "completed" and events(off) == []
    two = await run([call("fault__same")] * 6, PolicyConfig(doom_loop_n=2))
    assert events(two) == [(2, "hint"), (3, "stop")]


async def test_finish_calls_are_not_counted() -> None:
    policy = PolicyConfig(doom_loop_n=2, completion_check=True)
    result = await run([finish("x"), finish("x")], policy)
    assert result.termination.kind == "completed" and events(result) == []


def test_argument_order_does_not_make_calls_different() -> None:
    policy = DoomLoop(2)
    view = RunView(trajectory=Trajectory(task="t"), usage=Usage(), elapsed_s=0.0, step_index=1)
    verdicts = [
        policy.after_step(
            view, [ToolCall(id=str(i), name="t", arguments=arguments)], [Observation(call_id=str(i), content=f"r{i}")]
        )
        for i, arguments in enumerate([{"a": 1, "b": 2}, {"b": 2, "a": 1}])
    ]
    assert [v.kind for v in verdicts] == ["go_on", "hint"]
    assert verdicts[1].evidence == {"pattern": "same_call", "tool": "t", "count": 2}
    assert [(r.event, r.data) for r in verdicts[1].records] == [("hint", verdicts[1].evidence)]
