"""The loop: ask the model for the next action, dispatch it, record the step, repeat.

Each next action is generated from the whole trajectory so far (ReAct-style
dynamic next-action generation, Yao et al. 2022, arXiv 2210.03629); no plan is
fixed up front, so a failing tool changes what comes next. The trajectory is
appended to, never copied, so a step costs the same at step 200 as at step 10.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal

import anyio
from pydantic import BaseModel, ConfigDict

from nexthop._exceptions import NexthopError
from nexthop._toolset import FINISH_TOOL, ToolDef, Toolset
from nexthop._trajectory import (
    Observation,
    RunResult,
    Step,
    TerminationReason,
    ToolCall,
    Trajectory,
    Usage,
)
from nexthop.clients._model import Model, ModelRequest, ModelResponse, ModelSettings
from nexthop.host._approval import ApprovalDecision, ApprovalRequest, Approver, needs_approval
from nexthop.host._validation import ArgumentValidator

__all__ = ["ActionEvent", "RunEvent", "run_loop"]


class ActionEvent(BaseModel):
    """Emitted when the model has chosen an action, before the tools run.

    Attributes:
        step_index: The step this action belongs to (1-based).
        thought: The model's reasoning text.
        tool_calls: The calls about to be dispatched.
        elapsed_s: Time since the run started (seconds).
    """

    model_config = ConfigDict(frozen=True)
    kind: Literal["action"] = "action"
    step_index: int
    thought: str
    tool_calls: tuple[ToolCall, ...]
    elapsed_s: float


RunEvent = ActionEvent | Step | RunResult
"""What observers receive: an action chosen, a step finished, the run's result."""

Emit = Callable[[RunEvent], Awaitable[None]]


class _Stop(Exception):  # noqa: N818 - control flow, never escapes the loop
    def __init__(self, kind: Any, detail: str, result: str = "") -> None:
        self.reason = TerminationReason(kind=kind, detail=detail)
        self.result = result


async def run_loop(
    *,
    task: str,
    context: str = "",
    memory: Trajectory | None = None,
    model: Model,
    toolsets: Sequence[Toolset],
    instructions: str,
    max_steps: int,
    settings: ModelSettings,
    emit: Emit,
    validator: ArgumentValidator,
    max_observation_chars: int,
    ask: Sequence[str] = (),
    approver: Approver | None = None,
) -> RunResult:
    """Run one task to its end and return its result; see `AgentHost.run`."""
    trajectory = Trajectory(task=task, context=context, memory=memory)
    run = _Run(trajectory, model, toolsets, instructions, settings, emit, validator, max_observation_chars)
    run.ask, run.approver = tuple(ask), approver
    return await run.drive(max_steps)


class _Run:
    def __init__(
        self,
        trajectory: Trajectory,
        model: Model,
        toolsets: Sequence[Toolset],
        instructions: str,
        settings: ModelSettings,
        emit: Emit,
        validator: ArgumentValidator,
        max_observation_chars: int,
    ) -> None:
        self.trajectory = trajectory
        self.model = model
        self.toolsets = toolsets
        self.instructions = instructions
        self.settings = settings
        self.emit = emit
        self.validator = validator
        self.max_observation_chars = max_observation_chars
        self.usage = Usage()
        self.start = time.perf_counter()
        self.owners: dict[str, Toolset] = {}
        self.ask: tuple[str, ...] = ()
        self.approver: Approver | None = None

    async def drive(self, max_steps: int) -> RunResult:
        try:
            for index in range(1, max_steps + 1):
                await self.step(index)
            raise _Stop("max_steps", f"the step budget of {max_steps} steps ran out before finish was called")
        except _Stop as stop:
            return await self.finish(stop.reason, stop.result)
        except NexthopError as e:
            return await self.finish(TerminationReason(kind="error", detail=str(e)), "")
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):
                await self.finish(TerminationReason(kind="cancelled", detail="the run was cancelled"), "")
            raise

    async def step(self, index: int) -> None:
        step_start = time.perf_counter()
        tools = await self.list_tools()
        response = await self.model.request(
            ModelRequest(
                instructions=self.instructions, trajectory=self.trajectory, tools=tools, settings=self.settings
            )
        )
        self.usage = self.usage + response.usage
        await self.emit(
            ActionEvent(
                step_index=index, thought=response.thought, tool_calls=response.tool_calls, elapsed_s=self.elapsed
            )
        )
        observations = await self.dispatch(response, tools)
        step = Step(
            index=index,
            thought=response.thought,
            tool_calls=response.tool_calls,
            observations=observations,
            usage=response.usage,
            duration_s=time.perf_counter() - step_start,
        )
        self.trajectory.steps.append(step)
        await self.emit(step)
        self.check_done(response)

    async def list_tools(self) -> list[ToolDef]:
        tools: list[ToolDef] = []
        self.owners.clear()
        for toolset in self.toolsets:
            for t in await toolset.list_tools():
                self.owners[t.name] = toolset
                tools.append(t)
        tools.append(FINISH_TOOL)
        return tools

    async def dispatch(self, response: ModelResponse, tools: list[ToolDef]) -> tuple[Observation, ...]:
        calls = response.tool_calls
        results: list[Observation | None] = [None] * len(calls)
        by_name = {t.name: t for t in tools}

        async def one(i: int, call: ToolCall) -> None:
            results[i] = self.clip(await self.call(call, by_name.get(call.name)))

        if len(calls) == 1:  # the common case skips the task group's overhead
            await one(0, calls[0])
        else:
            async with anyio.create_task_group() as tg:
                for i, c in enumerate(calls):
                    tg.start_soon(one, i, c)
        return tuple(r for r in results if r is not None)

    async def call(self, call: ToolCall, definition: ToolDef | None) -> Observation:
        if call.name == FINISH_TOOL.name:
            return Observation(call_id=call.id, content="finished")
        if definition is None:
            names = ", ".join(sorted(self.owners)) or "none"
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
        if self.ask and needs_approval(definition, self.ask):
            decision = await self.approve(call, definition)
            if not decision.approved:
                return Observation(call_id=call.id, content=f"denied by policy: {decision.reason}", is_error=True)
        return await self.owners[call.name].call_tool(call)

    async def approve(self, call: ToolCall, definition: ToolDef) -> ApprovalDecision:
        if self.approver is None:
            return ApprovalDecision(approved=False, reason="this call needs approval and no one can be asked")
        request = ApprovalRequest(
            tool=call.name,
            server=definition.server,
            arguments=call.arguments,
            description=definition.description,
            task=self.trajectory.task,
        )
        return await self.approver(request)

    def clip(self, obs: Observation) -> Observation:
        if len(obs.content) <= self.max_observation_chars:
            return obs
        cut = obs.content[: self.max_observation_chars]
        note = f"\n[... {len(obs.content) - self.max_observation_chars} more characters cut]"
        return obs.model_copy(update={"content": cut + note})

    def check_done(self, response: ModelResponse) -> None:
        if not response.tool_calls:
            raise _Stop("completed", "the model replied without a tool call", response.thought)
        for c in response.tool_calls:
            if c.name == FINISH_TOOL.name:
                result = c.arguments.get("result", "")
                raise _Stop("completed", "the model called finish", result if isinstance(result, str) else str(result))

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    async def finish(self, reason: TerminationReason, result: str) -> RunResult:
        status = {"completed": "completed", "error": "error"}.get(reason.kind, "incomplete")
        run_result = RunResult(
            status=status,  # pyright: ignore[reportArgumentType]
            result=result,
            termination=reason,
            trajectory=self.trajectory,
            usage=self.usage,
            wall_time_s=self.elapsed,
        )
        await self.emit(run_result)
        return run_result
