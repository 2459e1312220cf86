"""The embedded model against a fault-injecting server: policies leave their records in a real trajectory.

The model's choices are its own; the assertions read only the trajectory the host
recorded (draws, hints, the termination reason), never the model's account of itself.
"""

from __future__ import annotations

import pytest
from fault_server import FaultState, make_fault_server

from nexthop import AgentHost
from nexthop.clients import MCPConnection
from nexthop.policies import PolicyConfig

pytestmark = [pytest.mark.embedded, pytest.mark.anyio]


async def test_abandonment_draws_and_a_doom_loop_are_recorded_with_the_embedded_model() -> None:
    from nexthop.models._llama import LlamaCppModel

    state = FaultState()
    server = make_fault_server(fail_rate=1.0, seed=0, state=state, shift_on_list=False)
    # Only the tool that always fails: the model has nothing else to try, so it repeats.
    fault = MCPConnection("fault", server, allowed_tools=["flaky"])
    policy = PolicyConfig(abandonment="prudent", abandonment_seed=7, doom_loop_n=3, pinning=False)
    async with AgentHost(model=LlamaCppModel(), servers=[fault], policy=policy, max_steps=10) as host:
        result = await host.run("Call fault__flaky with x=1 and report what it returns.")

    records = [r for s in result.steps for r in s.records]
    draws = [r for r in records if r.policy == "abandonment" and r.event == "draw"]
    # A skipped repeat (known failures) did not run, so it is no failure of the tool and draws nothing.
    failed_calls = sum(o.is_error and not o.skipped for s in result.steps for o in s.observations)
    assert failed_calls >= 1 and len(state.calls) >= 1
    # One draw per failed call, each with p and its roll. Policies are asked in order and the
    # first stop ends the asking (host/_loop.py): a doom-loop stop on a failed step comes
    # before abandonment is asked about that step's failure.
    last_failed = any(o.is_error and not o.skipped for o in result.steps[-1].observations)
    undrawn = 1 if result.termination.kind == "doom_loop" and last_failed else 0
    assert len(draws) == failed_calls - undrawn, records
    assert all({"p", "roll", "abandon"} <= set(d.data) for d in draws)
    calls = [(c.name, c.arguments) for s in result.steps for c in s.tool_calls if c.name != "finish"]
    if len(calls) >= 3 and calls[0] == calls[1] == calls[2]:  # the same failing call 3 times in a row
        assert [r for r in records if r.policy == "doom_loop"], records
    if result.termination.kind == "doom_loop":
        hints = [r for r in records if r.policy == "doom_loop" and r.event == "hint"]
        assert hints and any(s.hint for s in result.steps), "a doom loop stops only after its hint"
    else:
        assert result.termination.kind in ("abandoned", "completed"), result.termination
    print("termination:", result.termination.kind, result.termination.evidence)
    print("records:", [(r.policy, r.event) for r in records])
