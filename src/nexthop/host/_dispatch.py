"""Dispatching one step's tool calls: check, ask, route, run concurrently, clean.

Each call is checked before it leaves the host: is the tool on offer, do the
arguments fit its schema, do the permissions allow it (or does a person approve)?
A call that fails any check becomes an error observation the model sees, never an
exception. Calls of one step run concurrently.
"""

from __future__ import annotations

from collections.abc import Sequence

import anyio

from nexthop._toolset import FINISH_TOOL, ToolDef, Toolset
from nexthop._trajectory import Observation, PolicyRecord, ToolCall
from nexthop.host._approval import ApprovalDecision, ApprovalRequest, Approver
from nexthop._sanitize import clean_text
from nexthop.host._validation import ArgumentValidator
from nexthop.policies._permissions import Permissions

__all__ = ["Dispatcher"]


class Dispatcher:
    """Runs tool calls for one run.

    Args:
        validator: Checks arguments against input schemas (shared across runs).
        permissions: Which calls run freely, which need approval, which are denied.
        approver: Who is asked when a call needs approval; None denies such calls.
        max_observation_chars: Longest result shown to the model (characters).
    """

    def __init__(
        self,
        validator: ArgumentValidator,
        permissions: Permissions,
        approver: Approver | None,
        max_observation_chars: int,
    ) -> None:
        self.validator = validator
        self.permissions = permissions
        self.approver = approver
        self.max_observation_chars = max_observation_chars
        self.records: list[PolicyRecord] = []
        self._tools: dict[str, ToolDef] = {}
        self._owners: dict[str, Toolset] = {}

    def offer(self, tools: Sequence[ToolDef], owners: dict[str, Toolset]) -> None:
        """Set the tools on offer this step and the toolset that serves each."""
        self._tools = {t.name: t for t in tools}
        self._owners = owners

    def take_records(self) -> list[PolicyRecord]:
        """What the checks recorded since the last call (approvals and denials)."""
        records, self.records = self.records, []
        return records

    async def dispatch(self, calls: Sequence[ToolCall], task: str) -> tuple[Observation, ...]:
        """Run the calls (concurrently when several) and return one observation per call, in order."""
        results: list[Observation | None] = [None] * len(calls)

        async def one(i: int, call: ToolCall) -> None:
            obs = await self.call(call, task)
            results[i] = obs.model_copy(update={"content": clean_text(obs.content, self.max_observation_chars)})

        if len(calls) == 1:  # the common case skips the task group's overhead
            await one(0, calls[0])
        else:
            async with anyio.create_task_group() as tg:
                for i, c in enumerate(calls):
                    tg.start_soon(one, i, c)
        return tuple(r for r in results if r is not None)

    async def call(self, call: ToolCall, task: str) -> Observation:
        """Check one call, then run it on its owner."""
        if call.name == FINISH_TOOL.name:
            return Observation(call_id=call.id, content="finished")
        definition = self._tools.get(call.name)
        owner = self._owners.get(call.name)
        if definition is None or owner is None:
            names = ", ".join(sorted(self._tools)) or "none"
            return Observation(
                call_id=call.id, content=f"unknown tool {call.name!r}; tools on offer: {names}", is_error=True
            )
        if "__invalid_json__" in call.arguments:  # set by provider adapters when the model's JSON did not parse
            raw = str(call.arguments["__invalid_json__"])[:200]
            return Observation(
                call_id=call.id, content=f"arguments for {call.name} are not valid JSON: {raw!r}", is_error=True
            )
        problem = self.validator.check(definition, call.arguments)
        if problem is not None:
            return Observation(call_id=call.id, content=problem, is_error=True)
        decision = await self.decide(call, definition, task)
        if not decision.approved:
            return Observation(call_id=call.id, content=f"denied by policy: {decision.reason}", is_error=True)
        return await owner.call_tool(call)

    async def decide(self, call: ToolCall, definition: ToolDef, task: str) -> ApprovalDecision:
        rule = self.permissions.decide(definition)
        if rule.action == "allow":
            return ApprovalDecision(approved=True, reason=rule.reason)
        if rule.action == "deny":
            decision = ApprovalDecision(approved=False, reason=rule.reason)
        elif self.approver is None:
            decision = ApprovalDecision(approved=False, reason=f"{rule.reason}, and no one can be asked")
        else:
            request = ApprovalRequest(
                tool=call.name,
                server=definition.server,
                arguments=call.arguments,
                description=definition.description,
                task=task,
            )
            decision = await self.approver(request)
        event = "approved" if decision.approved else "denied"
        self.records.append(
            PolicyRecord(policy="permissions", event=event, data={"tool": call.name, "reason": decision.reason})
        )
        return decision
