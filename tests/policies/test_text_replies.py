"""Text replies: a reply without a tool call is nudged once before a second one ends the run."""

from __future__ import annotations

import pytest

from nexthop import AgentHost, ModelRequest, ModelResponse, ScriptedModel, tool
from nexthop.models import call, finish, reply
from nexthop.policies import PolicyConfig
from nexthop.policies._text_replies import NUDGE, NoToolTurns

pytestmark = pytest.mark.anyio


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


async def test_a_first_text_reply_is_nudged_and_recorded_and_the_run_goes_on() -> None:
    seen: list[str] = []

    def after_nudge(request: ModelRequest) -> ModelResponse:
        seen.append(request.trajectory.steps[-1].hint)
        return call("add", a=2, b=3)

    model = ScriptedModel([reply("I would use the add tool here."), after_nudge, finish("5")])
    async with AgentHost(model=model, tools=[add]) as host:
        result = await host.run("add 2 and 3")

    assert (result.status, result.result, result.termination.detail) == ("completed", "5", "the model called finish")
    nudged = result.steps[0]
    assert nudged.hint == NUDGE
    assert [(r.policy, r.event, r.data) for r in nudged.records] == [
        ("text_replies", "nudge", {"replies": 1, "limit": 2})
    ]
    assert seen == [NUDGE], "the model saw the nudge with its next request"


async def test_a_second_text_reply_in_a_row_ends_the_run_completed_and_says_so() -> None:
    model = ScriptedModel([reply("thinking aloud"), reply("The answer is 5.")])
    async with AgentHost(model=model) as host:
        result = await host.run("add 2 and 3")

    assert (result.status, result.result) == ("completed", "The answer is 5.")
    assert result.termination.kind == "completed"
    assert result.termination.policy == "text_replies"
    assert "without a tool call 2 times in a row" in result.termination.detail
    assert result.termination.evidence == {"text_replies": 2, "limit": 2}
    assert len(result.steps) == 2 and result.steps[1].hint == ""


async def test_a_tool_call_between_text_replies_starts_the_count_again() -> None:
    model = ScriptedModel([reply("one"), call("add", a=1, b=1), reply("two"), reply("three")])
    async with AgentHost(model=model, tools=[add]) as host:
        result = await host.run("add")

    assert [s.hint == NUDGE for s in result.steps] == [True, False, True, False]
    assert (result.result, len(result.steps)) == ("three", 4)


async def test_the_setting_one_ends_the_run_at_the_first_text_reply() -> None:
    model = ScriptedModel([reply("The answer is 5.")])
    async with AgentHost(model=model, policy=PolicyConfig(text_replies=1)) as host:
        result = await host.run("add 2 and 3")

    assert (result.status, result.result, model.requests) == ("completed", "The answer is 5.", 1)
    assert result.termination.detail == "the model replied without a tool call; its reply is the answer"
    assert result.steps[0].hint == "" and result.steps[0].records == ()


async def test_another_policys_stop_on_a_text_reply_keeps_its_own_kind() -> None:
    # Another policy's stop on a text reply is that policy's, not a completion with the reply.
    from nexthop.policies import RunPolicy, Verdict

    class StopAll(RunPolicy):
        name = "stop_all"

        def after_step(self, view: object, calls: object, observations: object) -> Verdict:  # type: ignore[override]
            return Verdict(kind="stop", detail="no", termination="doom_loop")

    model = ScriptedModel([reply("prose")])
    async with AgentHost(model=model, policy=PolicyConfig(text_replies=3), policies=[StopAll()]) as host:
        result = await host.run("t")
    assert (result.status, result.result, result.termination.kind) == ("incomplete", "", "doom_loop")


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        NoToolTurns(0)
    with pytest.raises(ValueError, match="text_replies"):
        PolicyConfig(text_replies=0)
