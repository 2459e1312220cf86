"""The loop: ask the model for the next action, apply the policies, dispatch, record the step, repeat.

Each next action is generated from the whole trajectory so far (ReAct-style
dynamic next-action generation, Yao et al. 2022, arXiv 2210.03629); no plan is
fixed up front, so a failing tool changes what comes next. The trajectory is
appended to, never copied, so a step costs the same at step 200 as at step 10.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio
from pydantic import BaseModel, ConfigDict

from nexthop._exceptions import NexthopError
from nexthop._toolset import FINISH_TOOL, ToolDef, Toolset
from nexthop._trajectory import (
    PolicyRecord,
    RunResult,
    Step,
    TerminationReason,
    ToolCall,
    Trajectory,
    Usage,
)
from nexthop.models._model import Model, ModelRequest, ModelResponse, ModelSettings
from nexthop.host._dispatch import Dispatcher
from nexthop.policies._base import RunPolicy, RunView, Verdict

__all__ = ["ActionEvent", "RunEvent", "RunSetup", "run_loop"]


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


@dataclass
class RunSetup:
    """Everything one run needs besides its task; built by `AgentHost` for each run."""

    model: Model
    toolsets: Sequence[Toolset]
    instructions: str
    settings: ModelSettings
    dispatcher: Dispatcher
    max_steps: int
    max_wall_time_s: float = math.inf
    policies: Sequence[RunPolicy] = field(default_factory=list[RunPolicy])


class _Stop(Exception):  # noqa: N818 - control flow, never escapes the loop
    def __init__(self, reason: TerminationReason, result: str = "") -> None:
        self.reason = reason
        self.result = result


def _stop(verdict: Verdict) -> _Stop:
    kind = verdict.termination or "error"
    return _Stop(TerminationReason(kind=kind, detail=verdict.detail, policy=verdict.policy, evidence=verdict.evidence))


async def run_loop(trajectory: Trajectory, setup: RunSetup, emit: Emit) -> RunResult:
    """Run one task to its end and return its result; see `AgentHost.run`."""
    return await _Run(trajectory, setup, emit).drive()


class _Run:
    def __init__(self, trajectory: Trajectory, setup: RunSetup, emit: Emit) -> None:
        self.trajectory = trajectory
        self.setup = setup
        self.emit = emit
        self.usage = Usage()
        self.start = time.perf_counter()

    async def drive(self) -> RunResult:
        max_steps, limit = self.setup.max_steps, self.setup.max_wall_time_s
        try:
            with anyio.move_on_after(limit) as deadline:
                for index in range(1, max_steps + 1):
                    await self.step(index)
                raise _Stop(
                    TerminationReason(
                        kind="max_steps",
                        detail=f"the step budget of {max_steps} steps ran out before finish was called",
                        evidence={"budget": "steps", "limit": max_steps},
                    )
                )
            if deadline.cancelled_caught:
                raise _Stop(
                    TerminationReason(
                        kind="budget",
                        detail=f"the wall-time budget of {limit:g} s ran out",
                        policy="budget",
                        evidence={"budget": "wall_time_s", "limit": limit},
                    )
                )
            raise AssertionError("unreachable")  # pragma: no cover
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
        self.consult(lambda p: p.before_step(self.view(index)))
        tools = await self.list_tools()
        response = await self.setup.model.request(
            ModelRequest(
                instructions=self.setup.instructions,
                trajectory=self.trajectory,
                tools=tools,
                settings=self.setup.settings,
            )
        )
        self.usage = self.usage + response.usage
        await self.emit(
            ActionEvent(
                step_index=index, thought=response.thought, tool_calls=response.tool_calls, elapsed_s=self.elapsed
            )
        )
        observations = await self.setup.dispatcher.dispatch(response.tool_calls, self.trajectory.task)
        records: list[PolicyRecord] = self.setup.dispatcher.take_records()
        hints: list[str] = []
        view = self.view(index)
        stop = self.consult(lambda p: p.after_step(view, response.tool_calls, observations, records), hints)
        finish_call = self.finish_call(response)
        if stop is None and finish_call is not None:
            # Only a finish-time hint (a completion check) sends the model back; a hint from
            # after_step (a doom-loop note, say) must not swallow the finish.
            finish_hints: list[str] = []
            stop = self.consult(lambda p: p.on_finish(view, finish_call, records), finish_hints)
            hints += finish_hints
            if not finish_hints and stop is None:
                stop = _Stop(TerminationReason(kind="completed", detail="the model called finish"), finish_call)
        step = Step(
            index=index,
            thought=response.thought,
            tool_calls=response.tool_calls,
            observations=observations,
            usage=response.usage,
            duration_s=time.perf_counter() - step_start,
            hint="\n".join(hints),
            records=tuple(records),
        )
        self.trajectory.steps.append(step)
        await self.emit(step)
        if stop is not None:
            raise stop
        if not response.tool_calls:
            raise _Stop(
                TerminationReason(kind="completed", detail="the model replied without a tool call"), response.thought
            )

    def consult(self, ask: Callable[[RunPolicy], Verdict | None], hints: list[str] | None = None) -> _Stop | None:
        """Ask every policy; hints are collected, the first stop wins (raised before a step, returned after)."""
        for policy in self.setup.policies:
            verdict = ask(policy)
            if verdict is None:
                continue
            if verdict.kind == "stop":
                if hints is None:
                    raise _stop(verdict)
                return _stop(verdict)
            if hints is not None:
                hints.append(verdict.hint)
        return None

    def view(self, index: int) -> RunView:
        return RunView(trajectory=self.trajectory, usage=self.usage, elapsed_s=self.elapsed, step_index=index)

    async def list_tools(self) -> list[ToolDef]:
        tools: list[ToolDef] = []
        owners: dict[str, Toolset] = {}
        for toolset in self.setup.toolsets:
            for t in await toolset.list_tools():
                tools.append(t)
                owners[t.name] = toolset
        for policy in self.setup.policies:
            tools = policy.filter_tools(tools)
        tools.append(FINISH_TOOL)
        self.setup.dispatcher.offer(tools, owners)
        return tools

    @staticmethod
    def finish_call(response: ModelResponse) -> str | None:
        for c in response.tool_calls:
            if c.name == FINISH_TOOL.name:
                result: Any = c.arguments.get("result", "")
                return result if isinstance(result, str) else str(result)
        return None

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
