"""Budgets: stop a run once it has used its steps, its wall time or its tokens.

All three end with ``policy="budget"`` and evidence ``{"budget": ..., "limit": ...}``;
the step budget's termination kind is ``max_steps``, the others' ``budget``.
"""

from __future__ import annotations

from nexthop.policies._base import GO_ON, RunPolicy, RunView, Verdict

__all__ = ["StepBudget", "TokenBudget", "WallTimeBudget"]


class StepBudget(RunPolicy):
    """Stops the run before step ``limit + 1``: at most ``limit`` steps are taken.

    Args:
        limit: Steps in one run (`AgentHost` ``max_steps``, default 30; after agentlib's
            step budgets).
    """

    name = "budget"

    def __init__(self, limit: int) -> None:
        self.limit = limit

    def before_step(self, view: RunView) -> Verdict:
        if view.step_index <= self.limit:
            return GO_ON
        return Verdict(
            kind="stop",
            policy=self.name,
            termination="max_steps",
            detail=f"the step budget of {self.limit} steps ran out before finish was called",
            evidence={"budget": "steps", "limit": self.limit},
        )


class WallTimeBudget(RunPolicy):
    """Stops the run once ``limit_s`` of wall time have passed, even mid-step.

    Its `time_limit_s` makes the loop cut a slow model request or tool call short at
    the limit (with a cancel scope, so the call is cancelled on its server), then ask
    `before_step` for the stop.

    Args:
        limit_s: Wall-time budget for the run (seconds; `PolicyConfig.max_wall_time_s`).
    """

    name = "budget"

    def __init__(self, limit_s: float) -> None:
        self.limit_s = limit_s
        self.time_limit_s = limit_s

    def before_step(self, view: RunView) -> Verdict:
        if view.elapsed_s < self.limit_s:
            return GO_ON
        return Verdict(
            kind="stop",
            policy=self.name,
            termination="budget",
            detail=f"the wall-time budget of {self.limit_s:g} s ran out",
            evidence={"budget": "wall_time_s", "limit": self.limit_s},
        )


class TokenBudget(RunPolicy):
    """Stops the run before a step once input plus output tokens reach ``limit``.

    It counts `Usage.total_tokens` of the run so far (input plus output, as the model
    clients report them; ``cached_input_tokens`` are not added again). The check runs
    before each model request, so a run may pass the limit by at most the tokens of its
    last step: the cost of a request is known only after it.

    Args:
        limit: Token budget for the run (tokens; `PolicyConfig.max_tokens`).
    """

    name = "budget"

    def __init__(self, limit: int) -> None:
        self.limit = limit

    def before_step(self, view: RunView) -> Verdict:
        used = view.usage.total_tokens
        if used < self.limit:
            return GO_ON
        return Verdict(
            kind="stop",
            policy=self.name,
            termination="budget",
            detail=f"the token budget of {self.limit} tokens ran out ({used} used)",
            evidence={"budget": "tokens", "limit": self.limit, "used": used},
        )
