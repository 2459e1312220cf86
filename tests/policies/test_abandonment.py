"""Probabilistic abandonment: draws on failed calls, personalities, saturation, seeds."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from fault_server import make_fault_server

from nexthop import AgentHost, ModelRequest, ModelResponse, RunResult, ScriptedModel, Trajectory, Usage
from nexthop._exceptions import ConfigError
from nexthop._trajectory import Observation, ToolCall
from nexthop.clients import MCPConnection
from nexthop.models import call, finish
from nexthop.policies import PolicyConfig
from nexthop.policies._abandonment import INQUISITIVE, PRUDENT, Abandonment, Personality, next_p, parse_personality
from nexthop.policies._base import GO_ON, RunView
from nexthop.policies._permissions import Permissions

counter = itertools.count(1)


def fault(**kwargs: Any) -> MCPConnection:
    return MCPConnection("fault", make_fault_server(**kwargs))


def flaky_forever() -> ScriptedModel:
    # Fresh arguments each step, so the doom-loop detector sees no repeated call.
    return ScriptedModel(lambda request: call("fault__flaky", x=next(counter)) for _ in itertools.count())


async def run(policy: PolicyConfig, model: ScriptedModel, fail_rate: float, seed: int = 0, **kw: Any) -> RunResult:
    async with AgentHost(model=model, servers=[fault(fail_rate=fail_rate, seed=seed)], policy=policy, **kw) as host:
        return await host.run("get an answer from flaky")


def draws(result: RunResult) -> list[dict[str, Any]]:
    return [r.data for s in result.steps for r in s.records if r.policy == "abandonment"]


def test_parse_personality_reads_presets_and_pairs() -> None:
    assert parse_personality("prudent") == PRUDENT
    assert parse_personality(" Inquisitive ") == INQUISITIVE
    assert parse_personality("0.1,1.5") == Personality(p0=0.1, beta=1.5)
    for bad in ("reckless", "0.1", "0.1,1.5,2", "x,2", "1.5,2", "0.1,0.5", "nan,2"):
        with pytest.raises(ConfigError):
            parse_personality(bad)


def test_p_saturates_at_one_instead_of_wrapping() -> None:
    assert next_p(0.5, 1.45) == pytest.approx(0.725)
    assert next_p(0.9, 1.45) == 1.0  # Autono's (beta * p) % 1.0 would give 0.305
    assert next_p(1.0, 2.0) == 1.0
    p, seen = INQUISITIVE.p0, []
    for _ in range(10):
        p = next_p(p, INQUISITIVE.beta)
        seen.append(p)
    assert seen == sorted(seen) and seen[-1] == 1.0


def test_a_success_leaves_p_unchanged_and_p_one_always_abandons() -> None:
    policy = Abandonment(Personality(0.2, 2.0), seed=1)
    view = RunView(trajectory=Trajectory(task="t"), usage=Usage(), elapsed_s=0.0, step_index=1)
    calls = [ToolCall(id="1", name="fault__flaky")]
    assert policy.after_step(view, calls, [Observation(call_id="1", content="ok")]) == GO_ON
    assert policy.p == 0.2
    policy.p = 1.0
    verdict = policy.after_step(view, calls, [Observation(call_id="1", content="boom", is_error=True)])
    assert (verdict.kind, verdict.termination) == ("stop", "abandoned")
    [record] = verdict.records
    assert record.data["abandon"] is True and record.data["p"] == 1.0


def test_an_error_reported_as_a_success_draws() -> None:
    # The SQLite reference server answers bad SQL with "Database error: ..." and no isError.
    policy = Abandonment(Personality(0.0, 2.0), seed=1)
    view = RunView(trajectory=Trajectory(task="t"), usage=Usage(), elapsed_s=0.0, step_index=1)
    labelled = Observation(call_id="1", content="Database error: no such table: city")
    verdict = policy.after_step(view, [ToolCall(id="1", name="db__write_query")], [labelled])
    assert policy.failures == 1 and [r.data["tool"] for r in verdict.records] == ["db__write_query"]


def test_a_denied_call_draws_nothing() -> None:
    policy = Abandonment(Personality(1.0, 1.0), seed=1)
    view = RunView(trajectory=Trajectory(task="t"), usage=Usage(), elapsed_s=0.0, step_index=1)
    refused = Observation(call_id="1", content="denied by policy: no", is_error=True, denied=True)
    assert policy.after_step(view, [ToolCall(id="1", name="fault__flaky")], [refused]) == GO_ON
    assert policy.failures == 0


def test_a_skipped_call_draws_nothing() -> None:
    policy = Abandonment(Personality(1.0, 1.0), seed=1)  # any draw would abandon
    view = RunView(trajectory=Trajectory(task="t"), usage=Usage(), elapsed_s=0.0, step_index=1)
    skipped = Observation(call_id="1", content="not run: this exact call already failed", is_error=True, skipped=True)
    assert policy.after_step(view, [ToolCall(id="1", name="fault__flaky")], [skipped]) == GO_ON
    assert policy.failures == 0


@pytest.mark.anyio
async def test_failing_calls_draw_until_the_run_is_abandoned() -> None:
    result = await run(PolicyConfig(abandonment="0.1,2", abandonment_seed=7), flaky_forever(), fail_rate=1.0)
    assert (result.status, result.termination.kind, result.termination.policy) == (
        "incomplete",
        "abandoned",
        "abandonment",
    )
    rolls = draws(result)
    assert len(rolls) == len(result.steps)  # one failed call per step, one draw each
    assert [d["p"] for d in rolls] == [min(1.0, 0.1 * 2**k) for k in range(len(rolls))]
    assert [d["abandon"] for d in rolls] == [False] * (len(rolls) - 1) + [True]
    assert all(d["tool"] == "fault__flaky" and 0 <= d["roll"] < 1 for d in rolls)
    last = rolls[-1]
    assert result.termination.evidence == {
        "p": last["p"],
        "roll": last["roll"],
        "failures": len(rolls),
        "tool": "fault__flaky",
    }
    assert last["roll"] < last["p"]


@pytest.mark.anyio
async def test_the_same_seed_gives_the_same_decisions() -> None:
    async def rolls(seed: int) -> list[float]:
        result = await run(PolicyConfig(abandonment="inquisitive", abandonment_seed=seed), flaky_forever(), 1.0)
        return [d["roll"] for d in draws(result)]

    first, again, other = await rolls(3), await rolls(3), await rolls(4)
    assert first == again
    assert first != other


@pytest.mark.anyio
async def test_successes_draw_nothing_and_the_run_completes() -> None:
    def until_ok(request: ModelRequest) -> ModelResponse:
        steps = request.trajectory.steps
        if steps and not steps[-1].observations[0].is_error:
            return finish("got it")
        return call("fault__flaky", x=len(steps))

    model = ScriptedModel(itertools.repeat(until_ok, 30))
    result = await run(PolicyConfig(abandonment="prudent", abandonment_seed=0), model, fail_rate=0.5, seed=2)
    assert result.termination.kind == "completed"
    failed = sum(o.is_error for s in result.steps for o in s.observations)
    assert len(draws(result)) == failed


@pytest.mark.anyio
async def test_denied_calls_are_not_failures_and_end_the_run_as_denied() -> None:
    policy = PolicyConfig(
        abandonment="1,1", abandonment_seed=0, permissions=Permissions(deny=("fault__*",)), doom_loop_n=0
    )
    result = await run(policy, flaky_forever(), fail_rate=0.0)
    assert (result.termination.kind, result.termination.policy) == ("denied", "denials")
    assert len(result.steps) == 3
    assert draws(result) == []
    assert all(o.denied and o.is_error for s in result.steps for o in s.observations)
    assert result.termination.evidence == {"denied": ["fault__flaky"] * 3, "limit": 3}
