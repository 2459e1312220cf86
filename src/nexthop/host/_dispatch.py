"""Dispatching one step's tool calls: check, ask, route, run concurrently, clean.

`dispatch` is a plain function: given the calls, the tools on offer with the toolset
that serves each (`Route`), and the run's policies, it returns one observation per
call and what the checks recorded. Each call is checked before it leaves the host: is
the tool on offer, did its arguments parse and fit the schema, do the policies allow
it (``check_call``: allow, ask, skip, deny; for ``ask``, does the approver say yes)? A call
that fails a check becomes an error observation the model sees, never an exception.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import anyio

from nexthop._sanitize import clean_text
from nexthop._toolset import FINISH_TOOL, ToolDef, Toolset
from nexthop._trajectory import Observation, PolicyRecord, ToolCall
from nexthop.host._approval import ApprovalRequest, Approver
from nexthop.host._call_retry import call_with_retries
from nexthop.host._tracing import record_tool, tool_span
from nexthop.host._validation import ArgumentValidator
from nexthop.policies._base import ALLOW, CallVerdict, RunPolicy, RunView

__all__ = ["CallChecks", "Dispatched", "Route", "dispatch"]


@dataclass(frozen=True)
class Route:
    """A tool on offer and the toolset that runs it (the one place a name is routed)."""

    tool: ToolDef
    owner: Toolset


@dataclass(frozen=True)
class CallChecks:
    """What checks a run's calls; the same for every step.

    Attributes:
        policies: Asked ``check_call`` for each call; deny beats skip beats ask beats allow.
        approver: Who is asked when a policy says ``ask``; None denies such calls.
        validator: Checks arguments against input schemas (shared across runs).
        max_observation_chars: Longest result shown to the model (characters).
        call_retries: Times a call that failed transiently is repeated by the host,
            when that is safe (see `call_with_retries`); 0 hands every failure to the model.
    """

    policies: Sequence[RunPolicy]
    approver: Approver | None
    validator: ArgumentValidator
    max_observation_chars: int
    call_retries: int = 0


@dataclass(frozen=True)
class Dispatched:
    """One step's outcome: an observation per call, in call order, and the checks' records."""

    observations: tuple[Observation, ...]
    records: tuple[PolicyRecord, ...]


async def dispatch(
    calls: Sequence[ToolCall], routes: Mapping[str, Route], view: RunView, checks: CallChecks
) -> Dispatched:
    """Check and run one step's calls, concurrently when there are several.

    Args:
        calls: The model's calls, in order.
        routes: The tools on offer this step, by name (``finish`` aside).
        view: The run so far, for the policies and the approval request.
        checks: The run's policies, approver, validator and result cap.

    Returns:
        One observation per call, in order (contents cleaned and capped), and the
        records of every check, in call order.
    """
    results: list[tuple[Observation, tuple[PolicyRecord, ...]] | None] = [None] * len(calls)

    async def one(i: int, call: ToolCall) -> None:
        route = routes.get(call.name)
        tool = route.tool if route else None
        with tool_span(call, tool) as span:  # current while the call runs: the MCP SDK's spans nest under it
            obs, records = await _call(call, routes, view, checks)
            cleaned = obs.model_copy(update={"content": clean_text(obs.content, checks.max_observation_chars)})
            record_tool(span, tool, cleaned)
        results[i] = (cleaned, records)

    if len(calls) == 1:  # the common case skips the task group's overhead
        await one(0, calls[0])
    else:
        async with anyio.create_task_group() as tg:
            for i, c in enumerate(calls):
                tg.start_soon(one, i, c)
    done = [r for r in results if r is not None]
    return Dispatched(
        observations=tuple(obs for obs, _ in done), records=tuple(r for _, records in done for r in records)
    )


async def _call(
    call: ToolCall, routes: Mapping[str, Route], view: RunView, checks: CallChecks
) -> tuple[Observation, tuple[PolicyRecord, ...]]:
    """Check one call, then run it on its owner."""
    if call.name == FINISH_TOOL.name:
        return Observation(call_id=call.id, content="finished"), ()
    route = routes.get(call.name)
    if route is None:
        names = ", ".join(sorted([*routes, FINISH_TOOL.name]))
        return _error(call, f"unknown tool {call.name!r}; tools on offer: {names}"), ()
    if call.invalid_arguments is not None:
        raw = call.invalid_arguments[:200]
        return _error(call, f"arguments for {call.name} are not valid JSON: {raw!r}"), ()
    problem = checks.validator.check(route.tool, call.arguments)
    if problem is not None:
        return _error(call, problem), ()
    verdict, records = _check(call, route.tool, view, checks.policies)
    if verdict.kind == "skip":  # a known outcome: an error, not a refusal, and no one to ask
        data = {"tool": call.name, "reason": verdict.reason}
        records += (PolicyRecord(policy=verdict.policy, event="skipped", data=data),)
        return Observation(call_id=call.id, content=f"not run: {verdict.reason}", is_error=True, skipped=True), records
    if verdict.kind != "allow":
        approved, reason = await _approve(call, route.tool, verdict, view, checks.approver)
        event = "approved" if approved else "denied"
        records += (PolicyRecord(policy=verdict.policy, event=event, data={"tool": call.name, "reason": reason}),)
        if not approved:
            denied = Observation(call_id=call.id, content=f"denied by policy: {reason}", is_error=True, denied=True)
            return denied, records
    if verdict.delay_s > 0:  # a policy's backoff before a retry
        await anyio.sleep(verdict.delay_s)
    obs, retried = await call_with_retries(route.owner, route.tool, call, checks.call_retries)
    return obs, records + retried


_RANK = {"allow": 0, "ask": 1, "skip": 2, "deny": 3}


def _check(
    call: ToolCall, tool: ToolDef, view: RunView, policies: Sequence[RunPolicy]
) -> tuple[CallVerdict, tuple[PolicyRecord, ...]]:
    """Every policy's answer for the call: the strictest wins (the first of equals), with the longest
    delay asked for; all records are kept."""
    strictest, records, delay = ALLOW, (), 0.0
    for policy in policies:
        verdict = policy.check_call(view, call, tool)
        records += verdict.records
        delay = max(delay, verdict.delay_s)
        if _RANK[verdict.kind] > _RANK[strictest.kind]:
            strictest = verdict if verdict.policy else verdict.model_copy(update={"policy": policy.name})
    return strictest.model_copy(update={"delay_s": delay}), records


async def _approve(
    call: ToolCall, tool: ToolDef, verdict: CallVerdict, view: RunView, approver: Approver | None
) -> tuple[bool, str]:
    """Whether a call a policy did not allow outright may run, and why."""
    if verdict.kind == "deny":
        return False, verdict.reason
    if approver is None:
        return False, f"{verdict.reason}, and no one can be asked"
    request = ApprovalRequest(
        tool=call.name,
        server=tool.server,
        arguments=call.arguments,
        description=tool.description,
        task=view.trajectory.task,
    )
    decision = await approver(request)
    return decision.approved, decision.reason


def _error(call: ToolCall, content: str) -> Observation:
    return Observation(call_id=call.id, content=content, is_error=True)
