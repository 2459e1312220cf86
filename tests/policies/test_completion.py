"""The completion check: one reflection at the first finish, never more."""

from __future__ import annotations

import pytest
from fault_server import make_fault_server

from nexthop import AgentHost, ModelResponse, RunResult, ScriptedModel
from nexthop.clients import MCPConnection
from nexthop.models import call, finish
from nexthop.policies import PolicyConfig

pytestmark = pytest.mark.anyio

TASK = "add up the numbers in the report"


async def run(script: list[ModelResponse], check: bool = True) -> RunResult:
    connection = MCPConnection("fault", make_fault_server(fail_rate=0.0))
    policy = PolicyConfig(completion_check=check)
    async with AgentHost(model=ScriptedModel(script), servers=[connection], policy=policy) as host:
        return await host.run(TASK)


def events(result: RunResult) -> list[tuple[int, str]]:
    return [(s.index, r.event) for s in result.steps for r in s.records if r.policy == "completion_check"]


async def test_the_first_finish_is_sent_back_with_the_task_the_second_ends_the_run() -> None:
    result = await run([finish("draft"), finish("final")])
    assert (result.status, result.result) == ("completed", "final")
    assert result.steps[0].hint == (
        f"Before finishing, check the result against the task: {TASK}. "
        "If it fully meets it, call finish again with the result; otherwise continue."
    )
    assert result.steps[1].hint == ""
    assert events(result) == [(1, "check"), (2, "accepted")]
    assert result.steps[0].records[0].data == {"result": "draft"}


async def test_the_model_may_go_back_to_work_and_is_checked_only_once() -> None:
    result = await run([finish("draft"), call("fault__flaky", x=1), finish("final")])
    assert (result.result, len(result.steps)) == ("final", 3)
    assert events(result) == [(1, "check"), (3, "accepted")]


async def test_off_by_default() -> None:
    result = await run([finish("only")], check=False)
    assert (result.result, len(result.steps), events(result)) == ("only", 1, [])
