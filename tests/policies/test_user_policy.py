"""A user's own policy, written as docs/policies.md shows, answers through the same interface as the built-in ones."""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import pytest

from nexthop import (
    AgentHost,
    CallVerdict,
    Observation,
    PolicyRecord,
    RunPolicy,
    RunView,
    ScriptedModel,
    ToolCall,
    ToolDef,
    ToolOffer,
    Verdict,
    tool,
)
from nexthop.models import call, finish
from nexthop.policies import PolicyConfig

pytestmark = pytest.mark.anyio
DOCS = Path(__file__).resolve().parents[2] / "docs" / "policies.md"
NO_LOOP_CHECK = PolicyConfig(doom_loop_n=0, pinning=False)


def docs_example() -> dict[str, Any]:
    """Run the first Python block of the docs' "Write your own policy" section; return its names."""
    section = DOCS.read_text(encoding="utf-8").split("## Write your own policy", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None, "docs/policies.md lost its example policy"
    namespace: dict[str, Any] = {"__name__": "docs_example"}
    exec(compile(match.group(1), str(DOCS), "exec"), namespace)
    return namespace


@tool
def echo(text: str) -> str:
    """Say the text back."""
    return text


async def test_the_docs_example_stops_a_run_with_its_own_termination_evidence() -> None:
    quota = docs_example()["ToolQuota"](limit=2)
    model = ScriptedModel(call("echo", text=str(i)) for i in itertools.count())
    async with AgentHost(model=model, tools=[echo], policy=NO_LOOP_CHECK, policies=[quota]) as host:
        result = await host.run("echo forever")
        again = await host.run("echo forever")
    assert (result.status, result.termination.kind, result.termination.policy) == ("incomplete", "policy", "tool_quota")
    assert result.termination.evidence == {"tool": "echo", "calls": 3, "limit": 2}
    assert result.termination.detail == "echo was called 3 times, over its quota of 2"
    assert len(result.steps) == 3
    # Each run starts from a fresh copy: the second run is not stopped by the first one's count.
    assert len(again.steps) == 3 and again.termination == result.termination
    assert quota.calls == {}


class Guard(RunPolicy):
    """Sees the task through the view: hides tools, denies calls, and hints, each with a record."""

    name = "guard"

    def filter_tools(self, view: RunView, tools: Sequence[ToolDef]) -> ToolOffer:
        hidden = [t.name for t in tools if t.name in view.trajectory.task]
        record = self.record("hidden", tools=hidden)
        return ToolOffer(tools=tuple(t for t in tools if t.name not in hidden), records=(record,))

    def check_call(self, view: RunView, call: ToolCall, tool: ToolDef) -> CallVerdict:
        if call.arguments.get("text") == "secret":
            return CallVerdict(kind="deny", reason="no secrets", records=(self.record("checked", tool=tool.name),))
        return CallVerdict()

    def after_step(self, view: RunView, calls: Sequence[ToolCall], observations: Sequence[Observation]) -> Verdict:
        if any(o.denied for o in observations):
            return Verdict(kind="hint", hint="that was refused; try something else")
        return Verdict()

    def record(self, event: str, **data: Any) -> PolicyRecord:
        return PolicyRecord(policy=self.name, event=event, data=data)


async def test_a_user_policy_narrows_tools_denies_calls_and_hints_through_the_same_interface() -> None:
    @tool
    def shout(text: str) -> str:
        """Upper-case the text."""
        return text.upper()

    model = ScriptedModel([call("echo", text="secret"), call("shout", text="x"), finish("done")])
    async with AgentHost(model=model, tools=[echo, shout], policy=NO_LOOP_CHECK, policies=[Guard()]) as host:
        result = await host.run("never use shout")
    denied, hidden, done = result.steps
    assert denied.observations[0].denied and denied.observations[0].is_error
    assert denied.observations[0].content == "denied by policy: no secrets"
    assert denied.hint == "that was refused; try something else"
    assert [(r.policy, r.event) for r in denied.records] == [
        ("guard", "hidden"),
        ("guard", "checked"),
        ("guard", "denied"),
    ]
    assert denied.records[0].data == {"tools": ["shout"]}
    assert "unknown tool 'shout'" in hidden.observations[0].content and not hidden.observations[0].denied
    assert result.result == "done"


def test_host_refuses_a_policy_without_start() -> None:
    with pytest.raises(TypeError, match="start"):
        AgentHost(model=ScriptedModel([]), policies=[object()])  # type: ignore[list-item]


class Deadline(RunPolicy):
    """A time limit of the user's own: cuts a slow call short and stops with its own evidence."""

    name = "deadline"

    def __init__(self, seconds: float, *, answer: bool = True) -> None:
        self.time_limit_s = seconds
        self.answer = answer

    def before_step(self, view: RunView) -> Verdict:
        if self.answer and view.elapsed_s >= self.time_limit_s:
            return Verdict(kind="stop", detail="too slow", evidence={"step": view.step_index})
        return Verdict()


@tool
async def slow() -> str:
    """Take a long time."""
    await anyio.sleep(30)
    return "late"


@pytest.mark.parametrize("answer", [True, False], ids=["stops", "silent"])
async def test_a_user_time_limit_interrupts_a_slow_call(answer: bool) -> None:
    model = ScriptedModel([call("slow"), finish("never")])
    async with AgentHost(
        model=model, tools=[slow], policy=NO_LOOP_CHECK, policies=[Deadline(0.2, answer=answer)]
    ) as host:
        with anyio.fail_after(10):
            result = await host.run("wait")
    assert 0.2 <= result.wall_time_s < 5 and result.steps == []
    if answer:  # the policy's own stop, asked once its limit cut the call short
        assert (result.termination.kind, result.termination.policy) == ("policy", "deadline")
        assert (result.termination.detail, result.termination.evidence) == ("too slow", {"step": 1})
    else:  # a policy that set a limit but did not answer still owns the stop
        assert (result.termination.kind, result.termination.policy) == ("budget", "deadline")
        assert result.termination.evidence == {"budget": "wall_time_s", "limit": 0.2}
