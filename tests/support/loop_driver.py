"""Feeds one `DoomLoop` steps the way the loop does, without a model or a server (for unit tests).

Step ``k`` is seen at ``elapsed_s = k`` seconds; every ``check_call`` answer is kept in ``checks``.
"""

from __future__ import annotations

import itertools
from typing import Any

from nexthop import Trajectory, Usage
from nexthop._toolset import ToolDef
from nexthop._trajectory import Observation, Step, ToolCall
from nexthop.policies._base import CallVerdict, RunView, Verdict
from nexthop.policies._doom_loop import DoomLoop

__all__ = ["Driver"]


class Driver:
    """Feeds one `DoomLoop` steps the way the loop does: check_call per call, after_step, then the step recorded."""

    def __init__(self, n: int = 3, **kwargs: Any) -> None:
        self.policy = DoomLoop(n, **kwargs)
        self.trajectory = Trajectory(task="t")
        self.ids = itertools.count()
        self.checks: list[CallVerdict] = []

    def step(
        self, calls: list[tuple[str, dict[str, Any], str, bool]], thought: str = "", *, skipped: bool = False
    ) -> Verdict:
        index = len(self.trajectory.steps) + 1
        view = RunView(trajectory=self.trajectory, usage=Usage(), elapsed_s=float(index), step_index=index)
        tool_calls: list[ToolCall] = []
        observations: list[Observation] = []
        for name, arguments, content, is_error in calls:
            tool_call = ToolCall(id=str(next(self.ids)), name=name, arguments=arguments)
            self.checks.append(self.policy.check_call(view, tool_call, ToolDef(name=name)))
            tool_calls.append(tool_call)
            observations.append(Observation(call_id=tool_call.id, content=content, is_error=is_error, skipped=skipped))
        verdict = self.policy.after_step(view, tool_calls, observations)
        self.trajectory.steps.append(
            Step(index=index, thought=thought, tool_calls=tuple(tool_calls), observations=tuple(observations))
        )
        return verdict

    def one(
        self,
        name: str,
        result: str,
        /,
        *,
        error: bool = False,
        thought: str = "",
        skipped: bool = False,
        **arguments: Any,
    ) -> Verdict:
        return self.step([(name, arguments, result, error)], thought, skipped=skipped)
