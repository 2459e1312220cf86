"""The loop: ask the model for the next action, apply the policies, dispatch, record the step, repeat.

Each next action is generated from the whole trajectory so far (ReAct-style
dynamic next-action generation, Yao et al. 2022, arXiv 2210.03629); no plan is
fixed up front, so a failing tool changes what comes next. The trajectory is
appended to, never copied, so a step costs the same at step 200 as at step 10.

The loop knows no particular policy: budgets, permissions, doom loops and the
user's own all answer through `RunPolicy`, and every early stop is a policy's
verdict with its evidence. Only ``finish``, a model error and cancellation end a
run without one, and a reply without a tool call when no policy answers it with a
hint or a stop (the built-in `NoToolTurns` nudges first).
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio
from pydantic import BaseModel, ConfigDict

from nexthop._exceptions import NexthopError
from nexthop._toolset import FINISH_TOOL, ToolDef, Toolset, finish_outcome
from nexthop._trajectory import (
    Observation,
    PolicyRecord,
    RunResult,
    Step,
    TerminationReason,
    ToolCall,
    Trajectory,
    Usage,
)
from nexthop.host._dispatch import CallChecks, Route, dispatch
from nexthop.models._model import Model, ModelRequest, ModelResponse, ModelSettings
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
    """Everything one run needs besides its task; built by `AgentHost` for each run.

    ``policies`` must include one that stops the run (the host always adds the step
    budget first); the loop itself never gives up.
    """

    model: Model
    toolsets: Sequence[Toolset]
    instructions: str
    settings: ModelSettings
    checks: CallChecks
    policies: Sequence[RunPolicy] = field(default_factory=list[RunPolicy])
    server_events: Callable[[], tuple[Usage, list[PolicyRecord]]] | None = None
    """Drained after each step's calls: tokens servers sampled (counted as the step's) and their records."""
    redraws: int = 0
    """How many times a step's action may be drawn again when a policy foresees a call's outcome (`draw`)."""
    redraw_temperature: float = 1.0
    """Sampling temperature of those draws."""


class _Stop(Exception):  # noqa: N818 - control flow, never escapes the loop
    def __init__(self, reason: TerminationReason, result: str = "") -> None:
        self.reason = reason
        self.result = result


@dataclass
class _Answers:
    """What the policies said at one point of a step: records kept, hints, the first stop."""

    records: list[PolicyRecord] = field(default_factory=list[PolicyRecord])
    hints: list[str] = field(default_factory=list[str])
    stop: _Stop | None = None


async def run_loop(trajectory: Trajectory, setup: RunSetup, emit: Emit) -> RunResult:
    """Run one task to its end and return its result; see `AgentHost.run`."""
    return await _Run(trajectory, setup, emit).drive()


class _Run:
    def __init__(self, trajectory: Trajectory, setup: RunSetup, emit: Emit) -> None:
        self.trajectory = trajectory
        self.setup = setup
        self.emit = emit
        self.usage = Usage()
        self.start = 0.0
        self.index = 0

    async def drive(self) -> RunResult:
        self.start = anyio.current_time()
        time_limit = min((p.time_limit_s for p in self.setup.policies), default=math.inf)
        try:
            # A policy's time limit interrupts whatever is in flight (a model request, a tool call).
            with anyio.move_on_after(time_limit):
                while True:
                    self.index += 1
                    await self.step(self.index)
            raise self.interrupted()
        except _Stop as stop:
            return await self.finish(stop.reason, stop.result)
        except NexthopError as e:
            return await self.finish(TerminationReason(kind="error", detail=str(e)), "")
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):
                await self.finish(TerminationReason(kind="cancelled", detail="the run was cancelled"), "")
            raise

    async def step(self, index: int) -> None:
        step_start = anyio.current_time()
        view = self.view(index)
        before = self.consult(lambda p: p.before_step(view))
        if before.stop is not None:
            raise before.stop
        tools, listed, routes, offered = await self.offer(view)
        request = ModelRequest(
            instructions=self.setup.instructions,
            trajectory=self.trajectory,
            tools=tools,
            listed=listed if len(listed) != len(tools) else None,
            settings=self.setup.settings,
        )
        response, drawn, redrawn = await self.draw(view, request)
        self.usage = self.usage + drawn
        await self.emit(
            ActionEvent(
                step_index=index, thought=response.thought, tool_calls=response.tool_calls, elapsed_s=self.elapsed
            )
        )
        dispatched = await dispatch(response.tool_calls, routes, view, self.setup.checks)
        sampled, server_records = self.setup.server_events() if self.setup.server_events else (Usage(), [])
        self.usage = self.usage + sampled
        answers, stop = self.judge(self.view(index), response, dispatched.observations)
        step = Step(
            index=index,
            thought=response.thought,
            tool_calls=response.tool_calls,
            observations=dispatched.observations,
            usage=drawn + sampled,
            duration_s=anyio.current_time() - step_start,
            hint="\n".join(answers.hints),
            records=(*offered, *redrawn, *dispatched.records, *server_records, *answers.records),
        )
        self.trajectory.steps.append(step)
        await self.emit(step)
        if stop is not None:
            raise stop

    async def draw(self, view: RunView, request: ModelRequest) -> tuple[ModelResponse, Usage, list[PolicyRecord]]:
        """The model's action for this step, drawn again while a policy foresees a call's outcome.

        A call a policy can answer without running it (`RunPolicy.foresee`: an exact
        repeat of a call that failed, say) would spend the step on an observation the
        model has already had. A small model decoding greedily proposes the same call
        again from the same context, so the action is sampled anew, at
        ``redraw_temperature`` with a fresh seed, up to ``redraws`` times: the first
        draw with no foreseen call is taken. After ToolLLM's DFSDT (Qin et al., arXiv
        2307.16789, section 3), which samples another action at a node whose first
        one led nowhere. When every draw is foreseen, the first one stands and the
        policies answer it as before (a skip, say).

        Returns:
            The action taken, the usage of every draw (tokens), and one ``redraw``
            record per draw set aside (``{"tool", "reason", "draw"}``).
        """
        response = await self.setup.model.request(request)
        usage, records = response.usage, list[PolicyRecord]()
        first = response
        for draw in range(1, self.setup.redraws + 1):
            foreseen = self.foreseen(view, response)
            if foreseen is None:
                return response, usage, records
            policy, call, reason = foreseen
            records.append(
                PolicyRecord(policy=policy, event="redraw", data={"tool": call.name, "reason": reason, "draw": draw})
            )
            settings = request.settings.model_copy(
                update={"temperature": self.setup.redraw_temperature, "seed": 1000 * view.step_index + draw}
            )
            response = await self.setup.model.request(request.model_copy(update={"settings": settings}))
            usage = usage + response.usage
        return (response if self.foreseen(view, response) is None else first), usage, records

    def foreseen(self, view: RunView, response: ModelResponse) -> tuple[str, ToolCall, str] | None:
        """The first call of ``response`` whose outcome a policy foresees: (policy, call, reason)."""
        for call in response.tool_calls:
            if call.name == FINISH_TOOL.name:
                continue
            for policy in self.setup.policies:
                reason = policy.foresee(view, call)
                if reason is not None:
                    return policy.name, call, reason
        return None

    def judge(
        self, view: RunView, response: ModelResponse, observations: Sequence[Observation]
    ) -> tuple[_Answers, _Stop | None]:
        """The policies' answers once the tools ran (``after_step``, then ``on_finish``), and whether the run ends."""
        answers = self.consult(lambda p: p.after_step(view, response.tool_calls, observations))
        call = self.finish_call(response)
        if answers.stop is not None or call is None:
            return answers, self.text_reply(answers, response.thought) if not response.tool_calls else answers.stop
        result = _result_text(call)
        if finish_outcome(call.arguments) == "failed":
            # The model's own account of failure ends the run: nothing is left for a
            # finish-time check to confirm, and the account is the user's answer.
            return answers, _Stop(
                TerminationReason(kind="gave_up", detail="the model reported the task not done"), result
            )
        # Only a finish-time hint (a completion check) sends the model back; a hint from
        # after_step (a doom-loop note, say) must not swallow the finish.
        at_finish = self.consult(lambda p: p.on_finish(view, result))
        answers.records += at_finish.records
        answers.hints += at_finish.hints
        if at_finish.stop is None and not at_finish.hints:
            return answers, _Stop(TerminationReason(kind="completed", detail="the model called finish"), result)
        return answers, at_finish.stop

    @staticmethod
    def text_reply(answers: _Answers, thought: str) -> _Stop | None:
        """After a reply without a tool call: a policy's stop or hint decides (`NoToolTurns`), else it is the answer."""
        if answers.stop is not None:
            if answers.stop.reason.kind == "completed":
                answers.stop.result = thought  # a policy ended the run on this reply: the reply is the answer
            return answers.stop
        if answers.hints:  # a nudge: the model is asked again
            return None
        return _Stop(TerminationReason(kind="completed", detail="the model replied without a tool call"), thought)

    def consult(self, ask: Callable[[RunPolicy], Verdict]) -> _Answers:
        """Ask every policy in order: records and hints are collected, the first stop ends the asking."""
        answers = _Answers()
        for policy in self.setup.policies:
            verdict = ask(policy)
            answers.records += verdict.records
            if verdict.kind == "hint":
                answers.hints.append(verdict.hint)
            elif verdict.kind == "stop":
                answers.stop = _stop(verdict, policy)
                break
        return answers

    def interrupted(self) -> _Stop:
        """The stop of the policy whose time limit cut the run short (its ``before_step`` gives the evidence)."""
        elapsed = self.elapsed
        timed = [p for p in self.setup.policies if p.time_limit_s <= elapsed]
        view = self.view(self.index)
        for policy in timed:
            verdict = policy.before_step(view)
            if verdict.kind == "stop":
                return _stop(verdict, policy)
        # A policy that set a time limit but did not stop when asked: still its stop.
        first = min(self.setup.policies, key=lambda p: p.time_limit_s)
        return _Stop(
            TerminationReason(
                kind="budget",
                detail=f"the time limit of {first.time_limit_s:g} s ran out",
                policy=first.name,
                evidence={"budget": "wall_time_s", "limit": first.time_limit_s},
            )
        )

    def view(self, index: int) -> RunView:
        return RunView(trajectory=self.trajectory, usage=self.usage, elapsed_s=self.elapsed, step_index=index)

    async def offer(self, view: RunView) -> tuple[list[ToolDef], list[ToolDef], dict[str, Route], list[PolicyRecord]]:
        """This step's tools: those the model may call and those listed (``finish`` last in both), routes, records."""
        owners: dict[str, Toolset] = {}
        tools: Sequence[ToolDef] = []
        for toolset in self.setup.toolsets:
            served = await toolset.list_tools()
            owners.update((t.name, toolset) for t in served)
            tools = [*tools, *served]
        records: list[PolicyRecord] = []
        withheld: set[str] = set()
        view = view.model_copy(update={"tool_share": self.setup.model.tool_list_share([*tools, FINISH_TOOL])})
        for policy in self.setup.policies:
            offer = policy.filter_tools(view, tools)
            tools, records = offer.tools, [*records, *offer.records]
            withheld |= offer.withheld
        # A policy may withhold or rewrite a tool, not invent one: only listed names are routed.
        listed = [t for t in tools if t.name in owners]
        routes = {t.name: Route(t, owners[t.name]) for t in listed if t.name not in withheld}
        return [*(r.tool for r in routes.values()), FINISH_TOOL], [*listed, FINISH_TOOL], routes, records

    @staticmethod
    def finish_call(response: ModelResponse) -> ToolCall | None:
        return next((c for c in response.tool_calls if c.name == FINISH_TOOL.name), None)

    @property
    def elapsed(self) -> float:
        return anyio.current_time() - self.start

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


def _result_text(finish: ToolCall) -> str:
    result: Any = finish.arguments.get("result", "")
    return result if isinstance(result, str) else str(result)


def _stop(verdict: Verdict, policy: RunPolicy) -> _Stop:
    """A stop verdict as the run's termination reason (``policy`` kind when the verdict names none)."""
    return _Stop(
        TerminationReason(
            kind=verdict.termination or "policy",
            detail=verdict.detail,
            policy=verdict.policy or policy.name,
            evidence=verdict.evidence,
        )
    )
