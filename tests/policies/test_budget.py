"""Budgets: tokens (a policy), wall time (the loop), and the order policies are consulted in."""

from __future__ import annotations

import itertools

import anyio
import pytest
from fault_server import make_fault_server

from nexthop import AgentHost, MCPConnection, Model, ModelRequest, ModelResponse, ScriptedModel, Usage
from nexthop.models import call
from nexthop.policies import DenialLimit, PolicyConfig
from nexthop.policies._abandonment import Abandonment
from nexthop.policies._budget import TokenBudget
from nexthop.policies._completion import CompletionCheck
from nexthop.policies._doom_loop import DoomLoop

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
    return [type(p) for p in config.start() if isinstance(p, ours)]


def test_policies_are_started_in_order_and_only_when_enabled() -> None:
    assert started(PolicyConfig()) == [DoomLoop, DenialLimit]
    assert started(PolicyConfig(doom_loop_n=0)) == [DenialLimit]
    everything = PolicyConfig(max_tokens=10, abandonment="prudent", completion_check=True)
    assert started(everything) == [TokenBudget, DoomLoop, Abandonment, DenialLimit, CompletionCheck]
    config = PolicyConfig(abandonment="prudent")
    first, second = config.start(), config.start()
    assert not set(map(id, first)) & set(map(id, second))  # per-run state is never shared
