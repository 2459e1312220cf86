"""Budgets: steps, tokens and wall time (each a policy), and the order policies are consulted in."""

from __future__ import annotations

import itertools

import anyio
import pytest
from fault_server import make_fault_server

from nexthop import AgentHost, Model, ModelRequest, ModelResponse, RunView, ScriptedModel, Trajectory, Usage
from nexthop.clients import MCPConnection
from nexthop.models import call
from nexthop.policies import DenialLimit, PolicyConfig
from nexthop.policies._abandonment import Abandonment
from nexthop.policies._budget import StepBudget, TokenBudget, WallTimeBudget
from nexthop.policies._completion import CompletionCheck
from nexthop.policies._doom_loop import DoomLoop
from nexthop.policies._registry import start_policies

pytestmark = pytest.mark.anyio


class Costly(Model):
    """A scripted model whose every request costs 100 input and 20 output tokens."""

    def __init__(self, script: ScriptedModel) -> None:
        self.script = script

    async def request(self, request: ModelRequest) -> ModelResponse:
        response = await self.script.request(request)
        return response.model_copy(update={"usage": Usage(input_tokens=100, output_tokens=20, requests=1)})


def fault() -> MCPConnection:
    return MCPConnection("fault", make_fault_server(fail_rate=0.0))


async def test_the_token_budget_stops_before_the_step_that_would_start_past_it() -> None:
    model = Costly(ScriptedModel(call("fault__flaky", x=i) for i in itertools.count()))
    async with AgentHost(model=model, servers=[fault()], policy=PolicyConfig(max_tokens=300)) as host:
        result = await host.run("spend")
    assert (result.status, result.termination.kind, result.termination.policy) == ("incomplete", "budget", "budget")
    assert result.termination.evidence == {"budget": "tokens", "limit": 300, "used": 360}
    assert len(result.steps) == 3  # 0, 120 and 240 tokens were under the limit before steps 1-3
    assert result.usage.total_tokens == 360


async def test_the_wall_time_budget_cuts_a_slow_tool_short() -> None:
    model = ScriptedModel([call("fault__slow", seconds=30)])
    async with AgentHost(model=model, servers=[fault()], policy=PolicyConfig(max_wall_time_s=0.3)) as host:
        with anyio.fail_after(10):
            result = await host.run("wait")
    assert (result.termination.kind, result.termination.policy) == ("budget", "budget")
    assert result.termination.evidence == {"budget": "wall_time_s", "limit": 0.3}
    assert 0.3 <= result.wall_time_s < 5


def started(config: PolicyConfig) -> list[type]:
    # Other policies (tool pinning) may sit among these; only the order of these is checked here.
    ours = (TokenBudget, DoomLoop, Abandonment, DenialLimit, CompletionCheck)
    return [type(p) for p in start_policies(config) if isinstance(p, ours)]


def test_policies_are_started_in_order_and_only_when_enabled() -> None:
    assert started(PolicyConfig()) == [DoomLoop, DenialLimit]
    assert started(PolicyConfig(doom_loop_n=0)) == [DenialLimit]
    everything = PolicyConfig(max_tokens=10, abandonment="prudent", completion_check=True)
    assert started(everything) == [TokenBudget, DoomLoop, Abandonment, DenialLimit, CompletionCheck]
    assert type(start_policies(PolicyConfig(max_wall_time_s=1, max_tokens=10))[0]) is WallTimeBudget
    config = PolicyConfig(abandonment="prudent")
    first, second = start_policies(config), start_policies(config)
    assert not set(map(id, first)) & set(map(id, second))  # per-run state is never shared


async def test_the_step_budget_is_a_policy_and_its_stop_carries_the_evidence() -> None:
    model = ScriptedModel(call("fault__flaky", x=i) for i in itertools.count())
    async with AgentHost(model=model, servers=[fault()], max_steps=2) as host:
        result = await host.run("spend")
        assert type(host._start_policies()[0]) is StepBudget  # pyright: ignore[reportPrivateUsage]
    assert (result.termination.kind, result.termination.policy) == ("max_steps", "budget")
    assert result.termination.evidence == {"budget": "steps", "limit": 2}
    assert result.termination.detail == "the step budget of 2 steps ran out before finish was called"


def test_the_wall_time_budget_sets_a_time_limit_and_stops_once_it_is_spent() -> None:
    budget = WallTimeBudget(2.5)
    assert budget.time_limit_s == 2.5
    trajectory = Trajectory(task="t")
    assert (
        budget.before_step(RunView(trajectory=trajectory, usage=Usage(), elapsed_s=2.4, step_index=3)).kind == "go_on"
    )
    spent = budget.before_step(RunView(trajectory=trajectory, usage=Usage(), elapsed_s=2.5, step_index=3))
    assert (spent.kind, spent.termination, spent.evidence) == (
        "stop",
        "budget",
        {"budget": "wall_time_s", "limit": 2.5},
    )
