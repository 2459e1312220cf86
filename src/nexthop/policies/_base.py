"""The one question every policy answers at each step: go on, hint, or stop (and why).

A `Policy` is configuration; `Policy.start()` gives a `RunPolicy` that holds one run's
state, so concurrent runs (``nexthop serve``) never share it. The loop calls each run
policy before a step (``before_step``), after the step's tools ran (``after_step``,
which may also leave `PolicyRecord`\\ s on the step, e.g. an abandonment draw), and
when the model calls ``finish`` (``on_finish``). The first verdict that stops wins; a
hint is shown to the model with the step's observations.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from nexthop._toolset import ToolDef
from nexthop._trajectory import Observation, PolicyRecord, TerminationKind, ToolCall, Trajectory, Usage

__all__ = ["Policy", "PolicyRecord", "RunPolicy", "RunView", "Verdict"]


class Verdict(BaseModel):
    """A policy's answer when it has something to say.

    Attributes:
        kind: ``hint`` (tell the model something, go on) or ``stop`` (end the run).
        policy: The policy's name.
        detail: One line for people: what happened.
        hint: For ``hint``: the text the model sees with the step's observations.
        termination: For ``stop``: the termination kind recorded in the result.
        evidence: Machine-readable facts behind the verdict.
    """

    model_config = ConfigDict(frozen=True)
    kind: Literal["hint", "stop"]
    policy: str
    detail: str = ""
    hint: str = ""
    termination: TerminationKind | None = None
    evidence: dict[str, Any] = Field(default_factory=dict)


class RunView(BaseModel):
    """What a policy may read of the run: the trajectory so far and the costs.

    Attributes:
        trajectory: The run so far (do not modify).
        usage: Tokens used so far.
        elapsed_s: Wall time so far (seconds).
        step_index: The step being decided (1-based).
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)
    trajectory: Trajectory
    usage: Usage
    elapsed_s: float
    step_index: int


class RunPolicy:
    """One run's state of a policy. Override what the policy needs; the defaults say nothing."""

    name: str = "policy"

    def before_step(self, view: RunView) -> Verdict | None:
        """Called before the model is asked for step ``view.step_index``."""
        return None

    def after_step(
        self, view: RunView, calls: Sequence[ToolCall], observations: Sequence[Observation], records: list[PolicyRecord]
    ) -> Verdict | None:
        """Called once the step's tools ran; append to ``records`` what the step should keep."""
        return None

    def on_finish(self, view: RunView, result: str, records: list[PolicyRecord]) -> Verdict | None:
        """Called when the model calls ``finish``; a ``hint`` verdict sends it back to work."""
        return None

    def filter_tools(self, tools: list[ToolDef]) -> list[ToolDef]:
        """Called each step with the tools on offer; may withhold some (e.g. pinned tools that changed)."""
        return tools


class Policy(Protocol):
    """A policy's configuration; `start` makes the state for one run."""

    def start(self) -> RunPolicy:
        """Fresh state for one run."""
        ...
